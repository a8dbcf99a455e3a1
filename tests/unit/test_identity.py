"""The identity use cases (``Identity``) over the in-memory adapters, a manual clock, a fast
bcrypt (cost 4) and the in-memory notifier: codes and links are read from the e-mails sent,
as a user would read them. The requests only write the outbox; reading the mailbox first
delivers it (the relay hands each event to ``IdentityMailer``, which issues and mails)."""

from __future__ import annotations

import contextlib
import math
import re
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest

from hellodoctor_adapters.memory import (
    InMemoryNotifier,
    InMemoryStore,
    InMemoryUnitOfWork,
    InMemoryUnitOfWorkFactory,
    ManualClock,
    SequentialIds,
)
from hellodoctor_adapters.memory.identity import InMemoryRefreshTokenRepository
from hellodoctor_adapters.outbox import event_of
from hellodoctor_adapters.relay import DirectTransport
from hellodoctor_adapters.security import BcryptPasswordHasher, PyOtpTotp
from hellodoctor_adapters.throttle import DEFAULT_RULES, InMemoryLoginThrottle
from hellodoctor_domain.errors import (
    AccessDenied,
    AlreadyExists,
    AuthenticationFailed,
    EmailNotVerified,
    InvalidOneTimeSecret,
    RefreshTokenReused,
    SecondFactorEnrollmentRequired,
    SecondFactorRequired,
    TooManyAttempts,
    WeakPassword,
)
from hellodoctor_domain.model.accounts import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    Account,
    AccountStatus,
    RefreshToken,
    check_password_strength,
)
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.values import (
    Actor,
    DoctorId,
    EmailAddress,
    Money,
    PatientId,
    Role,
    UserId,
)
from hellodoctor_domain.ports.notifications import Notification
from hellodoctor_domain.ports.security import TotpVerifier
from hellodoctor_domain.use_cases.delivery import Relay
from hellodoctor_domain.use_cases.identity import (
    RESEND_INTERVAL,
    Identity,
    IdentitySettings,
    Session,
)
from hellodoctor_domain.use_cases.identity_mail import IdentityMailer

START = datetime(2026, 6, 1, 9, 0, 15, tzinfo=UTC)  # mid-way through a 30-second TOTP step
PASSWORD = "correct horse battery staple"
OTHER_PASSWORD = "another long passphrase here"
WRONG_PASSWORD = "not the password at all"
ANN = EmailAddress("ann@example.com")
BEN = EmailAddress("ben@example.com")
DOC = EmailAddress("dr.who@example.com")
BOSS = EmailAddress("boss@example.com")
ACCOUNT_RULE = DEFAULT_RULES["account"]
ADDRESS_RULE = DEFAULT_RULES["address"]
SETTINGS = IdentitySettings()


class CountingHasher:
    """bcrypt at the lowest cost, counting calls, so tests can see when hashing happens."""

    def __init__(self, cost: int = 4) -> None:
        self._inner = BcryptPasswordHasher(cost=cost)
        self.hashed = 0
        self.verified = 0

    def hash(self, password: str) -> str:
        self.hashed += 1
        return self._inner.hash(password)

    def verify(self, password: str, hashed: str) -> bool:
        self.verified += 1
        return self._inner.verify(password, hashed)

    def needs_rehash(self, hashed: str) -> bool:
        return self._inner.needs_rehash(hashed)


class FakeTotp:
    """A stand-in authenticator: the valid code for a secret is derived from the secret and
    the 30-second step of the moment, so a code stops being valid when the clock moves on."""

    def __init__(self) -> None:
        self._issued = 0

    def new_secret(self) -> str:
        self._issued += 1
        return f"FAKESECRET{self._issued}"

    @staticmethod
    def code(secret: str, at: datetime) -> str:
        step = int(at.timestamp()) // 30
        return f"{zlib.crc32(f'{secret}:{step}'.encode()) % 10**6:06d}"

    def matched_step(self, secret: str, code: str, at: datetime) -> int | None:
        step = int(at.timestamp()) // 30
        for candidate in (step - 1, step, step + 1):
            if code == self.code(secret, datetime.fromtimestamp(candidate * 30, tz=UTC)):
                return candidate
        return None

    def provisioning_uri(self, secret: str, account_name: str, issuer: str) -> str:
        return f"otpauth://totp/{issuer}:{account_name}?secret={secret}&issuer={issuer}"


def other_code(code: str) -> str:
    """A code of the same shape that is certainly not ``code``."""
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


