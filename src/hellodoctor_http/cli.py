"""The ``hellodoctor`` command. Each command builds what it needs through the composition root
(``hellodoctor_http.bootstrap``).

* ``hellodoctor serve`` runs the API under gunicorn (``--bind`` or ``HELLODOCTOR_BIND``);
  in development, on the default SQLite file, it creates or migrates the schema first.
* ``hellodoctor signal`` runs the WebSocket signalling server of video consultations (uvicorn;
  ``--bind`` or ``HELLODOCTOR_SIGNALLING_BIND``).
* ``hellodoctor demo seed`` fills the configured storage with demo hospitals and demo logins
  (idempotent).
* ``hellodoctor worker`` expires lapsed holds (cancelling their payments), resends refunds
  and relays the outbox, in a loop (``--once`` for one pass); run as many as you like.
* ``hellodoctor admin create --email ...`` makes an admin account (the first one, typically);
  ``--role hospital_admin --hospital <id>`` or ``--role insurer --scheme <id>`` one appointed
  to its hospital or scheme.
* ``hellodoctor db upgrade`` / ``db check`` migrate or check the relational schema.
* ``hellodoctor retention run`` applies the retention policy once; ``hellodoctor patients erase
  <id> --reason ...`` erases a patient's personal data on request (docs/retention.md).
* ``hellodoctor keys generate`` / ``keys rewrap`` make a key, and seal health data under the
  current key after a rotation (``hellodoctor_http/keys.py``, docs/encryption.md).

Heavy imports (gunicorn, falcon, SQLAlchemy) happen inside the commands, so ``--help`` is
quick and ``db`` works without the server extra.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hellodoctor_domain.errors import PortError
from hellodoctor_http.config import ConfigurationError, Settings

if TYPE_CHECKING:
    from hellodoctor_domain.use_cases.staff import StaffPlace
    from hellodoctor_http.bootstrap import Components

DATABASE_URL_VARIABLE = "HELLODOCTOR_DATABASE_URL"
ADMIN_PASSWORD_VARIABLE = "HELLODOCTOR_ADMIN_PASSWORD"


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
        f"  portal:     {base}/  (sign in with a demo login below)\n"
        f"  API:        {base}/api/v1/doctors\n"
        f"  docs:       {base}/api-docs\n"
        f"  OpenAPI:    {base}/openapi.json\n"
        f"  health:     {base}/healthz  {base}/readyz  {base}/metrics"
    )
    if not settings.is_production:
        _print_demo_logins(settings)
    from hellodoctor_http.server import serve as run

    run(settings, bind=bind, workers=workers, timeout=timeout)


@main.command()
@click.option(
    "--bind", envvar="HELLODOCTOR_SIGNALLING_BIND", default=None, help="host:port to listen on"
)
def signal(bind: str | None) -> None:
    """Run the WebSocket signalling server of video consultations (uvicorn)."""
    from hellodoctor_http.server import configure_logging
    from hellodoctor_http.signalling import serve as run

    configure_logging()
    settings = _settings()
    _prepare_embedded_database(settings)
    where = bind or settings.signalling_bind
    click.echo(
        f"HelloDoctor signalling ({settings.environment}) on ws://{where}/ws/rooms/{{id}}; "
        f"fan-out {'through Redis' if settings.redis_url else 'in this process only'}"
    )
    run(settings, bind=where)


def _print_demo_logins(settings: Settings) -> None:
    """In development, the demo logins (when `demo seed` made them) instead of tokens: sign in
    at POST /api/v1/auth/login, or with the docs' Authorize button after doing so."""
    from hellodoctor_http.demo import DEMO_LOGINS, DEMO_PASSWORD, demo_logins_present

    try:
        components = _bootstrap(settings)
        try:
            present = demo_logins_present(components.storage)
        finally:
            components.close()
    except (PortError, click.ClickException):
        present = False
    if not present:
        click.echo("  no demo logins yet: run `hellodoctor demo seed` first")
        return
    click.echo(f"  demo logins (password {DEMO_PASSWORD}; POST /api/v1/auth/login):")
    for login in DEMO_LOGINS:
        click.echo(f"    {login.role.value:<8} {login.email:<28} {login.profile}")
    click.echo(f"  e-mails (codes, links) go to {settings.mail_folder}/new unless SMTP is set")


