"""The metadata every table is declared on, and the column types they share (an aware UTC
instant on PostgreSQL and SQLite, JSON). Tables live in ``schema.py`` and, by family, in
``schema_*.py`` modules that ``schema.py`` gathers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

# SQLite has no timestamp type: instants are stored as fixed-width UTC text, so that comparing
# the strings (in queries and in the overlap triggers) compares the instants.
_SQLITE_INSTANT = "%Y-%m-%d %H:%M:%S.%f"


class UtcDateTime(sa.TypeDecorator[datetime]):
    """An aware instant in, an aware UTC instant out; ``timestamptz`` on PostgreSQL and
    fixed-width UTC text on SQLite. A naive datetime is refused rather than guessed."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.CHAR(26))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{value.isoformat()} has no time zone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.strftime(_SQLITE_INSTANT)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.strptime(value, _SQLITE_INSTANT).replace(tzinfo=UTC)
        assert isinstance(value, datetime)
        return value.astimezone(UTC)


def json_type() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


metadata = sa.MetaData()
