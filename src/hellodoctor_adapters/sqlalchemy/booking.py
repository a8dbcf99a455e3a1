"""The booking's reads and its transaction in as few round trips as PostgreSQL allows.

A booking is one read of everything the rules need (the doctor joined to its availability:
``read_doctor_and_availability``) and one statement of writes (``writes.py``: the appointment
in its doctor's turn, the idempotency record, the outbox rows). psycopg sends ``BEGIN`` as a
round trip of its own before a transaction's first statement, and ``COMMIT`` as another. On
PostgreSQL, when the read is the first thing a unit of work sends, it runs without a
transaction, and when the writes are then the only other thing, they run as one statement that
commits itself: two round trips in all, against four (begin, read, write, commit).

That is the same transaction as far as anything can tell at READ COMMITTED (what the engine
uses): every statement there takes its own snapshot anyway, the read takes no lock, and the one
write statement is atomic: the exclusion constraints decide, and a refused insert leaves
nothing. Any other statement in between (a desk's checks, lapsed holds cleared, a payment)
opens an ordinary transaction, as before.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine

from hellodoctor_adapters.sqlalchemy import writes
from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.rows import availability_from, doctor_from
from hellodoctor_adapters.sqlalchemy.schema import availability, doctors
from hellodoctor_adapters.sqlalchemy.writes import PENDING
from hellodoctor_domain.model.availability import Availability
from hellodoctor_domain.model.profiles import Doctor
from hellodoctor_domain.model.values import DoctorId

_READ = (
    sa.select(
        doctors,
        availability.c.document.label("availability_document"),
        availability.c.version.label("availability_version"),
    )
    .select_from(doctors.outerjoin(availability, availability.c.doctor_id == doctors.c.id))
    .where(doctors.c.id == sa.bindparam("doctor_id"))
)
_compiled: dict[str, str] = {}  # dialect name -> the read's SQL, compiled once


def read_doctor_and_availability(
    connection: Connection, doctor_id: DoctorId
) -> tuple[Doctor, Availability | None] | None:
    """The doctor and its availability (``None`` if not defined), or ``None`` for no doctor."""
    parameters = {"doctor_id": doctor_id.value}
    with translated_errors():
        if connection.dialect.name != "postgresql":
            row = connection.execute(_READ, parameters).mappings().first()
        else:
            sql = _compiled.get("postgresql")
            if sql is None:
                sql = _compiled["postgresql"] = str(_READ.compile(dialect=connection.dialect))
            with read_alone(connection):
                row = connection.exec_driver_sql(sql, parameters).mappings().first()
    if row is None:
        return None
    document = row["availability_document"]
    hours = None if document is None else availability_from(document, row["availability_version"])
    return doctor_from(row), hours


def outside_a_transaction(connection: Connection) -> bool:
    """PostgreSQL, and no transaction open on the server: nothing sent yet in this unit of
    work but what ran without one."""
    if connection.dialect.name != "postgresql":
        return False
    from psycopg.pq import TransactionStatus

    driver: Any = connection.connection.driver_connection
    return bool(driver.info.transaction_status == TransactionStatus.IDLE)


@contextlib.contextmanager
def autocommitted(connection: Connection) -> Iterator[None]:
    """The statements inside run without BEGIN: each one is its own transaction."""
    driver: Any = connection.connection.driver_connection
    driver.autocommit = True
    try:
        yield
    finally:
        # Back to transactions; on a broken connection this fails, and the checkout guard
        # below keeps the pool from handing the connection out again.
        with contextlib.suppress(Exception):
            driver.autocommit = False


@contextlib.contextmanager
def read_alone(connection: Connection) -> Iterator[None]:
    """A read that needs no transaction: without BEGIN when it is the first statement (queued
    writes go first, through the engine hook, inside a transaction: not alone then)."""
    if not connection.info.get(PENDING) and outside_a_transaction(connection):
        with autocommitted(connection):
            yield
    else:
        yield


_installed: weakref.WeakSet[Engine] = weakref.WeakSet()


def install(engine: Engine) -> None:
    """Hook the engine once: queued writes go before any other statement (``writes.py``), and
    a PostgreSQL connection still in autocommit (see ``autocommitted``) is never handed out
    (the pool replaces it)."""
    if engine in _installed:
        return
    writes.install(engine)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "checkout", _transactional_only)
    _installed.add(engine)


def _transactional_only(dbapi_connection: Any, _record: object, _proxy: object) -> None:
    if getattr(dbapi_connection, "autocommit", False):
        raise exc.DisconnectionError("a connection was left in autocommit")
