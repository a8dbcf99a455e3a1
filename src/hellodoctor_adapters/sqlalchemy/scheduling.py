"""Scheduling repositories over SQLAlchemy Core: doctors, patients, availability, appointments
and idempotency keys.

Every write that could race is decided by the database: the no-overlap rule by the constraints
the migrations create (exclusion constraints on PostgreSQL, triggers under SQLite's single
writer), version checks by ``UPDATE ... WHERE version = :read`` (``rows.compare_and_set``).
Every driver error leaves this module translated (``engine.translate``): a port error, or
``UnexpectedStorageError`` for a bug.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hellodoctor_adapters.crypto import FieldCipher, development_cipher
from hellodoctor_adapters.phi import desk_lookups
from hellodoctor_adapters.sqlalchemy.booking import read_alone
from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.rows import (
    appointment_from,
    appointment_row,
    availability_document,
    availability_from,
    compare_and_set,
    doctor_from,
    doctor_row,
    first_row,
    language_rows,
    patient_from,
    patient_row,
)
from hellodoctor_adapters.sqlalchemy.schema import (
    ACTIVE_STATUS_VALUES,
    UtcDateTime,
    appointments,
    availability,
    doctor_languages,
    doctors,
    idempotency_keys,
    patients,
)
from hellodoctor_adapters.sqlalchemy.writes import PendingInserts
from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError, NotFound
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.availability import Availability
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.values import AppointmentId, DoctorId, PatientId, TimeRange
from hellodoctor_domain.ports.scheduling import (
    AppointmentQuery,
    AppointmentRepository,
    AvailabilityRepository,
    DoctorQuery,
    DoctorRepository,
    IdempotencyRecord,
    IdempotencyRepository,
    PatientRepository,
    PatientSearch,
)


class SqlDoctorRepository(DoctorRepository):
    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self._connection = connection

    def _add(self, doctor: Doctor) -> None:
        with translated_errors():
            self._connection.execute(sa.insert(doctors).values(**doctor_row(doctor), version=1))
            self._write_languages(doctor)

    def _write_languages(self, doctor: Doctor) -> None:
        rows = language_rows(doctor)
        if rows:
            self._connection.execute(sa.insert(doctor_languages), rows)

    def _get(self, doctor_id: DoctorId) -> Doctor:
        with translated_errors():
            row = (
                self._connection.execute(sa.select(doctors).where(doctors.c.id == doctor_id.value))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no doctor {doctor_id}")
        return doctor_from(row)

    def tracked(self, doctor: Doctor) -> Doctor:
        """``doctor``, read by the unit of work for this repository (its events collected)."""
        return self._seen(doctor)

    def _update(self, doctor: Doctor) -> None:
        compare_and_set(
            self._connection,
            doctors,
            doctors.c.id == doctor.id.value,
            doctor.version,
            doctor_row(doctor),
            f"doctor {doctor.id}",
        )
        with translated_errors():  # the row is locked by the update above
            self._connection.execute(
                sa.delete(doctor_languages).where(doctor_languages.c.doctor_id == doctor.id.value)
            )
            self._write_languages(doctor)

    def _list(self) -> Sequence[Doctor]:
        with translated_errors():
            rows = self._connection.execute(sa.select(doctors).order_by(doctors.c.id)).mappings()
            return [doctor_from(row) for row in rows]

    def _search(self, query: DoctorQuery) -> Sequence[Doctor]:
        conditions: list[sa.ColumnElement[bool]] = []
        if query.after is not None:
            conditions.append(doctors.c.id > query.after.value)
        if query.specialty is not None:
            conditions.append(doctors.c.specialty_key == query.specialty.casefold())
        if query.language is not None:
            conditions.append(
                doctors.c.id.in_(
                    sa.select(doctor_languages.c.doctor_id).where(
                        doctor_languages.c.language_key == query.language.casefold()
                    )
                )
            )
        if query.text:
            text = query.text.casefold()
            conditions.append(
                sa.or_(
                    doctors.c.name_key.contains(text, autoescape=True),
                    doctors.c.specialty_key.contains(text, autoescape=True),
                )
            )
        if query.accepting_bookings is not None:
            conditions.append(doctors.c.accepting_bookings == query.accepting_bookings)
        if query.among is not None:
            conditions.append(doctors.c.id.in_(sorted(d.value for d in query.among)))
        statement = sa.select(doctors).where(*conditions).order_by(doctors.c.id).limit(query.limit)
        with translated_errors():
            return [doctor_from(row) for row in self._connection.execute(statement).mappings()]


class SqlPatientRepository(PatientRepository):
    def __init__(self, connection: Connection, cipher: FieldCipher | None = None) -> None:
        super().__init__()
        self._connection = connection
        self._cipher = cipher or development_cipher()

    def _add(self, patient: Patient) -> None:
        row = patient_row(patient, self._cipher)
        with translated_errors():
            self._connection.execute(sa.insert(patients).values(**row, version=1))

    def _get(self, patient_id: PatientId) -> Patient:
        with translated_errors():
            row = (
                self._connection.execute(
                    sa.select(patients).where(patients.c.id == patient_id.value)
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no patient {patient_id}")
        return patient_from(row, self._cipher)

    def _update(self, patient: Patient) -> None:
        compare_and_set(
            self._connection,
            patients,
            patients.c.id == patient.id.value,
            patient.version,
            patient_row(patient, self._cipher),
            f"patient {patient.id}",
        )

    def _search(self, query: PatientSearch) -> Sequence[Patient]:
        conditions: list[sa.ColumnElement[bool]] = []
        if query.name:
            # lower(): SQLite folds ASCII letters only (docs/clinic_day.md).
            name = query.name.lower()
            conditions.append(sa.func.lower(patients.c.name).contains(name, autoescape=True))
        # Phone, e-mail and birth date are sealed: matched by their blind indexes.
        if query.phone is not None:
            conditions.append(
                patients.c.phone_index.in_(desk_lookups(self._cipher, "phone", query.phone))
            )
        if query.email is not None:
            conditions.append(
                patients.c.email_index.in_(desk_lookups(self._cipher, "email", query.email))
            )
        if query.date_of_birth is not None:
            born = query.date_of_birth.isoformat()
            conditions.append(
                patients.c.birth_index.in_(desk_lookups(self._cipher, "date_of_birth", born))
            )
        statement = (
            sa.select(patients)
            .where(*conditions)
            .order_by(sa.func.lower(patients.c.name), patients.c.id)
            .limit(query.limit)
        )
        with translated_errors():
            rows = self._connection.execute(statement).mappings()
            return [patient_from(row, self._cipher) for row in rows]


class SqlAvailabilityRepository(AvailabilityRepository):
    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self._connection = connection

    def _get(self, doctor_id: DoctorId) -> Availability | None:
        with translated_errors():
            row = (
                self._connection.execute(
                    sa.select(availability).where(availability.c.doctor_id == doctor_id.value)
                )
                .mappings()
                .first()
            )
        if row is None:
            return None
        return availability_from(row["document"], row["version"])

    def tracked(self, value: Availability | None) -> Availability | None:
        """``value``, read by the unit of work for this repository (its events collected)."""
        return self._seen_if_any(value)

    def many(self, doctor_ids: Sequence[DoctorId]) -> dict[DoctorId, Availability]:
        found: dict[DoctorId, Availability] = {}
        wanted = [d.value for d in doctor_ids]
        for first in range(0, len(wanted), 500):  # within SQLite's bound-parameter limit
            query = sa.select(availability).where(
                availability.c.doctor_id.in_(wanted[first : first + 500])
            )
            with translated_errors():
                rows = self._connection.execute(query).mappings().all()
            for row in rows:
                found[DoctorId(row["doctor_id"])] = availability_from(
                    row["document"], row["version"]
                )
        return found

    def _save(self, value: Availability) -> Availability:
        document = availability_document(value)
        what = f"availability of {value.doctor_id}"
        if value.version == 0:
            try:
                with translated_errors():
                    self._connection.execute(
                        sa.insert(availability).values(
                            doctor_id=value.doctor_id.value, document=document, version=1
                        )
                    )
            except AlreadyExists:
                # Someone defined it first: a version-0 write is stale, like any other.
                raise ConcurrencyError(f"{what} changed since it was read") from None
        else:
            try:
                compare_and_set(
                    self._connection,
                    availability,
                    availability.c.doctor_id == value.doctor_id.value,
                    value.version,
                    {"document": document},
                    what,
                )
            except NotFound:
                self._require_doctor(value.doctor_id)
                raise ConcurrencyError(f"{what} changed since it was read") from None
        return availability_from(document, value.version + 1)

    def _require_doctor(self, doctor_id: DoctorId) -> None:
        with translated_errors():
            found = self._connection.execute(
                sa.select(sa.literal(1)).where(doctors.c.id == doctor_id.value)
            ).first()
        if found is None:
            raise NotFound(f"no doctor {doctor_id}")


_ACTIVE = appointments.c.status.in_(ACTIVE_STATUS_VALUES)
_BY_START = (appointments.c.starts_at, appointments.c.id)
# The slot listing's read: only the two instants of each appointment in the doctor's way, on
# the (doctor_id, blocked_until) index from the listed period's start. Built once: SQLAlchemy
# compiles it once per engine and psycopg prepares it server-side after a few executions.
_BUSY_TIMES = (
    sa.select(appointments.c.starts_at, appointments.c.blocked_until)
    .where(
        appointments.c.doctor_id == sa.bindparam("doctor_id"),
        appointments.c.blocked_until > sa.bindparam("period_start"),
        appointments.c.starts_at < sa.bindparam("period_end"),
        _ACTIVE,
        # A lapsed hold no longer occupies its time (Appointment.blocks_time_at).
        sa.or_(
            appointments.c.status != "held",
            appointments.c.hold_expires_at.is_(None),
            appointments.c.hold_expires_at > sa.bindparam("now"),
        ),
    )
    .order_by(appointments.c.starts_at)
)


class SqlAppointmentRepository(AppointmentRepository):
    """``add`` queues the row for the unit of work's next statement or its commit
    (``writes.py``: one statement on PostgreSQL, in the doctor's turn, with the outbox rows),
    where the constraints refuse an overlap."""

    def __init__(self, connection: Connection, pending: PendingInserts) -> None:
        super().__init__()
        self._connection = connection
        self._pending = pending

    def _add(self, appointment: Appointment) -> None:
        self._pending.appointments.append({**appointment_row(appointment), "version": 1})

    def _get(self, appointment_id: AppointmentId) -> Appointment:
        found = self._select(appointments.c.id == appointment_id.value)
        if not found:
            raise NotFound(f"no appointment {appointment_id}")
        return found[0]

    def _update(self, appointment: Appointment) -> None:
        compare_and_set(
            self._connection,
            appointments,
            appointments.c.id == appointment.id.value,
            appointment.version,
            appointment_row(appointment),
            f"appointment {appointment.id}",
        )

    def _for_doctor(
        self, doctor_id: DoctorId, period: TimeRange, active_only: bool
    ) -> list[Appointment]:
        conditions = [
            appointments.c.doctor_id == doctor_id.value,
            appointments.c.blocked_until > period.start,
            appointments.c.starts_at < period.end,
        ]
        if active_only:
            conditions.append(_ACTIVE)
        return self._select(*conditions)

    def _busy_times(self, doctor_id: DoctorId, period: TimeRange, now: datetime) -> list[TimeRange]:
        values = {
            "doctor_id": doctor_id.value,
            "period_start": period.start,
            "period_end": period.end,
            "now": now,
        }
        with translated_errors():
            rows = self._connection.execute(_BUSY_TIMES, values).all()
        return [TimeRange(start, until) for start, until in rows]

    def _for_patient(
        self, patient_id: PatientId, period: TimeRange | None, active_only: bool
    ) -> list[Appointment]:
        conditions = [appointments.c.patient_id == patient_id.value]
        if period is not None:
            conditions += [
                appointments.c.starts_at < period.end,
                appointments.c.ends_at > period.start,
            ]
        if active_only:
            conditions.append(_ACTIVE)
        return self._select(*conditions)

    def _search(self, query: AppointmentQuery) -> list[Appointment]:
        # Keyset pagination: the row comparison (starts_at, id) > cursor is an index range on
        # (starts_at, id) -- alone for the admin list, after patient_id or doctor_id for theirs
        # -- so a page costs the same at the millionth row as at the first.
        conditions: list[sa.ColumnElement[bool]] = []
        if query.patient_id is not None:
            conditions.append(appointments.c.patient_id == query.patient_id.value)
        if query.doctor_id is not None:
            conditions.append(appointments.c.doctor_id == query.doctor_id.value)
        if query.statuses is not None:
            conditions.append(appointments.c.status.in_([s.value for s in query.statuses]))
        if query.series_id is not None:
            conditions.append(appointments.c.series_id == query.series_id.value)
        if query.starts_from is not None:
            conditions.append(appointments.c.starts_at >= query.starts_from)
        if query.starts_before is not None:
            conditions.append(appointments.c.starts_at < query.starts_before)
        if query.after is not None:
            start, last_id = query.after
            conditions.append(
                sa.tuple_(*_BY_START)
                > sa.tuple_(sa.literal(start, UtcDateTime), sa.literal(last_id.value, sa.String))
            )
        statement = (
            sa.select(appointments).where(*conditions).order_by(*_BY_START).limit(query.limit)
        )
        with translated_errors():
            rows = self._connection.execute(statement).mappings()
            return [appointment_from(row) for row in rows]

    def _lapsed_holds(self, now: datetime, limit: int) -> list[Appointment]:
        query = (
            sa.select(appointments)
            .where(
                appointments.c.status == AppointmentStatus.HELD.value,
                appointments.c.hold_expires_at <= now,
            )
            .order_by(appointments.c.hold_expires_at, appointments.c.id)
            .limit(limit)
        )
        with translated_errors():
            return [appointment_from(row) for row in self._connection.execute(query).mappings()]

    def _select(self, *conditions: sa.ColumnElement[bool]) -> list[Appointment]:
        query = sa.select(appointments).where(*conditions).order_by(*_BY_START)
        with translated_errors():
            return [appointment_from(row) for row in self._connection.execute(query).mappings()]


class SqlIdempotencyRepository(IdempotencyRepository):
    """``add`` queues the record like an appointment (``writes.py``), after the appointments
    of the same unit of work; (scope, key) is the primary key: ``AlreadyExists`` when taken."""

    def __init__(self, connection: Connection, pending: PendingInserts) -> None:
        self._connection = connection
        self._pending = pending

    def add(self, record: IdempotencyRecord) -> None:
        self._pending.idempotency.append(
            {
                "scope": record.scope,
                "key": record.key,
                "fingerprint": record.fingerprint,
                "appointment_id": record.appointment_id.value,
                "created_at": record.created_at,
            }
        )

    def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        # A keyed booking first looks for an earlier one in a unit of work of its own: one
        # round trip, without BEGIN (booking.py).
        with read_alone(self._connection):
            row = first_row(
                self._connection,
                sa.select(idempotency_keys).where(
                    idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
                ),
            )
        if row is None:
            return None
        return IdempotencyRecord(
            scope=row["scope"],
            key=row["key"],
            fingerprint=row["fingerprint"],
            appointment_id=AppointmentId(row["appointment_id"]),
            created_at=row["created_at"],
        )
