"""The ``hellodoctor`` console command. ``hellodoctor db upgrade`` migrates the database named
by ``HELLODOCTOR_DATABASE_URL`` (or ``--url``) to this version's schema."""

from __future__ import annotations

import click

from hellodoctor_domain.errors import PortError

DATABASE_URL_VARIABLE = "HELLODOCTOR_DATABASE_URL"


@click.group()
def main() -> None:
    """HelloDoctor administration."""


@main.group()
def db() -> None:
    """Relational database schema (PostgreSQL or SQLite)."""


_url_option = click.option(
    "--url",
    envvar=DATABASE_URL_VARIABLE,
    required=True,
    help=f"Database URL (default: ${DATABASE_URL_VARIABLE}), e.g. sqlite:///hellodoctor.db",
)


@db.command()
@_url_option
def upgrade(url: str) -> None:
    """Create or migrate the schema to the newest revision."""
    # Imported here so the command's --help works without the database extras installed.
    from hellodoctor_adapters.sqlalchemy import upgrade_url

    try:
        before, after = upgrade_url(url)
    except (PortError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    if before == after:
        click.echo(f"already at revision {after}")
    else:
        click.echo(f"upgraded from {before or 'an empty database'} to revision {after}")


@db.command()
@_url_option
def check(url: str) -> None:
    """Exit non-zero unless the schema is at this version's revision."""
    from hellodoctor_adapters.sqlalchemy import create_engine, require_current_schema

    try:
        engine = create_engine(url)
        try:
            require_current_schema(engine)
        finally:
            engine.dispose()
    except (PortError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    click.echo("schema is current")
