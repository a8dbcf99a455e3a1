"""Rows <-> domain objects, mapped by hand so the domain stays free of SQLAlchemy, and the two
statement helpers every repository shares.

A version check is decided by the database, never by a read in Python: ``compare_and_set`` is
``UPDATE ... WHERE version = :read``, which the database performs atomically. What is stored as
a JSON document (availability, emergency contacts) goes through the adapters' one JSON
converter (``hellodoctor_adapters.outbox``), kept out of the domain, which knows nothing of JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from hellodoctor_adapters.crypto import FieldCipher
from hellodoctor_adapters.outbox import json_converter
from hellodoctor_adapters.phi import (
    ACCOUNTS,
    HEALTH_ID_INDEX,
    PATIENTS,
    desk_indexes,
    email_index,
    health_id_index,
    open_fields,
    seal_fields,
)
from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_domain.errors import ConcurrencyError, NotFound
from hellodoctor_domain.model.accounts import (
    Account,
    AccountStatus,
    OneTimeSecret,
    RefreshToken,
    SecretPurpose,
)
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus, Cancellation
from hellodoctor_domain.model.availability import Availability
from hellodoctor_domain.model.payments import (
    Collection,
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
from hellodoctor_domain.model.profiles import Doctor, EmergencyContact, Patient
from hellodoctor_domain.model.values import (
    AppointmentId,
    AppointmentType,
    DoctorId,
    EmailAddress,
    HospitalId,
    Money,
    PatientId,
    Role,
    SeriesId,
    TimeRange,
    UserId,
    VisitKind,
)
from hellodoctor_domain.model.walk_in import WalkInClaim

# -- statements every repository shares --------------------------------------------------------


def compare_and_set(
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


def first_row(connection: Connection, statement: sa.Select[Any]) -> RowMapping | None:
    with translated_errors():
        return connection.execute(statement).mappings().first()


# -- JSON documents ----------------------------------------------------------------------------


def availability_document(availability: Availability) -> dict[str, Any]:
    document: dict[str, Any] = json_converter.unstructure(availability)
    document.pop("version")  # lives in its own column, where the compare-and-set checks it
    return document


def availability_from(document: dict[str, Any], version: int) -> Availability:
    return json_converter.structure({**document, "version": version}, Availability)


def contacts_document(contacts: tuple[EmergencyContact, ...]) -> list[dict[str, Any]]:
    return [json_converter.unstructure(contact) for contact in contacts]


def contacts_from(document: list[dict[str, Any]]) -> tuple[EmergencyContact, ...]:
    return tuple(json_converter.structure(item, EmergencyContact) for item in document)


# -- scheduling --------------------------------------------------------------------------------


def doctor_row(doctor: Doctor) -> dict[str, Any]:
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


def language_rows(doctor: Doctor) -> list[dict[str, str]]:
    keys = sorted({language.casefold() for language in doctor.languages})
    return [{"doctor_id": doctor.id.value, "language_key": key} for key in keys]


def doctor_from(row: RowMapping) -> Doctor:
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


def patient_row(patient: Patient, cipher: FieldCipher) -> dict[str, Any]:
    """The row of ``patient``, its health data sealed (``phi.PATIENTS``) and its health ID's
    blind index beside it."""
    born = patient.date_of_birth
    plain = {
        "id": patient.id.value,
        "name": patient.name,
        "date_of_birth": None if born is None else born.isoformat(),
        "phone": patient.phone,
        "email": None if patient.email is None else patient.email.value,
        "health_id": patient.health_id,
        "emergency_contacts": contacts_document(patient.emergency_contacts),
        "allergies": list(patient.allergies),
        "blood_group": patient.blood_group,
        "language": patient.language,
        "time_zone": patient.time_zone,
    }
    row = seal_fields(cipher, PATIENTS, patient.id.value, plain)
    row["walk_in_claim"] = walk_in_claim_text(patient.walk_in_claim)
    row[HEALTH_ID_INDEX] = health_id_index(cipher, patient.health_id)
    row.update(desk_indexes(cipher, plain))
    return row


def patient_from(stored: RowMapping, cipher: FieldCipher) -> Patient:
    row = open_fields(cipher, PATIENTS, stored["id"], stored)
    born = row["date_of_birth"]
    return Patient(
        id=PatientId(row["id"]),
        name=row["name"],
        date_of_birth=date.fromisoformat(born) if isinstance(born, str) else born,
        phone=row["phone"],
        email=None if row["email"] is None else EmailAddress(row["email"]),
        health_id=row["health_id"],
        emergency_contacts=contacts_from(row["emergency_contacts"]),
        allergies=tuple(row["allergies"]),
        version=row["version"],
        blood_group=row["blood_group"],
        language=row["language"],
        time_zone=row["time_zone"],
        walk_in_claim=walk_in_claim_from(stored.get("walk_in_claim")),
    )


def walk_in_claim_text(claim: WalkInClaim | None) -> str | None:
    """A walk-in's claim code (its digest, never the code) as JSON, in ``0016_clinicday``'s
    column."""
    return None if claim is None else json.dumps(json_converter.unstructure(claim))


def walk_in_claim_from(text: str | None) -> WalkInClaim | None:
    return None if text is None else json_converter.structure(json.loads(text), WalkInClaim)


def appointment_row(appointment: Appointment) -> dict[str, Any]:
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
        "hospital_id": None if appointment.hospital_id is None else appointment.hospital_id.value,
        "arrived_at": appointment.arrived_at,
        "consultation_started_at": appointment.consultation_started_at,
        "completed_at": appointment.completed_at,
        "series_id": None if appointment.series_id is None else appointment.series_id.value,
    }


def appointment_from(row: RowMapping) -> Appointment:
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
        hospital_id=None if row["hospital_id"] is None else HospitalId(row["hospital_id"]),
        version=row["version"],
        arrived_at=row["arrived_at"],
        consultation_started_at=row["consultation_started_at"],
        completed_at=row["completed_at"],
        series_id=None if row["series_id"] is None else SeriesId(row["series_id"]),
    )


# -- identity ----------------------------------------------------------------------------------


def account_row(account: Account, cipher: FieldCipher) -> dict[str, Any]:
    """The row of ``account``: its e-mail address and two-factor secret sealed, its lookup
    key a blind index."""
    return {
        "id": account.id.value,
        "email": cipher.seal(ACCOUNTS.name, "email", account.id.value, account.email.value),
        "email_key": email_index(cipher, account.email.lookup_key),
        "role": account.role.value,
        "status": account.status.value,
        "created_at": account.created_at,
        "password_hash": account.password_hash,
        "patient_id": None if account.patient_id is None else account.patient_id.value,
        "doctor_id": None if account.doctor_id is None else account.doctor_id.value,
        "totp_secret": cipher.seal_optional(
            ACCOUNTS.name, "totp_secret", account.id.value, account.totp_secret
        ),
        "totp_enabled": account.totp_enabled,
        "totp_last_step": account.totp_last_step,
    }


def account_from(row: RowMapping, cipher: FieldCipher) -> Account:
    return Account(
        id=UserId(row["id"]),
        email=EmailAddress(cipher.open(ACCOUNTS.name, "email", row["id"], row["email"])),
        role=Role(row["role"]),
        status=AccountStatus(row["status"]),
        created_at=row["created_at"],
        password_hash=row["password_hash"],
        patient_id=None if row["patient_id"] is None else PatientId(row["patient_id"]),
        doctor_id=None if row["doctor_id"] is None else DoctorId(row["doctor_id"]),
        totp_secret=cipher.open_optional(
            ACCOUNTS.name, "totp_secret", row["id"], row["totp_secret"]
        ),
        totp_enabled=bool(row["totp_enabled"]),
        totp_last_step=row["totp_last_step"],
        version=row["version"],
    )


def secret_row(secret: OneTimeSecret) -> dict[str, Any]:
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


def secret_from(row: RowMapping) -> OneTimeSecret:
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


def token_row(token: RefreshToken) -> dict[str, Any]:
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


def token_from(row: RowMapping) -> RefreshToken:
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


# -- payments and the wallet ledger ------------------------------------------------------------


def payment_row(payment: Payment) -> dict[str, Any]:
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
        "collected_via": None if payment.collected_via is None else payment.collected_via.value,
        "collected_by": None if payment.collected_by is None else payment.collected_by.value,
    }


def refund_row(payment: Payment, position: int, refund: Refund) -> dict[str, Any]:
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


def payment_from(row: RowMapping, refund_rows: Sequence[RowMapping]) -> Payment:
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
        collected_via=None if row["collected_via"] is None else Collection(row["collected_via"]),
        collected_by=None if row["collected_by"] is None else UserId(row["collected_by"]),
    )


def entry_from(row: RowMapping) -> WalletEntry:
    return WalletEntry(
        row["reference"],
        PatientId(row["patient_id"]),
        WalletEntryKind(row["kind"]),
        Money(row["amount_minor_units"], row["currency"]),
        row["recorded_at"],
        None if row["payment_id"] is None else PaymentId(row["payment_id"]),
    )
