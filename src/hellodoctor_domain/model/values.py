"""Value objects: immutable, validated on construction, compared by value."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from attrs import define, field

from hellodoctor_domain.errors import InvalidValue


def _non_blank(_instance: object, attribute: object, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(f"{getattr(attribute, 'name', 'value')} must be a non-blank string")


@define(frozen=True, order=True)
class _Identifier:
    value: str = field(validator=_non_blank)

    def __str__(self) -> str:
        return self.value


class DoctorId(_Identifier):
    """Identity of a doctor."""


class PatientId(_Identifier):
    """Identity of a patient."""


class AppointmentId(_Identifier):
    """Identity of an appointment."""


class UserId(_Identifier):
    """Identity of an account (the admin's, or the account behind a patient or doctor)."""


class HospitalId(_Identifier):
    """Identity of a hospital."""


class TransferId(_Identifier):
    """Identity of a patient's transfer between hospitals."""


class SchemeId(_Identifier):
    """Identity of an insurance scheme."""


class AdmissionId(_Identifier):
    """Identity of a patient's stay in a hospital bed."""


class PolicyId(_Identifier):
    """Identity of a patient's insurance policy."""


class ClaimId(_Identifier):
    """Identity of an insurance claim."""


class ReviewId(_Identifier):
    """Identity of a patient's review of a visit."""


class SeriesId(_Identifier):
    """Identity of a recurring series of appointments (issue 17)."""


def utc(moment: datetime) -> datetime:
    """Return ``moment`` as an aware UTC datetime; a naive datetime is refused, never guessed."""
    if moment.__class__ is datetime and moment.tzinfo is UTC:
        return moment  # already what is asked (most instants: every range is built of them)
    if not isinstance(moment, datetime):
        raise InvalidValue("a moment in time must be a datetime")
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidValue(f"{moment.isoformat()} has no time zone; moments must be zone-aware")
    return moment.astimezone(UTC)


def time_zone(name: str) -> ZoneInfo:
    """Load an IANA time zone by name, refusing unknown names with a domain error."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as error:
        raise InvalidValue(f"{name!r} is not an IANA time zone") from error


def _valid_zone_name(_instance: object, _attribute: object, value: str) -> None:
    time_zone(value)


@define(frozen=True)
class TimeRange:
    """A half-open interval ``[start, end)`` of UTC instants.

    Any aware datetime is accepted and converted to UTC, so two ranges compare equal whatever
    zone they were written in. Half-open means 09:00-09:30 and 09:30-10:00 touch but do not
    overlap.
    """

    start: datetime = field(converter=utc)
    end: datetime = field(converter=utc)

    def __attrs_post_init__(self) -> None:
        if self.end <= self.start:
            raise InvalidValue(
                f"a time range must end after it starts ({self.start.isoformat()} -> "
                f"{self.end.isoformat()})"
            )

    @classmethod
    def starting_at(cls, start: datetime, length: timedelta) -> Self:
        return cls(start, utc(start) + length)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def overlaps(self, other: TimeRange) -> bool:
        return self.start < other.end and other.start < self.end

    def contains(self, other: TimeRange) -> bool:
        return self.start <= other.start and other.end <= self.end

    def contains_instant(self, moment: datetime) -> bool:
        return self.start <= utc(moment) < self.end

    def extended(self, *, after: timedelta) -> TimeRange:
        """The range with ``after`` added to its end (used for buffers)."""
        return TimeRange(self.start, self.end + after)

    def shifted_to(self, start: datetime) -> TimeRange:
        """A range of the same length starting at ``start``."""
        return TimeRange.starting_at(start, self.duration)

    def minus(self, other: TimeRange) -> tuple[TimeRange, ...]:
        """The parts of this range not covered by ``other`` (zero, one or two ranges)."""
        if not self.overlaps(other):
            return (self,)
        parts: list[TimeRange] = []
        if self.start < other.start:
            parts.append(TimeRange(self.start, other.start))
        if other.end < self.end:
            parts.append(TimeRange(other.end, self.end))
        return tuple(parts)


def merged(ranges: Iterable[TimeRange]) -> list[TimeRange]:
    """The union of ``ranges`` as sorted, disjoint ranges (touching ranges join)."""
    union: list[TimeRange] = []
    for item in sorted(ranges, key=lambda r: (r.start, r.end)):
        if union and item.start <= union[-1].end:
            if item.end > union[-1].end:
                union[-1] = TimeRange(union[-1].start, item.end)
        else:
            union.append(item)
    return union


# ISO 4217 active codes and their minor-unit exponents (2 unless listed).
_ISO_4217_TWO_DIGITS = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP
    BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD
    KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD
    NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP
    SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED
    VES WST XCD XCG YER ZAR ZMW ZWG
""".split()
MINOR_UNIT_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(_ISO_4217_TWO_DIGITS, 2),
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0
    ),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    "CLF": 4,
    "UYW": 4,
}


def _iso_currency(_instance: object, _attribute: object, value: str) -> None:
    if value not in MINOR_UNIT_EXPONENTS:
        raise InvalidValue(f"{value!r} is not an ISO 4217 currency code")


