"""What every repository of aggregates does besides storing them: it remembers each aggregate
it takes in or hands out, so that the unit of work can collect their events at commit."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar

from hellodoctor_domain.model.events import DomainEvent


class RecordsEvents(Protocol):
    """An aggregate (``hellodoctor_domain.model.events.Aggregate``), as a repository sees it."""

    events: list[DomainEvent]


class Versioned(RecordsEvents, Protocol):
    version: int


A = TypeVar("A", bound=RecordsEvents)
V = TypeVar("V", bound=Versioned)
K = TypeVar("K")


class TrackingRepository(abc.ABC, Generic[A]):
    """``seen``: every aggregate this repository took in or handed out in its unit of work,
    in the order first seen, each once (aggregates compare by identity). Adapters call
    ``super().__init__()`` and return what their ``_`` methods read as fresh objects."""

    def __init__(self) -> None:
        self.seen: dict[A, None] = {}

    def _seen(self, aggregate: A) -> A:
        self.seen.setdefault(aggregate, None)
        return aggregate

    def _seen_if_any(self, aggregate: A | None) -> A | None:
        return None if aggregate is None else self._seen(aggregate)

    def _all_seen(self, aggregates: Iterable[A]) -> list[A]:
        return [self._seen(aggregate) for aggregate in aggregates]


class EntityRepository(TrackingRepository[V], Generic[V, K]):
    """Aggregates with an id and an optimistic-concurrency ``version``. Adapters implement
    ``_add``, ``_get`` and ``_update``; this class keeps the version of the caller's object
    in step with the stored one and tracks what passes through."""

    def add(self, aggregate: V) -> None:
        """Store a new aggregate; its version becomes 1. ``AlreadyExists`` for a known id."""
        self._add(aggregate)
        aggregate.version = 1
        self._seen(aggregate)

    def get(self, key: K) -> V:
        """The aggregate, or ``NotFound``."""
        return self._seen(self._get(key))

    def update(self, aggregate: V) -> None:
        """Write changes if ``aggregate.version`` is still current, then bump it;
        ``ConcurrencyError`` otherwise."""
        self._update(aggregate)
        aggregate.version += 1
        self._seen(aggregate)

    @abc.abstractmethod
    def _add(self, aggregate: V) -> None:
        """Store at version 1 (the base class sets the caller's object's version)."""

    @abc.abstractmethod
    def _get(self, key: K) -> V: ...

    @abc.abstractmethod
    def _update(self, aggregate: V) -> None:
        """Write if the stored version equals ``aggregate.version``; the stored version becomes
        ``aggregate.version + 1`` (the base class bumps the caller's object)."""