def _bootstrap(settings: Settings) -> Components:
    """The composition root over the configured storage; its failures end the command."""
    from hellodoctor_adapters.registry import UnknownStorage
    from hellodoctor_http.bootstrap import bootstrap

    try:
        return bootstrap(settings)
    except (PortError, UnknownStorage) as error:
        raise click.ClickException(str(error)) from error


# -- worker ----------------------------------------------------------------------------------


@main.command()
@click.option("--once", is_flag=True, help="One pass, then exit (cron, tests).")
@click.option(
    "--interval",
    type=click.FloatRange(0.1, 3600),
    default=30.0,
    show_default=True,
    help="Seconds between passes.",
)
def worker(once: bool, interval: float) -> None:
    """Expire lapsed holds and their payments, pass lapsed waitlist offers on to the next
    waiting patient, resend unsent refunds and run the storage's
    housekeeping (on MongoDB: repair wallet writes a crash cut short, sweep stale claims, relay
    stranded events). Safe to run in several processes."""
    import signal
    import threading

    from hellodoctor_http.server import configure_logging
    from hellodoctor_http.worker import WorkerPass, run_forever, run_once, storage_housekeeping

    configure_logging()
    settings = _settings()
    _prepare_embedded_database(settings)
    components = _bootstrap(settings)
    try:
        housekeeping = storage_housekeeping(components.storage)
        relay = components.delivery.relay if components.delivery is not None else None

        def report(done: WorkerPass) -> None:
            chores = ", ".join(f"{count} {name}" for name, count in done.housekeeping.items())
            click.echo(
                f"expired {done.expired} holds, checked {done.refunds_checked} unsent refunds, "
                f"relayed {done.relayed} events"
                + (f"; housekeeping: {chores}" if chores else "")
                + (f"; swept {done.orphans_swept} orphan files" if done.orphans_swept else "")
                + (
                    f"; refreshed {done.free_slots_refreshed} free slot summaries"
                    if done.free_slots_refreshed
                    else ""
                )
                + (f"; retention deleted {done.retained}" if done.retained else "")
                + (
                    f"; offered {done.offers_passed_on} lapsed waitlist offers on"
                    if done.offers_passed_on
                    else ""
                )
            )

        if once:
            report(
                run_once(
                    components.scheduling,
                    components.billing,
                    housekeeping,
                    documents=components.documents,
                    relay=relay,
                    finder=components.finder,
                    retention=components.retention,
                    waitlist=components.waitlist,
                )
            )
            return
        stop = threading.Event()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signal_number, lambda *_: stop.set())
        click.echo(f"worker: a pass every {interval:g}s (stop with Ctrl-C or SIGTERM)")
        run_forever(
            components.scheduling,
            components.billing,
            housekeeping,
            interval=interval,
            stop=stop,
            report=report,
            documents=components.documents,
            relay=relay,
            finder=components.finder,
            retention=components.retention,
            waitlist=components.waitlist,
        )
    except PortError as error:
        raise click.ClickException(str(error)) from error
    finally:
        components.close()


@main.command()
@click.option(
    "--idle-exit",
    type=click.FloatRange(0.1, 3600),
    default=None,
    help="Exit after this many seconds without a message (default: run until stopped).",
)
def consume(idle_exit: float | None) -> None:
    """Turn the broker's events (HELLODOCTOR_BROKER_URL) into notifications; each message has
    one effect however often it is delivered. Safe to run in several processes."""
    from hellodoctor_http.server import configure_logging

    configure_logging()
    settings = _settings()
    _prepare_embedded_database(settings)
    components = _bootstrap(settings)
    try:
        if components.delivery is None:
            raise click.ClickException("this storage offers no outbox delivery")
        click.echo(f"consumed {components.delivery.consume(idle_exit)} messages")
    except PortError as error:
        raise click.ClickException(str(error)) from error
    finally:
        components.close()