def _whole_number(_instance: object, _attribute: object, value: int) -> None:
    # bool is an int subclass; True dollars is a bug, not a price.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidValue("money is counted in whole minor units (an int), never a float")


@define(frozen=True, order=False)
class Money:
    """An amount in integer minor units (cents, pence, yen) of one ISO 4217 currency."""

    minor_units: int = field(validator=_whole_number)
    currency: str = field(validator=_iso_currency)

    @classmethod
    def zero(cls, currency: str) -> Self:
        return cls(0, currency)

    @property
    def is_zero(self) -> bool:
        return self.minor_units == 0

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidValue(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor_units + other.minor_units, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.minor_units - other.minor_units, self.currency)

    def share(self, percent: int) -> Money:
        """``percent`` % of this amount, rounded down to a whole minor unit (never over-refund)."""
        if not 0 <= percent <= 100:
            raise InvalidValue("a share is a whole percentage from 0 to 100")
        return Money(self.minor_units * percent // 100, self.currency)

    def __str__(self) -> str:
        exponent = MINOR_UNIT_EXPONENTS[self.currency]
        sign = "-" if self.minor_units < 0 else ""
        whole, fraction = divmod(abs(self.minor_units), 10**exponent)
        return (
            f"{sign}{whole}.{fraction:0{exponent}d} {self.currency}"
            if exponent
            else (f"{sign}{whole} {self.currency}")
        )


# Deliberately permissive: one "@", a dotted domain, no spaces. Deliverability is proven by the
# verification code the account flow sends, not by a regular expression.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")


def _normalise_email(value: str) -> str:
    if not isinstance(value, str):
        raise InvalidValue("an e-mail address must be a string")
    local, _, domain = value.strip().rpartition("@")
    return f"{local}@{domain.lower()}" if local else value.strip()


@define(frozen=True)
class EmailAddress:
    """An e-mail address; the domain part is lower-cased, the local part kept as written."""

    value: str = field(converter=_normalise_email)

    def __attrs_post_init__(self) -> None:
        if len(self.value) > 254 or not _EMAIL.match(self.value):
            raise InvalidValue(f"{self.value!r} is not an e-mail address")

    def __str__(self) -> str:
        return self.value

    @property
    def lookup_key(self) -> str:
        """What makes two addresses the same account: the whole address lower-cased
        (``str.lower``, not ``casefold``: "\u017fam" and "sam", "straße" and "strasse" are different
        mailboxes). Storage keeps this key under a unique index; computed here, not by the
        database, so every adapter agrees on non-ASCII letters."""
        return self.value.lower()


class Role(enum.StrEnum):
    PATIENT = "patient"
    DOCTOR = "doctor"
    ADMIN = "admin"
    HOSPITAL_ADMIN = "hospital_admin"  # manages the hospitals that name them (model/hospitals.py)
    INSURER = "insurer"  # reviews the claims of the schemes that name them (model/insurance.py)
    RECEPTIONIST = "receptionist"  # the front desk of the hospitals that name them (issue 17)


class AppointmentType(enum.StrEnum):
    IN_PERSON = "in_person"
    TELEMEDICINE = "telemedicine"


class VisitKind(enum.StrEnum):
    REGULAR = "regular"
    FOLLOW_UP = "follow_up"
    EMERGENCY = "emergency"


@define(frozen=True)
class Actor:
    """Who is asking: a role and, for patients and doctors, the profile they act as."""

    role: Role
    user_id: UserId
    patient_id: PatientId | None = None
    doctor_id: DoctorId | None = None

    def __attrs_post_init__(self) -> None:
        wants = {
            Role.PATIENT: (True, False),
            Role.DOCTOR: (False, True),
            Role.ADMIN: (False, False),
            Role.HOSPITAL_ADMIN: (False, False),
            Role.INSURER: (False, False),
            Role.RECEPTIONIST: (False, False),
        }
        if wants[self.role] != (self.patient_id is not None, self.doctor_id is not None):
            raise InvalidValue(
                "a patient acts as exactly one patient profile, a doctor as exactly one doctor "
                "profile, an admin as neither"
            )

    @classmethod
    def patient(cls, patient_id: PatientId, user_id: UserId | None = None) -> Self:
        return cls(Role.PATIENT, user_id or UserId(patient_id.value), patient_id=patient_id)

    @classmethod
    def doctor(cls, doctor_id: DoctorId, user_id: UserId | None = None) -> Self:
        return cls(Role.DOCTOR, user_id or UserId(doctor_id.value), doctor_id=doctor_id)

    @classmethod
    def admin(cls, user_id: UserId) -> Self:
        return cls(Role.ADMIN, user_id)


__all__ = [
    "MINOR_UNIT_EXPONENTS",
    "Actor",
    "AdmissionId",
    "AppointmentId",
    "AppointmentType",
    "ClaimId",
    "DoctorId",
    "EmailAddress",
    "HospitalId",
    "Money",
    "PatientId",
    "PolicyId",
    "ReviewId",
    "Role",
    "SchemeId",
    "SeriesId",
    "TimeRange",
    "TransferId",
    "UserId",
    "VisitKind",
    "merged",
    "time_zone",
    "utc",
]