class World:
    """An ``Identity`` over a fresh in-memory store, with handles on every port."""

    def __init__(
        self,
        settings: IdentitySettings | None = None,
        *,
        totp: TotpVerifier | None = None,
        hasher: CountingHasher | None = None,
        store: InMemoryStore | None = None,
        uow: Callable[[], InMemoryUnitOfWork] | None = None,
    ) -> None:
        self.clock = ManualClock(START)
        self.store = store or InMemoryStore()
        self.uow = uow or InMemoryUnitOfWorkFactory(self.store)
        self.hasher = hasher or CountingHasher()
        self.totp = totp or FakeTotp()
        self.throttle = InMemoryLoginThrottle()
        self.mailbox = InMemoryNotifier()
        ids = SequentialIds("id")
        self.identity = Identity(
            self.uow, self.clock, ids, self.hasher, self.totp, self.throttle, settings
        )
        outbox, inbox = InMemoryUnitOfWorkFactory(self.store).delivery()
        self.mailer = IdentityMailer(self.uow, self.clock, ids, self.mailbox, inbox, settings)
        self.relay = Relay(
            outbox,
            DirectTransport(
                lambda entry: self.mailer.handle(
                    entry.id, event_of(entry.event_type, dict(entry.payload))
                )
            ),
            self.clock,
        )
        self._patients = 0
        self._admin: Actor | None = None

    # -- reading the mailbox -------------------------------------------------------------

    @property
    def notifier(self) -> InMemoryNotifier:
        """The mailbox, once every pending identity mail was delivered."""
        self.relay.drain()
        return self.mailbox

    def mail(self, email: EmailAddress, kind: str | None = None) -> list[Notification]:
        return [
            sent
            for sent in self.notifier.sent
            if sent.recipient == email and (kind is None or sent.kind == kind)
        ]

    def code(self, email: EmailAddress = ANN) -> str:
        """The verification code in the latest e-mail to ``email``."""
        body = self.mail(email, "verify_email")[-1].body
        found = re.search(r"\b\d{6}\b", body)
        assert found, body
        return found.group()

    def link_token(self, email: EmailAddress, kind: str) -> str:
        """The token of the latest set-password or reset link sent to ``email``."""
        body = self.mail(email, kind)[-1].body
        found = re.search(r"[?&]token=([^\s&]+)", body)
        assert found, body
        return found.group(1)

    # -- arranging -----------------------------------------------------------------------

    def register(self, email: EmailAddress = ANN, password: str = PASSWORD) -> PatientId | None:
        self._patients += 1
        patient = Patient(PatientId(f"pat-{self._patients}"), f"Patient {self._patients}")
        return self.identity.register_patient(email, password, patient)

    def active_patient(self, email: EmailAddress = ANN, password: str = PASSWORD) -> Account:
        self.register(email, password)
        self.identity.verify_email(email, self.code(email))
        return self.account(email)

    def account(self, email: EmailAddress) -> Account:
        with self.uow() as uow:
            found = uow.accounts.by_email(email)
        assert found is not None
        return found

    def set_status(self, email: EmailAddress, status: AccountStatus) -> None:
        with self.uow() as uow:
            account = uow.accounts.by_email(email)
            assert account is not None
            account.status = status
            uow.accounts.update(account)
            uow.commit()

    def admin(self) -> Actor:
        if self._admin is None:
            self._admin = self.identity.create_admin(BOSS, "an administrator passphrase").actor()
        return self._admin

    def invite(self, email: EmailAddress = DOC, doctor_id: str = "dr-1") -> Doctor:
        doctor = Doctor(
            DoctorId(doctor_id), "Dr Who", "GP", f"REG-{doctor_id}", Money(5000, "EUR"), "UTC"
        )
        return self.identity.invite_doctor(self.admin(), doctor, email)

    def enable_two_factor(self, email: EmailAddress = ANN) -> str:
        assert isinstance(self.totp, FakeTotp)
        account = self.account(email)
        enrollment = self.identity.begin_two_factor(account.id)
        code = self.totp.code(enrollment.secret, self.clock.now())
        self.identity.confirm_two_factor(account.id, code)
        # That code is spent (RFC 6238 5.2): let the authenticator show the next one.
        self.clock.advance(timedelta(seconds=30))
        return enrollment.secret

    def fail_logins(self, count: int, email: EmailAddress = ANN, **options: Any) -> None:
        for _ in range(count):
            with pytest.raises(AuthenticationFailed):
                self.identity.login(email, WRONG_PASSWORD, **options)

    def refused(self, refresh_token: str) -> bool:
        """Whether the refresh token no longer yields a session (a refusal is either of the
        two errors; both mean "sign in again")."""
        try:
            self.identity.refresh(refresh_token)
        except (AuthenticationFailed, RefreshTokenReused):
            return True
        return False


@pytest.fixture
def world() -> World:
    return World()


# -- registration --------------------------------------------------------------------------


def test_register_creates_a_pending_patient_and_emails_a_six_digit_code(world: World) -> None:
    patient_id = world.register()

    assert patient_id == PatientId("pat-1")
    account = world.account(ANN)
    assert account.status is AccountStatus.PENDING
    assert account.role is Role.PATIENT
    assert account.patient_id == patient_id
    assert account.password_hash is not None
    assert PASSWORD not in account.password_hash
    assert world.hasher.verify(PASSWORD, account.password_hash)
    with world.uow() as uow:
        assert uow.patients.get(PatientId("pat-1")).name == "Patient 1"
    [mail] = world.mail(ANN)
    assert mail.kind == "verify_email"
    code = world.code(ANN)
    assert re.fullmatch(r"\d{6}", code)
    # Only a digest of the code is kept.
    [secret] = world.store.one_time_secrets.values()
    assert secret.account_id == account.id
    assert code not in secret.digest
    assert code not in repr(secret)


def test_register_with_a_taken_address_creates_nothing_and_warns_the_owner(
    world: World,
) -> None:
    """What differs for the caller is only the return value: the new patient's id for a new
    address, ``None`` for a taken one. Neither raises, each hashes the password once and sends
    exactly one e-mail to the address (a code, or an "already registered" notice)."""
    first = world.register(ANN, PASSWORD)
    first_hashes = world.hasher.hashed
    before = (
        dict(world.store.accounts),
        dict(world.store.patients),
        dict(world.store.one_time_secrets),
    )

    again = world.register(EmailAddress("ANN@Example.COM"), OTHER_PASSWORD)

    assert first is not None
    assert again is None
    after = (world.store.accounts, world.store.patients, world.store.one_time_secrets)
    assert after == before
    assert world.hasher.hashed == 2 * first_hashes == 2
    notice = world.notifier.sent[-1]
    assert notice.kind == "already_registered"
    assert str(notice.recipient).casefold() == str(ANN).casefold()
    assert not re.search(r"\b\d{6}\b", notice.body)
    assert [m.kind for m in world.notifier.sent] == ["verify_email", "already_registered"]
    # The first registration is untouched: its code and password still work.
    world.identity.verify_email(ANN, world.code(ANN))
    assert world.identity.login(ANN, PASSWORD).account.patient_id == first
    with pytest.raises(AuthenticationFailed):
        world.identity.login(ANN, OTHER_PASSWORD)


@pytest.mark.parametrize(
    ("email", "password"),
    [
        (ANN, "short pass"),  # under the minimum length
        (ANN, "PASSWORD1234"),  # on the common list, whatever the case
        (EmailAddress("ann.x2@example.com"), "my name is ann.x2"),  # the address's own name
    ],
)
def test_weak_password_is_refused_before_anything_is_stored_or_hashed(
    world: World, email: EmailAddress, password: str
) -> None:
    with pytest.raises(WeakPassword):
        world.register(email, password)

    assert world.store.accounts == {}
    assert world.store.patients == {}
    assert world.store.one_time_secrets == {}
    assert world.notifier.sent == []
    assert world.hasher.hashed == 0


