"""Retention on the in-memory reference storage (``ports/retention.py``). Outbox entry ids
are positions in ``InMemoryStore.outbox``, so a purged entry keeps its place and is marked
``purged`` in its delivery state: no relay, dead-letter list or count sees it again. Lapsed
holds and unverified accounts: ``memory/retention_records.py``."""

from __future__ import annotations

from datetime import datetime

from attrs import evolve

from hellodoctor_adapters.memory.delivery import _State
from hellodoctor_adapters.memory.retention_records import MemoryRecordRetention
from hellodoctor_adapters.memory.store import InMemoryStore
from hellodoctor_domain.model.retention import RetentionKind
from hellodoctor_domain.ports.retention import RetentionStore


def _older(kind: RetentionKind, state: _State, before: datetime) -> bool:
    if state.purged:
        return False
    if kind is RetentionKind.DELIVERED_EVENTS:
        return state.sent_at is not None and state.sent_at < before
    return state.sent_at is None and state.dead_at is not None and state.dead_at < before


class MemoryRetention(RetentionStore):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._records = MemoryRecordRetention(store)

    def _states(self) -> list[tuple[int, _State]]:
        return [
            (position, state)
            for position, state in self._store.deliveries.items()
            if isinstance(position, int) and isinstance(state, _State)
        ]

    def count(self, kind: RetentionKind, before: datetime) -> int:
        if kind is RetentionKind.LAPSED_HOLDS:
            return self._records.count_holds(before)
        if kind is RetentionKind.UNVERIFIED_ACCOUNTS:
            return self._records.count_accounts(before)
        with self._store.lock:
            return sum(1 for _, state in self._states() if _older(kind, state, before))

    def purge(self, kind: RetentionKind, before: datetime, limit: int) -> int:
        if kind is RetentionKind.LAPSED_HOLDS:
            return self._records.purge_holds(before, limit)
        if kind is RetentionKind.UNVERIFIED_ACCOUNTS:
            return self._records.purge_accounts(before, limit)
        with self._store.lock:
            chosen = sorted(p for p, state in self._states() if _older(kind, state, before))
            for position in chosen[:limit]:
                self._store.deliveries[position] = evolve(
                    self._store.deliveries[position], purged=True
                )
            return len(chosen[:limit])
