"""Migrations, the start-up schema check, the console command, the outbox, entry points and
error translation of the SQLAlchemy adapters."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner

from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.registry import open_storage
from hellodoctor_adapters.sqlalchemy import (
    SchemaNotMigrated,
    SqlUnitOfWorkFactory,
    create_engine,
    upgrade,
)
from hellodoctor_adapters.sqlalchemy.migrate import VERSION_TABLE
from hellodoctor_adapters.sqlalchemy.provision import create_postgres_schema, drop_postgres_schema
from hellodoctor_adapters.sqlalchemy.schema import (
    UtcDateTime,
    json_type,
    metadata,
    outbox,
    payments,
    wallet_balances,
)
from hellodoctor_adapters.sqlalchemy.schema_search import FREE_TEXT_COLUMNS, FREE_TEXT_TABLES
from hellodoctor_adapters.sqlalchemy.testing import migrated_postgres_schema, postgres_server_url
from hellodoctor_adapters.testing.fixtures import MONDAY, at, doctor, every_day, patient
from hellodoctor_domain import Actor, BookingRequest, DoctorId, Money, PatientId, Scheduling
from hellodoctor_domain.errors import BackendUnavailable, SlotUnavailable
from hellodoctor_domain.ports.scheduling import DoctorQuery
from hellodoctor_http.cli import main


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it (no schema yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    postgres_server_url()
    url = create_postgres_schema(postgres_server_url())
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        drop_postgres_schema(url)


def test_an_unmigrated_database_is_refused_with_what_to_run(empty_database: str) -> None:
    with pytest.raises(SchemaNotMigrated, match="hellodoctor db upgrade"):
        SqlUnitOfWorkFactory(empty_database)


def test_db_upgrade_reads_the_url_from_the_environment_and_is_idempotent(
    empty_database: str,
) -> None:
    runner = CliRunner()
    environment = {"HELLODOCTOR_DATABASE_URL": empty_database}
    first = runner.invoke(main, ["db", "upgrade"], env=environment)
    assert first.exit_code == 0, first.output
    assert "upgraded from an empty database" in first.output
    again = runner.invoke(main, ["db", "upgrade"], env=environment)
    assert again.exit_code == 0, again.output
    assert "already at revision" in again.output
    check = runner.invoke(main, ["db", "check"], env=environment)
    assert check.exit_code == 0, check.output
    SqlUnitOfWorkFactory(empty_database).dispose()  # no longer refused


def test_db_check_fails_on_an_unmigrated_database(empty_database: str) -> None:
    result = CliRunner().invoke(
        main, ["db", "check"], env={"HELLODOCTOR_DATABASE_URL": empty_database}
    )
    assert result.exit_code != 0
    assert "hellodoctor db upgrade" in result.output


def test_db_upgrade_without_a_url_says_what_is_missing() -> None:
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"HELLODOCTOR_DATABASE_URL": ""})
    assert result.exit_code != 0
    assert "--url" in result.output


def test_the_migrations_build_exactly_the_tables_the_code_queries(empty_database: str) -> None:
    engine = create_engine(empty_database)
    try:
        upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": False, "version_table": VERSION_TABLE}
            )
            differences = [
                difference
                for difference in compare_metadata(context, metadata)
                # Indexes and constraints live only in the migrations (the queries do not
                # need them declared); tables and columns must agree exactly.
                if difference[0] in ("add_table", "remove_table", "add_column", "remove_column")
                # SQLite's FTS5 table of the doctor search (migration 0014_search).
                and not (difference[0] == "remove_table" and difference[1].name in FREE_TEXT_TABLES)
                # PostgreSQL's stored free-text vector (migration 0017_discovery).
                and not (
                    difference[0] == "remove_column"
                    and (difference[2], difference[3].name) in FREE_TEXT_COLUMNS
                )
            ]
    finally:
        engine.dispose()
    assert differences == []


def test_events_reach_the_outbox_in_the_same_transaction(empty_database: str) -> None:
    engine = create_engine(empty_database)
    upgrade(engine)
    factory = SqlUnitOfWorkFactory(engine)
    with factory() as uow:
        uow.doctors.add(doctor("d1", fee=Money(5000, "EUR")))
        uow.patients.add(patient("p1"))
        uow.patients.add(patient("p2"))
        uow.availability.save(every_day(DoctorId("d1")))
        uow.commit()
    scheduling = Scheduling(
        factory, ManualClock(MONDAY), SequentialIds("apt"), OfflinePaymentGateway()
    )
    held = scheduling.book(
        Actor.patient(PatientId("p1")),
        BookingRequest(doctor_id=DoctorId("d1"), patient_id=PatientId("p1"), start=at(9)),
    )
    with pytest.raises(SlotUnavailable):  # refused: its events must not reach the outbox
        scheduling.book(
            Actor.patient(PatientId("p2")),
            BookingRequest(doctor_id=DoctorId("d1"), patient_id=PatientId("p2"), start=at(9)),
        )
    scheduling.confirm(held.id)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(outbox).order_by(outbox.c.id)).mappings().all()
    engine.dispose()
    assert [(row["event_type"], row["aggregate_type"], row["aggregate_id"]) for row in rows] == [
        ("AppointmentHeld", "appointment", "apt-1"),
        ("AppointmentBooked", "appointment", "apt-1"),
    ]
    assert rows[0]["payload"]["price"] == {"minor_units": 5000, "currency": "EUR"}
    assert rows[0]["payload"]["time"]["start"] == at(9).isoformat()
    assert all(row["published_at"] is None for row in rows)


def test_events_already_in_the_outbox_become_appointments_events(empty_database: str) -> None:
    engine = create_engine(empty_database)
    try:
        upgrade(engine, "0003")
        outbox_at_0003 = sa.table(
            "outbox",
            sa.column("event_type"),
            sa.column("appointment_id"),
            sa.column("occurred_at", UtcDateTime),
            sa.column("payload", json_type()),
        )
        with engine.begin() as connection:
            connection.execute(
                sa.insert(outbox_at_0003).values(
                    event_type="AppointmentBooked",
                    appointment_id="apt-1",
                    occurred_at=MONDAY,
                    payload={},
                )
            )
        upgrade(engine)
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(outbox.c.event_type, outbox.c.aggregate_type, outbox.c.aggregate_id)
            ).all()
            pending = sa.inspect(connection).get_indexes("outbox")
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [("AppointmentBooked", "appointment", "apt-1")]
    assert [index["name"] for index in pending] == ["ix_outbox_pending"]


def test_storage_is_found_through_entry_points_by_url_scheme(empty_database: str) -> None:
    upgrade_result = CliRunner().invoke(
        main, ["db", "upgrade"], env={"HELLODOCTOR_DATABASE_URL": empty_database}
    )
    assert upgrade_result.exit_code == 0, upgrade_result.output
    factory = open_storage(empty_database)
    assert isinstance(factory, SqlUnitOfWorkFactory)
    factory.dispose()


def test_an_unreachable_server_is_backend_unavailable() -> None:
    # Port 9 (discard) is closed on loopback: the driver's connection error must not leak.
    # The factory still starts (a gunicorn worker that failed to boot on a passing outage
    # would stop the whole server; readiness reports it), and every unit of work refuses.
    factory = SqlUnitOfWorkFactory("postgresql://postgres@127.0.0.1:9/none?connect_timeout=2")
    try:
        with pytest.raises(BackendUnavailable), factory():
            pass
    finally:
        factory.dispose()


def test_a_connection_the_server_drops_is_backend_unavailable_and_the_pool_recovers() -> None:
    with migrated_postgres_schema() as url:
        name = f"hellodoctor-dropped-{uuid.uuid4().hex[:8]}"  # ours alone: the server is shared
        factory = SqlUnitOfWorkFactory(url.update_query_dict({"application_name": name}))
        try:
            with factory() as uow:
                uow.doctors.add(doctor("d1"))
                uow.commit()
            with pytest.raises(BackendUnavailable), factory() as uow:
                uow.doctors.get(DoctorId("d1"))
                with factory.engine.connect() as other:
                    terminated = other.execute(
                        sa.text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE application_name = :name AND pid <> pg_backend_pid()"
                        ),
                        {"name": name},
                    ).scalar_one()
                    assert terminated >= 1
                uow.doctors.get(DoctorId("d1"))
            with factory() as uow:  # a fresh connection: the outage is over
                assert uow.doctors.get(DoctorId("d1")).name == "Dr d1"
        finally:
            factory.dispose()


def test_an_in_memory_sqlite_database_is_refused() -> None:
    with pytest.raises(ValueError, match="SQLite file"):
        SqlUnitOfWorkFactory("sqlite://")


def test_postgres_schema_carries_the_exclusion_constraints() -> None:
    with migrated_postgres_schema() as url:
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                definitions = connection.execute(
                    sa.text(
                        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                        "WHERE contype = 'x' AND conrelid = 'appointments'::regclass"
                    )
                ).all()
        finally:
            engine.dispose()
    by_name = dict(definitions)  # type: ignore[arg-type]
    assert set(by_name) == {"appointments_doctor_no_overlap", "appointments_patient_no_overlap"}
    assert "tstzrange(starts_at, blocked_until" in by_name["appointments_doctor_no_overlap"]
    assert "tstzrange(starts_at, ends_at" in by_name["appointments_patient_no_overlap"]


def test_revision_0002_fills_the_search_keys_of_existing_doctors(empty_database: str) -> None:
    engine = create_engine(empty_database)
    try:
        upgrade(engine, "0001")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO doctors (id, name, specialty, registration_number, "
                    "fee_minor_units, fee_currency, time_zone, qualifications, languages, "
                    "accepting_bookings, version) VALUES ('d1', 'Dr Zoë Straße', 'Cardiology', "
                    "'R1', 0, 'EUR', 'UTC', '[]', '[\"Yoruba\", \"en\", \"EN\"]', true, 1)"
                )
            )
        upgrade(engine)
        indexes = {index["name"] for index in sa.inspect(engine).get_indexes("appointments")}
        factory = SqlUnitOfWorkFactory(engine)
        with factory() as uow:

            def found(**filters: Any) -> list[str]:
                return [d.id.value for d in uow.doctors.search(DoctorQuery(**filters))]

            assert found(language="YORUBA") == ["d1"]
            assert found(language="en") == ["d1"]
            assert found(text="STRASSE") == ["d1"]  # casefold, not lower(): ß is ss
            assert found(specialty="cardiology") == ["d1"]
            assert uow.doctors.get(DoctorId("d1")).languages == ("Yoruba", "en", "EN")
    finally:
        engine.dispose()
    assert {
        "ix_appointments_patient_starts_at_id",
        "ix_appointments_doctor_starts_at_id",
        "ix_appointments_starts_at_id",
    } <= indexes
    assert "ix_appointments_patient_starts_at" not in indexes  # replaced by the longer one


def test_the_database_itself_refuses_an_overdraft_and_a_wallet_part_above_the_amount(
    empty_database: str,
) -> None:
    """The rules hold for any client of the database, not only for this adapter: written
    here with plain SQL, bypassing the repositories."""
    engine = create_engine(empty_database)
    upgrade(engine)
    factory = SqlUnitOfWorkFactory(engine)
    with factory() as uow:
        uow.patients.add(patient("p1"))
        uow.commit()
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.insert(wallet_balances).values(patient_id="p1", currency="EUR", balance=100)
            )
        overdraft = pytest.raises(sa.exc.IntegrityError, match="ck_wallet_balances_not_negative")
        with overdraft, engine.begin() as connection:
            connection.execute(
                sa.update(wallet_balances).values(balance=wallet_balances.c.balance - 101)
            )
        wallet_part_above_the_amount = {
            "id": "pay-1",
            "purpose": "wallet_top_up",
            "patient_id": "p1",
            "method": "card",
            "amount_minor_units": 100,
            "currency": "EUR",
            "wallet_part_minor_units": 101,
            "status": "requires_payment",
            "created_at": MONDAY,
            "updated_at": MONDAY,
            "failure": "",
            "version": 1,
        }
        too_much = pytest.raises(sa.exc.IntegrityError, match="ck_payments_wallet_part")
        with too_much, engine.begin() as connection:
            connection.execute(sa.insert(payments).values(**wallet_part_above_the_amount))
    finally:
        engine.dispose()