# -- e-mail verification -------------------------------------------------------------------


def test_the_right_code_activates_the_account(world: World) -> None:
    world.register()
    with pytest.raises(EmailNotVerified):
        world.identity.login(ANN, PASSWORD)

    world.identity.verify_email(ANN, world.code())

    assert world.account(ANN).status is AccountStatus.ACTIVE
    assert world.identity.login(ANN, PASSWORD).account.email == ANN


def test_a_code_works_once(world: World) -> None:
    world.register()
    code = world.code()
    world.identity.verify_email(ANN, code)
    with pytest.raises(InvalidOneTimeSecret):
        world.identity.verify_email(ANN, code)


def test_wrong_codes_use_up_the_attempts_then_even_the_right_code_fails(world: World) -> None:
    attempts = SETTINGS.verification_attempts
    world.register()
    code = world.code()
    for _ in range(attempts):
        with pytest.raises(InvalidOneTimeSecret):
            world.identity.verify_email(ANN, other_code(code))

    with pytest.raises(InvalidOneTimeSecret):
        world.identity.verify_email(ANN, code)
    assert world.account(ANN).status is AccountStatus.PENDING


def test_the_last_attempt_is_still_an_attempt(world: World) -> None:
    world.register()
    code = world.code()
    for _ in range(SETTINGS.verification_attempts - 1):
        with pytest.raises(InvalidOneTimeSecret):
            world.identity.verify_email(ANN, other_code(code))

    world.identity.verify_email(ANN, code)
    assert world.account(ANN).status is AccountStatus.ACTIVE


def test_a_code_expires(world: World) -> None:
    lifetime = SETTINGS.verification_code_lifetime
    world.register()
    code = world.code()
    world.clock.advance(lifetime)
    with pytest.raises(InvalidOneTimeSecret):
        world.identity.verify_email(ANN, code)
    assert world.account(ANN).status is AccountStatus.PENDING


def test_a_code_works_until_just_before_it_expires(world: World) -> None:
    world.register()
    world.clock.advance(SETTINGS.verification_code_lifetime - timedelta(seconds=1))
    world.identity.verify_email(ANN, world.code())
    assert world.account(ANN).status is AccountStatus.ACTIVE


def test_resending_makes_earlier_codes_stop_working(world: World) -> None:
    world.register()
    first = world.code()
    world.clock.advance(RESEND_INTERVAL)
    world.identity.resend_verification(ANN)
    # Codes are random: make sure the two differ, or the test would prove nothing.
    while world.code() == first:
        world.clock.advance(RESEND_INTERVAL)
        world.identity.resend_verification(ANN)
    latest = world.code()

    with pytest.raises(InvalidOneTimeSecret):
        world.identity.verify_email(ANN, first)
    world.identity.verify_email(ANN, latest)
    assert world.account(ANN).status is AccountStatus.ACTIVE


def test_resending_at_most_once_a_minute_and_never_for_fresh_guesses(world: World) -> None:
    world.register()
    sent = len(world.notifier.sent)
    world.identity.resend_verification(ANN)  # within the minute: nothing
    assert len(world.notifier.sent) == sent
    for _ in range(3):
        with pytest.raises(InvalidOneTimeSecret):
            world.identity.verify_email(ANN, "not-a-code")
    world.clock.advance(RESEND_INTERVAL)
    world.identity.resend_verification(ANN)
    # The new code carries the two attempts the old one had left, not five fresh ones.
    for _ in range(2):
        with pytest.raises(InvalidOneTimeSecret):
            world.identity.verify_email(ANN, "not-a-code")
    with pytest.raises(InvalidOneTimeSecret):
        world.identity.verify_email(ANN, world.code())


def test_resend_is_silent_for_unknown_and_already_active_addresses(world: World) -> None:
    world.active_patient(ANN)
    sent = len(world.notifier.sent)
    world.identity.resend_verification(ANN)
    world.identity.resend_verification(BEN)
    assert len(world.notifier.sent) == sent


def test_verifying_does_not_re_enable_a_disabled_account(world: World) -> None:
    world.register()
    code = world.code()  # mailed before the account was disabled (none is mailed after)
    world.set_status(ANN, AccountStatus.DISABLED)
    with contextlib.suppress(InvalidOneTimeSecret):  # refusing or ignoring: either is fine
        world.identity.verify_email(ANN, code)
    assert world.account(ANN).status is AccountStatus.DISABLED


def test_unknown_address_answers_like_a_wrong_code(world: World) -> None:
    world.register(ANN)
    with pytest.raises(InvalidOneTimeSecret) as wrong:
        world.identity.verify_email(ANN, other_code(world.code()))
    with pytest.raises(InvalidOneTimeSecret) as unknown:
        world.identity.verify_email(BEN, "123456")
    assert str(unknown.value) == str(wrong.value)


# -- sign-in -------------------------------------------------------------------------------


def test_login_returns_a_session_whose_refresh_token_works(world: World) -> None:
    account = world.active_patient()
    session = world.identity.login(ANN, PASSWORD)

    assert session.account.id == account.id
    assert session.account.actor() == Actor.patient(PatientId("pat-1"), account.id)
    assert session.refresh_expires_at == START + SETTINGS.refresh_token_lifetime
    renewed = world.identity.refresh(session.refresh_token)
    assert renewed.account.id == account.id
    assert renewed.refresh_token != session.refresh_token


def test_login_accepts_the_address_in_any_case(world: World) -> None:
    account = world.active_patient(ANN)
    assert world.identity.login(EmailAddress("Ann@EXAMPLE.com"), PASSWORD).account.id == account.id


