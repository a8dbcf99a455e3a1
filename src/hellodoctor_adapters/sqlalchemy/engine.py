"""Engines for the two supported databases, and the translation of driver errors into the
port's error family.

Nothing here runs at import time: engines are made when a unit-of-work factory (or the
``hellodoctor db`` command) is built from a URL.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import URL, Engine, make_url

from hellodoctor_domain.errors import (
    AlreadyExists,
    BackendUnavailable,
    ConcurrencyError,
    Conflict,
    InsufficientFunds,
    NotFound,
    SlotUnavailable,
)

# How long a SQLite writer waits for the write lock before giving up (BackendUnavailable).
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0


def database_url(url: str | URL) -> URL:
    """Normalise a configured URL: ``postgresql://`` means psycopg 3, ``sqlite:///`` pysqlite."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ValueError(
                "use a SQLite file (sqlite:///path/to/file.db): an in-memory database is private "
                "to one connection and cannot enforce anything across processes"
            )
        return parsed.set(drivername="sqlite+pysqlite")
    raise ValueError(f"unsupported database {parsed.drivername!r}: use postgresql:// or sqlite://")


def create_engine(url: str | URL, **options: Any) -> Engine:
    """An engine set up for this adapter: UTC sessions on PostgreSQL; WAL, foreign keys, a busy
    timeout and BEGIN IMMEDIATE transactions on SQLite."""
    url = database_url(url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, **options)
    # No pool_pre_ping: it costs a round trip per unit of work. A connection the server dropped
    # fails its request with BackendUnavailable and SQLAlchemy then refreshes the whole pool.
    return sa.create_engine(url, connect_args={"options": _with_utc(url)}, **options)


def _with_utc(url: URL) -> str:
    # Keep any libpq options the URL carries (a search_path, say) and add the session zone.
    existing = url.query.get("options", "")
    existing = existing if isinstance(existing, str) else " ".join(existing)
    return f"{existing} -c timezone=UTC".strip()


def _sqlite_engine(url: URL, **options: Any) -> Engine:
    engine = sa.create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        **options,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Take transaction control away from pysqlite (it would BEGIN DEFERRED lazily) so the
        # "begin" hook below decides how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: sa.Connection) -> None:
        # Take the write lock up front: a transaction that read and then finds another writer
        # committed in between would fail (SQLITE_BUSY_SNAPSHOT); this one waits instead.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


# -- errors ----------------------------------------------------------------------------------

_PG_UNIQUE = "23505"
_PG_FOREIGN_KEY = "23503"
_PG_EXCLUSION = "23P01"
_PG_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock


def translate(error: exc.SQLAlchemyError) -> Exception:
    """The port error a driver error means. Every SQLAlchemy/driver error becomes one."""
    original = getattr(error, "orig", None)
    sqlstate = getattr(original, "sqlstate", None)
    sqlite_name = getattr(original, "sqlite_errorname", "") or ""
    message = str(original if original is not None else error)
    if isinstance(error, exc.IntegrityError):
        if sqlstate == _PG_EXCLUSION or "slot_unavailable" in message:
            subject = "patient" if "patient_no_overlap" in message else "doctor"
            return SlotUnavailable(f"the {subject} already has an active appointment then")
        if "ck_wallet_balances_not_negative" in message:
            return InsufficientFunds("the wallet holds too little for this entry")
        if sqlstate == _PG_FOREIGN_KEY or sqlite_name == "SQLITE_CONSTRAINT_FOREIGNKEY":
            return NotFound("a doctor or patient it refers to does not exist")
        if sqlstate == _PG_UNIQUE or sqlite_name in (
            "SQLITE_CONSTRAINT_UNIQUE",
            "SQLITE_CONSTRAINT_PRIMARYKEY",
        ):
            return AlreadyExists(f"already stored: {_first_line(message)}")
        return Conflict(_first_line(message))
    if sqlstate in _PG_RETRYABLE:
        return ConcurrencyError(f"the database aborted a conflicting transaction ({sqlstate})")
    return BackendUnavailable(f"database error: {_first_line(message)}")


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "unknown error"


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Raise the port error for any database error inside the block (driver cause chained)."""
    try:
        yield
    except exc.SQLAlchemyError as error:
        raise translate(error) from error
