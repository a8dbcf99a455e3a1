"""cattrs converters for what is stored as a JSON document: availability, emergency contacts
and the outbox's event payloads. Kept out of the domain, which knows nothing of JSON."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

import cattrs

from hellodoctor_domain.model.availability import Availability
from hellodoctor_domain.model.events import AppointmentEvent
from hellodoctor_domain.model.profiles import EmergencyContact
from hellodoctor_domain.model.values import (
    AppointmentId,
    DoctorId,
    PatientId,
    UserId,
    utc,
)

converter = cattrs.Converter()

for _identifier in (AppointmentId, DoctorId, PatientId, UserId):
    converter.register_unstructure_hook(_identifier, str)
    converter.register_structure_hook(_identifier, lambda value, cls: cls(value))

# datetime is a subclass of date: register it first-class so neither swallows the other.
converter.register_unstructure_hook(datetime, lambda value: utc(value).isoformat())
converter.register_structure_hook(datetime, lambda value, _: utc(datetime.fromisoformat(value)))
converter.register_unstructure_hook(date, date.isoformat)
converter.register_structure_hook(date, lambda value, _: date.fromisoformat(value))
converter.register_unstructure_hook(time, time.isoformat)
converter.register_structure_hook(time, lambda value, _: time.fromisoformat(value))
# Durations as whole microseconds: exact, and integers survive every JSON implementation.
converter.register_unstructure_hook(timedelta, lambda value: value // timedelta(microseconds=1))
converter.register_structure_hook(timedelta, lambda value, _: timedelta(microseconds=value))


def availability_document(availability: Availability) -> dict[str, Any]:
    document: dict[str, Any] = converter.unstructure(availability)
    document.pop("version")  # lives in its own column, where the compare-and-set checks it
    return document


def availability_from(document: dict[str, Any], version: int) -> Availability:
    return converter.structure({**document, "version": version}, Availability)


def contacts_document(contacts: tuple[EmergencyContact, ...]) -> list[dict[str, Any]]:
    return [converter.unstructure(contact) for contact in contacts]


def contacts_from(document: list[dict[str, Any]]) -> tuple[EmergencyContact, ...]:
    return tuple(converter.structure(item, EmergencyContact) for item in document)


def event_payload(event: AppointmentEvent) -> dict[str, Any]:
    payload: dict[str, Any] = converter.unstructure(event)
    return payload
