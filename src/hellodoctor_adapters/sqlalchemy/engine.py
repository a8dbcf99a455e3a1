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

from hellodoctor_adapters.errors import StoredValueRejected, UnexpectedStorageError
from hellodoctor_domain.errors import (
    AlreadyExists,
    BackendUnavailable,
    ConcurrencyError,
    InsufficientFunds,
    NoBedAvailable,
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
# Only an outage is BackendUnavailable (503, retry later); a constraint is the port error its
# name means; a value the database cannot hold, or a statement it does not understand, is a bug
# (``hellodoctor_adapters.errors``), answered 500 like any other.

# SQLSTATE classes and codes that mean the server is gone, refused us, or gave up waiting: a
# connection exception (08), an authorization failure (28), insufficient resources (53, too
# many connections or a full disk), operator intervention (57: shutdown, statement timeout),
# a system error (58), lock_not_available (55P03: lock timeout), read-only after a fail-over
# (25006), no such database (3D000) and insufficient privilege (42501).
_PG_UNAVAILABLE_CLASSES = ("08", "28", "53", "57", "58")
_PG_UNAVAILABLE_CODES = {"55P03", "25006", "3D000", "42501"}
_PG_RETRYABLE = {"40001", "40P01"}  # serialization failure, deadlock
_PG_DATA_CLASS = "22"  # data exception: NUL in a string, number or date out of range...
_PG_UNIQUE, _PG_FOREIGN_KEY, _PG_EXCLUSION = "23505", "23503", "23P01"

# SQLite: the file cannot be opened, read or written, or the write lock did not come in time.
_SQLITE_UNAVAILABLE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_PERM",
    "SQLITE_AUTH",
    "SQLITE_PROTOCOL",
    "SQLITE_NOTADB",
    "SQLITE_CORRUPT",
)
_SQLITE_DATA = ("SQLITE_TOOBIG", "SQLITE_MISMATCH", "SQLITE_RANGE")

# The overlap rules: PostgreSQL exclusion constraints, and SQLite triggers that RAISE with
# "slot_unavailable: <the same name>" (migration 0001).
_OVERLAP_CONSTRAINTS = {
    "appointments_doctor_no_overlap": "doctor",
    "appointments_patient_no_overlap": "patient",
}
_NOT_NEGATIVE_BALANCE = "ck_wallet_balances_not_negative"
_BEDS_WITHIN_CAPACITY = "ck_ward_beds_within_capacity"


def translate(error: Exception) -> Exception:
    """The error a driver error means: a port error for an outage, a lost race or a rule the
    database enforces; ``StoredValueRejected`` / ``UnexpectedStorageError`` for a bug."""
    if isinstance(error, OverflowError):  # pysqlite: an int beyond 64 bits, before SQL
        return StoredValueRejected(f"the database cannot hold a value: {error}")
    original = getattr(error, "orig", None)
    sqlstate: str = getattr(original, "sqlstate", None) or ""
    sqlite_name: str = getattr(original, "sqlite_errorname", None) or ""
    message = _first_line(str(original if original is not None else error))
    if isinstance(error, exc.IntegrityError):
        return _constraint_error(original, sqlstate, sqlite_name, message)
    if sqlstate in _PG_RETRYABLE:
        return ConcurrencyError(f"the database aborted a conflicting transaction ({sqlstate})")
    if _unavailable(error, sqlstate, sqlite_name):
        return BackendUnavailable(f"database unavailable: {message}")
    if (
        isinstance(error, exc.DataError)
        or sqlstate.startswith(_PG_DATA_CLASS)
        or sqlite_name in _SQLITE_DATA
        or (isinstance(error, exc.StatementError) and isinstance(original, ValueError))
    ):
        return StoredValueRejected(f"the database cannot hold a value: {message}")
    return UnexpectedStorageError(f"database error: {message}")


def _unavailable(error: Exception, sqlstate: str, sqlite_name: str) -> bool:
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True  # SQLAlchemy recognised a dropped connection (and refreshes the pool)
    if isinstance(error, exc.TimeoutError | exc.DisconnectionError):
        return True  # no pooled connection came free in time; a connection that went away
    if sqlstate:
        return sqlstate[:2] in _PG_UNAVAILABLE_CLASSES or sqlstate in _PG_UNAVAILABLE_CODES
    if sqlite_name:
        return sqlite_name.startswith(_SQLITE_UNAVAILABLE)
    # A client-side refusal without a SQLSTATE: connection refused, timed out, closed.
    return isinstance(error, exc.OperationalError | exc.InterfaceError)


def _constraint_error(original: object, sqlstate: str, sqlite_name: str, message: str) -> Exception:
    name = _constraint_name(original, message)
    if name in _OVERLAP_CONSTRAINTS or sqlstate == _PG_EXCLUSION:
        subject = _OVERLAP_CONSTRAINTS.get(name, "doctor")
        return SlotUnavailable(f"the {subject} already has an active appointment then")
    if name == _NOT_NEGATIVE_BALANCE:
        return InsufficientFunds("the wallet holds too little for this entry")
    if name == _BEDS_WITHIN_CAPACITY:
        return NoBedAvailable("the ward's count of that bed type would leave its capacity")
    if sqlstate == _PG_FOREIGN_KEY or sqlite_name == "SQLITE_CONSTRAINT_FOREIGNKEY":
        return NotFound("a doctor or patient it refers to does not exist")
    if sqlstate == _PG_UNIQUE or sqlite_name in (
        "SQLITE_CONSTRAINT_UNIQUE",
        "SQLITE_CONSTRAINT_PRIMARYKEY",
    ):
        return AlreadyExists(f"already stored: {name or message}")
    # Any other CHECK or NOT NULL: the domain let through a value it should have refused.
    return StoredValueRejected(f"a stored value breaks {name or 'a rule of the schema'}: {message}")


def _constraint_name(original: object, message: str) -> str:
    """The violated constraint's name: PostgreSQL reports it; SQLite puts it in the message
    ("CHECK constraint failed: <name>", "slot_unavailable: <name>" from the triggers)."""
    diagnostics = getattr(original, "diag", None)
    name = getattr(diagnostics, "constraint_name", None)
    if name:
        return str(name)
    _, separator, rest = message.partition(": ")
    return rest.strip() if separator else ""


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "unknown error"


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Raise what a database error inside the block means (driver cause chained): a port error
    (``BackendUnavailable`` only for an outage) or, for a bug, ``UnexpectedStorageError``."""
    try:
        yield
    except (exc.SQLAlchemyError, OverflowError) as error:
        raise translate(error) from error
