"""A waitlist entry as a JSON document (every field, instants exact as ISO text): what the
SQL ``record`` column and the MongoDB ``record`` field hold beside their query keys."""

from __future__ import annotations

from typing import Any

from hellodoctor_adapters.outbox import json_converter
from hellodoctor_domain.model.waitlist import WaitlistEntry


def entry_record(entry: WaitlistEntry) -> dict[str, Any]:
    document: dict[str, Any] = json_converter.unstructure(entry)
    document.pop("version", None)  # lives beside, where the compare-and-set checks it
    document.pop("events", None)
    return document


def entry_from(record: dict[str, Any], version: int) -> WaitlistEntry:
    return json_converter.structure({**record, "version": version}, WaitlistEntry)
