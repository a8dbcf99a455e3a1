"""Documents: how domain objects are stored in MongoDB. A cattrs converter for most of them;
hand-written mappers for payments and wallet entries, whose instants are all stored exactly, as
integer microseconds (``*_us``); the doctors' search keys; outbox records for events.

Precision is decided here, deliberately, because BSON dates hold milliseconds and Python
datetimes hold microseconds:

* A ``TimeRange`` is stored exactly, as integer microseconds since the epoch (``start_us``,
  ``end_us``), which is also what every overlap query and claim compares. A rounded bound
  could turn two ranges that overlap by a few microseconds into ranges that merely touch,
  and let a double booking through. Readable BSON dates (``start``, ``end``) sit beside the
  integers for people and tools; nothing reads them back.
* Every other instant the converter meets is a BSON date. It refuses a value finer than a
  millisecond instead of silently truncating it; the repositories normalise the bookkeeping
  instants the domain stamps from a clock (``created_at``, ``hold_expires_at``,
  ``cancellation.at``, event times) down to the millisecond *in the object the caller holds*,
  so what is read back equals what was written.
* Durations are integer microseconds, dates ISO strings (BSON has no date type), wall-clock
  times ISO strings, ids and e-mail addresses plain strings, enums their values, money its
  integer minor units and currency code.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

import attrs
import cattrs

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.appointment import Appointment
from hellodoctor_domain.model.documents import DocumentId
from hellodoctor_domain.model.events import DomainEvent
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
from hellodoctor_domain.model.profiles import Doctor
from hellodoctor_domain.model.values import (
    AppointmentId,
    DoctorId,
    EmailAddress,
    Money,
    PatientId,
    SeriesId,
    TimeRange,
    UserId,
)
from hellodoctor_domain.ports.search import words

T = TypeVar("T")
Document = dict[str, Any]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_micros(moment: datetime) -> int:
    """Exact microseconds since the epoch (what claims and range queries compare)."""
    return (moment - EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def floor_ms(moment: datetime) -> datetime:
    """The instant truncated to the millisecond a BSON date can hold."""
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


def _bson_date(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidValue(f"{moment.isoformat()} has no time zone; refusing to store it")
    moment = moment.astimezone(UTC)
    if moment.microsecond % 1000:
        raise InvalidValue(
            f"{moment.isoformat()} is finer than the millisecond a BSON date holds; "
            "normalise it before storing"
        )
    return moment


def _aware(value: Any, _type: object) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidValue(f"expected a date, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time_range_to_doc(value: TimeRange) -> dict[str, Any]:
    return {
        "start": floor_ms(value.start),
        "end": floor_ms(value.end),
        "start_us": to_micros(value.start),
        "end_us": to_micros(value.end),
    }


def _time_range_from_doc(value: dict[str, Any], _type: object) -> TimeRange:
    return TimeRange(from_micros(value["start_us"]), from_micros(value["end_us"]))


def make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    # cattrs passes str-based enums through as they are; store their plain values.
    converter.register_unstructure_hook_func(
        lambda kind: isinstance(kind, type) and issubclass(kind, enum.Enum),
        lambda value: value.value,
    )
    converter.register_unstructure_hook(datetime, _bson_date)
    converter.register_structure_hook(datetime, _aware)
    converter.register_unstructure_hook(date, date.isoformat)
    converter.register_structure_hook(date, lambda value, _: date.fromisoformat(value))
    converter.register_unstructure_hook(time, time.isoformat)
    converter.register_structure_hook(time, lambda value, _: time.fromisoformat(value))
    converter.register_unstructure_hook(timedelta, lambda value: value // _MICROSECOND)
    converter.register_structure_hook(timedelta, lambda value, _: timedelta(microseconds=value))
    converter.register_unstructure_hook(TimeRange, _time_range_to_doc)
    converter.register_structure_hook(TimeRange, _time_range_from_doc)
    for identifier in (
        DoctorId,
        PatientId,
        AppointmentId,
        UserId,
        PaymentId,
        DocumentId,
        EmailAddress,
        SeriesId,
    ):
        converter.register_unstructure_hook(identifier, lambda value: value.value)
        converter.register_structure_hook(identifier, lambda value, kind: kind(value))
    return converter


CONVERTER = make_converter()


def to_document(value: object, id_field: str = "id") -> dict[str, Any]:
    """The value as a document, its identity moved to ``_id``."""
    document: dict[str, Any] = CONVERTER.unstructure(value)
    document["_id"] = document.pop(id_field)
    return document


def from_document(document: dict[str, Any], kind: type[T], id_field: str = "id") -> T:
    fields = {name: value for name, value in document.items() if name != "_id" and name[0] != "_"}
    fields[id_field] = document["_id"]
    return CONVERTER.structure(fields, kind)


def appointment_to_document(appointment: Appointment) -> dict[str, Any]:
    document = to_document(appointment)
    # The doctor's end of the blocked range, exact, for the calendar query.
    document["blocked_end_us"] = to_micros(appointment.blocked.end)
    return document


def appointment_from_document(document: dict[str, Any]) -> Appointment:
    fields = {key: value for key, value in document.items() if key != "blocked_end_us"}
    return from_document(fields, Appointment)


def normalise_instants(appointment: Appointment) -> None:
    """Truncate the clock-stamped instants of ``appointment`` to milliseconds, in place."""
    appointment.created_at = floor_ms(appointment.created_at)
    if appointment.hold_expires_at is not None:
        appointment.hold_expires_at = floor_ms(appointment.hold_expires_at)
    for stamp in ("arrived_at", "consultation_started_at", "completed_at"):  # issue 17
        moment = getattr(appointment, stamp)
        if moment is not None:
            setattr(appointment, stamp, floor_ms(moment))
    if appointment.cancellation is not None:
        appointment.cancellation = attrs.evolve(
            appointment.cancellation, at=floor_ms(appointment.cancellation.at)
        )


def floor_instants(value: Any) -> None:
    """Truncate every instant field of an attrs object to milliseconds, in place (accounts,
    secrets, tokens: what the caller holds then equals what is read back)."""
    for attribute in attrs.fields(type(value)):
        moment = getattr(value, attribute.name)
        if isinstance(moment, datetime):
            setattr(value, attribute.name, floor_ms(moment))


def event_to_document(event: DomainEvent, event_id: str) -> dict[str, Any]:
    """An outbox record: the event's type, its aggregate, and its facts (one converter for
    every event type), its instants at millisecond precision."""
    instants: dict[str, Any] = {
        field.name: floor_ms(getattr(event, field.name))
        for field in attrs.fields(type(event))
        if isinstance(getattr(event, field.name), datetime)
    }
    floored = attrs.evolve(event, **instants)
    document: dict[str, Any] = CONVERTER.unstructure(floored)
    document["_id"] = event_id
    document["type"] = type(event).__name__
    document["aggregate_type"] = event.aggregate_type
    document["aggregate_id"] = event.aggregate_id
    return document


def search_keys(doctor: Doctor) -> Document:
    """Case-folded copies the search filters compare (``str.casefold``, like the reference;
    a case-insensitive regex or collation folds differently)."""
    return {
        "name": doctor.name.casefold(),
        "specialty": doctor.specialty.casefold(),
        "languages": sorted({language.casefold() for language in doctor.languages}),
        # The free text's words (mongodb/search.py): each asked word is a prefix of one.
        "words": sorted(
            set(words(" ".join((doctor.name, doctor.specialty, *doctor.qualifications))))
        ),
    }


# -- payments and wallets ----------------------------------------------------------------------
#
# Instants of payments and wallet entries are stored exactly, as integer microseconds (``*_us``),
# so what is read back equals what was written without touching the caller's objects.


def _refund_document(refund: Refund) -> Document:
    return {
        "key": refund.key,
        "reason": refund.reason.value,
        "card": refund.card.minor_units,
        "wallet": refund.wallet.minor_units,
        "recorded_us": to_micros(refund.recorded_at),
        "provider_reference": refund.provider_reference,
    }


def payment_document(payment: Payment) -> Document:
    document: Document = {
        "_id": payment.id.value,
        "purpose": payment.purpose.value,
        "patient_id": payment.patient_id.value,
        "method": payment.method.value,
        "currency": payment.amount.currency,
        "amount": payment.amount.minor_units,
        "wallet_part": payment.wallet_part.minor_units,
        "status": payment.status.value,
        "created_us": to_micros(payment.created_at),
        "updated_us": to_micros(payment.updated_at),
        "created_at": floor_ms(payment.created_at),  # readable; nothing reads it back
        "provider_reference": payment.provider_reference,
        "succeeded_us": None if payment.succeeded_at is None else to_micros(payment.succeeded_at),
        "failure": payment.failure,
        "refunds": [_refund_document(refund) for refund in payment.refunds],
        "version": payment.version,
        "collected_via": None if payment.collected_via is None else payment.collected_via.value,
        "collected_by": None if payment.collected_by is None else payment.collected_by.value,
        # Derived, for the refund worker's index.
        "_unsettled": bool(payment.unsettled_refunds),
    }
    if payment.appointment_id is not None:
        # Absent for top-ups: the unique index on it is sparse.
        document["appointment_id"] = payment.appointment_id.value
    return document


def payment_from_document(document: Document) -> Payment:
    currency = document["currency"]
    succeeded = document["succeeded_us"]
    return Payment(
        id=PaymentId(document["_id"]),
        purpose=PaymentPurpose(document["purpose"]),
        patient_id=PatientId(document["patient_id"]),
        appointment_id=(
            AppointmentId(document["appointment_id"]) if "appointment_id" in document else None
        ),
        method=PaymentMethod(document["method"]),
        amount=Money(document["amount"], currency),
        wallet_part=Money(document["wallet_part"], currency),
        status=PaymentStatus(document["status"]),
        created_at=from_micros(document["created_us"]),
        updated_at=from_micros(document["updated_us"]),
        provider_reference=document["provider_reference"],
        succeeded_at=None if succeeded is None else from_micros(succeeded),
        failure=document["failure"],
        refunds=tuple(
            Refund(
                key=r["key"],
                reason=RefundReason(r["reason"]),
                card=Money(r["card"], currency),
                wallet=Money(r["wallet"], currency),
                recorded_at=from_micros(r["recorded_us"]),
                provider_reference=r["provider_reference"],
            )
            for r in document["refunds"]
        ),
        version=document["version"],
        # Absent from payments stored before the front desk (issue 17).
        collected_via=None
        if document.get("collected_via") is None
        else Collection(document["collected_via"]),
        collected_by=None
        if document.get("collected_by") is None
        else UserId(document["collected_by"]),
    )


LIVE_PAYMENT = {"_void": {"$exists": False}}


def wallet_key(patient_id: PatientId, currency: str) -> Document:
    return {"p": patient_id.value, "c": currency}


def entry_document(entry: WalletEntry) -> Document:
    return {
        "reference": entry.reference,
        "kind": entry.kind.value,
        "amount": entry.amount.minor_units,
        "recorded_us": to_micros(entry.recorded_at),
        "payment_id": None if entry.payment_id is None else entry.payment_id.value,
    }


def entry_from_document(wallet: Document, entry: Document) -> WalletEntry:
    return WalletEntry(
        entry["reference"],
        PatientId(wallet["_id"]["p"]),
        WalletEntryKind(entry["kind"]),
        Money(entry["amount"], wallet["_id"]["c"]),
        from_micros(entry["recorded_us"]),
        None if entry["payment_id"] is None else PaymentId(entry["payment_id"]),
    )
