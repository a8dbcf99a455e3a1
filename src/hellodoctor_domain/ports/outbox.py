"""Delivery of the outbox: what a relay claims, and the inbox that makes a consumer idempotent.

Every unit of work writes its events to the storage's outbox in its own transaction (see
``ports/unit_of_work.py``). ``OutboxDelivery`` is how they leave: a relay ``claim`` s a batch
(each claimed entry is leased to it until ``lease`` runs out, so a relay that dies mid-batch
loses nothing: the entries come back when the lease lapses), hands them on, then marks each
``sent`` or ``failed`` (retried at ``retry_at``, or dead-lettered when ``retry_at`` is None).
Any number of relays may claim at once: a claim is atomic in the database (``FOR UPDATE SKIP
LOCKED``, a conditional single-document update, ...), so two relays never hold one entry.

Delivery is at least once (a relay can die between handing an entry on and marking it): the
consumer's ``Inbox`` (unique per consumer and entry id) turns that into one effect.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from attrs import define

from hellodoctor_domain.model.events import DomainEvent


@define(frozen=True)
class OutboxEntry:
    """One stored event: ``id`` is unique in its storage and stable across deliveries (the
    consumer's idempotency key), ``payload`` its JSON-ready facts."""

    id: str
    event_type: str
    aggregate_type: str
    aggregate_id: str
    occurred_at: datetime
    payload: Mapping[str, Any]
    attempts: int = 0  # failed deliveries so far


@define(frozen=True)
class DeadLetter:
    entry: OutboxEntry
    failed_at: datetime
    error: str


class OutboxDelivery(abc.ABC):
    """The delivery state of a storage's outbox (one per storage family)."""

    @abc.abstractmethod
    def claim(self, now: datetime, lease: timedelta, limit: int) -> Sequence[OutboxEntry]:
        """Up to ``limit`` entries neither sent nor dead, due (``retry_at`` passed) and not
        leased to another relay, oldest first; leases them until ``now + lease``."""

    @abc.abstractmethod
    def mark_sent(self, entry_ids: Sequence[str], now: datetime) -> None:
        """Delivered: never claimed again."""

    @abc.abstractmethod
    def mark_failed(
        self, entry_id: str, now: datetime, error: str, retry_at: datetime | None
    ) -> None:
        """One more failed attempt: claimable again from ``retry_at``, or dead when None."""

    @abc.abstractmethod
    def dead_letters(self, limit: int) -> Sequence[DeadLetter]:
        """Dead entries, oldest failure first."""

    @abc.abstractmethod
    def retry(self, entry_id: str, now: datetime) -> bool:
        """A dead entry back to pending with its attempts reset; False if it is not dead."""

    @abc.abstractmethod
    def schedule(self, event: DomainEvent, due_at: datetime, key: str) -> None:
        """Store ``event`` as an entry first due at ``due_at`` (a reminder). ``key`` names it:
        scheduling the same key again stores nothing more."""

    @abc.abstractmethod
    def pending(self) -> int:
        """How many entries are neither sent nor dead (for metrics and tests)."""


class Inbox(abc.ABC):
    """What a consumer has handled, so a redelivered entry has one effect.

    ``begin`` takes (consumer, entry id) atomically for ``lease``; ``finish`` records the
    effect done for good; ``forget`` gives it back after a failure. A consumer that dies
    between ``begin`` and ``finish`` leaves a lease that lapses, so the entry is handled again
    by a redelivery: a crash can repeat an effect it cut short, never lose one.
    """

    @abc.abstractmethod
    def begin(self, consumer: str, entry_id: str, now: datetime, lease: timedelta) -> bool:
        """True if this caller may handle the entry now: never finished, and not begun by
        another within its lease."""

    @abc.abstractmethod
    def finish(self, consumer: str, entry_id: str, now: datetime) -> None:
        """The effect is done: ``begin`` answers False for ever after."""

    @abc.abstractmethod
    def forget(self, consumer: str, entry_id: str) -> None:
        """The effect failed: the next ``begin`` may take it at once."""


class Transport(Protocol):
    """Where a relay hands entries on: a message broker, or straight to the consumer."""

    def send(self, entries: Sequence[OutboxEntry]) -> Mapping[str, str]:
        """Hand ``entries`` on, in order; returns the ids of those that failed, with why.
        Raises a ``PortError`` when none could be (the broker is unreachable)."""
