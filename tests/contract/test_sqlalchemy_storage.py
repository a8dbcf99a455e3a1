"""The SQLAlchemy adapters against the storage contract: a SQLite file and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.provision import empty_tables
from hellodoctor_adapters.sqlalchemy.schema import outbox
from hellodoctor_adapters.sqlalchemy.testing import migrated_postgres_schema, migrated_sqlite_file
from hellodoctor_adapters.testing import LostServerContract, UnitOfWorkContract
from hellodoctor_adapters.testing.contract_consultations import ConsultationStorageContract
from hellodoctor_adapters.testing.contract_events import Outbox
from hellodoctor_adapters.testing.contract_failures import closed_port
from hellodoctor_adapters.testing.contract_free_slots import FreeSlotsRefreshContract
from hellodoctor_adapters.testing.contract_outbox import OutboxDeliveryContract
from hellodoctor_adapters.testing.contract_retention import RetentionContract
from hellodoctor_adapters.testing.contract_retention_records import RecordRetentionContract
from hellodoctor_adapters.testing.contract_search import DoctorSearchContract
from hellodoctor_adapters.testing.contract_waitlist import WaitlistStorageContract


class SqlContract(
    UnitOfWorkContract,
    LostServerContract,
    ConsultationStorageContract,
    WaitlistStorageContract,
    DoctorSearchContract,
    FreeSlotsRefreshContract,
):
    @pytest.fixture
    def outbox(self, uow_factory: SqlUnitOfWorkFactory) -> Outbox:
        def rows() -> list[tuple[str, str, str]]:
            columns = (outbox.c.aggregate_type, outbox.c.aggregate_id, outbox.c.event_type)
            with uow_factory.engine.connect() as connection:
                found = connection.execute(sa.select(*columns).order_by(outbox.c.id))
                return [(kind, key, event) for kind, key, event in found]

        return rows


class TestSqliteStorage(SqlContract):
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


class TestPostgresStorage(SqlContract):
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


class TestSqliteOutboxDelivery(OutboxDeliveryContract):
    @pytest.fixture
    def uow_factory(self, tmp_path: Path) -> Iterator[SqlUnitOfWorkFactory]:
        factory = SqlUnitOfWorkFactory(migrated_sqlite_file(tmp_path))
        yield factory
        factory.dispose()


class TestPostgresOutboxDelivery(OutboxDeliveryContract):
    @pytest.fixture
    def uow_factory(self, postgres_factory: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
        empty_tables(postgres_factory.engine)
        return postgres_factory


class TestSqliteRetention(RetentionContract, RecordRetentionContract):
    examples = 15

    @pytest.fixture
    def uow_factory(self, tmp_path: Path) -> Iterator[SqlUnitOfWorkFactory]:
        factory = SqlUnitOfWorkFactory(migrated_sqlite_file(tmp_path))
        yield factory
        factory.dispose()


class TestPostgresRetention(RetentionContract, RecordRetentionContract):
    examples = 15

    @pytest.fixture
    def uow_factory(self, postgres_factory: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
        empty_tables(postgres_factory.engine)
        return postgres_factory
