"""Relational storage: SQLAlchemy Core adapters for PostgreSQL (psycopg 3) and SQLite.

The database itself refuses double bookings: exclusion constraints on PostgreSQL, triggers
under SQLite's single-writer lock (see ``migrations/versions/0001_initial.py`` and
``docs/storage.md``). Make a factory with ``SqlUnitOfWorkFactory(url)`` once the schema is
migrated (``hellodoctor db upgrade``).
"""

from hellodoctor_adapters.sqlalchemy.engine import create_engine, database_url
from hellodoctor_adapters.sqlalchemy.migrate import (
    SchemaNotMigrated,
    head_revision,
    require_current_schema,
    upgrade,
    upgrade_url,
)
from hellodoctor_adapters.sqlalchemy.uow import (
    SqlUnitOfWork,
    SqlUnitOfWorkFactory,
    open_sql_storage,
)

__all__ = [
    "SchemaNotMigrated",
    "SqlUnitOfWork",
    "SqlUnitOfWorkFactory",
    "create_engine",
    "database_url",
    "head_revision",
    "open_sql_storage",
    "require_current_schema",
    "upgrade",
    "upgrade_url",
]
