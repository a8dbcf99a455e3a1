"""Retention on PostgreSQL and SQLite (``ports/retention.py``): each purge is one transaction
that selects at most ``limit`` ids by the kind's moment (an index-ordered, bounded SELECT) and
deletes those rows whose moment still qualifies. Lapsed holds and unverified accounts:
``sqlalchemy/retention_records.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hellodoctor_adapters.sqlalchemy import retention_records as records
from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.schema import outbox
from hellodoctor_domain.model.retention import RetentionKind
from hellodoctor_domain.ports.retention import RetentionStore


def _older(kind: RetentionKind, before: datetime) -> Any:
    if kind is RetentionKind.DELIVERED_EVENTS:
        return sa.and_(outbox.c.published_at.is_not(None), outbox.c.published_at < before)
    return sa.and_(
        outbox.c.published_at.is_(None), outbox.c.dead_at.is_not(None), outbox.c.dead_at < before
    )


_RECORDS = {
    RetentionKind.LAPSED_HOLDS: (records.count_holds, records.purge_holds),
    RetentionKind.UNVERIFIED_ACCOUNTS: (records.count_accounts, records.purge_accounts),
}


class SqlRetention(RetentionStore):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def count(self, kind: RetentionKind, before: datetime) -> int:
        if kind in _RECORDS:
            with translated_errors(), self._engine.connect() as connection:
                return _RECORDS[kind][0](connection, before)
        query = sa.select(sa.func.count()).select_from(outbox).where(_older(kind, before))
        with translated_errors(), self._engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def purge(self, kind: RetentionKind, before: datetime, limit: int) -> int:
        if kind in _RECORDS:
            with translated_errors(), self._engine.begin() as connection:
                return _RECORDS[kind][1](connection, before, limit)
        chosen = sa.select(outbox.c.id).where(_older(kind, before)).order_by(outbox.c.id)
        with translated_errors(), self._engine.begin() as connection:
            ids = list(connection.execute(chosen.limit(limit)).scalars())
            if not ids:
                return 0
            # The condition again: a relay's retry between the SELECT and here keeps its entry.
            deleted = connection.execute(
                sa.delete(outbox).where(outbox.c.id.in_(ids), _older(kind, before))
            ).rowcount
        return int(deleted)
