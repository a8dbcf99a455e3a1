"""Stand-ins for storage features not every adapter has yet. Each function is the one place to
swap once every adapter implements the feature; ``StorageFeatures.detect`` says which are
missing and ``build`` logs it.

* ``DoctorRepository.search`` (``Scheduling.find_doctors``): without it, the directory filters
  ``uow.doctors.list()`` in Python (fine for a few thousand doctors).
* ``AppointmentRepository.search`` (``Scheduling.list_appointments``): without it, listings
  read the patient's or doctor's appointments (admins: every doctor's) and page in Python.
* ``uow.idempotency`` (``BookingRequest.idempotency_key``): without it, the key is accepted
  but cannot be honoured; booking goes ahead as without a key.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from attrs import asdict, define, evolve

from hellodoctor_domain import Actor, Appointment, BookingRequest, Doctor, Role, Scheduling
from hellodoctor_domain.ports import (
    AppointmentQuery,
    AppointmentRepository,
    DoctorQuery,
    DoctorRepository,
    UnitOfWorkFactory,
)
from hellodoctor_domain.values import TimeRange

_log = logging.getLogger("hellodoctor.http")

# Listing without a time filter, for storages without appointment search.
_EVERYTHING = TimeRange(datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))


@define(frozen=True)
class StorageFeatures:
    doctor_search: bool = True
    appointment_search: bool = True
    idempotency: bool = True

    @classmethod
    def detect(cls, uow_factory: UnitOfWorkFactory) -> StorageFeatures:
        """What the storage implements, judged from its classes (no query is run)."""
        with uow_factory() as uow:
            features = cls(
                doctor_search=type(uow.doctors).search is not DoctorRepository.search,
                appointment_search=(
                    type(uow.appointments)._search is not AppointmentRepository._search
                ),
                idempotency=hasattr(uow, "idempotency"),
            )
        missing = [name for name, present in asdict(features).items() if not present]
        if missing:
            _log.warning("storage lacks %s; the HTTP layer stands in", ", ".join(missing))
        return features


def find_doctors(
    scheduling: Scheduling,
    uow_factory: UnitOfWorkFactory,
    features: StorageFeatures,
    query: DoctorQuery,
) -> list[Doctor]:
    if features.doctor_search:
        return scheduling.find_doctors(query)
    with uow_factory() as uow:
        everyone = uow.doctors.list()

    def keep(doctor: Doctor) -> bool:
        text = (query.text or "").casefold()
        return (
            (query.after is None or doctor.id > query.after)
            and (
                query.specialty is None or doctor.specialty.casefold() == query.specialty.casefold()
            )
            and (
                query.language is None
                or query.language.casefold() in {lang.casefold() for lang in doctor.languages}
            )
            and (not text or text in doctor.name.casefold() or text in doctor.specialty.casefold())
            and (
                query.accepting_bookings is None
                or doctor.accepting_bookings == query.accepting_bookings
            )
        )

    return [doctor for doctor in sorted(everyone, key=lambda d: d.id) if keep(doctor)][
        : query.limit
    ]


def list_appointments(
    scheduling: Scheduling,
    uow_factory: UnitOfWorkFactory,
    features: StorageFeatures,
    actor: Actor,
    query: AppointmentQuery,
) -> list[Appointment]:
    if features.appointment_search:
        return scheduling.list_appointments(actor, query)
    if actor.role is Role.PATIENT:
        assert actor.patient_id is not None
        if query.patient_id not in (None, actor.patient_id):
            return []
        found = scheduling.patient_appointments(actor, actor.patient_id)
    elif actor.role is Role.DOCTOR:
        assert actor.doctor_id is not None
        if query.doctor_id not in (None, actor.doctor_id):
            return []
        found = scheduling.doctor_appointments(actor, actor.doctor_id, _EVERYTHING)
    else:
        with uow_factory() as uow:
            doctor_ids = (
                [query.doctor_id] if query.doctor_id else [d.id for d in uow.doctors.list()]
            )
        found = [
            appointment
            for doctor_id in doctor_ids
            for appointment in scheduling.doctor_appointments(actor, doctor_id, _EVERYTHING)
        ]

    def keep(appointment: Appointment) -> bool:
        start = appointment.time.start
        return (
            (query.patient_id is None or appointment.patient_id == query.patient_id)
            and (query.doctor_id is None or appointment.doctor_id == query.doctor_id)
            and (query.statuses is None or appointment.status in query.statuses)
            and (query.starts_from is None or start >= query.starts_from)
            and (query.starts_before is None or start < query.starts_before)
            and (query.after is None or (start, appointment.id) > query.after)
        )

    ordered = sorted(found, key=lambda a: (a.time.start, a.id))
    return [appointment for appointment in ordered if keep(appointment)][: query.limit]


def book(
    scheduling: Scheduling, features: StorageFeatures, actor: Actor, request: BookingRequest
) -> Appointment:
    if request.idempotency_key is not None and not features.idempotency:
        request = evolve(request, idempotency_key=None)
    return scheduling.book(actor, request)
