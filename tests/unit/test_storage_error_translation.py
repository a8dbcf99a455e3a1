"""Which driver errors mean "the database is away" (BackendUnavailable: 503, retry later), which
name a rule the ports know, and which are bugs (500 with the request id): PostgreSQL and SQLite
through SQLAlchemy, and MongoDB. The real servers' answers are in the contract suite; this table
keeps every class of answer from drifting back to "backend unavailable"."""

from __future__ import annotations

import sqlite3

import pytest
from bson.errors import InvalidDocument
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    ExecutionTimeout,
    OperationFailure,
    ServerSelectionTimeoutError,
    WTimeoutError,
)
from sqlalchemy import exc

from hellodoctor_adapters.errors import StoredValueRejected, UnexpectedStorageError
from hellodoctor_adapters.mongodb.store import translate as translate_mongodb
from hellodoctor_adapters.sqlalchemy.engine import translate as translate_sql
from hellodoctor_domain.errors import (
    AlreadyExists,
    BackendUnavailable,
    ConcurrencyError,
    InsufficientFunds,
    NotFound,
    PortError,
    SlotUnavailable,
)


class _Diagnostics:
    def __init__(self, constraint_name: str | None) -> None:
        self.constraint_name = constraint_name


class _PgError(Exception):
    """What psycopg raises: a SQLSTATE (None for client-side errors) and diagnostics."""

    def __init__(self, message: str, sqlstate: str | None, constraint: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.diag = _Diagnostics(constraint)


def _sqlite_error(kind: type[sqlite3.Error], message: str, name: str) -> sqlite3.Error:
    error = kind(message)
    error.sqlite_errorname = name
    return error


@pytest.mark.parametrize(
    ("error", "meaning"),
    [
        # PostgreSQL: the server is away, refuses us, or gave up waiting.
        (exc.OperationalError("s", {}, _PgError("connection refused", None)), BackendUnavailable),
        (exc.OperationalError("s", {}, _PgError("shutting down", "57P01")), BackendUnavailable),
        (exc.OperationalError("s", {}, _PgError("lost", "08006")), BackendUnavailable),
        (exc.OperationalError("s", {}, _PgError("too many", "53300")), BackendUnavailable),
        (exc.OperationalError("s", {}, _PgError("lock timeout", "55P03")), BackendUnavailable),
        (exc.OperationalError("s", {}, _PgError("statement timeout", "57014")), BackendUnavailable),
        (exc.OperationalError("s", {}, _PgError("password", "28P01")), BackendUnavailable),
        (exc.InterfaceError("s", {}, _PgError("connection closed", None)), BackendUnavailable),
        (exc.TimeoutError("QueuePool limit reached"), BackendUnavailable),
        # PostgreSQL: a lost race, decided by the server.
        (exc.OperationalError("s", {}, _PgError("serialization", "40001")), ConcurrencyError),
        (exc.OperationalError("s", {}, _PgError("deadlock", "40P01")), ConcurrencyError),
        # PostgreSQL: the rules the schema enforces, by constraint name.
        (
            exc.IntegrityError("s", {}, _PgError("x", "23P01", "appointments_patient_no_overlap")),
            SlotUnavailable,
        ),
        (
            exc.IntegrityError("s", {}, _PgError("x", "23514", "ck_wallet_balances_not_negative")),
            InsufficientFunds,
        ),
        (
            exc.IntegrityError("s", {}, _PgError("x", "23505", "uq_accounts_email_key")),
            AlreadyExists,
        ),
        (exc.IntegrityError("s", {}, _PgError("x", "23503", "fk_appointments_doctor")), NotFound),
        # PostgreSQL: values it cannot hold, and statements it does not understand: bugs.
        (exc.DataError("s", {}, _PgError("text cannot contain NUL", None)), StoredValueRejected),
        (exc.DataError("s", {}, _PgError("bigint out of range", "22003")), StoredValueRejected),
        (exc.DataError("s", {}, _PgError("date out of range", "22008")), StoredValueRejected),
        (exc.DataError("s", {}, _PgError("invalid byte sequence", "22021")), StoredValueRejected),
        (
            exc.IntegrityError("s", {}, _PgError("x", "23514", "ck_payments_amount_positive")),
            StoredValueRejected,
        ),
        (exc.IntegrityError("s", {}, _PgError("x", "23502", None)), StoredValueRejected),
        (
            exc.ProgrammingError("s", {}, _PgError("no such column", "42703")),
            UnexpectedStorageError,
        ),
        (exc.InternalError("s", {}, _PgError("internal", "XX000")), UnexpectedStorageError),
        (exc.StatementError("bind", "s", {}, ValueError("no time zone")), StoredValueRejected),
        # SQLite: the file cannot be used, or the write lock did not come in time.
        (
            exc.OperationalError(
                "s",
                {},
                _sqlite_error(sqlite3.OperationalError, "database is locked", "SQLITE_BUSY"),
            ),
            BackendUnavailable,
        ),
        (
            exc.OperationalError(
                "s", {}, _sqlite_error(sqlite3.OperationalError, "cannot open", "SQLITE_CANTOPEN")
            ),
            BackendUnavailable,
        ),
        (
            exc.OperationalError(
                "s", {}, _sqlite_error(sqlite3.OperationalError, "disk I/O", "SQLITE_IOERR_WRITE")
            ),
            BackendUnavailable,
        ),
        # SQLite: its triggers and constraints, by name.
        (
            exc.IntegrityError(
                "s",
                {},
                _sqlite_error(
                    sqlite3.IntegrityError,
                    "slot_unavailable: appointments_doctor_no_overlap",
                    "SQLITE_CONSTRAINT_TRIGGER",
                ),
            ),
            SlotUnavailable,
        ),
        (
            exc.IntegrityError(
                "s",
                {},
                _sqlite_error(
                    sqlite3.IntegrityError,
                    "CHECK constraint failed: ck_wallet_balances_not_negative",
                    "SQLITE_CONSTRAINT_CHECK",
                ),
            ),
            InsufficientFunds,
        ),
        (
            exc.IntegrityError(
                "s",
                {},
                _sqlite_error(
                    sqlite3.IntegrityError,
                    "UNIQUE constraint failed: wallet_entries.reference",
                    "SQLITE_CONSTRAINT_PRIMARYKEY",
                ),
            ),
            AlreadyExists,
        ),
        (
            exc.IntegrityError(
                "s",
                {},
                _sqlite_error(
                    sqlite3.IntegrityError,
                    "CHECK constraint failed: ck_appointments_positive_length",
                    "SQLITE_CONSTRAINT_CHECK",
                ),
            ),
            StoredValueRejected,
        ),
        # SQLite: bugs.
        (
            exc.OperationalError(
                "s", {}, _sqlite_error(sqlite3.OperationalError, "no such table: x", "SQLITE_ERROR")
            ),
            UnexpectedStorageError,
        ),
        (OverflowError("Python int too large to convert to SQLite INTEGER"), StoredValueRejected),
    ],
)
def test_sql_errors_mean_what_they_say(error: Exception, meaning: type[Exception]) -> None:
    translated = translate_sql(error)
    assert type(translated) is meaning, translated
    if meaning in (StoredValueRejected, UnexpectedStorageError):
        assert not isinstance(translated, PortError)  # a bug: no caller catches it as an outage


@pytest.mark.parametrize(
    ("error", "meaning"),
    [
        (ServerSelectionTimeoutError("no servers"), BackendUnavailable),
        (AutoReconnect("connection reset"), BackendUnavailable),
        (ExecutionTimeout("max time", code=50), BackendUnavailable),
        (WTimeoutError("waiting for replication", code=64), BackendUnavailable),
        (OperationFailure("shutting down", code=91), BackendUnavailable),
        (OperationFailure("auth failed", code=18), BackendUnavailable),
        (
            DuplicateKeyError("dup", code=11000, details={"keyPattern": {"_email_key": 1}}),
            AlreadyExists,
        ),
        (InvalidDocument("key must not contain NUL"), StoredValueRejected),
        (OverflowError("MongoDB can only handle up to 8-byte ints"), StoredValueRejected),
        (OperationFailure("bad value", code=2), StoredValueRejected),
        (OperationFailure("unrecognised", code=59), UnexpectedStorageError),
    ],
)
def test_mongodb_errors_mean_what_they_say(error: Exception, meaning: type[Exception]) -> None:
    translated = translate_mongodb(error)
    assert type(translated) is meaning, translated
    if meaning in (StoredValueRejected, UnexpectedStorageError):
        assert not isinstance(translated, PortError)


def test_a_refused_value_is_a_value_error_and_a_bug_is_not_an_outage() -> None:
    assert issubclass(StoredValueRejected, ValueError)
    assert issubclass(StoredValueRejected, UnexpectedStorageError)
    assert not issubclass(UnexpectedStorageError, PortError)
