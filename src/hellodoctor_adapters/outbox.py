"""The outbox record of a domain event, as the storages that keep JSON write it (memory, SQL):
the event's type name, the aggregate it is about, when it happened, and its facts as a JSON-ready
payload.

``json_converter`` is the one cattrs converter that serialises every event type (an event's facts
are its attrs fields) and whatever else an adapter stores as JSON: ids and e-mail addresses as
strings, instants as ISO 8601 in UTC, durations as whole microseconds, enums as their values.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import cattrs
from attrs import define

from hellodoctor_domain.model.documents import DocumentId
from hellodoctor_domain.model.events import DomainEvent
from hellodoctor_domain.model.payments import PaymentId
from hellodoctor_domain.model.values import (
    AppointmentId,
    DoctorId,
    EmailAddress,
    PatientId,
    UserId,
    utc,
)

json_converter = cattrs.Converter()

for _text in (AppointmentId, DoctorId, PatientId, UserId, PaymentId, DocumentId, EmailAddress):
    json_converter.register_unstructure_hook(_text, str)
    json_converter.register_structure_hook(_text, lambda value, cls: cls(value))

# datetime is a subclass of date: register it first-class so neither swallows the other.
json_converter.register_unstructure_hook(datetime, lambda value: utc(value).isoformat())
json_converter.register_structure_hook(
    datetime, lambda value, _: utc(datetime.fromisoformat(value))
)
json_converter.register_unstructure_hook(date, date.isoformat)
json_converter.register_structure_hook(date, lambda value, _: date.fromisoformat(value))
json_converter.register_unstructure_hook(time, time.isoformat)
json_converter.register_structure_hook(time, lambda value, _: time.fromisoformat(value))
# Durations as whole microseconds: exact, and integers survive every JSON implementation.
json_converter.register_unstructure_hook(
    timedelta, lambda value: value // timedelta(microseconds=1)
)
json_converter.register_structure_hook(timedelta, lambda value, _: timedelta(microseconds=value))


@define(frozen=True)
class OutboxMessage:
    event_type: str  # the event's class name, e.g. "PaymentSucceeded"
    aggregate_type: str  # e.g. "appointment", "payment"
    aggregate_id: str
    occurred_at: datetime
    payload: dict[str, Any]  # the event's fields, JSON-ready

    @classmethod
    def of(cls, event: DomainEvent) -> OutboxMessage:
        payload: dict[str, Any] = json_converter.unstructure(event)
        return cls(
            event_type=type(event).__name__,
            aggregate_type=event.aggregate_type,
            aggregate_id=event.aggregate_id,
            occurred_at=utc(event.occurred_at),
            payload=payload,
        )


def event_class(event_type: str) -> type[DomainEvent]:
    """The event class an outbox record names (``event_type``, the class name)."""
    # Imported so every event family is registered as a subclass before the walk.
    import hellodoctor_domain.model.accounts
    import hellodoctor_domain.model.emergency
    import hellodoctor_domain.model.payments  # noqa: F401

    waiting: list[type[DomainEvent]] = [DomainEvent]
    while waiting:
        kind = waiting.pop()
        if kind.__name__ == event_type:
            return kind
        waiting.extend(kind.__subclasses__())
    raise KeyError(f"no domain event named {event_type!r}")


def event_of(event_type: str, payload: dict[str, Any]) -> DomainEvent:
    """The event back from its outbox record."""
    return json_converter.structure(payload, event_class(event_type))