# -- admin -----------------------------------------------------------------------------------


@main.group()
def retention() -> None:
    """The retention policy (docs/retention.md): what is kept how long."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted, per kind.")
def retention_run(dry_run: bool) -> None:
    """Delete, once, what the retention policy says has been kept long enough (the worker
    does it on every pass); with --dry-run only list the counts."""
    settings = _settings()
    _prepare_embedded_database(settings)
    components = _bootstrap(settings)
    try:
        policy = components.retention
        if policy is None:
            raise click.ClickException("this storage offers no retention")
        done = policy.run(dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        for kind, count in done.counts.items():
            click.echo(f"{kind}: {verb} {count}")
        click.echo(f"audit log: kept (at least {settings.retention_audit_log_years} years)")
    except PortError as error:
        raise click.ClickException(str(error)) from error
    finally:
        components.close()


@main.group()
def patients() -> None:
    """Patients' requests about their data (docs/retention.md)."""


@patients.command("erase")
@click.argument("patient_id")
@click.option("--reason", required=True, help="The patient's request this erasure answers.")
@click.option("--operator", default=None, help="Who runs it, for the audit log (default: $USER).")
@click.option("--yes", is_flag=True, help="Erase without asking for confirmation.")
def erase_patient(patient_id: str, reason: str, operator: str | None, yes: bool) -> None:
    """Erase a patient's personal data on their request: the profile pseudonymised, the
    account disabled under an undeliverable address; the audit trail, the money ledger and
    clinical records kept under the pseudonymous id. Audited as an admin's erasure."""
    from hellodoctor_domain.errors import InvalidValue, NotFound
    from hellodoctor_domain.model.values import Actor, PatientId, UserId

    who = operator or os.environ.get("USER") or "operator"
    if not yes:
        click.confirm(
            f"Erase the personal data of patient {patient_id}? This cannot be undone", abort=True
        )
    settings = _settings()
    _prepare_embedded_database(settings)
    components = _bootstrap(settings)
    try:
        actor = Actor.admin(UserId(f"cli:{who}"))
        done = components.erasure.erase(actor, PatientId(patient_id), reason)
    except NotFound:
        raise click.ClickException(f"no patient {patient_id}") from None
    except InvalidValue as error:
        raise click.ClickException(str(error)) from None
    except PortError as error:
        raise click.ClickException(str(error)) from error
    finally:
        components.close()
    click.echo(f"patient {done.patient_id} erased at {done.erased_at.isoformat()}")
    click.echo(f"  pseudonymised: name -> {done.pseudonym}")
    click.echo(
        "  removed: date of birth, phone, e-mail, health ID, blood group, emergency contacts, "
        "allergies, language, time zone"
    )
    if done.account_erased:
        click.echo(
            f"  account: e-mail -> {done.pseudonym}@erased.invalid, password and two-factor "
            "dropped, disabled, every session ended"
        )
    else:
        click.echo("  account: none found by the profile's e-mail")
    click.echo(
        "  kept: audit trail (this erasure is an entry), money ledger, clinical records "
        "and appointments, under the pseudonymous id"
    )


@main.group()
def admin() -> None:
    """Accounts with the admin role."""


