"""The clinical records contract on every storage, each with its own way of tampering with a
stored audit entry behind the adapter's back; and, on PostgreSQL and SQLite, proof that the
database itself refuses to change or delete an audit row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from attrs import evolve

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory
from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb.testing import new_factory
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.provision import empty_tables
from hellodoctor_adapters.sqlalchemy.schema import audit_log
from hellodoctor_adapters.sqlalchemy.testing import migrated_postgres_schema, migrated_sqlite_file
from hellodoctor_adapters.testing.contract_records import (
    EmergencyStorageContract,
    RecordStorageContract,
    TamperAudit,
    an_entry,
)
from hellodoctor_domain.model.audit import AuditOutcome


class TestInMemoryRecords(RecordStorageContract, EmergencyStorageContract):
    @pytest.fixture
    def uow_factory(self) -> InMemoryUnitOfWorkFactory:
        return InMemoryUnitOfWorkFactory()

    @pytest.fixture
    def tamper_audit(self, uow_factory: InMemoryUnitOfWorkFactory) -> TamperAudit:
        def tamper(sequence: int) -> None:
            audit = uow_factory.store.audit
            stored = audit[sequence]
            audit[sequence] = evolve(
                stored, entry=evolve(stored.entry, outcome=AuditOutcome.DENIED)
            )

        return tamper


class TestSqliteRecords(RecordStorageContract, EmergencyStorageContract):
    @pytest.fixture
    def uow_factory(self, tmp_path: Path) -> Iterator[SqlUnitOfWorkFactory]:
        factory = SqlUnitOfWorkFactory(migrated_sqlite_file(tmp_path))
        yield factory
        factory.dispose()

    @pytest.fixture
    def tamper_audit(self, uow_factory: SqlUnitOfWorkFactory) -> TamperAudit:
        def tamper(sequence: int) -> None:
            # Someone with the database file: drop the trigger, change the row.
            with uow_factory.engine.begin() as connection:
                connection.exec_driver_sql("DROP TRIGGER audit_log_no_update")
                connection.execute(
                    sa.update(audit_log)
                    .where(audit_log.c.sequence == sequence)
                    .values(outcome="denied")
                )

        return tamper

    def test_sqlite_refuses_to_change_or_delete_an_audit_row(
        self, uow_factory: SqlUnitOfWorkFactory
    ) -> None:
        _refuses_changes(uow_factory)


@pytest.fixture(scope="module")
def postgres_records_factory() -> Iterator[SqlUnitOfWorkFactory]:
    with migrated_postgres_schema() as url:
        factory = SqlUnitOfWorkFactory(url)
        yield factory
        factory.dispose()


class TestPostgresRecords(RecordStorageContract, EmergencyStorageContract):
    @pytest.fixture
    def uow_factory(self, postgres_records_factory: SqlUnitOfWorkFactory) -> SqlUnitOfWorkFactory:
        empty_tables(postgres_records_factory.engine)
        return postgres_records_factory

    @pytest.fixture
    def tamper_audit(self, uow_factory: SqlUnitOfWorkFactory) -> TamperAudit:
        def tamper(sequence: int) -> None:
            # Someone who owns the table: switch the trigger off, change the row.
            with uow_factory.engine.begin() as connection:
                connection.exec_driver_sql(
                    "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"
                )
                connection.execute(
                    sa.update(audit_log)
                    .where(audit_log.c.sequence == sequence)
                    .values(outcome="denied")
                )
                connection.exec_driver_sql(
                    "ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"
                )

        return tamper

    def test_postgres_refuses_to_change_or_delete_an_audit_row(
        self, uow_factory: SqlUnitOfWorkFactory
    ) -> None:
        _refuses_changes(uow_factory)


def _refuses_changes(uow_factory: SqlUnitOfWorkFactory) -> None:
    """The application's own connection (its role) sends UPDATE and DELETE through SQL: the
    database refuses both and the row is unchanged."""
    with uow_factory() as uow:
        uow.audit.append(an_entry(1))
        uow.commit()
    for statement in (
        sa.update(audit_log).values(outcome="denied"),
        sa.delete(audit_log),
        sa.text("UPDATE audit_log SET purpose = 'nothing to see'"),
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), uow_factory.engine.begin() as c:
            c.execute(statement)
    with uow_factory() as uow:
        (stored,) = uow.audit.chain()
    assert stored.entry == an_entry(1)


class TestMongoRecords(RecordStorageContract, EmergencyStorageContract):
    @pytest.fixture
    def uow_factory(self) -> Iterator[MongoUnitOfWorkFactory]:
        factory = new_factory()
        yield factory
        factory.client.drop_database(factory.store.database.name)
        factory.close()

    @pytest.fixture
    def tamper_audit(self, uow_factory: MongoUnitOfWorkFactory) -> TamperAudit:
        def tamper(sequence: int) -> None:
            # Someone with write access to the database, through the driver.
            uow_factory.store.collection("audit_log").update_one(
                {"_id": sequence}, {"$set": {"outcome": "denied"}}
            )

        return tamper
