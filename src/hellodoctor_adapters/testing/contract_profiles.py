"""The storage contract of doctors', patients' and availability records: round trips of every
field, unique identities and compare-and-set updates. Part of ``UnitOfWorkContract``."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

import pytest
from attrs import evolve

from hellodoctor_adapters.testing.fixtures import (
    MONDAY,
    doctor,
    every_day,
    patient,
    state_of,
)
from hellodoctor_domain import (
    AppointmentId,
    DoctorId,
    EmailAddress,
    EmergencyContact,
    ExtraHours,
    LocalWindow,
    Money,
    Patient,
    PatientId,
    TimeOff,
    TimeRange,
)
from hellodoctor_domain.errors import (
    AlreadyExists,
    ConcurrencyError,
    NotFound,
)
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory

WIDE = TimeRange(MONDAY - timedelta(days=2), MONDAY + timedelta(days=30))


def _stored(uow_factory: UnitOfWorkFactory, key: str) -> Any:
    with uow_factory() as uow:
        return uow.appointments.get(AppointmentId(key))


def _add(uow_factory: UnitOfWorkFactory, *appointments: Any) -> None:
    with uow_factory() as uow:
        for item in appointments:
            uow.appointments.add(item)
        uow.commit()


class ProfileStorageContract:
    """Doctors, patients and availability; the fixtures ``uow_factory`` and ``seeded`` come
    from ``UnitOfWorkContract``."""

    # -- profiles ------------------------------------------------------------------------

    def test_doctor_round_trips_with_every_field(self, uow_factory: UnitOfWorkFactory) -> None:
        original = doctor(
            "d9",
            fee=Money(12345, "JPY"),
            zone="Asia/Tokyo",
            email=EmailAddress("ada@Clinic.example"),
            accepting_bookings=False,
        )
        with uow_factory() as uow:
            uow.doctors.add(original)
            uow.commit()
        with uow_factory() as uow:
            stored = uow.doctors.get(DoctorId("d9"))
        assert state_of(stored) == state_of(evolve(original, version=1))
        assert original.version == 1

    def test_doctor_identity_and_registration_number_are_unique(
        self, seeded: UnitOfWorkFactory
    ) -> None:
        for duplicate in (
            doctor("d1", registration_number="REG-new"),
            doctor("d7", registration_number="REG-d1"),
        ):
            with pytest.raises(AlreadyExists), seeded() as uow:
                uow.doctors.add(duplicate)
                uow.commit()

    def test_doctor_update_is_compare_and_set(self, seeded: UnitOfWorkFactory) -> None:
        with seeded() as uow:
            first = uow.doctors.get(DoctorId("d1"))
        with seeded() as uow:
            second = uow.doctors.get(DoctorId("d1"))
        with seeded() as uow:
            uow.doctors.update(evolve(first, accepting_bookings=False))
            uow.commit()
        with pytest.raises(ConcurrencyError), seeded() as uow:
            uow.doctors.update(evolve(second, name="Dr Lost Update"))
            uow.commit()
        with seeded() as uow:
            stored = uow.doctors.get(DoctorId("d1"))
        assert (stored.accepting_bookings, stored.name, stored.version) == (False, "Dr d1", 2)

    def test_doctors_are_listed_by_id(self, seeded: UnitOfWorkFactory) -> None:
        with seeded() as uow:
            assert [d.id.value for d in uow.doctors.list()] == ["d1", "d2"]

    def test_patient_round_trips_with_every_field(self, uow_factory: UnitOfWorkFactory) -> None:
        original = Patient(
            PatientId("p9"),
            "Grace",
            date_of_birth=date(1990, 2, 28),
            phone="+44 20 7946 0000",
            email=EmailAddress("grace@example.org"),
            health_id="NHS-943-476-5919",
            emergency_contacts=[EmergencyContact("Alan", "+44 20 7946 0001", "brother")],
            allergies=["penicillin", "latex"],
        )
        with uow_factory() as uow:
            uow.patients.add(original)
            uow.commit()
        with pytest.raises(AlreadyExists), uow_factory() as uow:
            uow.patients.add(patient("p9"))
            uow.commit()
        with uow_factory() as uow:
            stored = uow.patients.get(PatientId("p9"))
        assert state_of(stored) == state_of(evolve(original, version=1))

    def test_patient_update_is_compare_and_set(self, seeded: UnitOfWorkFactory) -> None:
        with seeded() as uow:
            read = uow.patients.get(PatientId("p1"))
        with seeded() as uow:
            uow.patients.update(evolve(read, phone="+1 555 0100"))
            uow.commit()
        with pytest.raises(ConcurrencyError), seeded() as uow:
            uow.patients.update(evolve(read, phone="+1 555 0199"))
            uow.commit()
        with seeded() as uow:
            assert uow.patients.get(PatientId("p1")).phone == "+1 555 0100"

    def test_missing_records_are_not_found(self, seeded: UnitOfWorkFactory) -> None:
        with seeded() as uow:
            with pytest.raises(NotFound):
                uow.doctors.get(DoctorId("nobody"))
            with pytest.raises(NotFound):
                uow.patients.get(PatientId("nobody"))
            with pytest.raises(NotFound):
                uow.appointments.get(AppointmentId("nothing"))
            assert uow.availability.get(DoctorId("d1")) is None

    # -- availability ----------------------------------------------------------------------

    def test_availability_round_trips_and_is_compare_and_set(
        self, seeded: UnitOfWorkFactory
    ) -> None:
        original = every_day(
            DoctorId("d1"),
            "Europe/Paris",
            slot_length=timedelta(minutes=20),
            buffer=timedelta(minutes=5),
            minimum_notice=timedelta(hours=3),
            booking_horizon=timedelta(days=60),
            max_slots_per_visit=3,
            time_off=[
                TimeOff(date(2030, 1, 10), date(2030, 1, 12), reason="conference"),
                TimeOff(date(2030, 1, 14), date(2030, 1, 14), LocalWindow(time(12), time(13, 30))),
            ],
            extra_hours=[ExtraHours(date(2030, 1, 19), LocalWindow(time(18), time(21)))],
        )
        with seeded() as uow:
            saved = uow.availability.save(original)
            uow.commit()
        assert state_of(saved) == state_of(evolve(original, version=1))
        with seeded() as uow:
            assert state_of(uow.availability.get(DoctorId("d1"))) == state_of(saved)
        with seeded() as uow:
            uow.availability.save(evolve(saved, buffer=timedelta(0)))
            uow.commit()
        with pytest.raises(ConcurrencyError), seeded() as uow:
            uow.availability.save(saved)  # read at version 1, stored is now 2
            uow.commit()
        with seeded() as uow:
            stored = uow.availability.get(DoctorId("d1"))
        assert stored is not None
        assert (stored.buffer, stored.version) == (timedelta(0), 2)