@admin.command("create")
@click.option("--email", required=True, help="The admin's e-mail address (their sign-in name).")
@click.option(
    "--role",
    type=click.Choice(["admin", "hospital_admin", "insurer"]),
    default="admin",
    show_default=True,
    help="hospital_admin needs --hospital, insurer needs --scheme.",
)
@click.option("--hospital", "hospital_id", help="The hospital a hospital_admin administers.")
@click.option("--scheme", "scheme_id", help="The insurance scheme an insurer reviews.")
def create_admin(
    email: str, role: str, hospital_id: str | None = None, scheme_id: str | None = None
) -> None:
    """Create an active admin account, or a hospital administrator or insurer appointed to
    their hospital or scheme. The password is prompted for (twice), or read from
    HELLODOCTOR_ADMIN_PASSWORD for automation."""
    from hellodoctor_domain.errors import AlreadyExists, InvalidValue, NotFound
    from hellodoctor_domain.model.values import EmailAddress

    place = _staff_place(role, hospital_id, scheme_id)

    settings = _settings()
    try:
        address = EmailAddress(email)
    except InvalidValue as error:
        raise click.BadParameter(str(error), param_hint="--email") from error
    password = os.environ.get(ADMIN_PASSWORD_VARIABLE) or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    _prepare_embedded_database(settings)
    components = _bootstrap(settings)
    try:
        identity = components.identity
        try:
            account = identity.create_admin(address, password, place)
        except NotFound as error:
            raise click.ClickException(str(error)) from None
        except AlreadyExists:
            raise click.ClickException(f"{address} already has an account") from None
        except InvalidValue as error:  # a weak password
            raise click.ClickException(f"password refused: {error}") from None
        click.echo(f"{account.role} {account.email} created (account {account.id})")
        if account.role in settings.require_totp_for:
            enrollment = identity.begin_two_factor(account.id)
            click.echo(
                "admins must use two-factor sign-in: add this to an authenticator app, then "
                "sign in with its code (the first good code switches it on):\n"
                f"  {enrollment.provisioning_uri}"
            )
    except PortError as error:
        raise click.ClickException(str(error)) from error
    finally:
        components.close()


def _staff_place(role: str, hospital_id: str | None, scheme_id: str | None) -> StaffPlace | None:
    """Where ``admin create --role`` puts the account: nowhere for an admin, the hospital or
    the scheme for the others (each option only with its role)."""
    from hellodoctor_domain.model.values import HospitalId, SchemeId
    from hellodoctor_domain.use_cases.staff import StaffPlace

    if role == "hospital_admin" and hospital_id and not scheme_id:
        return StaffPlace(hospital_id=HospitalId(hospital_id))
    if role == "insurer" and scheme_id and not hospital_id:
        return StaffPlace(scheme_id=SchemeId(scheme_id))
    if role == "admin" and not hospital_id and not scheme_id:
        return None
    raise click.UsageError(
        "--role hospital_admin takes --hospital, --role insurer takes --scheme, "
        "and an admin neither"
    )


# -- demo ------------------------------------------------------------------------------------


@main.group()
def demo() -> None:
    """Demo data."""


@demo.command()
def seed() -> None:
    """Fill the configured storage with demo hospitals, doctors, patients, appointments and
    demo logins."""
    from hellodoctor_http.demo import hospital_steps, insurance_steps, login_steps, steps

    settings = _settings()
    _prepare_embedded_database(settings)
    components = _bootstrap(settings)
    clock = components.clock
    planned = [
        *steps(components.scheduling, clock, components.hospitals),
        *login_steps(components.storage, components.hasher, clock),
        *hospital_steps(components.hospitals, components.transfers),
        *insurance_steps(components.insurance, clock),
    ]
    created = 0
    try:
        with click.progressbar(
            planned, label="seeding demo data", item_show_func=lambda s: s.label if s else ""
        ) as bar:
            for step in bar:
                created += step.run()
    except PortError as error:
        raise click.ClickException(str(error)) from error
    finally:
        components.close()
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


# -- keys (docs/encryption.md) ------------------------------------------------------------


def _keys_group() -> click.Group:
    from hellodoctor_http.keys import keys

    return keys


main.add_command(_keys_group(), "keys")