def test_wrong_password_and_unknown_address_fail_alike(world: World) -> None:
    world.active_patient()
    with pytest.raises(AuthenticationFailed) as wrong_password:
        world.identity.login(ANN, WRONG_PASSWORD)
    with pytest.raises(AuthenticationFailed) as unknown:
        world.identity.login(BEN, PASSWORD)
    assert str(unknown.value) == str(wrong_password.value)


def test_an_unknown_address_still_costs_a_password_check(world: World) -> None:
    """So that the time taken does not tell whether the address has an account."""
    world.active_patient()
    before = world.hasher.verified
    with pytest.raises(AuthenticationFailed):
        world.identity.login(BEN, PASSWORD)
    assert world.hasher.verified == before + 1


def test_pending_account_says_so_only_when_the_password_is_right(world: World) -> None:
    world.register()
    with pytest.raises(AuthenticationFailed):
        world.identity.login(ANN, WRONG_PASSWORD)
    with pytest.raises(EmailNotVerified):
        world.identity.login(ANN, PASSWORD)


def test_disabled_account_cannot_sign_in_even_with_the_right_password(world: World) -> None:
    world.active_patient()
    world.set_status(ANN, AccountStatus.DISABLED)
    with pytest.raises(AuthenticationFailed):
        world.identity.login(ANN, PASSWORD)


def test_a_password_hashed_at_a_lower_cost_is_upgraded_on_login() -> None:
    store = InMemoryStore()
    old = World(store=store, hasher=CountingHasher(cost=4))
    old.active_patient()
    assert old.account(ANN).password_hash.startswith("$2b$04$")  # type: ignore[union-attr]

    new = World(store=store, hasher=CountingHasher(cost=5))
    new.identity.login(ANN, PASSWORD)

    upgraded = new.account(ANN).password_hash
    assert upgraded is not None
    assert upgraded.startswith("$2b$05$")
    assert not new.hasher.needs_rehash(upgraded)
    assert new.identity.login(ANN, PASSWORD).account.password_hash == upgraded


def test_a_current_hash_is_left_alone_on_login(world: World) -> None:
    world.active_patient()
    stored = world.account(ANN).password_hash
    hashed = world.hasher.hashed
    world.identity.login(ANN, PASSWORD)
    assert world.account(ANN).password_hash == stored
    assert world.hasher.hashed == hashed


# -- throttling ----------------------------------------------------------------------------


def test_failures_lock_the_account_out_for_the_lockout_even_with_the_right_password(
    world: World,
) -> None:
    world.active_patient()
    world.fail_logins(ACCOUNT_RULE.max_failures)

    with pytest.raises(TooManyAttempts) as locked:
        world.identity.login(ANN, PASSWORD)
    assert locked.value.retry_after_seconds == ACCOUNT_RULE.lockout.total_seconds()

    world.clock.advance(ACCOUNT_RULE.lockout - timedelta(seconds=1))
    with pytest.raises(TooManyAttempts) as almost:
        world.identity.login(ANN, PASSWORD)
    assert almost.value.retry_after_seconds == 1

    world.clock.advance(timedelta(seconds=1))
    assert world.identity.login(ANN, PASSWORD).account.email == ANN


def test_retry_after_rounds_up_to_whole_seconds(world: World) -> None:
    world.active_patient()
    world.fail_logins(ACCOUNT_RULE.max_failures)
    world.clock.advance(timedelta(milliseconds=1500))
    with pytest.raises(TooManyAttempts) as locked:
        world.identity.login(ANN, PASSWORD)
    left = ACCOUNT_RULE.lockout - timedelta(milliseconds=1500)
    assert locked.value.retry_after_seconds == math.ceil(left.total_seconds())


def test_fewer_failures_than_the_limit_do_not_lock(world: World) -> None:
    world.active_patient()
    world.fail_logins(ACCOUNT_RULE.max_failures - 1)
    assert world.identity.login(ANN, PASSWORD).account.email == ANN


def test_a_success_clears_the_accounts_failures(world: World) -> None:
    world.active_patient()
    world.fail_logins(ACCOUNT_RULE.max_failures - 1)
    world.identity.login(ANN, PASSWORD)
    world.fail_logins(ACCOUNT_RULE.max_failures - 1)
    world.identity.login(ANN, PASSWORD)  # not locked: the count started again

    world.fail_logins(ACCOUNT_RULE.max_failures)
    with pytest.raises(TooManyAttempts):
        world.identity.login(ANN, PASSWORD)


def test_an_unknown_address_is_locked_like_a_real_one(world: World) -> None:
    """Otherwise the lock would reveal which addresses have accounts."""
    world.fail_logins(ACCOUNT_RULE.max_failures, BEN)
    with pytest.raises(TooManyAttempts) as locked:
        world.identity.login(BEN, PASSWORD)
    assert locked.value.retry_after_seconds == ACCOUNT_RULE.lockout.total_seconds()


def test_locking_one_account_leaves_others_alone(world: World) -> None:
    world.active_patient(ANN)
    world.active_patient(BEN)
    world.fail_logins(ACCOUNT_RULE.max_failures, ANN)
    assert world.identity.login(BEN, PASSWORD).account.email == BEN


def test_a_client_address_is_locked_after_failures_across_accounts(world: World) -> None:
    world.active_patient(ANN)
    here, elsewhere = "203.0.113.7", "198.51.100.2"
    # One failure per address, so that no single account reaches its own limit.
    strangers = [EmailAddress(f"guess{n}@example.com") for n in range(ADDRESS_RULE.max_failures)]
    for email in strangers[:-1]:
        world.fail_logins(1, email, client_address=here)

    # One short of the limit: still open, and a success does not reset the address's count.
    world.identity.login(ANN, PASSWORD, client_address=here)
    world.fail_logins(1, strangers[-1], client_address=here)

    with pytest.raises(TooManyAttempts) as locked:
        world.identity.login(ANN, PASSWORD, client_address=here)
    assert locked.value.retry_after_seconds == ADDRESS_RULE.lockout.total_seconds()
    assert world.identity.login(ANN, PASSWORD, client_address=elsewhere).account.email == ANN

    world.clock.advance(ADDRESS_RULE.lockout)
    assert world.identity.login(ANN, PASSWORD, client_address=here).account.email == ANN


