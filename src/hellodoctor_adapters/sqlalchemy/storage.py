"""Repositories and unit of work over SQLAlchemy Core, for PostgreSQL and SQLite.

Rows are mapped to domain objects by hand (``_doctor_from`` and friends), so the domain stays
free of SQLAlchemy. Every write that could race is decided by the database: the no-overlap rule
by the constraints the migrations create, version checks by ``UPDATE ... WHERE version = :read``
(a compare-and-set the database performs atomically). Every driver error leaves this module as
a port error (``engine.translate``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, RowMapping

from hellodoctor_adapters.sqlalchemy import documents
from hellodoctor_adapters.sqlalchemy.engine import create_engine, translated_errors
from hellodoctor_adapters.sqlalchemy.migrate import require_current_schema
from hellodoctor_adapters.sqlalchemy.schema import (
    ACTIVE_STATUS_VALUES,
    UtcDateTime,
    accounts,
    appointments,
    availability,
    doctor_languages,
    doctors,
    idempotency_keys,
    one_time_secrets,
    outbox,
    patients,
    payment_refunds,
    payments,
    processed_webhook_events,
    refresh_tokens,
    wallet_balances,
    wallet_entries,
)
from hellodoctor_domain.errors import (
    AlreadyExists,
    BackendUnavailable,
    ConcurrencyError,
    Conflict,
    NotFound,
    SlotUnavailable,
)
from hellodoctor_domain.model.accounts import (
    Account,
    AccountStatus,
    OneTimeSecret,
    RefreshToken,
    SecretPurpose,
)
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus, Cancellation
from hellodoctor_domain.model.availability import Availability
from hellodoctor_domain.model.events import AppointmentEvent
from hellodoctor_domain.model.payments import (
    Payment,
    PaymentId,
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
    Refund,
    RefundReason,
    WalletEntry,
    WalletEntryKind,
)
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.values import (
    AppointmentId,
    AppointmentType,
    DoctorId,
    EmailAddress,
    Money,
    PatientId,
    Role,
    TimeRange,
    UserId,
    VisitKind,
)
from hellodoctor_domain.ports.identity import (
    AccountRepository,
    OneTimeSecretRepository,
    RefreshTokenRepository,
)
from hellodoctor_domain.ports.payments import (
    PaymentQuery,
    PaymentRepository,
    ProcessedWebhookEvents,
    WalletLedger,
)
from hellodoctor_domain.ports.scheduling import (
    AppointmentQuery,
    AppointmentRepository,
    AvailabilityRepository,
    DoctorQuery,
    DoctorRepository,
    IdempotencyRecord,
    IdempotencyRepository,
    PatientRepository,
)
from hellodoctor_domain.ports.unit_of_work import EventPublisher, UnitOfWork

# -- row mapping -------------------------------------------------------------------------------


def _doctor_row(doctor: Doctor) -> dict[str, Any]:
    return {
        "id": doctor.id.value,
        "name": doctor.name,
        "specialty": doctor.specialty,
        "registration_number": doctor.registration_number,
        "fee_minor_units": doctor.consultation_fee.minor_units,
        "fee_currency": doctor.consultation_fee.currency,
        "time_zone": doctor.time_zone,
        "qualifications": list(doctor.qualifications),
        "languages": list(doctor.languages),
        "email": None if doctor.email is None else doctor.email.value,
        "accepting_bookings": doctor.accepting_bookings,
        "name_key": doctor.name.casefold(),
        "specialty_key": doctor.specialty.casefold(),
    }


def _language_rows(doctor: Doctor) -> list[dict[str, str]]:
    keys = sorted({language.casefold() for language in doctor.languages})
    return [{"doctor_id": doctor.id.value, "language_key": key} for key in keys]


def _doctor_from(row: RowMapping) -> Doctor:
    return Doctor(
        id=DoctorId(row["id"]),
        name=row["name"],
        specialty=row["specialty"],
        registration_number=row["registration_number"],
        consultation_fee=Money(row["fee_minor_units"], row["fee_currency"]),
        time_zone=row["time_zone"],
        qualifications=tuple(row["qualifications"]),
        languages=tuple(row["languages"]),
        email=None if row["email"] is None else EmailAddress(row["email"]),
        accepting_bookings=bool(row["accepting_bookings"]),
        version=row["version"],
    )


def _patient_row(patient: Patient) -> dict[str, Any]:
    return {
        "id": patient.id.value,
        "name": patient.name,
        "date_of_birth": patient.date_of_birth,
        "phone": patient.phone,
        "email": None if patient.email is None else patient.email.value,
        "health_id": patient.health_id,
        "emergency_contacts": documents.contacts_document(patient.emergency_contacts),
        "allergies": list(patient.allergies),
    }


def _patient_from(row: RowMapping) -> Patient:
    return Patient(
        id=PatientId(row["id"]),
        name=row["name"],
        date_of_birth=row["date_of_birth"],
        phone=row["phone"],
        email=None if row["email"] is None else EmailAddress(row["email"]),
        health_id=row["health_id"],
        emergency_contacts=documents.contacts_from(row["emergency_contacts"]),
        allergies=tuple(row["allergies"]),
        version=row["version"],
    )


def _appointment_row(appointment: Appointment) -> dict[str, Any]:
    cancellation = appointment.cancellation
    return {
        "id": appointment.id.value,
        "doctor_id": appointment.doctor_id.value,
        "patient_id": appointment.patient_id.value,
        "starts_at": appointment.time.start,
        "ends_at": appointment.time.end,
        "blocked_until": appointment.blocked.end,
        "status": appointment.status.value,
        "price_minor_units": appointment.price.minor_units,
        "price_currency": appointment.price.currency,
        "created_at": appointment.created_at,
        "appointment_type": appointment.appointment_type.value,
        "visit_kind": appointment.visit_kind.value,
        "reason": appointment.reason,
        "hold_expires_at": appointment.hold_expires_at,
        "cancelled_by": None if cancellation is None else cancellation.by.value,
        "cancelled_by_user": None if cancellation is None else cancellation.user_id.value,
        "cancellation_reason": None if cancellation is None else cancellation.reason,
        "cancelled_at": None if cancellation is None else cancellation.at,
        "refund_minor_units": None if cancellation is None else cancellation.refund.minor_units,
        "refund_currency": None if cancellation is None else cancellation.refund.currency,
    }


def _appointment_from(row: RowMapping) -> Appointment:
    cancellation = None
    if row["cancelled_by"] is not None:
        cancellation = Cancellation(
            by=Role(row["cancelled_by"]),
            user_id=UserId(row["cancelled_by_user"]),
            reason=row["cancellation_reason"],
            at=row["cancelled_at"],
            refund=Money(row["refund_minor_units"], row["refund_currency"]),
        )
    return Appointment(
        id=AppointmentId(row["id"]),
        doctor_id=DoctorId(row["doctor_id"]),
        patient_id=PatientId(row["patient_id"]),
        time=TimeRange(row["starts_at"], row["ends_at"]),
        price=Money(row["price_minor_units"], row["price_currency"]),
        status=AppointmentStatus(row["status"]),
        created_at=row["created_at"],
        buffer=row["blocked_until"] - row["ends_at"],
        appointment_type=AppointmentType(row["appointment_type"]),
        visit_kind=VisitKind(row["visit_kind"]),
        reason=row["reason"],
        hold_expires_at=row["hold_expires_at"],
        cancellation=cancellation,
        version=row["version"],
    )


# -- repositories ------------------------------------------------------------------------------


def _compare_and_set(
    connection: Connection,
    table: sa.Table,
    key: sa.ColumnElement[bool],
    read_version: int,
    values: Mapping[str, Any],
    what: str,
) -> None:
    """``UPDATE ... SET version = read + 1 WHERE key AND version = read``: the database decides
    atomically whether the version is still current. No row updated means stale or missing."""
    with translated_errors():
        result = connection.execute(
            sa.update(table)
            .where(key, table.c.version == read_version)
            .values(**values, version=read_version + 1)
        )
        if result.rowcount == 1:
            return
        exists = connection.execute(sa.select(sa.literal(1)).where(key)).first()
    if exists is None:
        raise NotFound(f"no {what}")
    raise ConcurrencyError(f"{what} changed since it was read")


class SqlDoctorRepository(DoctorRepository):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, doctor: Doctor) -> None:
        with translated_errors():
            self._connection.execute(sa.insert(doctors).values(**_doctor_row(doctor), version=1))
            self._write_languages(doctor)
        doctor.version = 1

    def _write_languages(self, doctor: Doctor) -> None:
        rows = _language_rows(doctor)
        if rows:
            self._connection.execute(sa.insert(doctor_languages), rows)

    def get(self, doctor_id: DoctorId) -> Doctor:
        with translated_errors():
            row = (
                self._connection.execute(sa.select(doctors).where(doctors.c.id == doctor_id.value))
                .mappings()
                .first()
            )
        if row is None:
            raise NotFound(f"no doctor {doctor_id}")
        return _doctor_from(row)

    def update(self, doctor: Doctor) -> None:
        _compare_and_set(
            self._connection,
            doctors,
            doctors.c.id == doctor.id.value,
            doctor.version,
            _doctor_row(doctor),
            f"doctor {doctor.id}",
        )
        with translated_errors():  # the row is locked by the update above
            self._connection.execute(
                sa.delete(doctor_languages).where(doctor_languages.c.doctor_id == doctor.id.value)
            )
            self._write_languages(doctor)
        doctor.version += 1

    def list(self) -> Sequence[Doctor]:
        with translated_errors():
            rows = self._connection.execute(sa.select(doctors).order_by(doctors.c.id)).mappings()
            return [_doctor_from(row) for row in rows]

    def search(self, query: DoctorQuery) -> Sequence[Doctor]:
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
        statement = sa.select(doctors).where(*conditions).order_by(doctors.c.id).limit(query.limit)
        with translated_errors():
            return [_doctor_from(row) for row in self._connection.execute(statement).mappings()]


class SqlPatientRepository(PatientRepository):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, patient: Patient) -> None:
        with translated_errors():
            self._connection.execute(sa.insert(patients).values(**_patient_row(patient), version=1))
        patient.version = 1

    def get(self, patient_id: PatientId) -> Patient:
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
        return _patient_from(row)

    def update(self, patient: Patient) -> None:
        _compare_and_set(
            self._connection,
            patients,
            patients.c.id == patient.id.value,
            patient.version,
            _patient_row(patient),
            f"patient {patient.id}",
        )
        patient.version += 1


class SqlAvailabilityRepository(AvailabilityRepository):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def get(self, doctor_id: DoctorId) -> Availability | None:
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
        return documents.availability_from(row["document"], row["version"])

    def save(self, value: Availability) -> Availability:
        document = documents.availability_document(value)
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
                _compare_and_set(
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
        return documents.availability_from(document, value.version + 1)

    def _require_doctor(self, doctor_id: DoctorId) -> None:
        with translated_errors():
            found = self._connection.execute(
                sa.select(sa.literal(1)).where(doctors.c.id == doctor_id.value)
            ).first()
        if found is None:
            raise NotFound(f"no doctor {doctor_id}")


_ACTIVE = appointments.c.status.in_(ACTIVE_STATUS_VALUES)
_BY_START = (appointments.c.starts_at, appointments.c.id)


class SqlAppointmentRepository(AppointmentRepository):
    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self._connection = connection

    def _add(self, appointment: Appointment) -> None:
        try:
            with translated_errors():
                self._connection.execute(
                    sa.insert(appointments).values(
                        **_appointment_row(appointment), version=appointment.version + 1
                    )
                )
        except ConcurrencyError as error:
            # An insert has no version to be stale. On PostgreSQL, two overlapping inserts in
            # flight can each wait on the other while checking the exclusion constraint; the
            # server aborts one (deadlock, 40P01), which thereby lost the race for the time.
            raise SlotUnavailable(
                "another booking for that time was being written at the same moment"
            ) from error

    def _get(self, appointment_id: AppointmentId) -> Appointment:
        found = self._select(appointments.c.id == appointment_id.value)
        if not found:
            raise NotFound(f"no appointment {appointment_id}")
        return found[0]

    def _update(self, appointment: Appointment) -> None:
        _compare_and_set(
            self._connection,
            appointments,
            appointments.c.id == appointment.id.value,
            appointment.version,
            _appointment_row(appointment),
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
            return [_appointment_from(row) for row in rows]

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
            return [_appointment_from(row) for row in self._connection.execute(query).mappings()]

    def _select(self, *conditions: sa.ColumnElement[bool]) -> list[Appointment]:
        query = sa.select(appointments).where(*conditions).order_by(*_BY_START)
        with translated_errors():
            return [_appointment_from(row) for row in self._connection.execute(query).mappings()]


# -- identity and idempotency ------------------------------------------------------------------


def _account_row(account: Account) -> dict[str, Any]:
    return {
        "id": account.id.value,
        "email": account.email.value,
        "email_key": account.email.lookup_key,
        "role": account.role.value,
        "status": account.status.value,
        "created_at": account.created_at,
        "password_hash": account.password_hash,
        "patient_id": None if account.patient_id is None else account.patient_id.value,
        "doctor_id": None if account.doctor_id is None else account.doctor_id.value,
        "totp_secret": account.totp_secret,
        "totp_enabled": account.totp_enabled,
        "totp_last_step": account.totp_last_step,
    }


def _account_from(row: RowMapping) -> Account:
    return Account(
        id=UserId(row["id"]),
        email=EmailAddress(row["email"]),
        role=Role(row["role"]),
        status=AccountStatus(row["status"]),
        created_at=row["created_at"],
        password_hash=row["password_hash"],
        patient_id=None if row["patient_id"] is None else PatientId(row["patient_id"]),
        doctor_id=None if row["doctor_id"] is None else DoctorId(row["doctor_id"]),
        totp_secret=row["totp_secret"],
        totp_enabled=bool(row["totp_enabled"]),
        totp_last_step=row["totp_last_step"],
        version=row["version"],
    )


def _one(connection: Connection, statement: sa.Select[Any]) -> RowMapping | None:
    with translated_errors():
        return connection.execute(statement).mappings().first()


class SqlAccountRepository(AccountRepository):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, account: Account) -> None:
        with translated_errors():  # id or email_key taken: AlreadyExists
            self._connection.execute(sa.insert(accounts).values(**_account_row(account), version=1))
        account.version = 1

    def get(self, account_id: UserId) -> Account:
        row = _one(self._connection, sa.select(accounts).where(accounts.c.id == account_id.value))
        if row is None:
            raise NotFound(f"no account {account_id}")
        return _account_from(row)

    def by_email(self, email: EmailAddress) -> Account | None:
        key = email.lookup_key
        row = _one(self._connection, sa.select(accounts).where(accounts.c.email_key == key))
        return None if row is None else _account_from(row)

    def update(self, account: Account) -> None:
        _compare_and_set(
            self._connection,
            accounts,
            accounts.c.id == account.id.value,
            account.version,
            _account_row(account),
            f"account {account.id}",
        )
        account.version += 1


def _secret_row(secret: OneTimeSecret) -> dict[str, Any]:
    return {
        "id": secret.id,
        "account_id": secret.account_id.value,
        "purpose": secret.purpose.value,
        "digest": secret.digest,
        "created_at": secret.created_at,
        "expires_at": secret.expires_at,
        "attempts_left": secret.attempts_left,
        "used_at": secret.used_at,
    }


def _secret_from(row: RowMapping) -> OneTimeSecret:
    return OneTimeSecret(
        id=row["id"],
        account_id=UserId(row["account_id"]),
        purpose=SecretPurpose(row["purpose"]),
        digest=row["digest"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        attempts_left=row["attempts_left"],
        used_at=row["used_at"],
        version=row["version"],
    )


class SqlOneTimeSecretRepository(OneTimeSecretRepository):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, secret: OneTimeSecret) -> None:
        with translated_errors():
            self._connection.execute(
                sa.insert(one_time_secrets).values(**_secret_row(secret), version=1)
            )
        secret.version = 1

    def get(self, secret_id: str) -> OneTimeSecret:
        row = _one(
            self._connection, sa.select(one_time_secrets).where(one_time_secrets.c.id == secret_id)
        )
        if row is None:
            raise NotFound("no such secret")
        return _secret_from(row)

    def latest(self, account_id: UserId, purpose: SecretPurpose) -> OneTimeSecret | None:
        statement = (
            sa.select(one_time_secrets)
            .where(
                one_time_secrets.c.account_id == account_id.value,
                one_time_secrets.c.purpose == purpose.value,
            )
            .order_by(one_time_secrets.c.created_at.desc(), one_time_secrets.c.id.desc())
            .limit(1)
        )
        row = _one(self._connection, statement)
        return None if row is None else _secret_from(row)

    def update(self, secret: OneTimeSecret) -> None:
        _compare_and_set(
            self._connection,
            one_time_secrets,
            one_time_secrets.c.id == secret.id,
            secret.version,
            _secret_row(secret),
            "secret",
        )
        secret.version += 1


def _token_row(token: RefreshToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "family_id": token.family_id,
        "account_id": token.account_id.value,
        "digest": token.digest,
        "issued_at": token.issued_at,
        "expires_at": token.expires_at,
        "replaced_at": token.replaced_at,
        "revoked_at": token.revoked_at,
    }


def _token_from(row: RowMapping) -> RefreshToken:
    return RefreshToken(
        id=row["id"],
        family_id=row["family_id"],
        account_id=UserId(row["account_id"]),
        digest=row["digest"],
        issued_at=row["issued_at"],
        expires_at=row["expires_at"],
        replaced_at=row["replaced_at"],
        revoked_at=row["revoked_at"],
        version=row["version"],
    )


class SqlRefreshTokenRepository(RefreshTokenRepository):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, token: RefreshToken) -> None:
        with translated_errors():
            self._connection.execute(
                sa.insert(refresh_tokens).values(**_token_row(token), version=1)
            )
        token.version = 1

    def get(self, token_id: str) -> RefreshToken:
        row = _one(
            self._connection, sa.select(refresh_tokens).where(refresh_tokens.c.id == token_id)
        )
        if row is None:
            raise NotFound("no such token")
        return _token_from(row)

    def update(self, token: RefreshToken) -> None:
        _compare_and_set(
            self._connection,
            refresh_tokens,
            refresh_tokens.c.id == token.id,
            token.version,
            _token_row(token),
            "token",
        )
        token.version += 1

    def _revoke(self, condition: sa.ColumnElement[bool], at: datetime) -> None:
        # One statement: concurrent rotations either finish first (and their new token is
        # revoked too, if committed) or find the version moved and fail their compare-and-set.
        with translated_errors():
            self._connection.execute(
                sa.update(refresh_tokens)
                .where(condition, refresh_tokens.c.revoked_at.is_(None))
                .values(revoked_at=at, version=refresh_tokens.c.version + 1)
            )

    def revoke_family(self, family_id: str, at: datetime) -> None:
        self._revoke(refresh_tokens.c.family_id == family_id, at)

    def revoke_account(self, account_id: UserId, at: datetime) -> None:
        self._revoke(refresh_tokens.c.account_id == account_id.value, at)


class SqlIdempotencyRepository(IdempotencyRepository):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, record: IdempotencyRecord) -> None:
        with translated_errors():  # (scope, key) is the primary key: AlreadyExists when taken
            self._connection.execute(
                sa.insert(idempotency_keys).values(
                    scope=record.scope,
                    key=record.key,
                    fingerprint=record.fingerprint,
                    appointment_id=record.appointment_id.value,
                    created_at=record.created_at,
                )
            )

    def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        row = _one(
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


# -- payments, the wallet ledger, processed webhook events -------------------------------------


def _payment_row(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id.value,
        "purpose": payment.purpose.value,
        "patient_id": payment.patient_id.value,
        "appointment_id": None if payment.appointment_id is None else payment.appointment_id.value,
        "method": payment.method.value,
        "amount_minor_units": payment.amount.minor_units,
        "currency": payment.amount.currency,
        "wallet_part_minor_units": payment.wallet_part.minor_units,
        "status": payment.status.value,
        "created_at": payment.created_at,
        "updated_at": payment.updated_at,
        "provider_reference": payment.provider_reference,
        "succeeded_at": payment.succeeded_at,
        "failure": payment.failure,
    }


def _refund_row(payment: Payment, position: int, refund: Refund) -> dict[str, Any]:
    return {
        "payment_id": payment.id.value,
        "position": position,
        "key": refund.key,
        "reason": refund.reason.value,
        "card_minor_units": refund.card.minor_units,
        "wallet_minor_units": refund.wallet.minor_units,
        "recorded_at": refund.recorded_at,
        "provider_reference": refund.provider_reference,
    }


def _payment_from(row: RowMapping, refund_rows: Sequence[RowMapping]) -> Payment:
    currency = row["currency"]
    refunds = tuple(
        Refund(
            key=r["key"],
            reason=RefundReason(r["reason"]),
            card=Money(r["card_minor_units"], currency),
            wallet=Money(r["wallet_minor_units"], currency),
            recorded_at=r["recorded_at"],
            provider_reference=r["provider_reference"],
        )
        for r in refund_rows
    )
    return Payment(
        id=PaymentId(row["id"]),
        purpose=PaymentPurpose(row["purpose"]),
        patient_id=PatientId(row["patient_id"]),
        appointment_id=(
            None if row["appointment_id"] is None else AppointmentId(row["appointment_id"])
        ),
        method=PaymentMethod(row["method"]),
        amount=Money(row["amount_minor_units"], currency),
        wallet_part=Money(row["wallet_part_minor_units"], currency),
        status=PaymentStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        provider_reference=row["provider_reference"],
        succeeded_at=row["succeeded_at"],
        failure=row["failure"],
        refunds=refunds,
        version=row["version"],
    )


_NEWEST_FIRST = (payments.c.created_at.desc(), payments.c.id.desc())
_UNSETTLED = sa.and_(
    payment_refunds.c.card_minor_units > 0, payment_refunds.c.provider_reference.is_(None)
)


class SqlPaymentRepository(PaymentRepository):
    """One payment per appointment is ``uq_payments_appointment_id``; updates are a
    compare-and-set on ``version``, and refunds an append-only child table written under the
    row lock that compare-and-set takes."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, payment: Payment) -> None:
        with translated_errors():  # id or appointment taken: AlreadyExists
            self._connection.execute(sa.insert(payments).values(**_payment_row(payment), version=1))
            self._append_refunds(payment, 0)
        payment.version = 1

    def _append_refunds(self, payment: Payment, stored: int) -> None:
        rows = [
            _refund_row(payment, position, refund)
            for position, refund in enumerate(payment.refunds)
            if position >= stored
        ]
        if rows:
            self._connection.execute(sa.insert(payment_refunds), rows)

    def get(self, payment_id: PaymentId) -> Payment:
        found = self._select(payments.c.id == payment_id.value)
        if not found:
            raise NotFound(f"no payment {payment_id}")
        return found[0]

    def update(self, payment: Payment) -> None:
        _compare_and_set(
            self._connection,
            payments,
            payments.c.id == payment.id.value,
            payment.version,
            _payment_row(payment),
            f"payment {payment.id}",
        )
        with translated_errors():  # the payment row is locked by the update above
            stored = self._connection.execute(
                sa.select(payment_refunds.c.key, payment_refunds.c.provider_reference)
                .where(payment_refunds.c.payment_id == payment.id.value)
                .order_by(payment_refunds.c.position)
            ).all()
            if [key for key, _ in stored] != [r.key for r in payment.refunds[: len(stored)]]:
                raise Conflict(f"refunds of payment {payment.id} are only ever appended")
            for position, (_key, reference) in enumerate(stored):
                settled = payment.refunds[position].provider_reference
                if reference is None and settled is not None:
                    self._connection.execute(
                        sa.update(payment_refunds)
                        .where(
                            payment_refunds.c.payment_id == payment.id.value,
                            payment_refunds.c.position == position,
                        )
                        .values(provider_reference=settled)
                    )
            self._append_refunds(payment, len(stored))
        payment.version += 1

    def for_appointment(self, appointment_id: AppointmentId) -> Payment | None:
        found = self._select(payments.c.appointment_id == appointment_id.value)
        return found[0] if found else None

    def search(self, query: PaymentQuery) -> list[Payment]:
        conditions: list[sa.ColumnElement[bool]] = []
        if query.patient_id is not None:
            conditions.append(payments.c.patient_id == query.patient_id.value)
        if query.statuses is not None:
            conditions.append(payments.c.status.in_([s.value for s in query.statuses]))
        if query.purpose is not None:
            conditions.append(payments.c.purpose == query.purpose.value)
        if query.method is not None:
            conditions.append(payments.c.method == query.method.value)
        if query.before is not None:
            created_at, last_id = query.before
            conditions.append(
                sa.tuple_(payments.c.created_at, payments.c.id)
                < sa.tuple_(
                    sa.literal(created_at, UtcDateTime), sa.literal(last_id.value, sa.String)
                )
            )
        return self._select(*conditions, order_by=_NEWEST_FIRST, limit=query.limit)

    def with_unsettled_refunds(self, limit: int) -> list[Payment]:
        unsettled = sa.exists().where(payment_refunds.c.payment_id == payments.c.id, _UNSETTLED)
        return self._select(unsettled, order_by=(payments.c.updated_at, payments.c.id), limit=limit)

    def _select(
        self,
        *conditions: sa.ColumnElement[bool],
        order_by: Sequence[sa.ColumnElement[Any]] = (),
        limit: int | None = None,
    ) -> list[Payment]:
        statement = sa.select(payments).where(*conditions).order_by(*order_by).limit(limit)
        with translated_errors():
            rows = self._connection.execute(statement).mappings().all()
            if not rows:
                return []
            refunds: dict[str, list[RowMapping]] = {row["id"]: [] for row in rows}
            for refund in self._connection.execute(
                sa.select(payment_refunds)
                .where(payment_refunds.c.payment_id.in_(list(refunds)))
                .order_by(payment_refunds.c.payment_id, payment_refunds.c.position)
            ).mappings():
                refunds[refund["payment_id"]].append(refund)
        return [_payment_from(row, refunds[row["id"]]) for row in rows]


