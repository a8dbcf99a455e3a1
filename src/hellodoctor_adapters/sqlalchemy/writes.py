"""Inserts a unit of work holds back so that a booking reaches PostgreSQL as one statement.

``appointments.add`` and ``idempotency.add`` queue their rows here instead of executing them.
The rows go out at the latest with the commit -- on PostgreSQL one data-modifying CTE holding
the appointments (inserted in their doctors' turn, below), the idempotency records and the
outbox rows of the events -- or earlier, just before any other statement runs on the same
connection (an engine ``before_execute`` hook), so that the unit of work's later reads see
them and a later row referring to a queued appointment finds it. The port allows a refusal to
surface at commit (``AppointmentRepository``); the statement is atomic, so a refused insert
leaves nothing: no appointment, no idempotency record, no outbox row.

Statements are built once per shape (how many rows of each kind) and kept as SQL text, so a
booking costs no SQLAlchemy statement building or compilation; psycopg prepares a statement
on the server after its fifth use on a connection (``prepare_threshold``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, Engine

from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.schema import appointments, idempotency_keys, outbox
from hellodoctor_domain.errors import ConcurrencyError, SlotUnavailable

# Where a unit of work leaves its queue for the hook (the pooled connection's ``info``).
PENDING = "hellodoctor.pending_inserts"

# The advisory locks of a doctor's bookings: (this class, hashtext(doctor id)). Two-key locks
# never meet the one-key audit chain lock.
DOCTOR_BOOKING_LOCKS = 17

Row = dict[str, Any]


class PendingInserts:
    """The appointments and idempotency records added in a unit of work and not yet sent."""

    def __init__(self) -> None:
        self.appointments: list[Row] = []
        self.idempotency: list[Row] = []

    def __bool__(self) -> bool:
        return bool(self.appointments or self.idempotency)

    def clear(self) -> None:
        self.appointments, self.idempotency = [], []


def flush(connection: Connection, pending: PendingInserts, outbox_rows: Sequence[Row] = ()) -> None:
    """Send what is queued, with ``outbox_rows``: one statement on PostgreSQL."""
    booked, kept = pending.appointments, pending.idempotency
    pending.clear()  # first: the statements below pass through the hook too
    if not (booked or kept or outbox_rows):
        return
    try:
        with translated_errors():
            if connection.dialect.name == "postgresql":
                sql, parameters = _postgres(connection.dialect, booked, kept, outbox_rows)
                connection.exec_driver_sql(sql, parameters)
            else:  # SQLite: in process, under BEGIN IMMEDIATE; parents before children
                for table, rows in (
                    (appointments, booked),
                    (idempotency_keys, kept),
                    (outbox, outbox_rows),
                ):
                    if rows:
                        connection.execute(sa.insert(table), list(rows))
    except ConcurrencyError as error:
        if not booked:
            raise
        # An insert has no version to be stale. Two overlapping inserts in flight can each
        # wait on the other inside the exclusion constraint; the server aborts one (40P01),
        # which thereby lost the race. The doctor's turn makes that rare: it remains for a
        # patient's two bookings with two doctors at once, whose turns do not meet.
        raise SlotUnavailable(
            "another booking for that time was being written at the same moment"
        ) from error


def install(engine: Engine) -> None:
    """Have every statement on ``engine`` first send what its unit of work queued."""
    if not event.contains(engine, "before_execute", _send_pending_first):
        event.listen(engine, "before_execute", _send_pending_first)


def _send_pending_first(connection: Connection, *_: object) -> None:
    pending = connection.info.get(PENDING)
    if pending:
        flush(connection, pending)


# -- PostgreSQL: one statement ----------------------------------------------------------------

_Processor = Callable[[Any], Any] | None
_Shape = tuple[tuple[str, ...], int, int, int]
_statements: dict[_Shape, str] = {}
_columns: dict[tuple[str, str, str], tuple[str, _Processor]] = {}
_OUTBOX_COLUMNS = ("event_type", "aggregate_type", "aggregate_id", "occurred_at", "payload")
_IDEMPOTENCY_COLUMNS = ("scope", "key", "fingerprint", "appointment_id", "created_at")
_CACHED_ROWS = 16  # shapes up to this many rows of a kind are kept (a booking has 1-3)


def _column(dialect: Dialect, table: sa.Table, name: str) -> tuple[str, _Processor]:
    """The column's SQL type (for casts) and its bind processor (SQLAlchemy's own)."""
    found = _columns.get((dialect.name, table.name, name))
    if found is None:
        column_type = table.c[name].type
        found = (
            column_type.compile(dialect=dialect),
            column_type.dialect_impl(dialect).bind_processor(dialect),
        )
        _columns[(dialect.name, table.name, name)] = found
    return found


def _values(
    dialect: Dialect, table: sa.Table, names: Sequence[str], rows: Sequence[Row], into: list[Any]
) -> str:
    """``(%s::type, ...), ...`` for ``rows``, their processed values appended to ``into``."""
    typed = [_column(dialect, table, name) for name in names]
    one = "(" + ", ".join(f"%s::{sql_type}" for sql_type, _ in typed) + ")"
    for row in rows:
        for name, (_, process) in zip(names, typed, strict=True):
            value = row[name]
            into.append(process(value) if process is not None and value is not None else value)
    return ", ".join([one] * len(rows))


def _postgres(
    dialect: Dialect, booked: Sequence[Row], kept: Sequence[Row], events: Sequence[Row]
) -> tuple[str, tuple[Any, ...]]:
    names = tuple(booked[0]) if booked else ()
    shape = (names, len(booked), len(kept), len(events))
    parameters: list[Any] = []
    parts: list[str] = []
    after = ""  # once the appointments are in: every write under the doctors' turns
    if booked:
        # The doctors' turns first, in a fixed order, then the rows: see _DOCTOR_TURN.
        parameters.append(sorted({row["doctor_id"] for row in booked}))
        rows = _values(dialect, appointments, names, booked, parameters)
        parts += [
            f"turn AS (SELECT pg_advisory_xact_lock({DOCTOR_BOOKING_LOCKS}, hashtext(doctor)) "
            "FROM unnest(%s::text[]) AS doctor)",
            f"booked AS (INSERT INTO appointments ({', '.join(names)}) "
            f"SELECT v.* FROM (VALUES {rows}) AS v, (SELECT count(*) FROM turn) AS t "
            "RETURNING 1)",
        ]
        after = ", (SELECT count(*) FROM booked) AS b"
    for name, table, columns, given in (
        ("kept", idempotency_keys, _IDEMPOTENCY_COLUMNS, kept),
        ("sent", outbox, _OUTBOX_COLUMNS, events),
    ):
        if given:
            rows = _values(dialect, table, columns, given, parameters)
            parts.append(
                f"{name} AS (INSERT INTO {table.name} ({', '.join(columns)}) "
                f"SELECT v.* FROM (VALUES {rows}) AS v{after})"
            )
    sql = _statements.get(shape)
    if sql is None:
        # Every part is a data-modifying CTE: each runs once, to completion, in this statement.
        sql = "WITH " + ", ".join(parts) + " SELECT 1"
        if max(shape[1:]) <= _CACHED_ROWS:
            _statements[shape] = sql
    return sql, tuple(parameters)


# _DOCTOR_TURN: each appointment's INSERT takes its doctor's transaction-scoped advisory lock
# in the same statement (no extra round trip). Without it, two inserts for one time both enter
# the exclusion constraint's index, each finds the other in flight and waits on it: a
# deadlock, which PostgreSQL only breaks after ``deadlock_timeout`` (1 s), so a crowd racing
# for one slot lost seconds, and a series could lose every retry. In turn, the second insert
# meets the first one *committed* and is refused at once. The constraint still decides; the
# lock only orders the writers. Every row of ``booked`` joins the count over ``turn``, so no
# row is inserted before every lock is held; locks are taken in doctor-id order. The other
# parts join the count over ``booked``, so they too are written in the turn: a concurrent
# request with the same Idempotency-Key meets the key only after the lock, never holding the
# key while waiting for the lock (which would deadlock with the holder of the lock).
