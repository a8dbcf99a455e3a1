"""Storage ports of scheduling: doctors, patients, availability, appointments (with the
no-overlap rule) and idempotent bookings."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import date, datetime

from attrs import define

from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.availability import Availability
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.values import (
    AppointmentId,
    DoctorId,
    PatientId,
    SeriesId,
    TimeRange,
    utc,
)
from hellodoctor_domain.ports.repository import EntityRepository, TrackingRepository


class DoctorRepository(EntityRepository[Doctor, DoctorId]):
    """Doctors. ``add`` and ``update`` raise ``AlreadyExists`` when the id (on ``add``) or the
    registration number is taken."""

    def list(self) -> Sequence[Doctor]:
        """Every doctor, ordered by id."""
        return self._all_seen(self._list())

    def search(self, query: DoctorQuery) -> Sequence[Doctor]:
        """Up to ``query.limit`` doctors matching every given filter, ordered by id, starting
        after ``query.after`` (a keyset cursor: stable while doctors are added)."""
        return self._all_seen(self._search(query))

    @abc.abstractmethod
    def _list(self) -> Sequence[Doctor]: ...

    def _search(self, query: DoctorQuery) -> Sequence[Doctor]:
        raise NotImplementedError


class PatientRepository(EntityRepository[Patient, PatientId]):
    def search(self, query: PatientSearch) -> Sequence[Patient]:
        """Up to ``query.limit`` patients matching every given criterion, ordered by name
        (case-insensitively where the storage can) then id: the front desk's look-up."""
        return self._all_seen(self._search(query))

    def _search(self, query: PatientSearch) -> Sequence[Patient]:
        raise NotImplementedError


@define(frozen=True, kw_only=True)
class PatientSearch:
    """The front desk's look-up of a patient (issue 17): every given criterion must match."""

    name: str | None = None  # a substring of the name, case-insensitive
    phone: str | None = None  # E.164, exact
    email: str | None = None  # the whole address, case-insensitive
    date_of_birth: date | None = None
    limit: int = 20

    @property
    def is_empty(self) -> bool:
        return not (self.name or self.phone or self.email or self.date_of_birth)

    def matches(self, patient: Patient) -> bool:
        """The rule, for storages that filter in Python (memory, a unit of work's own
        writes)."""
        email = None if patient.email is None else patient.email.value.casefold()
        return (
            (not self.name or self.name.casefold() in patient.name.casefold())
            and (self.phone is None or patient.phone == self.phone)
            and (self.email is None or email == self.email.casefold())
            and (self.date_of_birth is None or patient.date_of_birth == self.date_of_birth)
        )

    @staticmethod
    def order(patient: Patient) -> tuple[str, str]:
        return patient.name.casefold(), patient.id.value


class AvailabilityRepository(TrackingRepository[Availability]):
    def get(self, doctor_id: DoctorId) -> Availability | None:
        """The doctor's availability, or ``None`` if they have not defined it."""
        return self._seen_if_any(self._get(doctor_id))

    def many(self, doctor_ids: Sequence[DoctorId]) -> dict[DoctorId, Availability]:
        """The availability of each of ``doctor_ids`` that has one, for reading only (reports:
        not tracked, so never saved back). Adapters may read them all in one query."""
        found = {}
        for doctor_id in doctor_ids:
            hours = self._get(doctor_id)
            if hours is not None:
                found[doctor_id] = hours
        return found

    def save(self, availability: Availability) -> Availability:
        """Create or replace; a replacement must carry the version it was read at
        (``ConcurrencyError`` otherwise). Returns the stored value with its new version."""
        stored = self._save(availability)
        self._seen(availability)
        return self._seen(stored)

    @abc.abstractmethod
    def _get(self, doctor_id: DoctorId) -> Availability | None: ...

    @abc.abstractmethod
    def _save(self, availability: Availability) -> Availability:
        """Store a copy at ``availability.version + 1`` and return it."""