def _entry_from(row: RowMapping) -> WalletEntry:
    return WalletEntry(
        row["reference"],
        PatientId(row["patient_id"]),
        WalletEntryKind(row["kind"]),
        Money(row["amount_minor_units"], row["currency"]),
        row["recorded_at"],
        None if row["payment_id"] is None else PaymentId(row["payment_id"]),
    )


class SqlWalletLedger(WalletLedger):
    """The balance row of ``(patient, currency)`` changes by one atomic ``UPDATE ... SET balance =
    balance + :delta``, in the transaction (and savepoint) that inserts the entry under its
    unique reference. ``CHECK (balance >= 0)`` refuses an overdraft in that very statement:
    on PostgreSQL a concurrent writer waits for the row lock and then adds to the committed
    balance; on SQLite writers hold the database's single write lock. Either way the database
    decides, never a read in Python."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def append(self, entry: WalletEntry) -> None:
        delta = entry.amount.minor_units
        key = {"patient_id": entry.patient_id.value, "currency": entry.amount.currency}
        insert = (
            postgresql.insert(wallet_balances)
            if self._connection.dialect.name == "postgresql"
            else sqlite.insert(wallet_balances)
        )
        # The row must exist before the conditional update (an INSERT of a negative balance
        # would trip the CHECK before ON CONFLICT is considered): a concurrent creator waits
        # for the first one's outcome, then does nothing.
        create = insert.values(**key, balance=0).on_conflict_do_nothing()
        change = (
            sa.update(wallet_balances)
            .where(
                wallet_balances.c.patient_id == entry.patient_id.value,
                wallet_balances.c.currency == entry.amount.currency,
            )
            .values(balance=wallet_balances.c.balance + delta)
        )
        # A savepoint, so a refusal leaves the unit of work usable (PostgreSQL would otherwise
        # abort the whole transaction) and leaves neither the entry nor the new balance.
        with translated_errors(), self._connection.begin_nested():
            self._connection.execute(
                sa.insert(wallet_entries).values(
                    reference=entry.reference,
                    **key,
                    kind=entry.kind.value,
                    amount_minor_units=delta,
                    recorded_at=entry.recorded_at,
                    payment_id=None if entry.payment_id is None else entry.payment_id.value,
                )
            )
            self._connection.execute(create)
            # Atomic in the database: CHECK (balance >= 0) refuses an overdraft right here.
            self._connection.execute(change)

    def balance(self, patient_id: PatientId, currency: str) -> Money:
        row = _one(
            self._connection,
            sa.select(wallet_balances.c.balance).where(
                wallet_balances.c.patient_id == patient_id.value,
                wallet_balances.c.currency == currency,
            ),
        )
        return Money(0 if row is None else row["balance"], currency)

    def entries(self, patient_id: PatientId, currency: str) -> list[WalletEntry]:
        statement = (
            sa.select(wallet_entries)
            .where(
                wallet_entries.c.patient_id == patient_id.value,
                wallet_entries.c.currency == currency,
            )
            .order_by(wallet_entries.c.recorded_at, wallet_entries.c.reference)
        )
        with translated_errors():
            return [_entry_from(row) for row in self._connection.execute(statement).mappings()]

    def by_reference(self, reference: str) -> WalletEntry | None:
        row = _one(
            self._connection,
            sa.select(wallet_entries).where(wallet_entries.c.reference == reference),
        )
        return None if row is None else _entry_from(row)


class SqlProcessedWebhookEvents(ProcessedWebhookEvents):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, provider: str, event_id: str, processed_at: datetime) -> None:
        with translated_errors():  # (provider, event_id) is the primary key: AlreadyExists
            self._connection.execute(
                sa.insert(processed_webhook_events).values(
                    provider=provider, event_id=event_id, processed_at=processed_at
                )
            )

    def contains(self, provider: str, event_id: str) -> bool:
        table = processed_webhook_events
        row = _one(
            self._connection,
            sa.select(sa.literal(1).label("found")).where(
                table.c.provider == provider, table.c.event_id == event_id
            ),
        )
        return row is not None


# -- unit of work ------------------------------------------------------------------------------


class SqlUnitOfWork(UnitOfWork):
    """One database transaction on its own pooled connection, opened on ``__enter__``."""

    def __init__(self, engine: Engine, publisher: EventPublisher | None = None) -> None:
        super().__init__(publisher)
        self._engine = engine
        self._connection: Connection | None = None

    def _begin(self) -> None:
        with translated_errors():
            self._connection = self._engine.connect()
            self._connection.begin()
        self.doctors = SqlDoctorRepository(self._connection)
        self.patients = SqlPatientRepository(self._connection)
        self.availability = SqlAvailabilityRepository(self._connection)
        self.appointments = SqlAppointmentRepository(self._connection)
        self.accounts = SqlAccountRepository(self._connection)
        self.one_time_secrets = SqlOneTimeSecretRepository(self._connection)
        self.refresh_tokens = SqlRefreshTokenRepository(self._connection)
        self.idempotency = SqlIdempotencyRepository(self._connection)
        self.payments = SqlPaymentRepository(self._connection)
        self.wallets = SqlWalletLedger(self._connection)
        self.processed_events = SqlProcessedWebhookEvents(self._connection)

    def _commit(self, events: Sequence[AppointmentEvent]) -> None:
        connection = self._require_connection()
        with translated_errors():
            if events:
                connection.execute(
                    sa.insert(outbox),
                    [
                        {
                            "event_type": type(event).__name__,
                            "appointment_id": event.appointment_id.value,
                            "occurred_at": event.occurred_at,
                            "payload": documents.event_payload(event),
                        }
                        for event in events
                    ],
                )
            connection.commit()

    def _rollback(self) -> None:
        connection = self._connection
        if connection is None:
            return
        with translated_errors():
            connection.rollback()

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with translated_errors():
                connection.close()

    def _require_connection(self) -> Connection:
        if self._connection is None:
            raise BackendUnavailable("the unit of work is not open (use it in a with block)")
        return self._connection


class SqlUnitOfWorkFactory:
    """Units of work over one database (the ``postgresql`` and ``sqlite`` storage entry points).

    Built once per process from a URL (or an engine); refuses a database whose schema is not
    migrated to this code's revision, with a message that says to run ``hellodoctor db upgrade``.
    """

    def __init__(
        self,
        database: str | URL | Engine,
        publisher: EventPublisher | None = None,
        *,
        check_schema: bool = True,
    ) -> None:
        owned = not isinstance(database, Engine)
        self.engine = database if isinstance(database, Engine) else create_engine(database)
        self.publisher = publisher
        if check_schema:
            try:
                require_current_schema(self.engine)
            except BaseException:
                if owned:
                    self.engine.dispose()
                raise

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.publisher)

    def dispose(self) -> None:
        """Close pooled connections (at shutdown, or in a child process after fork)."""
        self.engine.dispose()


def open_sql_storage(url: str, *, publisher: EventPublisher | None = None) -> SqlUnitOfWorkFactory:
    """Entry point for ``postgresql://`` and ``sqlite:///`` URLs (see ``registry``): refuses an
    un-migrated schema with ``SchemaNotMigrated``."""
    return SqlUnitOfWorkFactory(url, publisher)
