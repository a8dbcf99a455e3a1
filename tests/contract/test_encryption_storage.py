"""The encryption contract (``contract_encryption.py``) on SQLite, PostgreSQL and MongoDB, each
reading and changing stored values with the database's own tools, bypassing the adapter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from hellodoctor_adapters.crypto import FieldCipher
from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb.testing import new_factory
from hellodoctor_adapters.phi import PHI_TABLES, RECORD_PHI_TABLES
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory, create_engine
from hellodoctor_adapters.sqlalchemy.provision import empty_tables
from hellodoctor_adapters.sqlalchemy.testing import migrated_postgres_schema, migrated_sqlite_file
from hellodoctor_adapters.testing.contract_encryption import EncryptionContract
from hellodoctor_adapters.testing.contract_encryption_data import (
    EncryptedStorage,
    RawRows,
    SetRaw,
    StorageWith,
)

# A table's MongoDB collection where the names differ (``phi.PhiTable.collection``).
_COLLECTIONS = {t.name: t.collection_name for t in (*PHI_TABLES, *RECORD_PHI_TABLES)}
# Tables keyed by their account, not by an ``id`` of their own.
_ACCOUNT_KEYED = ("notification_preferences",)


def _key_column(table: str) -> str:
    return "account_id" if table in _ACCOUNT_KEYED else "id"


def _row_id(table: str, row: dict[str, Any]) -> str:
    if table == "medical_records":
        return f"{row['id']}/{row['revision']}"
    return str(row[_key_column(table)])


def _sql_raw_rows(engine: Engine) -> RawRows:
    def rows(table: str) -> dict[str, dict[str, Any]]:
        with engine.connect() as connection:  # the driver's values, no type processing
            found = connection.exec_driver_sql(f"SELECT * FROM {table}").mappings().all()
        return {_row_id(table, dict(row)): dict(row) for row in found}

    return rows


def _sql_set_raw(engine: Engine) -> SetRaw:
    def set_raw(table: str, row_id: str, field: str, value: Any) -> None:
        stored = value if isinstance(value, str) else json.dumps(value)
        key, _, revision = row_id.partition("/")
        where = f"{_key_column(table)} = :key" + (" AND revision = :revision" if revision else "")
        with engine.begin() as connection:
            connection.execute(
                sa.text(f"UPDATE {table} SET {field} = :value WHERE {where}"),
                {"value": stored, "key": key, "revision": int(revision or 0)},
            )

    return set_raw


class _Sql(EncryptionContract):
    @pytest.fixture
    def storage_with(self, engine: Engine) -> StorageWith:
        def over(cipher: FieldCipher) -> EncryptedStorage:
            return SqlUnitOfWorkFactory(engine, check_schema=False, cipher=cipher)

        return over

    @pytest.fixture
    def raw_rows(self, engine: Engine) -> RawRows:
        return _sql_raw_rows(engine)

    @pytest.fixture
    def set_raw(self, engine: Engine) -> SetRaw:
        return _sql_set_raw(engine)


class TestSqliteEncryption(_Sql):
    @pytest.fixture
    def engine(self, tmp_path: Path) -> Iterator[Engine]:
        engine = create_engine(migrated_sqlite_file(tmp_path))
        yield engine
        engine.dispose()


@pytest.fixture(scope="module")
def postgres_engine() -> Iterator[Engine]:
    with migrated_postgres_schema() as url:
        engine = create_engine(url)
        yield engine
        engine.dispose()


class TestPostgresEncryption(_Sql):
    @pytest.fixture
    def engine(self, postgres_engine: Engine) -> Engine:
        empty_tables(postgres_engine)
        return postgres_engine


class TestMongoEncryption(EncryptionContract):
    @pytest.fixture
    def base(self) -> Iterator[MongoUnitOfWorkFactory]:
        factory = new_factory()
        yield factory
        factory.client.drop_database(factory.store.database.name)
        factory.close()

    @pytest.fixture
    def storage_with(self, base: MongoUnitOfWorkFactory) -> StorageWith:
        # One factory per cipher: a factory's first unit of work creates every index.
        made: dict[int, MongoUnitOfWorkFactory] = {}

        def over(cipher: FieldCipher) -> EncryptedStorage:
            if id(cipher) not in made:
                made[id(cipher)] = MongoUnitOfWorkFactory(
                    "mongodb://shared",
                    database=base.store.database.name,
                    client=base.client,
                    cipher=cipher,
                )
            return made[id(cipher)]

        return over

    @pytest.fixture
    def raw_rows(self, base: MongoUnitOfWorkFactory) -> RawRows:
        def rows(name: str) -> dict[str, dict[str, Any]]:
            found = base.store.collection(_COLLECTIONS.get(name, name)).find()
            return {str(d["_id"]): d for d in found}

        return rows

    @pytest.fixture
    def set_raw(self, base: MongoUnitOfWorkFactory) -> SetRaw:
        def set_raw(name: str, row_id: str, field: str, value: Any) -> None:
            stored = "_email_key" if field == "email_key" else field
            collection = base.store.collection(_COLLECTIONS.get(name, name))
            collection.update_one({"_id": row_id}, {"$set": {stored: value}})

        return set_raw