class AppointmentRepository(EntityRepository[Appointment, AppointmentId]):
    """Appointments, with the no-overlap rule enforced *by the storage*.

    ``add`` and ``update`` raise ``SlotUnavailable`` when the appointment is active and its
    ``blocked`` range overlaps the ``blocked`` range of another active appointment of the same
    doctor, or its ``time`` overlaps the ``time`` of another active appointment of the same
    patient. Held appointments count as active until their status changes, even when their
    hold has lapsed: use cases expire lapsed holds in the way before writing. ``add`` raises
    ``AlreadyExists`` for a known id and ``NotFound`` for an unknown doctor or patient.

    The check must be atomic with the write (a constraint, a conditional write, a lock), so that
    no interleaving of concurrent writers, in any number of processes, can store an overlap.
    Refusals may surface at ``add``/``update`` or at the unit of work's ``commit``. When one
    write breaks several rules at once (an unknown doctor *and* an overlap), which error is
    reported is the adapter's choice.
    """

    def for_doctor(
        self, doctor_id: DoctorId, period: TimeRange, *, active_only: bool = True
    ) -> list[Appointment]:
        """Appointments of the doctor whose ``blocked`` range overlaps ``period``, by start."""
        return self._all_seen(self._for_doctor(doctor_id, period, active_only))

    def busy_times(self, doctor_id: DoctorId, period: TimeRange, now: datetime) -> list[TimeRange]:
        """The ``blocked`` ranges (visit and buffer) of the doctor's appointments that overlap
        ``period`` and occupy their time at ``now`` (active, and not a lapsed hold), by start:
        all a slot listing needs to know of them, without building the appointments. Read
        only: nothing is tracked for saving or for events."""
        return self._busy_times(doctor_id, period, utc(now))

    def _busy_times(self, doctor_id: DoctorId, period: TimeRange, now: datetime) -> list[TimeRange]:
        # The reference: from the appointments themselves. Adapters fetch only the ranges.
        return [
            appointment.blocked
            for appointment in self._for_doctor(doctor_id, period, True)
            if appointment.blocks_time_at(now)
        ]

    def for_patient(
        self, patient_id: PatientId, period: TimeRange | None = None, *, active_only: bool = False
    ) -> list[Appointment]:
        """Appointments of the patient whose ``time`` overlaps ``period`` (all if ``None``),
        by start."""
        return self._all_seen(self._for_patient(patient_id, period, active_only))

    def search(self, query: AppointmentQuery) -> list[Appointment]:
        """Up to ``query.limit`` appointments matching every given filter, ordered by
        ``(time.start, id)``, starting after ``query.after`` (a keyset cursor)."""
        return self._all_seen(self._search(query))

    def _search(self, query: AppointmentQuery) -> list[Appointment]:
        raise NotImplementedError

    def lapsed_holds(self, now: datetime, limit: int) -> list[Appointment]:
        """Up to ``limit`` held appointments whose hold expired at or before ``now``, oldest
        expiry first."""
        return self._all_seen(self._lapsed_holds(now, limit))

    @abc.abstractmethod
    def _for_doctor(
        self, doctor_id: DoctorId, period: TimeRange, active_only: bool
    ) -> list[Appointment]: ...

    @abc.abstractmethod
    def _for_patient(
        self, patient_id: PatientId, period: TimeRange | None, active_only: bool
    ) -> list[Appointment]: ...

    @abc.abstractmethod
    def _lapsed_holds(self, now: datetime, limit: int) -> list[Appointment]: ...


@define(frozen=True, kw_only=True)
class DoctorQuery:
    specialty: str | None = None  # exact, case-insensitive
    language: str | None = None  # one of the doctor's languages, case-insensitive
    text: str | None = None  # substring of name or specialty, case-insensitive
    accepting_bookings: bool | None = None
    # Only these doctors (those of a hospital, or of a city's hospitals: use_cases/hospitals.py).
    among: frozenset[DoctorId] | None = None
    after: DoctorId | None = None
    limit: int = 20


@define(frozen=True, kw_only=True)
class AppointmentQuery:
    patient_id: PatientId | None = None
    doctor_id: DoctorId | None = None
    statuses: frozenset[AppointmentStatus] | None = None
    starts_from: datetime | None = None  # time.start >= this
    starts_before: datetime | None = None  # time.start < this
    after: tuple[datetime, AppointmentId] | None = None  # cursor: the last (start, id) seen
    limit: int = 50
    series_id: SeriesId | None = None  # the occurrences of one recurring series (issue 17)


@define(frozen=True, kw_only=True)
class IdempotencyRecord:
    """A request that must take effect once: who sent it, the key they chose, a fingerprint of
    what they asked, and what it produced."""

    scope: str
    key: str
    fingerprint: str
    appointment_id: AppointmentId
    created_at: datetime


class IdempotencyRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, record: IdempotencyRecord) -> None:
        """Store the record; ``AlreadyExists`` if ``(scope, key)`` is taken (a unique rule in
        the storage, so two concurrent requests with one key cannot both take effect). Like an
        appointment's refusals, it may surface here or at the unit of work's ``commit``."""

    @abc.abstractmethod
    def get(self, scope: str, key: str) -> IdempotencyRecord | None: ...
