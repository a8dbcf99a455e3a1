"""The ``hellodoctor`` command, the service's composition root on the command line.

* ``hellodoctor serve`` runs the API under gunicorn (``--bind`` or ``HELLODOCTOR_BIND``);
  in development, on the default SQLite file, it creates or migrates the schema first.
* ``hellodoctor demo seed`` fills the configured storage with demo hospitals (idempotent).
* ``hellodoctor db upgrade`` / ``db check`` migrate or check the relational schema.

Heavy imports (gunicorn, falcon, SQLAlchemy) happen inside the commands, so ``--help`` is
quick and ``db`` works without the server extra.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from hellodoctor_domain.errors import PortError
from hellodoctor_http.config import ConfigurationError, Settings

DATABASE_URL_VARIABLE = "HELLODOCTOR_DATABASE_URL"


@click.group()
def main() -> None:
    """HelloDoctor: the API server and its administration."""


def _settings() -> Settings:
    try:
        return Settings.from_environ(os.environ)
    except ConfigurationError as error:
        raise click.ClickException(f"configuration refused: {error}") from error


def _prepare_embedded_database(settings: Settings) -> None:
    """In development, on SQLite, create the file's folder and migrate, so one command runs
    the service on a fresh clone. Elsewhere migrations are a deliberate deploy step."""
    if settings.is_production or not settings.database_url.startswith("sqlite"):
        return
    from hellodoctor_adapters.sqlalchemy import database_url, upgrade_url

    path = database_url(settings.database_url).database
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        before, after = upgrade_url(settings.database_url)
    except (PortError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    if before != after:
        click.echo(f"database {path}: schema created or upgraded to revision {after}", err=True)


# -- serve -----------------------------------------------------------------------------------


@main.command()
@click.option("--bind", envvar="HELLODOCTOR_BIND", default=None, help="host:port to listen on")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="default 2*cores+1")
@click.option("--timeout", type=click.IntRange(5, 600), default=30, show_default=True)
def serve(bind: str | None, workers: int | None, timeout: int) -> None:
    """Run the API under gunicorn."""
    from hellodoctor_http.server import configure_logging, default_workers

    configure_logging()
    settings = _settings()
    _prepare_embedded_database(settings)
    bind = bind or settings.bind
    workers = workers or default_workers()
    base = f"http://{bind}"
    click.echo(
        f"HelloDoctor API ({settings.environment}, {workers} workers) on {base}\n"
        f"  API:        {base}/api/v1/doctors\n"
        f"  docs:       {base}/api-docs\n"
        f"  OpenAPI:    {base}/openapi.json\n"
        f"  health:     {base}/healthz  {base}/readyz  {base}/metrics"
    )
    if settings.jwt_secret_generated:
        _print_development_tokens(settings)
    from hellodoctor_http.server import serve as run

    run(settings, bind=bind, workers=workers, timeout=timeout)


def _print_development_tokens(settings: Settings) -> None:
    """Until sign-in lands, development prints tokens for the demo admin and first patient
    (signed with this process's generated key, so they die with it)."""
    from hellodoctor_adapters.memory import SystemClock
    from hellodoctor_http.auth import TokenCodec
    from hellodoctor_http.demo import DEMO_ADMIN

    codec = TokenCodec(
        settings.jwt_secret, settings.jwt_issuer, settings.jwt_audience, SystemClock()
    )
    admin, _ = codec.issue(DEMO_ADMIN.value, "admin")
    patient, _ = codec.issue("pat-1", "patient", patient_id="pat-1")
    click.echo(
        "  development tokens (15 minutes; paste into the docs' Authorize button):\n"
        f"    admin:   {admin}\n"
        f"    patient: {patient}"
    )


# -- demo ------------------------------------------------------------------------------------


@main.group()
def demo() -> None:
    """Demo data."""


@demo.command()
def seed() -> None:
    """Fill the configured storage with demo hospitals, doctors, patients and appointments."""
    from hellodoctor_adapters.memory import SystemClock, UuidIds
    from hellodoctor_adapters.registry import UnknownStorage, open_storage
    from hellodoctor_domain import Scheduling
    from hellodoctor_http.demo import steps

    settings = _settings()
    _prepare_embedded_database(settings)
    try:
        storage = open_storage(settings.database_url)
    except (PortError, UnknownStorage) as error:
        raise click.ClickException(str(error)) from error
    clock = SystemClock()
    scheduling = Scheduling(storage, clock, UuidIds())
    planned = list(steps(scheduling, clock))
    created = 0
    with click.progressbar(
        planned, label="seeding demo data", item_show_func=lambda s: s.label if s else ""
    ) as bar:
        for step in bar:
            created += step.run()
    click.echo(f"demo data: {created} of {len(planned)} steps added something (0: already there)")


# -- db --------------------------------------------------------------------------------------


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
