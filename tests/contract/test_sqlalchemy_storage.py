"""The SQLAlchemy adapters against the storage contract: a SQLite file and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.provision import empty_tables
from hellodoctor_adapters.sqlalchemy.testing import migrated_postgres_schema, migrated_sqlite_file
from hellodoctor_adapters.testing import LostServerContract, UnitOfWorkContract
from hellodoctor_adapters.testing.contract_failures import closed_port


class TestSqliteStorage(UnitOfWorkContract, LostServerContract):
    @pytest.fixture
    def uow_factory(self, tmp_path: Path) -> Iterator[SqlUnitOfWorkFactory]:
        factory = SqlUnitOfWorkFactory(migrated_sqlite_file(tmp_path))
        yield factory
        factory.dispose()

    @pytest.fixture
    def unreachable_uow_factory(self, tmp_path: Path) -> Iterator[SqlUnitOfWorkFactory]:
        # SQLite's "server" is its file: here, one in a directory that does not exist.
        factory = SqlUnitOfWorkFactory(
            f"sqlite:///{tmp_path / 'gone' / 'hd.db'}", check_schema=False
        )
        yield factory
        factory.dispose()


@pytest.fixture(scope="module")
def postgres_factory() -> Iterator[SqlUnitOfWorkFactory]:
    with migrated_postgres_schema() as url:
        factory = SqlUnitOfWorkFactory(url)
        yield factory
        factory.dispose()


class TestPostgresStorage(UnitOfWorkContract, LostServerContract):
    @pytest.fixture
    def uow_factory(self, postgres_factory: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
        empty_tables(postgres_factory.engine)
        return postgres_factory

    @pytest.fixture
    def unreachable_uow_factory(self) -> Iterator[SqlUnitOfWorkFactory]:
        url = f"postgresql://postgres@127.0.0.1:{closed_port()}/gone?connect_timeout=2"
        factory = SqlUnitOfWorkFactory(url, check_schema=False)
        yield factory
        factory.dispose()