def test_account_lockout_holds_for_every_spelling_that_reaches_the_account(
    world: World,
) -> None:
    world.active_patient(EmailAddress("sam@example.com"))
    world.fail_logins(ACCOUNT_RULE.max_failures, EmailAddress("sam@example.com"))
    variant = EmailAddress("\u017fam@example.com")  # long s: casefolds to "sam"

    # A spelling that reaches Sam's account must be locked too (or reach no account at all).
    with pytest.raises((TooManyAttempts, AuthenticationFailed)):
        world.identity.login(variant, PASSWORD)


# -- two-factor sign-in --------------------------------------------------------------------


def test_two_factor_account_needs_the_code(world: World) -> None:
    world.active_patient()
    secret = world.enable_two_factor()
    assert isinstance(world.totp, FakeTotp)
    right = world.totp.code(secret, world.clock.now())

    with pytest.raises(SecondFactorRequired):
        world.identity.login(ANN, PASSWORD)
    with pytest.raises(AuthenticationFailed):
        world.identity.login(ANN, PASSWORD, totp_code=other_code(right))
    assert world.identity.login(ANN, PASSWORD, totp_code=right).account.totp_enabled


def test_a_missing_second_factor_is_asked_for_only_after_the_password(world: World) -> None:
    world.active_patient()
    world.enable_two_factor()
    with pytest.raises(AuthenticationFailed):
        world.identity.login(ANN, WRONG_PASSWORD)


def test_wrong_second_factor_codes_count_as_failures(world: World) -> None:
    world.active_patient()
    secret = world.enable_two_factor()
    assert isinstance(world.totp, FakeTotp)
    right = world.totp.code(secret, world.clock.now())
    for _ in range(ACCOUNT_RULE.max_failures):
        with pytest.raises(AuthenticationFailed):
            world.identity.login(ANN, PASSWORD, totp_code=other_code(right))

    with pytest.raises(TooManyAttempts):
        world.identity.login(ANN, PASSWORD, totp_code=right)


def test_asking_for_the_second_factor_is_not_a_failure(world: World) -> None:
    world.active_patient()
    secret = world.enable_two_factor()
    assert isinstance(world.totp, FakeTotp)
    for _ in range(ACCOUNT_RULE.max_failures + 1):
        with pytest.raises(SecondFactorRequired):
            world.identity.login(ANN, PASSWORD)
    code = world.totp.code(secret, world.clock.now())
    assert world.identity.login(ANN, PASSWORD, totp_code=code).account.email == ANN


def test_a_role_that_must_use_two_factor_enrols_when_setting_its_password() -> None:
    world = World(IdentitySettings(two_factor_required_for=frozenset({"doctor"})))
    world.invite(DOC)
    result = world.identity.set_password(world.link_token(DOC, "set_password"), PASSWORD)
    world.active_patient(ANN)
    assert result.two_factor is not None
    assert result.two_factor.secret in result.two_factor.provisioning_uri

    with pytest.raises(AuthenticationFailed):
        world.identity.login(DOC, WRONG_PASSWORD)
    with pytest.raises(SecondFactorRequired):
        world.identity.login(DOC, PASSWORD)
    assert world.identity.login(ANN, PASSWORD).account.role is Role.PATIENT  # not required

    assert isinstance(world.totp, FakeTotp)
    code = world.totp.code(result.two_factor.secret, world.clock.now())
    assert world.identity.login(DOC, PASSWORD, totp_code=code).account.role is Role.DOCTOR
    assert world.account(DOC).totp_enabled  # the first good code switched it on


def test_a_role_that_must_use_two_factor_and_has_no_secret_cannot_sign_in() -> None:
    world = World(IdentitySettings(two_factor_required_for=frozenset({"admin"})))
    admin_email = EmailAddress("root@clinic.example")
    world.identity.create_admin(admin_email, PASSWORD)
    with pytest.raises(SecondFactorEnrollmentRequired):
        world.identity.login(admin_email, PASSWORD)


def test_sign_in_with_a_real_authenticator_code() -> None:
    world = World(totp=PyOtpTotp())
    account = world.active_patient()
    enrollment = world.identity.begin_two_factor(account.id)
    authenticator = pyotp.TOTP(enrollment.secret)
    world.identity.confirm_two_factor(account.id, authenticator.at(world.clock.now()))

    world.clock.advance(timedelta(minutes=7))
    now = world.clock.now()
    with pytest.raises(SecondFactorRequired):
        world.identity.login(ANN, PASSWORD)
    # One step of drift either way is allowed; pick an older code that differs from all three
    # (codes from different steps can coincide by chance).
    window = {authenticator.at(now + timedelta(seconds=30 * step)) for step in (-1, 0, 1)}
    stale = next(
        code
        for back in range(2, 100)
        if (code := authenticator.at(now - timedelta(seconds=30 * back))) not in window
    )
    with pytest.raises(AuthenticationFailed):
        world.identity.login(ANN, PASSWORD, totp_code=stale)
    assert world.identity.login(ANN, PASSWORD, totp_code=authenticator.at(now)).account.email == ANN


def test_a_second_factor_code_cannot_be_replayed(world: World) -> None:
    world.active_patient()
    secret = world.enable_two_factor()
    assert isinstance(world.totp, FakeTotp)
    code = world.totp.code(secret, world.clock.now())
    world.identity.login(ANN, PASSWORD, totp_code=code)
    with pytest.raises(AuthenticationFailed):
        world.identity.login(ANN, PASSWORD, totp_code=code)


# -- enrolling in two-factor ---------------------------------------------------------------


