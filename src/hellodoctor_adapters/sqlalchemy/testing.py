"""Test databases for the SQLAlchemy adapters (needs the ``testing`` extra: pytest): a SQLite
file in a temporary directory, and a schema of their own on the PostgreSQL server named by
HELLODOCTOR_TEST_POSTGRES_URL.

Without that variable or a reachable server, PostgreSQL tests skip with the reason, unless
HELLODOCTOR_REQUIRE_SERVICES=1 (CI), where they fail (``hellodoctor_adapters.testing.services``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy.engine import URL

from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory, create_engine, upgrade
from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.provision import (
    create_postgres_schema,
    drop_postgres_schema,
)
from hellodoctor_adapters.testing.fixtures import appointment
from hellodoctor_adapters.testing.services import unavailable
from hellodoctor_domain.errors import BackendUnavailable, SlotUnavailable
from hellodoctor_domain.model.values import DoctorId

POSTGRES_URL_VARIABLE = "HELLODOCTOR_TEST_POSTGRES_URL"


def postgres_server_url() -> str:
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        unavailable(f"PostgreSQL tests need {POSTGRES_URL_VARIABLE}")
    return url


def reachable_postgres_server_url() -> str:
    """The test server's URL, once a connection to it has succeeded."""
    server = postgres_server_url()
    engine = create_engine(server, poolclass=sa.NullPool)
    try:
        with translated_errors(), engine.connect():
            pass
    except BackendUnavailable as error:
        _unreachable(error)
    finally:
        engine.dispose()
    return server


@contextmanager
def migrated_postgres_schema() -> Iterator[URL]:
    """A fresh, migrated schema of its own on the test server, dropped afterwards."""
    server = postgres_server_url()
    try:
        schema_url = create_postgres_schema(server)
    except BackendUnavailable as error:
        _unreachable(error)
    try:
        migrate(schema_url)
        yield schema_url
    finally:
        drop_postgres_schema(schema_url)


def _unreachable(error: BackendUnavailable) -> NoReturn:
    unavailable(f"PostgreSQL at {POSTGRES_URL_VARIABLE} is not reachable: {error}")


def migrated_sqlite_file(directory: Path) -> str:
    url = f"sqlite:///{directory / 'hellodoctor.db'}"
    migrate(url)
    return url


def migrate(url: str | URL) -> None:
    engine = create_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


# -- the multi-process race: runs in each spawned worker (so it must live in an importable
# module, not in a test file) -------------------------------------------------------------------

WON = "won"
REFUSED = "slot unavailable"
_factories: dict[str, SqlUnitOfWorkFactory] = {}


def contend(
    url: str, barrier: Any, key: str, doctor_key: str, patient_key: str, start: datetime
) -> tuple[int, str]:
    """Build a 30-minute appointment, wait for every contender, then write it through the
    repository; report this process's id and ``WON``, ``REFUSED`` or the unexpected error."""
    factory = _factories.get(url)
    if factory is None:
        factory = _factories[url] = SqlUnitOfWorkFactory(url)
    with factory() as uow:  # connect (and warm the connection) before the starting gun
        uow.doctors.get(DoctorId(doctor_key))
    attempt = appointment(key, start, 30, doctor_key=doctor_key, patient_key=patient_key)
    barrier.wait(timeout=120)
    try:
        with factory() as uow:
            uow.appointments.add(attempt)
            uow.commit()
    except SlotUnavailable:
        return os.getpid(), REFUSED
    except Exception as error:  # reported, and fails the test
        return os.getpid(), repr(error)
    return os.getpid(), WON
