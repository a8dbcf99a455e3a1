"""Schema migrations (Alembic, shipped in ``migrations/``) and the start-up schema check."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from hellodoctor_adapters.sqlalchemy.engine import create_engine, translated_errors
from hellodoctor_domain.errors import BackendUnavailable

VERSION_TABLE = "hellodoctor_schema_version"


class SchemaNotMigrated(BackendUnavailable):
    """The database's schema is not the one this code needs; ``hellodoctor db upgrade``."""


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", "hellodoctor_adapters.sqlalchemy:migrations")
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with translated_errors(), engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision`` in one transaction."""
    config = _config()
    with translated_errors(), engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def upgrade_url(url: str) -> tuple[str | None, str]:
    """Upgrade the database at ``url`` to the newest schema; returns (before, after)."""
    engine = create_engine(url)
    try:
        before = current_revision(engine)
        upgrade(engine)
        return before, head_revision()
    finally:
        engine.dispose()


def require_current_schema(engine: Engine) -> None:
    """Refuse to run on a schema older (or newer) than this code's, saying what to do."""
    expected = head_revision()
    found = current_revision(engine)
    if found != expected:
        url = engine.url.set(drivername=engine.url.get_backend_name())
        where = url.render_as_string(hide_password=True)
        state = "has no HelloDoctor schema" if found is None else f"is at revision {found}"
        raise SchemaNotMigrated(
            f"the database {where} {state}, but this version of HelloDoctor needs revision "
            f"{expected}. Run `HELLODOCTOR_DATABASE_URL={where} hellodoctor db upgrade` first."
        )