def test_two_factor_takes_effect_only_once_confirmed(world: World) -> None:
    account = world.active_patient()
    enrollment = world.identity.begin_two_factor(account.id)

    assert enrollment.secret
    assert enrollment.provisioning_uri.startswith("otpauth://totp/")
    assert SETTINGS.issuer in enrollment.provisioning_uri
    assert str(ANN) in enrollment.provisioning_uri
    assert not world.account(ANN).totp_enabled
    world.identity.login(ANN, PASSWORD)  # no code needed yet

    assert isinstance(world.totp, FakeTotp)
    right = world.totp.code(enrollment.secret, world.clock.now())
    with pytest.raises(InvalidOneTimeSecret):
        world.identity.confirm_two_factor(account.id, other_code(right))
    assert not world.account(ANN).totp_enabled

    world.identity.confirm_two_factor(account.id, right)
    assert world.account(ANN).totp_enabled
    with pytest.raises(SecondFactorRequired):
        world.identity.login(ANN, PASSWORD)


def test_confirming_without_beginning_fails(world: World) -> None:
    account = world.active_patient()
    with pytest.raises(InvalidOneTimeSecret):
        world.identity.confirm_two_factor(account.id, "123456")
    assert not world.account(ANN).totp_enabled


def test_beginning_again_replaces_an_unconfirmed_secret(world: World) -> None:
    account = world.active_patient()
    first = world.identity.begin_two_factor(account.id)
    second = world.identity.begin_two_factor(account.id)
    assert first.secret != second.secret
    assert isinstance(world.totp, FakeTotp)
    with pytest.raises(InvalidOneTimeSecret):
        world.identity.confirm_two_factor(
            account.id, world.totp.code(first.secret, world.clock.now())
        )
    world.identity.confirm_two_factor(account.id, world.totp.code(second.secret, world.clock.now()))
    assert world.account(ANN).totp_enabled


def test_two_factor_cannot_be_begun_again_once_on(world: World) -> None:
    account = world.active_patient()
    secret = world.enable_two_factor()
    with pytest.raises(AlreadyExists):
        world.identity.begin_two_factor(account.id)
    assert world.account(ANN).totp_secret == secret


# -- refresh tokens ------------------------------------------------------------------------


def test_refresh_rotates_the_token(world: World) -> None:
    world.active_patient()
    first = world.identity.login(ANN, PASSWORD)
    world.clock.advance(timedelta(minutes=10))

    second = world.identity.refresh(first.refresh_token)

    assert second.refresh_expires_at == world.clock.now() + SETTINGS.refresh_token_lifetime
    third = world.identity.refresh(second.refresh_token)
    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3


def test_refresh_tokens_are_stored_as_digests(world: World) -> None:
    world.active_patient()
    session = world.identity.login(ANN, PASSWORD)
    token_id, _, secret = session.refresh_token.partition(".")
    stored = world.store.refresh_tokens[token_id]
    assert secret not in stored.digest
    assert secret not in repr(stored)


def test_reusing_a_rotated_token_revokes_the_whole_family(world: World) -> None:
    world.active_patient()
    other_device = world.identity.login(ANN, PASSWORD)
    first = world.identity.login(ANN, PASSWORD)
    second = world.identity.refresh(first.refresh_token)

    with pytest.raises(RefreshTokenReused):
        world.identity.refresh(first.refresh_token)

    assert world.refused(second.refresh_token)  # the newest link of the family too
    assert not world.refused(other_device.refresh_token)  # another family is untouched


def test_an_expired_refresh_token_fails(world: World) -> None:
    world.active_patient()
    session = world.identity.login(ANN, PASSWORD)
    world.clock.advance(SETTINGS.refresh_token_lifetime)
    with pytest.raises(AuthenticationFailed):
        world.identity.refresh(session.refresh_token)


def test_a_refresh_token_works_until_just_before_it_expires(world: World) -> None:
    world.active_patient()
    session = world.identity.login(ANN, PASSWORD)
    world.clock.advance(SETTINGS.refresh_token_lifetime - timedelta(seconds=1))
    assert world.identity.refresh(session.refresh_token).account.email == ANN


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # secret changed
        lambda token: token.partition(".")[0] + ".",  # secret dropped
        lambda token: token.partition(".")[0],  # no separator at all
        lambda token: "unknown." + token.partition(".")[2],  # id changed
        lambda token: "",
    ],
)
def test_a_tampered_refresh_token_fails_and_harms_nothing(
    world: World, tamper: Callable[[str], str]
) -> None:
    world.active_patient()
    session = world.identity.login(ANN, PASSWORD)
    with pytest.raises(AuthenticationFailed):
        world.identity.refresh(tamper(session.refresh_token))
    assert world.identity.refresh(session.refresh_token).account.email == ANN


def test_a_disabled_account_cannot_refresh(world: World) -> None:
    world.active_patient()
    session = world.identity.login(ANN, PASSWORD)
    world.set_status(ANN, AccountStatus.DISABLED)
    with pytest.raises(AuthenticationFailed):
        world.identity.refresh(session.refresh_token)


def test_logout_revokes_the_family(world: World) -> None:
    world.active_patient()
    other_device = world.identity.login(ANN, PASSWORD)
    first = world.identity.login(ANN, PASSWORD)
    second = world.identity.refresh(first.refresh_token)

    world.identity.logout(second.refresh_token)

    assert world.refused(second.refresh_token)
    assert world.refused(first.refresh_token)
    assert not world.refused(other_device.refresh_token)


@pytest.mark.parametrize("token", ["", "nonsense", "id-999.secret", "id-1.", "."])
def test_logout_ignores_unknown_tokens(world: World, token: str) -> None:
    world.active_patient()
    session = world.identity.login(ANN, PASSWORD)
    world.identity.logout(token)
    assert not world.refused(session.refresh_token)


def test_logout_with_a_wrong_secret_ends_nothing(world: World) -> None:
    world.active_patient()
    session = world.identity.login(ANN, PASSWORD)
    token_id = session.refresh_token.partition(".")[0]
    world.identity.logout(f"{token_id}.guessed")
    assert not world.refused(session.refresh_token)


