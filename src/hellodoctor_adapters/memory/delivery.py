"""The in-memory outbox delivery and inbox: the reference for ``ports/outbox.py``.

An entry's id is its position in ``InMemoryStore.outbox`` (append-only); its delivery state
lives beside it in ``InMemoryStore.deliveries``. Everything happens under the store's lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from attrs import define, evolve

from hellodoctor_adapters.memory.store import InMemoryStore
from hellodoctor_adapters.outbox import OutboxMessage
from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.events import DomainEvent
from hellodoctor_domain.ports.outbox import DeadLetter, Inbox, OutboxDelivery, OutboxEntry


@define(frozen=True)
class _State:
    attempts: int = 0
    leased_until: datetime | None = None
    retry_at: datetime | None = None
    sent_at: datetime | None = None
    dead_at: datetime | None = None
    error: str = ""
    # Deleted by retention (memory/retention.py): the position stays, as ids are positions.
    purged: bool = False


@define(frozen=True)
class _Handling:
    leased_until: datetime
    finished: bool = False


def _entry(position: int, message: OutboxMessage, attempts: int) -> OutboxEntry:
    return OutboxEntry(
        id=str(position),
        event_type=message.event_type,
        aggregate_type=message.aggregate_type,
        aggregate_id=message.aggregate_id,
        occurred_at=message.occurred_at,
        payload=message.payload,
        attempts=attempts,
    )


class MemoryDelivery(OutboxDelivery):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    def _state(self, position: int) -> _State:
        found = self._store.deliveries.get(position)
        return found if isinstance(found, _State) else _State()

    def _position(self, entry_id: str) -> int:
        position = int(entry_id)
        if not 0 <= position < len(self._store.outbox):
            raise NotFound(f"no outbox entry {entry_id}")
        return position

    def claim(self, now: datetime, lease: timedelta, limit: int) -> Sequence[OutboxEntry]:
        claimed: list[OutboxEntry] = []
        with self._store.lock:
            for position, message in enumerate(self._store.outbox):
                if len(claimed) >= limit:
                    break
                state = self._state(position)
                if state.sent_at or state.dead_at:
                    continue
                if state.leased_until and state.leased_until > now:
                    continue
                if state.retry_at and state.retry_at > now:
                    continue
                self._store.deliveries[position] = evolve(state, leased_until=now + lease)
                claimed.append(_entry(position, message, state.attempts))
        return claimed

    def mark_sent(self, entry_ids: Sequence[str], now: datetime) -> None:
        with self._store.lock:
            for entry_id in entry_ids:
                position = self._position(entry_id)
                state = self._state(position)
                self._store.deliveries[position] = evolve(state, sent_at=now, leased_until=None)

    def mark_failed(
        self, entry_id: str, now: datetime, error: str, retry_at: datetime | None
    ) -> None:
        with self._store.lock:
            position = self._position(entry_id)
            state = self._state(position)
            self._store.deliveries[position] = evolve(
                state,
                attempts=state.attempts + 1,
                leased_until=None,
                retry_at=retry_at,
                dead_at=now if retry_at is None else None,
                error=error,
            )

    def dead_letters(self, limit: int) -> Sequence[DeadLetter]:
        with self._store.lock:
            dead = [
                DeadLetter(_entry(position, message, state.attempts), state.dead_at, state.error)
                for position, message in enumerate(self._store.outbox)
                if (state := self._state(position)).dead_at is not None and not state.purged
            ]
        return sorted(dead, key=lambda letter: letter.failed_at)[:limit]

    def retry(self, entry_id: str, now: datetime) -> bool:
        with self._store.lock:
            try:
                position = self._position(entry_id)
            except (NotFound, ValueError):
                return False
            if self._state(position).dead_at is None or self._state(position).purged:
                return False
            self._store.deliveries[position] = _State(retry_at=now)
            return True

    def schedule(self, event: DomainEvent, due_at: datetime, key: str) -> None:
        with self._store.lock:
            if ("scheduled", key) in self._store.inbox:
                return
            self._store.inbox[("scheduled", key)] = len(self._store.outbox)
            self._store.deliveries[len(self._store.outbox)] = _State(retry_at=due_at)
            self._store.outbox.append(OutboxMessage.of(event))

    def pending(self) -> int:
        with self._store.lock:
            return sum(
                1
                for position in range(len(self._store.outbox))
                if not (self._state(position).sent_at or self._state(position).dead_at)
            )


class MemoryInbox(Inbox):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    def begin(self, consumer: str, entry_id: str, now: datetime, lease: timedelta) -> bool:
        with self._store.lock:
            found = self._store.inbox.get((consumer, entry_id))
            if isinstance(found, _Handling) and (found.finished or found.leased_until > now):
                return False
            self._store.inbox[(consumer, entry_id)] = _Handling(now + lease)
            return True

    def finish(self, consumer: str, entry_id: str, now: datetime) -> None:
        with self._store.lock:
            self._store.inbox[(consumer, entry_id)] = _Handling(now, finished=True)

    def forget(self, consumer: str, entry_id: str) -> None:
        with self._store.lock:
            found = self._store.inbox.get((consumer, entry_id))
            if isinstance(found, _Handling) and not found.finished:
                del self._store.inbox[(consumer, entry_id)]
