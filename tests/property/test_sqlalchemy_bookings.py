"""The booking state machine (no double booking under any sequence of use cases) and the payment
state machine (money neither lost nor invented) on a SQLite file and on PostgreSQL. One database
per test class, emptied before every example."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.provision import empty_tables
from hellodoctor_adapters.sqlalchemy.testing import migrated_postgres_schema, migrated_sqlite_file
from hellodoctor_adapters.testing.claims_machine import make_claims_machine
from hellodoctor_adapters.testing.machine import make_booking_machine
from hellodoctor_adapters.testing.payments_machine import make_payment_machine


class _EmptiedPerExample:
    """``new_uow_factory`` for the machine: the same factory, over freshly emptied tables."""

    factory: SqlUnitOfWorkFactory | None = None

    def __call__(self) -> SqlUnitOfWorkFactory:
        assert self.factory is not None, "the database fixture has not run"
        empty_tables(self.factory.engine)
        return self.factory


sqlite_store = _EmptiedPerExample()
postgres_store = _EmptiedPerExample()


def _opened(store: _EmptiedPerExample, url: object) -> Callable[[], None]:
    store.factory = SqlUnitOfWorkFactory(url)  # type: ignore[arg-type]

    def close() -> None:
        assert store.factory is not None
        store.factory.dispose()
        store.factory = None

    return close


# The machines run their full profile in memory (tests/property/test_*_machine.py); on the
# databases each example pays for real transactions, so fewer examples keep CI under 30
# minutes while every rule still runs against the real constraints.
DATABASE_EXAMPLES = 100
CLAIMS_EXAMPLES = 60  # the claims' amount invariants are the domain's; here the storage's CAS


def examples(count: int) -> settings:
    """The active profile (ci or dev), with at most ``count`` examples."""
    return settings(max_examples=min(count, settings.default.max_examples))


@pytest.fixture(scope="class")
def sqlite_database() -> Iterator[None]:
    with tempfile.TemporaryDirectory() as directory:
        close = _opened(sqlite_store, migrated_sqlite_file(Path(directory)))
        yield
        close()


@pytest.fixture(scope="class")
def postgres_database() -> Iterator[None]:
    with migrated_postgres_schema() as url:
        close = _opened(postgres_store, url)
        yield
        close()


@pytest.mark.usefixtures("sqlite_database")
class TestSqliteBookings(make_booking_machine(sqlite_store).TestCase):  # type: ignore[misc]
    settings = examples(DATABASE_EXAMPLES)


@pytest.mark.usefixtures("postgres_database")
class TestPostgresBookings(make_booking_machine(postgres_store).TestCase):  # type: ignore[misc]
    settings = examples(DATABASE_EXAMPLES)


@pytest.mark.usefixtures("sqlite_database")
class TestSqlitePayments(make_payment_machine(sqlite_store).TestCase):  # type: ignore[misc]
    settings = examples(DATABASE_EXAMPLES)


@pytest.mark.usefixtures("postgres_database")
class TestPostgresPayments(make_payment_machine(postgres_store).TestCase):  # type: ignore[misc]
    settings = examples(DATABASE_EXAMPLES)


@pytest.mark.usefixtures("sqlite_database")
class TestSqliteClaims(make_claims_machine(sqlite_store).TestCase):  # type: ignore[misc]
    settings = examples(CLAIMS_EXAMPLES)


@pytest.mark.usefixtures("postgres_database")
class TestPostgresClaims(make_claims_machine(postgres_store).TestCase):  # type: ignore[misc]
    settings = examples(CLAIMS_EXAMPLES)