@pytest.mark.parametrize("threads", [2, 8])
def test_concurrent_refreshes_of_one_token_yield_at_most_one_session(
    world: World, threads: int
) -> None:
    world.active_patient()
    session = world.identity.login(ANN, PASSWORD)
    start = threading.Barrier(threads)

    def refresh() -> Session | Exception:
        start.wait()
        try:
            return world.identity.refresh(session.refresh_token)
        except (AuthenticationFailed, RefreshTokenReused) as error:
            return error

    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(lambda _: refresh(), range(threads)))

    sessions = [o for o in outcomes if isinstance(o, Session)]
    refusals = [o for o in outcomes if not isinstance(o, Session)]
    assert len(sessions) <= 1
    assert all(isinstance(o, RefreshTokenReused) for o in refusals)
    # Someone presented a rotated token: the family is revoked, the winner's token included.
    assert all(t.revoked_at is not None for t in world.store.refresh_tokens.values())
    assert world.refused(session.refresh_token)
    for winner in sessions:
        assert world.refused(winner.refresh_token)


class _RotateFirst(InMemoryRefreshTokenRepository):
    """Lets another refresh rotate the token (and commit) between this transaction's read and
    its write: the interleaving the in-memory store's lock otherwise never allows."""

    interleave: Callable[[], None] | None = None

    def update(self, token: RefreshToken) -> None:
        hook, _RotateFirst.interleave = _RotateFirst.interleave, None
        if hook is not None:
            hook()  # the store's lock is reentrant: this runs as a "concurrent" transaction
        super().update(token)


class _InterleavingUnitOfWork(InMemoryUnitOfWork):
    def _begin(self) -> None:
        super()._begin()
        self.refresh_tokens = _RotateFirst(self._store, self._journal)


def test_a_refresh_that_loses_the_race_at_its_write_revokes_the_family() -> None:
    store = InMemoryStore()
    world = World(store=store, uow=lambda: _InterleavingUnitOfWork(store))
    world.active_patient()
    session = world.identity.login(ANN, PASSWORD)
    winners: list[Session] = []
    _RotateFirst.interleave = lambda: winners.append(world.identity.refresh(session.refresh_token))

    with pytest.raises(RefreshTokenReused):
        world.identity.refresh(session.refresh_token)

    [winner] = winners
    assert world.refused(winner.refresh_token)


# -- forgotten passwords -------------------------------------------------------------------


def test_forgot_password_for_an_unknown_address_is_silent(world: World) -> None:
    world.active_patient(ANN)
    world.identity.forgot_password(BEN)
    assert world.mail(BEN) == []


def test_forgot_password_for_a_disabled_account_is_silent(world: World) -> None:
    world.active_patient(ANN)
    world.set_status(ANN, AccountStatus.DISABLED)
    world.identity.forgot_password(ANN)
    assert world.mail(ANN, "reset_password") == []


def test_a_reset_link_sets_the_password_once_and_ends_every_session(world: World) -> None:
    world.active_patient()
    phone = world.identity.login(ANN, PASSWORD)
    laptop = world.identity.login(ANN, PASSWORD)
    world.identity.forgot_password(ANN)
    token = world.link_token(ANN, "reset_password")
    assert token not in str(world.store.one_time_secrets)

    account = world.identity.set_password(token, OTHER_PASSWORD).account

    assert account.email == ANN
    assert world.refused(phone.refresh_token)
    assert world.refused(laptop.refresh_token)
    with pytest.raises(AuthenticationFailed):
        world.identity.login(ANN, PASSWORD)
    assert world.identity.login(ANN, OTHER_PASSWORD).account.email == ANN
    with pytest.raises(InvalidOneTimeSecret):
        world.identity.set_password(token, "a third long passphrase")
    assert world.identity.login(ANN, OTHER_PASSWORD).account.email == ANN


def test_a_reset_link_expires(world: World) -> None:
    world.active_patient()
    world.identity.forgot_password(ANN)
    token = world.link_token(ANN, "reset_password")
    world.clock.advance(SETTINGS.reset_token_lifetime)
    with pytest.raises(InvalidOneTimeSecret):
        world.identity.set_password(token, OTHER_PASSWORD)
    assert world.identity.login(ANN, PASSWORD).account.email == ANN


def test_a_reset_link_works_until_just_before_it_expires(world: World) -> None:
    world.active_patient()
    world.identity.forgot_password(ANN)
    token = world.link_token(ANN, "reset_password")
    world.clock.advance(SETTINGS.reset_token_lifetime - timedelta(seconds=1))
    world.identity.set_password(token, OTHER_PASSWORD)
    assert world.identity.login(ANN, OTHER_PASSWORD).account.email == ANN


def test_a_weak_new_password_is_refused_and_the_link_still_works(world: World) -> None:
    world.active_patient()
    world.identity.forgot_password(ANN)
    token = world.link_token(ANN, "reset_password")
    with pytest.raises(WeakPassword):
        world.identity.set_password(token, "short")
    world.identity.set_password(token, OTHER_PASSWORD)
    assert world.identity.login(ANN, OTHER_PASSWORD).account.email == ANN


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token.partition(".")[0] + ".guessed",
        lambda token: "id-999." + token.partition(".")[2],
        lambda token: token.partition(".")[2],
    ],
)
def test_a_tampered_reset_link_fails(world: World, tamper: Callable[[str], str]) -> None:
    world.active_patient()
    world.identity.forgot_password(ANN)
    token = world.link_token(ANN, "reset_password")
    with pytest.raises(InvalidOneTimeSecret):
        world.identity.set_password(tamper(token), OTHER_PASSWORD)
    with pytest.raises(AuthenticationFailed):
        world.identity.login(ANN, OTHER_PASSWORD)


def test_a_verification_code_record_is_not_a_reset_link(world: World) -> None:
    world.register()
    world.code()  # the code is issued when its mail is sent
    [secret] = world.store.one_time_secrets.values()
    with pytest.raises(InvalidOneTimeSecret):
        world.identity.set_password(f"{secret.id}.{world.code()}", OTHER_PASSWORD)


def test_a_reset_link_activates_a_pending_account(world: World) -> None:
    """Receiving the link proves control of the address as well as a code does."""
    world.register()
    world.identity.forgot_password(ANN)
    world.identity.set_password(world.link_token(ANN, "reset_password"), OTHER_PASSWORD)
    assert world.account(ANN).status is AccountStatus.ACTIVE


