"""Small builders shared by the contract suite and the state machine."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import attrs
from attrs import evolve

from hellodoctor_domain import (
    Appointment,
    AppointmentId,
    AppointmentStatus,
    Availability,
    Doctor,
    DoctorId,
    LocalWindow,
    Money,
    Patient,
    PatientId,
    TimeRange,
    Weekday,
    WorkingDay,
)
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory

# A Monday far enough ahead that no real clock reaches it during a test run.
MONDAY = datetime(2030, 1, 7, tzinfo=UTC)


def at(hour: int, minute: int = 0, day: int = 0) -> datetime:
    """``hour:minute`` UTC on the ``day``-th day after ``MONDAY``."""
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


def doctor(key: str = "d1", fee: Money | None = None, zone: str = "UTC", **changes: Any) -> Doctor:
    built = Doctor(
        DoctorId(key),
        name=f"Dr {key}",
        specialty="General practice",
        registration_number=f"REG-{key}",
        consultation_fee=fee or Money(0, "EUR"),
        time_zone=zone,
        qualifications=("MBBS",),
        languages=("en", "fr"),
    )
    return evolve(built, **changes)


def patient(key: str = "p1") -> Patient:
    return Patient(PatientId(key), name=f"Patient {key}", allergies=("penicillin",))


def every_day(
    doctor_id: DoctorId,
    zone: str = "UTC",
    opens: time = time(8),
    closes: time = time(18),
    **rules: object,
) -> Availability:
    return Availability(
        doctor_id,
        zone,
        [WorkingDay(day, [LocalWindow(opens, closes)]) for day in Weekday],
        **rules,  # type: ignore[arg-type]
    )


def appointment(
    key: str,
    start: datetime,
    minutes: int = 30,
    *,
    doctor_key: str = "d1",
    patient_key: str = "p1",
    buffer_minutes: int = 0,
    status: AppointmentStatus = AppointmentStatus.BOOKED,
    price: Money | None = None,
    hold_expires_at: datetime | None = None,
) -> Appointment:
    """An appointment built directly (no rules applied), for storage-level tests."""
    return Appointment(
        id=AppointmentId(key),
        doctor_id=DoctorId(doctor_key),
        patient_id=PatientId(patient_key),
        time=TimeRange.starting_at(start, timedelta(minutes=minutes)),
        price=price or Money(0, "EUR"),
        status=status,
        created_at=MONDAY - timedelta(days=1),
        buffer=timedelta(minutes=buffer_minutes),
        hold_expires_at=hold_expires_at
        if hold_expires_at or status is not AppointmentStatus.HELD
        else MONDAY,
    )


def state_of(entity: attrs.AttrsInstance | None) -> dict[str, Any] | None:
    """The values an entity holds, field by field (``None`` for none). Entities compare by
    identity, so a test that means "holds the same values" (a round trip through storage)
    compares these; recorded events are no part of the state."""
    if entity is None:
        return None
    return attrs.asdict(entity, recurse=False, filter=lambda field, _: field.eq is not False)


def seed(uow_factory: UnitOfWorkFactory, doctors: int = 2, patients: int = 3) -> None:
    """Doctors ``d1..dN`` (UTC, free) and patients ``p1..pN``."""
    with uow_factory() as uow:
        for index in range(1, doctors + 1):
            uow.doctors.add(doctor(f"d{index}"))
        for index in range(1, patients + 1):
            uow.patients.add(patient(f"p{index}"))
        uow.commit()
