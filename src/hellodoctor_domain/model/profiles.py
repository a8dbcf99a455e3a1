"""Doctor and patient profiles: entities that change rarely and carry no scheduling rules."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from attrs import define, field

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.events import Aggregate
from hellodoctor_domain.model.values import DoctorId, EmailAddress, Money, PatientId, time_zone
from hellodoctor_domain.model.walk_in import WalkInClaim


def _non_blank(_instance: object, attribute: object, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(f"{getattr(attribute, 'name', 'field')} must not be blank")


def _strings(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise InvalidValue("expected a list of strings, not one string")
    items = tuple(values)
    if not all(isinstance(item, str) and item.strip() for item in items):
        raise InvalidValue("list entries must be non-blank strings")
    return items


def _known_zone(_instance: object, _attribute: object, value: str) -> None:
    time_zone(value)


# A BCP 47 language tag as people write them: en, pt-BR, zh-Hant-TW.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}")


def _optional_language(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not _LANGUAGE_TAG.fullmatch(value)):
        raise InvalidValue("language must be a language tag such as en or pt-BR")


def _optional_zone(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None:
        time_zone(value)


def _non_negative_fee(_instance: object, _attribute: object, value: Money) -> None:
    if value.minor_units < 0:
        raise InvalidValue("a consultation fee cannot be negative")


@define(eq=False)
class Doctor(Aggregate):
    """A doctor's public profile and the fee charged for one consultation."""

    id: DoctorId
    name: str = field(validator=_non_blank)
    specialty: str = field(validator=_non_blank)
    registration_number: str = field(validator=_non_blank)
    consultation_fee: Money = field(validator=_non_negative_fee)
    time_zone: str = field(validator=_known_zone)
    qualifications: tuple[str, ...] = field(default=(), converter=_strings)
    languages: tuple[str, ...] = field(default=(), converter=_strings)
    email: EmailAddress | None = None
    accepting_bookings: bool = True
    version: int = 0


@define(frozen=True)
class EmergencyContact:
    name: str = field(validator=_non_blank)
    phone: str = field(validator=_non_blank)
    relationship: str = ""


def _contacts(values: Iterable[EmergencyContact]) -> tuple[EmergencyContact, ...]:
    return tuple(values)


_BLOOD_GROUPS = ("A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-")


@define(eq=False)
class Patient(Aggregate):
    """A patient's profile. Health ID is the national or insurer identifier, if any."""

    id: PatientId
    name: str = field(validator=_non_blank)
    date_of_birth: date | None = None
    phone: str | None = None
    email: EmailAddress | None = None
    health_id: str | None = None
    emergency_contacts: tuple[EmergencyContact, ...] = field(default=(), converter=_contacts)
    allergies: tuple[str, ...] = field(default=(), converter=_strings)
    version: int = 0
    blood_group: str | None = None  # A+ ... O- (model/emergency.py BLOOD_GROUPS), if known
    # Preferences (issue 17): the language to be written to in, the zone times are shown in.
    language: str | None = field(default=None, validator=_optional_language)
    time_zone: str | None = field(default=None, validator=_optional_zone)
    # A walk-in's one-time claim code, once the desk issued one (model/walk_in.py).
    walk_in_claim: WalkInClaim | None = None

    def __attrs_post_init__(self) -> None:
        if self.date_of_birth is not None and not isinstance(self.date_of_birth, date):
            raise InvalidValue("date_of_birth must be a date")
        if self.blood_group is not None and self.blood_group not in _BLOOD_GROUPS:
            raise InvalidValue(f"{self.blood_group!r} is not a blood group")
