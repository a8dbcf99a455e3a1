"""Hospitals: a profile (address with coordinates, contacts, facilities), departments with
their head doctor, wards with beds by type, and the administrators who manage it.

How many beds of a ward are occupied is not part of this aggregate: it changes with every
admission, so it lives in the bed ledger (``ports/hospitals.py``), where storage keeps each
count between zero and the capacity written here by one atomic conditional write.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import ClassVar

from attrs import Attribute, define, evolve, field

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.events import Aggregate, DomainEvent
from hellodoctor_domain.model.values import (
    Actor,
    DoctorId,
    EmailAddress,
    HospitalId,
    PatientId,
    Role,
    UserId,
)


class BedType(enum.StrEnum):
    GENERAL = "general"
    ICU = "icu"
    MATERNITY = "maternity"
    PAEDIATRIC = "paediatric"
    ISOLATION = "isolation"


def _text(_instance: object, attribute: object, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(f"{getattr(attribute, 'name', 'value')} must be a non-blank string")


def _coordinate(limit: float) -> Callable[[object, Attribute[float], float], None]:
    def check(_instance: object, attribute: Attribute[float], value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValue(f"{attribute.name} must be a number")
        if not -limit <= value <= limit:
            raise InvalidValue(f"{attribute.name} must be within [-{limit}, {limit}]")

    return check


@define(frozen=True)
class Address:
    line: str = field(validator=_text)
    city: str = field(validator=_text)
    country: str = field(validator=_text)
    latitude: float = field(validator=_coordinate(90))
    longitude: float = field(validator=_coordinate(180))


@define(frozen=True)
class Department:
    code: str = field(validator=_text)
    name: str = field(validator=_text)
    head_doctor_id: DoctorId | None = None


@define(frozen=True)
class Affiliation:
    """A doctor who works at the hospital, in one of its departments or none in particular."""

    doctor_id: DoctorId
    department_code: str | None = None


@define(frozen=True)
class WardBeds:
    """How many beds of one type a ward has."""

    bed_type: BedType
    capacity: int

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.capacity, int) or isinstance(self.capacity, bool):
            raise InvalidValue("a bed capacity is a whole number")
        if self.capacity < 0:
            raise InvalidValue("a bed capacity cannot be negative")


@define(frozen=True)
class Ward:
    code: str = field(validator=_text)
    name: str = field(validator=_text)
    beds: tuple[WardBeds, ...]
    department_code: str | None = None

    def __attrs_post_init__(self) -> None:
        _unique((b.bed_type for b in self.beds), f"bed type in ward {self.code}")

    def capacity(self, bed_type: BedType) -> int:
        return next((b.capacity for b in self.beds if b.bed_type is bed_type), 0)


def _unique(keys: Iterable[object], what: str) -> None:
    seen: set[object] = set()
    for key in keys:
        if key in seen:
            raise InvalidValue(f"{what} {key} appears twice")
        seen.add(key)


@define(frozen=True, kw_only=True)
class HospitalEvent(DomainEvent):
    aggregate_type: ClassVar[str] = "hospital"

    hospital_id: HospitalId

    @property
    def aggregate_id(self) -> str:
        return self.hospital_id.value


@define(frozen=True, kw_only=True)
class HospitalRegistered(HospitalEvent):
    name: str


@define(frozen=True, kw_only=True)
class HospitalAdministratorAppointed(HospitalEvent):
    user_id: UserId


@define(frozen=True, kw_only=True)
class ReceptionistAppointed(HospitalEvent):
    user_id: UserId


@define(frozen=True, kw_only=True)
class DoctorAffiliated(HospitalEvent):
    doctor_id: DoctorId


@define(frozen=True, kw_only=True)
class PatientAdmitted(HospitalEvent):
    patient_id: PatientId
    ward_code: str
    bed_type: BedType


@define(frozen=True, kw_only=True)
class PatientDischarged(HospitalEvent):
    patient_id: PatientId
    ward_code: str
    bed_type: BedType


MAX_REMINDERS = 5
LATEST_REMINDER_MINUTES = 30 * 24 * 60


def _check_reminders(minutes: tuple[int, ...]) -> None:
    if len(minutes) > MAX_REMINDERS or len(set(minutes)) != len(minutes):
        raise InvalidValue(f"at most {MAX_REMINDERS} different reminder times")
    if any(not 1 <= m <= LATEST_REMINDER_MINUTES for m in minutes):
        raise InvalidValue(f"a reminder goes out 1 to {LATEST_REMINDER_MINUTES} minutes before")


@define(eq=False)
class Hospital(Aggregate):
    id: HospitalId
    name: str = field(validator=_text)
    registration_number: str = field(validator=_text)
    address: Address
    phone: str = field(validator=_text)
    email: EmailAddress | None = None
    facilities: tuple[str, ...] = ()
    departments: tuple[Department, ...] = ()
    wards: tuple[Ward, ...] = ()
    administrators: tuple[UserId, ...] = ()
    doctors: tuple[Affiliation, ...] = ()
    # Minutes before a visit here that reminders go out; None: the platform's setting.
    reminder_minutes: tuple[int, ...] | None = None
    version: int = 0
    # The front desk (issue 17): ``receptionist`` accounts that book and take payments here.
    receptionists: tuple[UserId, ...] = ()

    def __attrs_post_init__(self) -> None:
        if self.reminder_minutes is not None:
            _check_reminders(self.reminder_minutes)
        _unique((d.code for d in self.departments), "department")
        _unique((w.code for w in self.wards), "ward")
        departments = {d.code for d in self.departments}
        for ward in self.wards:
            if ward.department_code is not None and ward.department_code not in departments:
                raise InvalidValue(f"ward {ward.code} names no department of this hospital")
        _unique((a.doctor_id for a in self.doctors), "doctor")
        for affiliation in self.doctors:
            if affiliation.department_code not in (None, *departments):
                raise InvalidValue(f"department {affiliation.department_code!r} is not here")

    @classmethod
    def register(cls, hospital: Hospital, at: datetime) -> Hospital:
        """``hospital`` as newly registered (its ``HospitalRegistered`` recorded)."""
        hospital.record(
            HospitalRegistered(occurred_at=at, hospital_id=hospital.id, name=hospital.name)
        )
        return hospital

    def administered_by(self, actor: Actor) -> bool:
        """Platform admins manage every hospital; a hospital admin only those naming them."""
        if actor.role is Role.ADMIN:
            return True
        return actor.role is Role.HOSPITAL_ADMIN and actor.user_id in self.administrators

    def staffs_desk(self, actor: Actor) -> bool:
        """The front desk here: its receptionists, its administrators, platform admins."""
        if self.administered_by(actor):
            return True
        return actor.role is Role.RECEPTIONIST and actor.user_id in self.receptionists

    def employs(self, doctor_id: DoctorId) -> bool:
        return any(a.doctor_id == doctor_id for a in self.doctors)

    def appoint_receptionist(self, user_id: UserId, at: datetime) -> None:
        if user_id in self.receptionists:
            return
        self.receptionists = (*self.receptionists, user_id)
        self.record(ReceptionistAppointed(occurred_at=at, hospital_id=self.id, user_id=user_id))

    def set_reminders(self, minutes: tuple[int, ...] | None) -> None:
        """When reminders of visits here go out (minutes before); None: the platform's."""
        if minutes is not None:
            _check_reminders(minutes)
        self.reminder_minutes = None if minutes is None else tuple(sorted(minutes, reverse=True))

    def appoint(self, user_id: UserId, at: datetime) -> None:
        if user_id in self.administrators:
            return
        self.administrators = (*self.administrators, user_id)
        self.record(
            HospitalAdministratorAppointed(occurred_at=at, hospital_id=self.id, user_id=user_id)
        )

    def affiliate(self, doctor_id: DoctorId, department_code: str | None, at: datetime) -> None:
        """The doctor works here (in that department); naming them again moves them."""
        if department_code not in (None, *(d.code for d in self.departments)):
            raise InvalidValue(f"department {department_code!r} is not here")
        kept = tuple(a for a in self.doctors if a.doctor_id != doctor_id)
        self.doctors = (*kept, Affiliation(doctor_id, department_code))
        self.record(DoctorAffiliated(occurred_at=at, hospital_id=self.id, doctor_id=doctor_id))

    def ward(self, code: str) -> Ward:
        for ward in self.wards:
            if ward.code == code:
                return ward
        raise InvalidValue(f"hospital {self.id} has no ward {code!r}")

    def set_department_head(self, code: str, doctor_id: DoctorId | None) -> None:
        if code not in {d.code for d in self.departments}:
            raise InvalidValue(f"hospital {self.id} has no department {code!r}")
        self.departments = tuple(
            evolve(d, head_doctor_id=doctor_id) if d.code == code else d for d in self.departments
        )


__all__ = [
    "Address",
    "Affiliation",
    "BedType",
    "Department",
    "DoctorAffiliated",
    "Hospital",
    "HospitalAdministratorAppointed",
    "HospitalEvent",
    "HospitalRegistered",
    "PatientAdmitted",
    "PatientDischarged",
    "ReceptionistAppointed",
    "Ward",
    "WardBeds",
]
