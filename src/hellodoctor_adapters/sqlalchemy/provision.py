"""Throw-away databases for tests and benchmarks: a PostgreSQL schema per run, emptied tables
between examples. Not used by the application itself."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

from hellodoctor_adapters.sqlalchemy.engine import create_engine, database_url, translated_errors
from hellodoctor_adapters.sqlalchemy.schema import ALL_TABLES


def create_postgres_schema(server_url: str | URL, prefix: str = "hellodoctor_test") -> URL:
    """Create an empty schema with a unique name; returns a URL whose connections use it.

    ``btree_gist`` is installed once per database in ``public`` (its operator classes are found
    whatever the search path), so dropping a run's schema never drops the extension from under
    another run.
    """
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = create_engine(server_url, poolclass=sa.NullPool)
    try:
        with translated_errors(), engine.begin() as connection:
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS btree_gist SCHEMA public")
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    finally:
        engine.dispose()
    return database_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})


def drop_postgres_schema(schema_url: URL) -> None:
    options = schema_url.query.get("options", "")
    assert isinstance(options, str)
    assert options.startswith("-csearch_path=")
    schema = options.removeprefix("-csearch_path=")
    engine = create_engine(schema_url.difference_update_query(["options"]), poolclass=sa.NullPool)
    try:
        with translated_errors(), engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        engine.dispose()


# As migration 0012 creates it (re-created by ``empty_tables`` after emptying the log).
SQLITE_AUDIT_NO_DELETE = (
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END"
)


def empty_tables(engine: Engine) -> None:
    """Delete every row (keeping the schema): the cheap reset between test examples."""
    with translated_errors(), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(table.name for table in ALL_TABLES)
            connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY")
        else:
            for table in ALL_TABLES:  # children first, for the foreign keys
                if table.name == "audit_log":  # append-only: its trigger refuses DELETE
                    connection.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
                    connection.execute(sa.delete(table))
                    connection.exec_driver_sql(SQLITE_AUDIT_NO_DELETE)
                    continue
                connection.execute(sa.delete(table))
