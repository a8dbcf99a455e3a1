"""Outbox entries on the wire, and the broker-less transport.

``encode``/``decode`` are the one message format (JSON: the entry's id, type, aggregate, when
and its payload) a broker carries. ``DirectTransport`` is the embedded default: with no broker
configured, the relay hands each entry straight to the consumer in the same process.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from hellodoctor_domain.ports.outbox import OutboxEntry

_log = logging.getLogger(__name__)

Handler = Callable[[OutboxEntry], None]


def encode(entry: OutboxEntry) -> bytes:
    return json.dumps(
        {
            "id": entry.id,
            "event_type": entry.event_type,
            "aggregate_type": entry.aggregate_type,
            "aggregate_id": entry.aggregate_id,
            "occurred_at": entry.occurred_at.isoformat(),
            "payload": dict(entry.payload),
        },
        separators=(",", ":"),
    ).encode()


def decode(body: bytes) -> OutboxEntry:
    found = json.loads(body)
    return OutboxEntry(
        id=found["id"],
        event_type=found["event_type"],
        aggregate_type=found["aggregate_type"],
        aggregate_id=found["aggregate_id"],
        occurred_at=datetime.fromisoformat(found["occurred_at"]),
        payload=found["payload"],
    )


class DirectTransport:
    """Hands each entry to ``handler`` in this process; an entry whose handler raises fails
    alone (the relay retries it), the others go on."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    def send(self, entries: Sequence[OutboxEntry]) -> Mapping[str, str]:
        failures: dict[str, str] = {}
        for entry in entries:
            try:
                self._handler(entry)
            except Exception as error:  # any failure is retried, then dead-lettered
                _log.warning("delivering %s %s failed", entry.event_type, entry.id, exc_info=True)
                failures[entry.id] = f"{type(error).__name__}: {error}"
        return failures
