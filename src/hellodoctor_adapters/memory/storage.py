"""Repositories and unit of work over plain dictionaries.

Isolation: a unit of work holds the store's lock from ``__enter__`` to ``__exit__``, so
transactions run one at a time (serializable by construction) and the overlap check and the
write it guards can never be interleaved. Writes apply at once and are journalled; a rollback
replays the journal backwards. Objects are copied in and out, so a caller mutating what it read
changes nothing until it calls ``update``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime

from attrs import define, evolve, field

from hellodoctor_domain.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.availability import Availability
from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError, NotFound, SlotUnavailable
from hellodoctor_domain.events import AppointmentEvent
from hellodoctor_domain.ports import (
    AppointmentRepository,
    AvailabilityRepository,
    DoctorRepository,
    EventPublisher,
    PatientRepository,
    UnitOfWork,
    UnitOfWorkFactory,
)
from hellodoctor_domain.profiles import Doctor, Patient
from hellodoctor_domain.values import AppointmentId, DoctorId, PatientId, TimeRange


@define
class InMemoryStore:
    """Everything one in-memory "database" holds. Share one store between unit-of-work
    factories to share data."""

    lock: threading.RLock = field(factory=threading.RLock)
    doctors: dict[DoctorId, Doctor] = field(factory=dict)
    patients: dict[PatientId, Patient] = field(factory=dict)
    availability: dict[DoctorId, Availability] = field(factory=dict)
    appointments: dict[AppointmentId, Appointment] = field(factory=dict)
    outbox: list[AppointmentEvent] = field(factory=list)


Undo = Callable[[], None]


def _restore(table: dict, key: object, previous: object | None) -> Undo:  # type: ignore[type-arg]
    def undo() -> None:
        if previous is None:
            table.pop(key, None)
        else:
            table[key] = previous

    return undo


class _Journalled:
    def __init__(self, store: InMemoryStore, journal: list[Undo]) -> None:
        self._store = store
        self._journal = journal

    def _put(self, table: dict, key: object, value: object) -> None:  # type: ignore[type-arg]
        self._journal.append(_restore(table, key, table.get(key)))
        table[key] = value


class InMemoryDoctorRepository(_Journalled, DoctorRepository):
    def add(self, doctor: Doctor) -> None:
        doctors = self._store.doctors
        if doctor.id in doctors:
            raise AlreadyExists(f"doctor {doctor.id} exists")
        if any(d.registration_number == doctor.registration_number for d in doctors.values()):
            raise AlreadyExists(f"registration number {doctor.registration_number} is taken")
        self._put(doctors, doctor.id, evolve(doctor, version=1))
        doctor.version = 1

    def get(self, doctor_id: DoctorId) -> Doctor:
        try:
            return evolve(self._store.doctors[doctor_id])
        except KeyError:
            raise NotFound(f"no doctor {doctor_id}") from None

    def update(self, doctor: Doctor) -> None:
        stored = self._store.doctors.get(doctor.id)
        if stored is None:
            raise NotFound(f"no doctor {doctor.id}")
        if stored.version != doctor.version:
            raise ConcurrencyError(f"doctor {doctor.id} changed since it was read")
        if any(
            d.registration_number == doctor.registration_number and d.id != doctor.id
            for d in self._store.doctors.values()
        ):
            raise AlreadyExists(f"registration number {doctor.registration_number} is taken")
        doctor.version += 1
        self._put(self._store.doctors, doctor.id, evolve(doctor))

    def list(self) -> Sequence[Doctor]:
        return [evolve(d) for _, d in sorted(self._store.doctors.items())]


class InMemoryPatientRepository(_Journalled, PatientRepository):
    def add(self, patient: Patient) -> None:
        if patient.id in self._store.patients:
            raise AlreadyExists(f"patient {patient.id} exists")
        patient.version = 1
        self._put(self._store.patients, patient.id, evolve(patient))

    def get(self, patient_id: PatientId) -> Patient:
        try:
            return evolve(self._store.patients[patient_id])
        except KeyError:
            raise NotFound(f"no patient {patient_id}") from None

    def update(self, patient: Patient) -> None:
        stored = self._store.patients.get(patient.id)
        if stored is None:
            raise NotFound(f"no patient {patient.id}")
        if stored.version != patient.version:
            raise ConcurrencyError(f"patient {patient.id} changed since it was read")
        patient.version += 1
        self._put(self._store.patients, patient.id, evolve(patient))


class InMemoryAvailabilityRepository(_Journalled, AvailabilityRepository):
    def get(self, doctor_id: DoctorId) -> Availability | None:
        return self._store.availability.get(doctor_id)

    def save(self, availability: Availability) -> Availability:
        if availability.doctor_id not in self._store.doctors:
            raise NotFound(f"no doctor {availability.doctor_id}")
        current = self._store.availability.get(availability.doctor_id)
        if (current.version if current else 0) != availability.version:
            raise ConcurrencyError(f"availability of {availability.doctor_id} changed")
        stored = evolve(availability, version=availability.version + 1)
        self._put(self._store.availability, availability.doctor_id, stored)
        return stored


class InMemoryAppointmentRepository(AppointmentRepository):
    def __init__(self, store: InMemoryStore, journal: list[Undo]) -> None:
        super().__init__()
        self._store = store
        self._journal = journal

    def _add(self, appointment: Appointment) -> None:
        table = self._store.appointments
        if appointment.id in table:
            raise AlreadyExists(f"appointment {appointment.id} exists")
        if appointment.doctor_id not in self._store.doctors:
            raise NotFound(f"no doctor {appointment.doctor_id}")
        if appointment.patient_id not in self._store.patients:
            raise NotFound(f"no patient {appointment.patient_id}")
        self._refuse_overlap(appointment)
        self._write(evolve(appointment, version=appointment.version + 1, events=[]))

    def _get(self, appointment_id: AppointmentId) -> Appointment:
        try:
            return evolve(self._store.appointments[appointment_id], events=[])
        except KeyError:
            raise NotFound(f"no appointment {appointment_id}") from None

    def _update(self, appointment: Appointment) -> None:
        stored = self._store.appointments.get(appointment.id)
        if stored is None:
            raise NotFound(f"no appointment {appointment.id}")
        if stored.version != appointment.version:
            raise ConcurrencyError(f"appointment {appointment.id} changed since it was read")
        self._refuse_overlap(appointment)
        self._write(evolve(appointment, version=appointment.version + 1, events=[]))

    def _refuse_overlap(self, appointment: Appointment) -> None:
        # The lock held by the unit of work makes this check and the write one atomic step:
        # the in-memory analogue of an exclusion constraint.
        if not appointment.is_active:
            return
        for other in self._store.appointments.values():
            if other.id == appointment.id or not other.is_active:
                continue
            if other.doctor_id == appointment.doctor_id and other.blocked.overlaps(
                appointment.blocked
            ):
                raise SlotUnavailable(
                    f"doctor {appointment.doctor_id} is busy at {appointment.time.start}"
                )
            if other.patient_id == appointment.patient_id and other.time.overlaps(appointment.time):
                raise SlotUnavailable(
                    f"patient {appointment.patient_id} has another appointment then"
                )

    def _write(self, appointment: Appointment) -> None:
        table = self._store.appointments
        self._journal.append(_restore(table, appointment.id, table.get(appointment.id)))
        table[appointment.id] = appointment

    def _select(self, keep: Callable[[Appointment], bool]) -> list[Appointment]:
        found = [evolve(a, events=[]) for a in self._store.appointments.values() if keep(a)]
        return sorted(found, key=lambda a: (a.time.start, a.id))

    def _for_doctor(
        self, doctor_id: DoctorId, period: TimeRange, active_only: bool
    ) -> list[Appointment]:
        return self._select(
            lambda a: (
                a.doctor_id == doctor_id
                and a.blocked.overlaps(period)
                and (a.is_active or not active_only)
            )
        )

    def _for_patient(
        self, patient_id: PatientId, period: TimeRange | None, active_only: bool
    ) -> list[Appointment]:
        return self._select(
            lambda a: (
                a.patient_id == patient_id
                and (period is None or a.time.overlaps(period))
                and (a.is_active or not active_only)
            )
        )

    def _lapsed_holds(self, now: datetime, limit: int) -> list[Appointment]:
        lapsed = [
            a
            for a in self._store.appointments.values()
            if a.status is AppointmentStatus.HELD
            and a.hold_expires_at is not None
            and a.hold_expires_at <= now
        ]
        lapsed.sort(key=lambda a: (a.hold_expires_at, a.id))
        return [evolve(a, events=[]) for a in lapsed[:limit]]


class InMemoryUnitOfWork(UnitOfWork):
    def __init__(self, store: InMemoryStore, publisher: EventPublisher | None = None) -> None:
        super().__init__(publisher)
        self._store = store
        self._journal: list[Undo] = []

    def _begin(self) -> None:
        self._store.lock.acquire()
        self._journal = []
        self.doctors = InMemoryDoctorRepository(self._store, self._journal)
        self.patients = InMemoryPatientRepository(self._store, self._journal)
        self.availability = InMemoryAvailabilityRepository(self._store, self._journal)
        self.appointments = InMemoryAppointmentRepository(self._store, self._journal)

    def _commit(self, events: Sequence[AppointmentEvent]) -> None:
        self._store.outbox.extend(events)
        self._journal.clear()

    def _rollback(self) -> None:
        while self._journal:
            self._journal.pop()()

    def _close(self) -> None:
        self._store.lock.release()


class InMemoryUnitOfWorkFactory:
    """Makes units of work over one shared store (the ``memory`` storage entry point)."""

    def __init__(
        self, store: InMemoryStore | None = None, publisher: EventPublisher | None = None
    ) -> None:
        self.store = store or InMemoryStore()
        self.publisher = publisher

    def __call__(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.store, self.publisher)


def open_memory_storage(url: str, *, publisher: EventPublisher | None = None) -> UnitOfWorkFactory:
    """Entry point for ``memory://`` URLs: a fresh store per call, kept only in this process."""
    return InMemoryUnitOfWorkFactory(publisher=publisher)
