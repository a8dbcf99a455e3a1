"""Alembic environment: runs on the connection ``hellodoctor_adapters.sqlalchemy.migrate``
hands over, inside the transaction it opened (so a failed upgrade leaves nothing half-done on
PostgreSQL and SQLite alike)."""

from __future__ import annotations

from alembic import context

from hellodoctor_adapters.sqlalchemy.migrate import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(connection=connection, version_table=VERSION_TABLE, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
