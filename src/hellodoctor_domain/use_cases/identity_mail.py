"""Identity mails, sent by the consumer: verification codes, reset links, doctors'
invitations and "you already have an account" warnings.

The request recorded an event on the account (``model/accounts.py``) and committed it to the
outbox; here, when the relay hands the event on, the code or link is issued -- only its digest
stored, as before -- and mailed at once. No raw secret ever rests in the outbox or the broker:
the outbox lives in the same database as the digests, so a secret in it would undo their
hashing for anyone who can read the database (docs/notifications.md).

Each (consumer, entry) is taken in the inbox first, so a redelivered event mails once. A crash
after a code was issued and before its mail went out leaves the inbox lease to lapse; the
redelivery issues a fresh code (the newest is the one that works) and mails that.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.accounts import (
    Account,
    AccountEvent,
    AccountStatus,
    DoctorInvited,
    OneTimeSecret,
    PasswordResetRequested,
    RegistrationRepeated,
    SecretPurpose,
    StaffInvited,
    VerificationRequested,
    digest,
    new_code,
    new_token,
)
from hellodoctor_domain.model.events import DomainEvent
from hellodoctor_domain.ports.notifications import Notification, Notifier
from hellodoctor_domain.ports.outbox import Inbox
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.identity import IdentitySettings

CONSUMER = "identity-mail"


class IdentityMailer:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        notifier: Notifier,
        inbox: Inbox,
        settings: IdentitySettings | None = None,
        *,
        lease: timedelta = timedelta(minutes=5),
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._notifier = notifier
        self._inbox = inbox
        self.settings = settings or IdentitySettings()
        self._lease = lease

    def handle(self, entry_id: str, event: DomainEvent) -> int:
        """Mail what ``event`` asks for, once; how many mails were sent now (0 or 1). Raises
        when the mail could not be sent (the relay retries)."""
        if not isinstance(event, AccountEvent):
            return 0
        if not self._inbox.begin(CONSUMER, entry_id, self._clock.now(), self._lease):
            return 0
        try:
            notification = self.compose(event)
            if notification is not None:
                self._notifier.send(notification)
        except BaseException:
            self._inbox.forget(CONSUMER, entry_id)
            raise
        self._inbox.finish(CONSUMER, entry_id, self._clock.now())
        return int(notification is not None)

    def compose(self, event: AccountEvent) -> Notification | None:
        """The mail, with its secret issued now; None when the account no longer calls for
        one (verified meanwhile, disabled, deleted)."""
        now = self._clock.now()
        with self._uow() as uow:
            try:
                account = uow.accounts.get(event.account_id)
            except NotFound:
                return None
            if account.status is AccountStatus.DISABLED:
                return None
            notification = self._mail(uow, account, event, now)
            uow.commit()
        return notification

    def _mail(
        self, uow: UnitOfWork, account: Account, event: AccountEvent, now: datetime
    ) -> Notification | None:
        settings = self.settings
        if isinstance(event, RegistrationRepeated):
            return Notification(
                account.email,
                "You already have a HelloDoctor account",
                "Someone tried to register this address again. If it was you, sign in "
                "or reset your password.",
                "already_registered",
            )
        if isinstance(event, VerificationRequested):
            if account.status is not AccountStatus.PENDING or account.password_hash is None:
                return None
            previous = uow.one_time_secrets.latest(account.id, SecretPurpose.VERIFY_EMAIL)
            attempts = settings.verification_attempts
            if previous is not None and previous.used_at is None and now < previous.expires_at:
                attempts = previous.attempts_left  # a fresh code cannot multiply guesses
            if attempts <= 0:
                return None
            code = self._issue(uow, account, SecretPurpose.VERIFY_EMAIL, now, attempts)
            return Notification(
                account.email,
                "Your HelloDoctor verification code",
                f"Your code is {code}. It expires in "
                f"{_minutes(settings.verification_code_lifetime)} minutes.",
                "verify_email",
            )
        if isinstance(event, PasswordResetRequested):
            token = self._issue(uow, account, SecretPurpose.RESET_PASSWORD, now)
            return Notification(
                account.email,
                "Reset your HelloDoctor password",
                f"Use this link within {_minutes(settings.reset_token_lifetime)} "
                f"minutes: {settings.password_link}?token={token}\n"
                "If you did not ask for it, ignore this message.",
                "reset_password",
            )
        if isinstance(event, DoctorInvited):
            if account.status is not AccountStatus.PENDING or account.doctor_id is None:
                return None
            doctor = uow.doctors.get(account.doctor_id)
            token = self._issue(uow, account, SecretPurpose.SET_PASSWORD, now)
            return Notification(
                account.email,
                "Your HelloDoctor account",
                f"{doctor.name}, set your password within "
                f"{settings.invitation_lifetime.days} days: "
                f"{settings.password_link}?token={token}",
                "set_password",
            )
        if isinstance(event, StaffInvited):
            if account.status is not AccountStatus.PENDING:
                return None
            token = self._issue(uow, account, SecretPurpose.SET_PASSWORD, now)
            return Notification(
                account.email,
                "Your HelloDoctor account",
                f"Set your password within {settings.invitation_lifetime.days} days: "
                f"{settings.password_link}?token={token}",
                "set_password",
            )
        return None

    def _issue(
        self,
        uow: UnitOfWork,
        account: Account,
        purpose: SecretPurpose,
        now: datetime,
        attempts: int | None = None,
    ) -> str:
        """A new one-time secret (only its digest stored); the text to mail."""
        settings = self.settings
        numeric = purpose is SecretPurpose.VERIFY_EMAIL
        secret_id = self._ids.new_id()
        lifetime = {
            SecretPurpose.VERIFY_EMAIL: settings.verification_code_lifetime,
            SecretPurpose.RESET_PASSWORD: settings.reset_token_lifetime,
            SecretPurpose.SET_PASSWORD: settings.invitation_lifetime,
        }[purpose]
        text = new_code() if numeric else new_token()
        uow.one_time_secrets.add(
            OneTimeSecret(
                secret_id,
                account.id,
                purpose,
                digest(secret_id, text),
                now,
                now + lifetime,
                attempts_left=attempts or (settings.verification_attempts if numeric else 1),
            )
        )
        return text if numeric else f"{secret_id}.{text}"


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)
