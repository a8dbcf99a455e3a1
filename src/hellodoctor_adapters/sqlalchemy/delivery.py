"""Outbox delivery and the inbox on PostgreSQL and SQLite (``ports/outbox.py``).

A claim is one short transaction: select due rows ``FOR UPDATE SKIP LOCKED`` (PostgreSQL: a
second relay skips the rows the first is claiming instead of waiting for them) and lease them.
SQLite has no row locks: its ``BEGIN IMMEDIATE`` transaction (``engine.py``) makes the whole
claim exclusive, so several relays are safe there too, one claim at a time.

The inbox is one row per (consumer, entry): ``begin`` is a single upsert that inserts the row or
takes over a lapsed lease of an unfinished one, so the database decides who handles an entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from attrs import asdict
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from hellodoctor_adapters.outbox import OutboxMessage
from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.schema import inbox, outbox
from hellodoctor_domain.model.events import DomainEvent
from hellodoctor_domain.ports.outbox import DeadLetter, Inbox, OutboxDelivery, OutboxEntry

# The inbox's consumer name under which scheduled entries' keys are kept.
SCHEDULER = "scheduled"


def _entry(row: Any) -> OutboxEntry:
    return OutboxEntry(
        id=str(row.id),
        event_type=row.event_type,
        aggregate_type=row.aggregate_type,
        aggregate_id=row.aggregate_id,
        occurred_at=row.occurred_at,
        payload=row.payload,
        attempts=row.attempts,
    )


def _ids(entry_ids: Sequence[str]) -> list[int]:
    return [int(entry_id) for entry_id in entry_ids if entry_id.isdigit()]


class SqlDelivery(OutboxDelivery):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, now: datetime, lease: timedelta, limit: int) -> Sequence[OutboxEntry]:
        due = (
            sa.select(outbox)
            .where(
                outbox.c.published_at.is_(None),
                outbox.c.dead_at.is_(None),
                sa.or_(outbox.c.leased_until.is_(None), outbox.c.leased_until <= now),
                sa.or_(outbox.c.retry_at.is_(None), outbox.c.retry_at <= now),
            )
            .order_by(outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        with translated_errors(), self._engine.begin() as connection:
            rows = connection.execute(due).all()
            if rows:
                connection.execute(
                    sa.update(outbox)
                    .where(outbox.c.id.in_([row.id for row in rows]))
                    .values(leased_until=now + lease)
                )
        return [_entry(row) for row in rows]

    def mark_sent(self, entry_ids: Sequence[str], now: datetime) -> None:
        if not entry_ids:
            return
        with translated_errors(), self._engine.begin() as connection:
            connection.execute(
                sa.update(outbox)
                .where(outbox.c.id.in_(_ids(entry_ids)))
                .values(published_at=now, leased_until=None)
            )

    def mark_failed(
        self, entry_id: str, now: datetime, error: str, retry_at: datetime | None
    ) -> None:
        with translated_errors(), self._engine.begin() as connection:
            connection.execute(
                sa.update(outbox)
                .where(outbox.c.id.in_(_ids([entry_id])))
                .values(
                    attempts=outbox.c.attempts + 1,
                    leased_until=None,
                    retry_at=retry_at,
                    dead_at=now if retry_at is None else None,
                    last_error=error[:2000],
                )
            )

    def dead_letters(self, limit: int) -> Sequence[DeadLetter]:
        query = (
            sa.select(outbox)
            .where(outbox.c.dead_at.is_not(None), outbox.c.published_at.is_(None))
            .order_by(outbox.c.dead_at, outbox.c.id)
            .limit(limit)
        )
        with translated_errors(), self._engine.connect() as connection:
            rows = connection.execute(query).all()
        return [DeadLetter(_entry(row), row.dead_at, row.last_error or "") for row in rows]

    def retry(self, entry_id: str, now: datetime) -> bool:
        with translated_errors(), self._engine.begin() as connection:
            changed = connection.execute(
                sa.update(outbox)
                .where(outbox.c.id.in_(_ids([entry_id])), outbox.c.dead_at.is_not(None))
                .values(attempts=0, dead_at=None, retry_at=now, leased_until=None)
            )
        return changed.rowcount == 1

    def schedule(self, event: DomainEvent, due_at: datetime, key: str) -> None:
        # The key is taken in the inbox (its primary key decides) in the same transaction as
        # the entry is stored, so a key stores one entry however often it is scheduled.
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        take = (
            dialect.insert(inbox)
            .values(consumer=SCHEDULER, entry_id=key, leased_until=due_at, finished_at=due_at)
            .on_conflict_do_nothing()
            .returning(inbox.c.entry_id)
        )
        with translated_errors(), self._engine.begin() as connection:
            if connection.execute(take).first() is not None:
                row = {**asdict(OutboxMessage.of(event)), "retry_at": due_at}
                connection.execute(sa.insert(outbox).values(row))

    def pending(self) -> int:
        query = (
            sa.select(sa.func.count())
            .select_from(outbox)
            .where(outbox.c.published_at.is_(None), outbox.c.dead_at.is_(None))
        )
        with translated_errors(), self._engine.connect() as connection:
            return int(connection.execute(query).scalar_one())


class SqlInbox(Inbox):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def begin(self, consumer: str, entry_id: str, now: datetime, lease: timedelta) -> bool:
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(inbox).values(
            consumer=consumer, entry_id=entry_id, leased_until=now + lease
        )
        upsert = insert.on_conflict_do_update(
            index_elements=[inbox.c.consumer, inbox.c.entry_id],
            set_={"leased_until": now + lease},
            where=sa.and_(inbox.c.finished_at.is_(None), inbox.c.leased_until <= now),
        ).returning(inbox.c.consumer)  # a row back only when inserted or taken over
        with translated_errors(), self._engine.begin() as connection:
            return connection.execute(upsert).first() is not None

    def finish(self, consumer: str, entry_id: str, now: datetime) -> None:
        with translated_errors(), self._engine.begin() as connection:
            connection.execute(
                sa.update(inbox)
                .where(inbox.c.consumer == consumer, inbox.c.entry_id == entry_id)
                .values(finished_at=now)
            )

    def forget(self, consumer: str, entry_id: str) -> None:
        with translated_errors(), self._engine.begin() as connection:
            connection.execute(
                sa.delete(inbox).where(
                    inbox.c.consumer == consumer,
                    inbox.c.entry_id == entry_id,
                    inbox.c.finished_at.is_(None),
                )
            )