def test_a_reset_link_only_ever_goes_to_the_accounts_own_address(world: World) -> None:
    owner = EmailAddress("ann@strasse.example")
    world.active_patient(owner)
    look_alike = EmailAddress("ann@stra\u00dfe.example")
    assert look_alike != owner

    world.identity.forgot_password(look_alike)

    assert world.mail(look_alike, "reset_password") == []


# -- doctors and admins --------------------------------------------------------------------


def test_an_admin_invites_a_doctor_who_sets_a_password_and_signs_in(world: World) -> None:
    doctor = world.invite(DOC, "dr-1")

    with world.uow() as uow:
        assert uow.doctors.get(DoctorId("dr-1")).name == doctor.name
    account = world.account(DOC)
    assert account.role is Role.DOCTOR
    assert account.status is AccountStatus.PENDING
    assert account.doctor_id == DoctorId("dr-1")
    assert account.password_hash is None
    with pytest.raises(AuthenticationFailed):
        world.identity.login(DOC, PASSWORD)

    activated = world.identity.set_password(world.link_token(DOC, "set_password"), PASSWORD).account

    assert activated.status is AccountStatus.ACTIVE
    session = world.identity.login(DOC, PASSWORD)
    assert session.account.actor() == Actor.doctor(DoctorId("dr-1"), account.id)


def test_an_invitation_link_works_once_and_expires(world: World) -> None:
    world.invite(DOC, "dr-1")
    token = world.link_token(DOC, "set_password")
    world.clock.advance(SETTINGS.invitation_lifetime)
    with pytest.raises(InvalidOneTimeSecret):
        world.identity.set_password(token, PASSWORD)

    world.invite(EmailAddress("dr.two@example.com"), "dr-2")
    second = world.link_token(EmailAddress("dr.two@example.com"), "set_password")
    world.identity.set_password(second, PASSWORD)
    with pytest.raises(InvalidOneTimeSecret):
        world.identity.set_password(second, OTHER_PASSWORD)


@pytest.mark.parametrize(
    "actor",
    [
        Actor.patient(PatientId("pat-1"), UserId("u-p")),
        Actor.doctor(DoctorId("dr-0"), UserId("u-d")),
    ],
)
def test_only_an_admin_may_invite_doctors(world: World, actor: Actor) -> None:
    doctor = Doctor(DoctorId("dr-1"), "Dr Who", "GP", "REG-1", Money(0, "EUR"), "UTC")
    with pytest.raises(AccessDenied):
        world.identity.invite_doctor(actor, doctor, DOC)
    assert world.store.doctors == {}
    assert world.store.accounts == {}
    assert world.notifier.sent == []


def test_inviting_a_taken_address_stores_nothing(world: World) -> None:
    world.active_patient(ANN)
    admin = world.admin()
    doctor = Doctor(DoctorId("dr-1"), "Dr Who", "GP", "REG-1", Money(0, "EUR"), "UTC")
    with pytest.raises(AlreadyExists):
        world.identity.invite_doctor(admin, doctor, ANN)
    assert world.store.doctors == {}
    assert world.mail(ANN, "set_password") == []


def test_create_admin_makes_an_active_admin_who_can_sign_in(world: World) -> None:
    account = world.identity.create_admin(BOSS, PASSWORD)
    assert account.role is Role.ADMIN
    assert account.status is AccountStatus.ACTIVE
    assert world.identity.login(BOSS, PASSWORD).account.actor() == Actor.admin(account.id)
    assert world.identity.account(account.id).email == BOSS
    assert world.notifier.sent == []


def test_create_admin_refuses_weak_passwords_and_taken_addresses(world: World) -> None:
    with pytest.raises(WeakPassword):
        world.identity.create_admin(BOSS, "short")
    assert world.store.accounts == {}
    world.identity.create_admin(BOSS, PASSWORD)
    with pytest.raises(AlreadyExists):
        world.identity.create_admin(EmailAddress("Boss@example.com"), OTHER_PASSWORD)
    assert len(world.store.accounts) == 1


# -- password strength ---------------------------------------------------------------------


def test_length_limits() -> None:
    check_password_strength(("abcd" * MIN_PASSWORD_LENGTH)[:MIN_PASSWORD_LENGTH])
    with pytest.raises(WeakPassword, match="at least"):
        check_password_strength(("abcd" * MIN_PASSWORD_LENGTH)[: MIN_PASSWORD_LENGTH - 1])
    check_password_strength(("abcdefgh" * MAX_PASSWORD_LENGTH)[:MAX_PASSWORD_LENGTH])
    with pytest.raises(WeakPassword, match="at most"):
        check_password_strength(("abcdefgh" * MAX_PASSWORD_LENGTH)[: MAX_PASSWORD_LENGTH + 1])


@pytest.mark.parametrize("distinct", [1, 2, 3])
def test_too_few_different_characters(distinct: int) -> None:
    password = ("abc"[:distinct] * MIN_PASSWORD_LENGTH)[:MIN_PASSWORD_LENGTH]
    assert len(set(password)) == distinct
    with pytest.raises(WeakPassword, match="different characters"):
        check_password_strength(password)


def test_four_different_characters_are_enough() -> None:
    check_password_strength(("abcd" * MIN_PASSWORD_LENGTH)[:MIN_PASSWORD_LENGTH])


@pytest.mark.parametrize("common", ["password1234", "Password1234", "QWERTY123456", "HelloDoctor1"])
def test_common_passwords(common: str) -> None:
    with pytest.raises(WeakPassword, match="common"):
        check_password_strength(common)


def test_built_on_the_email_name() -> None:
    email = EmailAddress("Annabelle@example.com")
    with pytest.raises(WeakPassword, match="e-mail"):
        check_password_strength("my dear ANNABELLE 1990", email)
    check_password_strength("my dear ANNABELLE 1990")  # fine for someone else
    check_password_strength("my dear ann of 1990!", EmailAddress("ann@example.com"))  # short name


def test_a_password_is_text() -> None:
    with pytest.raises(WeakPassword, match="text"):
        check_password_strength(b"bytes are not a password")  # type: ignore[arg-type]
