"""Accounts, one-time secrets and refresh tokens: who may sign in, and as whom.

Secrets are never stored: only a SHA-256 digest of them, compared in constant time. The
secrets themselves are high-entropy (``secrets.token_urlsafe``) except the six-digit e-mail
verification code, which is salted by its record's id, expires in minutes and allows a handful
of attempts. Password hashing is a port (bcrypt in production): slow hashes do not belong in a
pure domain.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import ClassVar

from attrs import define, field

from hellodoctor_domain.errors import WeakPassword
from hellodoctor_domain.model.events import Aggregate, DomainEvent
from hellodoctor_domain.model.values import (
    Actor,
    DoctorId,
    EmailAddress,
    PatientId,
    Role,
    UserId,
    utc,
)


class AccountStatus(enum.StrEnum):
    PENDING = "pending"  # e-mail not verified yet, or (doctors) password not set yet
    ACTIVE = "active"
    DISABLED = "disabled"


def _optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


@define(eq=False)
class Account(Aggregate):
    id: UserId
    email: EmailAddress
    role: Role
    status: AccountStatus
    created_at: datetime = field(converter=utc)
    password_hash: str | None = field(default=None, repr=False)
    patient_id: PatientId | None = None
    doctor_id: DoctorId | None = None
    totp_secret: str | None = field(default=None, repr=False)
    totp_enabled: bool = False
    # The last TOTP time step accepted: a code is good once (RFC 6238, section 5.2).
    totp_last_step: int | None = None
    version: int = 0

    def __attrs_post_init__(self) -> None:
        self.actor()  # the profile links must fit the role

    def actor(self) -> Actor:
        return Actor(self.role, self.id, patient_id=self.patient_id, doctor_id=self.doctor_id)


class SecretPurpose(enum.StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"
    SET_PASSWORD = "set_password"


# -- identity mails, through the outbox -----------------------------------------------------
#
# A request that must mail someone (a code, a link, a warning) only records one of these on
# the account, so the mail leaves after commit through the outbox like any other message and
# the request takes no longer for an address with an account than for one without. They carry
# no secret: the consumer issues the code or link when it sends the mail
# (``use_cases/identity_mail.py``), so no readable secret is ever stored (docs/notifications.md).


@define(frozen=True, kw_only=True)
class AccountEvent(DomainEvent):
    aggregate_type: ClassVar[str] = "account"

    account_id: UserId

    @property
    def aggregate_id(self) -> str:
        return self.account_id.value


@define(frozen=True, kw_only=True)
class VerificationRequested(AccountEvent):
    """Mail a fresh e-mail verification code (on registration, or asked again)."""


@define(frozen=True, kw_only=True)
class PasswordResetRequested(AccountEvent):
    """Mail a reset link to the account's own address."""


@define(frozen=True, kw_only=True)
class DoctorInvited(AccountEvent):
    """Mail a doctor's new account its set-password link."""


@define(frozen=True, kw_only=True)
class StaffInvited(AccountEvent):
    """Mail a hospital administrator's or an insurer's new account its set-password link."""


@define(frozen=True, kw_only=True)
class RegistrationRepeated(AccountEvent):
    """Someone tried to register the address again: tell its owner (no secret)."""


def digest(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


def digests_match(expected: str, salt: str, secret: str) -> bool:
    return hmac.compare_digest(expected, digest(salt, secret))


@define(eq=False)
class OneTimeSecret:
    """A code or token that proves control of an e-mail address, usable once."""

    id: str
    account_id: UserId
    purpose: SecretPurpose
    digest: str = field(repr=False)
    created_at: datetime = field(converter=utc)
    expires_at: datetime = field(converter=utc)
    attempts_left: int
    used_at: datetime | None = field(default=None, converter=_optional_utc)
    version: int = 0

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and self.attempts_left > 0 and utc(now) < self.expires_at


@define(eq=False)
class RefreshToken:
    """One link of a rotation chain. The client holds ``"{id}.{secret}"``; every refresh
    replaces the token with a new one of the same family, and presenting a replaced token
    again revokes the family (someone else has a copy)."""

    id: str
    family_id: str
    account_id: UserId
    digest: str = field(repr=False)
    issued_at: datetime = field(converter=utc)
    expires_at: datetime = field(converter=utc)
    replaced_at: datetime | None = field(default=None, converter=_optional_utc)
    revoked_at: datetime | None = field(default=None, converter=_optional_utc)
    version: int = 0

    def live(self, now: datetime) -> bool:
        return self.replaced_at is None and self.revoked_at is None and utc(now) < self.expires_at


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_code(digits: int = 6) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


# -- password strength --------------------------------------------------------------------

MIN_PASSWORD_LENGTH = 12
# Long enough for any passphrase, short enough that hashing it cannot be used to burn CPU.
MAX_PASSWORD_LENGTH = 256
_COMMON = frozenset(
    """password123 password1234 123456789012 qwertyuiopas letmein12345 welcome12345
    iloveyou1234 administrator passw0rd1234 changeme1234 hellodoctor1 hellodoctor123
    qwerty123456 1q2w3e4r5t6y abc123456789 000000000000 111111111111 123123123123""".split()
)


def check_password_strength(password: str, email: EmailAddress | None = None) -> None:
    """Refuse passwords that are short, over-long, all one character, common, or built on the
    account's own e-mail name. Length matters most (NIST SP 800-63B); no composition rules."""
    if not isinstance(password, str):
        raise WeakPassword("a password is text")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"use at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"use at most {MAX_PASSWORD_LENGTH} characters")
    if len(set(password)) < 4:
        raise WeakPassword("use more than a few different characters")
    if password.lower() in _COMMON:
        raise WeakPassword("that password is too common")
    if email is not None:
        name = str(email).split("@", 1)[0].lower()
        if len(name) >= 4 and name in password.lower():
            raise WeakPassword("do not build the password on your e-mail address")
