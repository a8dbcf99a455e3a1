"""Claiming a walk-in's profile (issue 17, item 4): a patient the front desk registered on the
spot has a profile and no account. The desk hands them a one-time code; once they have
registered an account, they submit it while signed in and the walk-in's profile becomes their
account's (docs/clinic_day.md).

The code is ``"<patient id>.<secret>"``; only the secret's SHA-256 is kept (the secret has 96
random bits, so a fast hash is enough: nobody can search that space), on the walk-in's
profile, with when it lapses and, once used, which account claimed the profile. The claim is
the profile's compare-and-set write: of two accounts claiming it at once one wins, and the
other, re-reading, finds it claimed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from attrs import define, field

from hellodoctor_domain.errors import InvalidOneTimeSecret
from hellodoctor_domain.model.values import PatientId, UserId, utc

CLAIM_CODE_LIFETIME = timedelta(hours=24)
_SEPARATOR = "."


def _whole_seconds(value: datetime) -> datetime:
    # Every storage keeps whole seconds exactly (MongoDB keeps milliseconds).
    return utc(value).replace(microsecond=0)


def _optional_seconds(value: datetime | None) -> datetime | None:
    return None if value is None else _whole_seconds(value)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@define(frozen=True)
class WalkInClaim:
    """The code issued for a walk-in's profile, and whether an account has claimed it."""

    digest: str = field(repr=False)
    issued_by: UserId
    issued_at: datetime = field(converter=_whole_seconds)
    expires_at: datetime = field(converter=_whole_seconds)
    claimed_by: UserId | None = None
    claimed_at: datetime | None = field(default=None, converter=_optional_seconds)

    @classmethod
    def issue(
        cls, patient_id: PatientId, issued_by: UserId, now: datetime
    ) -> tuple[WalkInClaim, str]:
        """A new claim and its code (shown once, never stored)."""
        secret = secrets.token_urlsafe(12)
        claim = cls(_digest(secret), issued_by, now, now + CLAIM_CODE_LIFETIME)
        return claim, f"{patient_id.value}{_SEPARATOR}{secret}"

    def matches(self, secret: str) -> bool:
        return hmac.compare_digest(self.digest, _digest(secret))

    def claimed(self, account: UserId, now: datetime) -> WalkInClaim:
        return WalkInClaim(
            self.digest, self.issued_by, self.issued_at, self.expires_at, account, now
        )


def read_code(code: str) -> tuple[PatientId, str]:
    """The profile a code names, and its secret; a malformed code is ``InvalidOneTimeSecret``
    (the same refusal as a wrong one)."""
    patient, separator, secret = code.strip().rpartition(_SEPARATOR)
    if not separator or not patient or not secret:
        raise InvalidOneTimeSecret("that code is not valid")
    return PatientId(patient), secret


__all__ = ["CLAIM_CODE_LIFETIME", "WalkInClaim", "read_code"]
