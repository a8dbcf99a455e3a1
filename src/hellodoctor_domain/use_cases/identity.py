"""Identity use cases: registration, e-mail verification, sign-in, token rotation, password
reset, doctors' invitations, two-factor sign-in.

Access tokens (JWT) are minted by the HTTP layer from the ``Session`` these return; this module
owns what must be stored: accounts, one-time secrets, refresh-token families.

Answers never reveal whether an e-mail address has an account: registration and "forgot
password" behave the same either way, and every sign-in failure is ``AuthenticationFailed``.
No mail is sent inside a request: the request records an event on the account (committed to
the outbox with its change) and the consumer issues the code or link and mails it
(``identity_mail.py``), so neither the answer nor its timing depends on an SMTP round trip.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TypeVar

from attrs import define, field

from hellodoctor_domain.errors import (
    AccessDenied,
    AlreadyExists,
    AuthenticationFailed,
    ConcurrencyError,
    EmailNotVerified,
    InvalidOneTimeSecret,
    NotFound,
    RefreshTokenReused,
    SecondFactorEnrollmentRequired,
    SecondFactorRequired,
    TooManyAttempts,
)
from hellodoctor_domain.model.accounts import (
    Account,
    AccountStatus,
    DoctorInvited,
    OneTimeSecret,
    PasswordResetRequested,
    RefreshToken,
    RegistrationRepeated,
    SecretPurpose,
    StaffInvited,
    VerificationRequested,
    check_password_strength,
    digest,
    digests_match,
    new_token,
)
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.values import Actor, EmailAddress, PatientId, Role, UserId
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.security import LoginThrottle, PasswordHasher, TotpVerifier
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.retry import retrying
from hellodoctor_domain.use_cases.staff import StaffPlace

T = TypeVar("T")


def _roles(values: object) -> frozenset[Role]:
    return frozenset(Role(value) for value in values)  # type: ignore[attr-defined]


@define(frozen=True)
class IdentitySettings:
    refresh_token_lifetime: timedelta = timedelta(days=14)
    verification_code_lifetime: timedelta = timedelta(minutes=15)
    verification_attempts: int = 5
    reset_token_lifetime: timedelta = timedelta(hours=1)
    invitation_lifetime: timedelta = timedelta(days=3)
    two_factor_required_for: frozenset[Role] = field(default=frozenset(), converter=_roles)
    issuer: str = "HelloDoctor"
    # Where the set-password and reset pages live; the token is appended as ?token=...
    password_link: str = "http://127.0.0.1:8000/set-password"


@define(frozen=True)
class Session:
    """A successful sign-in or refresh: the account, and the refresh token to hand over."""

    account: Account
    refresh_token: str
    refresh_expires_at: datetime


@define(frozen=True)
class TwoFactorEnrollment:
    secret: str
    provisioning_uri: str


@define(frozen=True)
class PasswordSet:
    account: Account
    # Present when the account must now enrol in two-factor sign-in.
    two_factor: TwoFactorEnrollment | None = None


RESEND_INTERVAL = timedelta(minutes=1)


class Identity:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        hasher: PasswordHasher,
        totp: TotpVerifier,
        throttle: LoginThrottle,
        settings: IdentitySettings | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._hasher = hasher
        self._totp = totp
        self._throttle = throttle
        self.settings = settings or IdentitySettings()
        self._dummy_hash: str | None = None

    # -- patients ----------------------------------------------------------------------

    def register_patient(
        self, email: EmailAddress, password: str, patient: Patient
    ) -> PatientId | None:
        """Create a pending patient account; a verification code is mailed to it. If the
        address already has an account, nothing is created and its owner is told by e-mail
        instead (told to the address on the account, never to the one typed: a look-alike);
        either way one event is committed to the outbox, so the caller cannot tell the
        difference. Returns the new patient's id, or ``None``."""
        check_password_strength(password, email)
        password_hash = self._hasher.hash(password)
        now = self._clock.now()
        account = Account(
            UserId(self._ids.new_id()),
            email,
            Role.PATIENT,
            AccountStatus.PENDING,
            now,
            password_hash=password_hash,
            patient_id=patient.id,
        )
        with self._uow() as uow:
            existing = uow.accounts.by_email(email)
            if existing is None:
                try:
                    account.record(VerificationRequested(occurred_at=now, account_id=account.id))
                    uow.patients.add(patient)
                    uow.accounts.add(account)
                    uow.commit()
                    return patient.id
                except AlreadyExists:
                    uow.rollback()
                    account.events.clear()
            if existing is None:
                existing = uow.accounts.by_email(email)  # registered a moment ago
                if existing is None:
                    raise AlreadyExists("that account could not be created; try again")
            existing.record(RegistrationRepeated(occurred_at=now, account_id=existing.id))
            uow.commit()
        return None

    def resend_verification(self, email: EmailAddress) -> None:
        """Send a fresh code (earlier ones stop working) if the address awaits verification.
        At most one a minute, and a fresh code inherits the attempts its live predecessor had
        left, so resending cannot multiply guesses."""
        now = self._clock.now()
        with self._uow() as uow:
            account = uow.accounts.by_email(email)
            if (
                account is None
                or account.status is not AccountStatus.PENDING
                or (account.password_hash is None)
            ):
                return
            previous = uow.one_time_secrets.latest(account.id, SecretPurpose.VERIFY_EMAIL)
            attempts = self.settings.verification_attempts
            if previous is not None and previous.used_at is None and now < previous.expires_at:
                if now - previous.created_at < RESEND_INTERVAL:
                    return
                attempts = previous.attempts_left
            if attempts <= 0:
                return  # out of guesses until the last code expires
            # The consumer issues the code (inheriting the attempts left) and mails it.
            account.record(VerificationRequested(occurred_at=now, account_id=account.id))
            uow.commit()

    def verify_email(self, email: EmailAddress, code: str) -> None:
        now = self._clock.now()
        with self._uow() as uow:
            account = uow.accounts.by_email(email)
            secret = (
                None
                if account is None
                else uow.one_time_secrets.latest(account.id, SecretPurpose.VERIFY_EMAIL)
            )
            if account is None or secret is None or account.status is AccountStatus.DISABLED:
                raise InvalidOneTimeSecret("that code is not valid")
            self._redeem(uow, secret, code, now)
            if account.status is AccountStatus.PENDING:
                account.status = AccountStatus.ACTIVE
                uow.accounts.update(account)
            uow.commit()

    # -- sign-in -----------------------------------------------------------------------

    def login(
        self,
        email: EmailAddress,
        password: str,
        totp_code: str | None = None,
        client_address: str | None = None,
    ) -> Session:
        now = self._clock.now()
        # Keyed like the storage's lookup, so no other spelling of the address escapes it.
        account_key = f"account:{email.lookup_key}"
        keys = [account_key] + ([f"address:{client_address}"] if client_address else [])
        wait = self._throttle.blocked_for(keys, now)
        if wait is not None:
            raise TooManyAttempts(max(1, math.ceil(wait.total_seconds())))
        with self._uow() as uow:
            account = uow.accounts.by_email(email)
        if not self._password_matches(account, password):
            self._throttle.failed(keys, now)
            raise AuthenticationFailed("wrong e-mail or password")
        assert account is not None
        if account.status is AccountStatus.DISABLED:
            self._throttle.failed(keys, now)
            raise AuthenticationFailed("wrong e-mail or password")
        if account.status is AccountStatus.PENDING:
            raise EmailNotVerified("verify your e-mail address first")
        required = account.role in self.settings.two_factor_required_for
        step: int | None = None
        if account.totp_enabled or (required and account.totp_secret is not None):
            # Enrolled, or bound to enrol and holding the secret from the set-password step:
            # the first good code switches two-factor sign-in on.
            if not totp_code:
                raise SecondFactorRequired("enter the code from your authenticator app")
            assert account.totp_secret is not None
            step = (
                self._totp.matched_step(account.totp_secret, totp_code, now)
                if _could_be_a_code(totp_code)
                else None
            )
            if step is None or (
                account.totp_last_step is not None and step <= account.totp_last_step
            ):
                self._throttle.failed(keys, now)
                raise AuthenticationFailed("wrong code")
        elif required:
            raise SecondFactorEnrollmentRequired(
                f"{account.role} accounts must use two-factor sign-in: reset your password to "
                "set it up"
            )
        self._throttle.succeeded([account_key])
        signed_in = account

        def sign_in() -> Session:
            with self._uow() as uow:
                fresh = uow.accounts.get(signed_in.id)
                changed = False
                if step is not None:
                    if fresh.totp_last_step is not None and step <= fresh.totp_last_step:
                        raise AuthenticationFailed("wrong code")  # replayed concurrently
                    fresh.totp_last_step, fresh.totp_enabled, changed = step, True, True
                if fresh.password_hash and self._hasher.needs_rehash(fresh.password_hash):
                    fresh.password_hash, changed = self._hasher.hash(password), True
                if changed:
                    uow.accounts.update(fresh)
                session = self._start_session(uow, fresh, self._ids.new_id(), now)
                uow.commit()
            return session

        return retrying(sign_in)

    def refresh(self, refresh_token: str) -> Session:
        """Exchange a live refresh token for a new one of the same family. Presenting one that
        was already exchanged or revoked revokes the whole family (``RefreshTokenReused``)."""
        now = self._clock.now()
        token_id, _, secret = refresh_token.partition(".")
        reused = False
        try:
            with self._uow() as uow:
                token = self._stored_token(uow, token_id, secret)
                if token.replaced_at is not None or token.revoked_at is not None:
                    uow.refresh_tokens.revoke_family(token.family_id, now)
                    uow.commit()
                    reused = True
                elif now >= token.expires_at:
                    raise AuthenticationFailed("the session has expired; sign in again")
                else:
                    account = uow.accounts.get(token.account_id)
                    if account.status is not AccountStatus.ACTIVE:
                        raise AuthenticationFailed("the account is not active")
                    token.replaced_at = now
                    uow.refresh_tokens.update(token)  # compare-and-set: one winner per token
                    session = self._start_session(uow, account, token.family_id, now)
                    uow.commit()
                    return session
        except ConcurrencyError:
            # Someone exchanged the same token a moment ago: a copy is in other hands.
            with self._uow() as uow:
                token = self._stored_token(uow, token_id, secret)
                uow.refresh_tokens.revoke_family(token.family_id, now)
                uow.commit()
            reused = True
        assert reused
        raise RefreshTokenReused("this refresh token was already used; sign in again")

    def logout(self, refresh_token: str) -> None:
        """End the session the token belongs to (its whole family). Unknown tokens are
        ignored: logging out cannot be used to probe tokens."""
        now = self._clock.now()
        token_id, _, secret = refresh_token.partition(".")
        with self._uow() as uow:
            try:
                token = self._stored_token(uow, token_id, secret)
            except AuthenticationFailed:
                return
            uow.refresh_tokens.revoke_family(token.family_id, now)
            uow.commit()

    def account(self, account_id: UserId) -> Account:
        with self._uow() as uow:
            return uow.accounts.get(account_id)

    # -- passwords ---------------------------------------------------------------------

    def forgot_password(self, email: EmailAddress) -> None:
        """E-mail a reset link if the address has an account; silent either way. The link goes
        to the account's own address, never to the spelling that was typed."""
        now = self._clock.now()
        with self._uow() as uow:
            account = uow.accounts.by_email(email)
            if account is None or account.status is AccountStatus.DISABLED:
                return
            account.record(PasswordResetRequested(occurred_at=now, account_id=account.id))
            uow.commit()

    def set_password(self, token: str, password: str) -> PasswordSet:
        """Redeem a reset token or a doctor's invitation (only the latest link of its kind
        works). The address is proven by receiving the link, so the account becomes active;
        every existing session is ended. When the account's role must use two-factor sign-in
        and has not set it up, a TOTP secret comes back to put in an authenticator app; the
        first sign-in with a code from it switches two-factor on."""
        now = self._clock.now()
        secret_id, _, secret_text = token.partition(".")
        with self._uow() as uow:
            try:
                secret = uow.one_time_secrets.get(secret_id)
            except NotFound:
                raise InvalidOneTimeSecret("that link is not valid") from None
            if secret.purpose not in (SecretPurpose.RESET_PASSWORD, SecretPurpose.SET_PASSWORD):
                raise InvalidOneTimeSecret("that link is not valid")
            latest = uow.one_time_secrets.latest(secret.account_id, secret.purpose)
            if latest is None or latest.id != secret.id:
                raise InvalidOneTimeSecret("a newer link was sent; use that one")
            account = uow.accounts.get(secret.account_id)
            if account.status is AccountStatus.DISABLED:
                raise InvalidOneTimeSecret("that link is not valid")
            check_password_strength(password, account.email)
            self._redeem(uow, secret, secret_text, now)
            account.password_hash = self._hasher.hash(password)
            if account.status is AccountStatus.PENDING:
                account.status = AccountStatus.ACTIVE
            enrollment = None
            if account.role in self.settings.two_factor_required_for and not account.totp_enabled:
                account.totp_secret = self._totp.new_secret()
                enrollment = TwoFactorEnrollment(
                    account.totp_secret,
                    self._totp.provisioning_uri(
                        account.totp_secret, str(account.email), self.settings.issuer
                    ),
                )
            uow.accounts.update(account)
            uow.refresh_tokens.revoke_account(account.id, now)
            uow.commit()
        return PasswordSet(account, enrollment)

    # -- doctors and admins ------------------------------------------------------------

    def invite_doctor(self, actor: Actor, doctor: Doctor, email: EmailAddress) -> Doctor:
        """An admin creates the doctor's profile and account; the doctor receives a one-time
        link to set their password."""
        if actor.role is not Role.ADMIN:
            raise AccessDenied("only an admin may add doctors")
        now = self._clock.now()
        account = Account(
            UserId(self._ids.new_id()),
            email,
            Role.DOCTOR,
            AccountStatus.PENDING,
            now,
            doctor_id=doctor.id,
        )
        account.record(DoctorInvited(occurred_at=now, account_id=account.id))
        with self._uow() as uow:
            uow.doctors.add(doctor)
            uow.accounts.add(account)
            uow.commit()
        return doctor

    def invite_staff(self, actor: Actor, email: EmailAddress, place: StaffPlace) -> Account:
        """An admin makes a hospital administrator's or an insurer's account, appointed where
        it works in the same unit of work; the link to set a password is e-mailed. A
        receptionist's account (``place.desk``) may also be made by the hospital's own
        administrators (anyone else's hospital is ``NotFound`` to them)."""
        desk_by_its_admin = place.desk and actor.role is Role.HOSPITAL_ADMIN
        if actor.role is not Role.ADMIN and not desk_by_its_admin:
            raise AccessDenied("only an admin may add staff accounts")
        now = self._clock.now()
        account = Account(UserId(self._ids.new_id()), email, place.role, AccountStatus.PENDING, now)
        # The mail (and its link) is made by the identity mailer from the outbox.
        account.record(StaffInvited(occurred_at=now, account_id=account.id))
        with self._uow() as uow:
            if desk_by_its_admin:
                assert place.hospital_id is not None
                if not uow.hospitals.get(place.hospital_id).administered_by(actor):
                    raise NotFound(f"no hospital {place.hospital_id}")
            uow.accounts.add(account)
            place.apply(uow, account.id, now)
            uow.commit()
        return account

    def create_admin(
        self, email: EmailAddress, password: str, place: StaffPlace | None = None
    ) -> Account:
        """An admin (the first one, typically), or with ``place`` a hospital administrator or
        an insurer appointed there, from the command line (no e-mail round trip)."""
        check_password_strength(password, email)
        account = Account(
            UserId(self._ids.new_id()),
            email,
            Role.ADMIN if place is None else place.role,
            AccountStatus.ACTIVE,
            self._clock.now(),
            password_hash=self._hasher.hash(password),
        )
        with self._uow() as uow:
            uow.accounts.add(account)
            if place is not None:
                place.apply(uow, account.id, account.created_at)
            uow.commit()
        return account

    # -- two-factor --------------------------------------------------------------------

    def begin_two_factor(self, account_id: UserId) -> TwoFactorEnrollment:
        """Give the account a new TOTP secret to put in an authenticator app; it takes effect
        once ``confirm_two_factor`` sees a valid code from it."""
        secret = self._totp.new_secret()

        def attempt() -> TwoFactorEnrollment:
            with self._uow() as uow:
                account = uow.accounts.get(account_id)
                if account.totp_enabled:
                    raise AlreadyExists("two-factor sign-in is already on")
                account.totp_secret = secret
                uow.accounts.update(account)
                uow.commit()
            uri = self._totp.provisioning_uri(secret, str(account.email), self.settings.issuer)
            return TwoFactorEnrollment(secret, uri)

        return retrying(attempt)

    def confirm_two_factor(self, account_id: UserId, code: str) -> None:
        now = self._clock.now()
        with self._uow() as uow:
            account = uow.accounts.get(account_id)
            step = (
                None
                if account.totp_secret is None or not _could_be_a_code(code)
                else self._totp.matched_step(account.totp_secret, code, now)
            )
            if step is None:
                raise InvalidOneTimeSecret("that code is not valid")
            account.totp_enabled = True
            account.totp_last_step = step
            uow.accounts.update(account)
            uow.commit()

    # -- internals ---------------------------------------------------------------------

    def _password_matches(self, account: Account | None, password: str) -> bool:
        if len(password) > 1024:  # never hash megabytes on behalf of a stranger
            return False
        if account is None or account.password_hash is None:
            # Spend the same time as a real check, so timing does not reveal the account.
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash(new_token())
            self._hasher.verify(password, self._dummy_hash)
            return False
        return self._hasher.verify(password, account.password_hash)

    def _redeem(self, uow: UnitOfWork, secret: OneTimeSecret, text: str, now: datetime) -> None:
        if not secret.usable(now):
            raise InvalidOneTimeSecret("that code is no longer valid; ask for a new one")
        if not digests_match(secret.digest, secret.id, text):
            secret.attempts_left -= 1
            uow.one_time_secrets.update(secret)
            uow.commit()  # the failed attempt must count even though we refuse
            raise InvalidOneTimeSecret("that code is not valid")
        secret.used_at = now
        uow.one_time_secrets.update(secret)

    def _start_session(
        self, uow: UnitOfWork, account: Account, family_id: str, now: datetime
    ) -> Session:
        token_id, secret = self._ids.new_id(), new_token()
        expires_at = now + self.settings.refresh_token_lifetime
        uow.refresh_tokens.add(
            RefreshToken(token_id, family_id, account.id, digest(token_id, secret), now, expires_at)
        )
        return Session(account, f"{token_id}.{secret}", expires_at)

    @staticmethod
    def _stored_token(uow: UnitOfWork, token_id: str, secret: str) -> RefreshToken:
        try:
            token = uow.refresh_tokens.get(token_id)
        except NotFound:
            raise AuthenticationFailed("unknown refresh token") from None
        if not digests_match(token.digest, token.id, secret):
            raise AuthenticationFailed("unknown refresh token")
        return token


def _could_be_a_code(code: str) -> bool:
    """An authenticator's code is a few ASCII digits; anything else (Arabic-Indic digits,
    letters) is simply wrong, before any verifier compares it."""
    return code.isascii() and code.isdigit() and len(code) <= 10
