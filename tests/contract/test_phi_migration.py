"""Migration 0014_phi on a database an older version filled: the plain values survive the
column changes, are read as they are, and ``keys rewrap`` seals them and fills the blind
indexes (PostgreSQL converts the column types; SQLite only gains the index column)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory, create_engine, upgrade
from hellodoctor_adapters.sqlalchemy.provision import create_postgres_schema, drop_postgres_schema
from hellodoctor_adapters.sqlalchemy.testing import postgres_server_url
from hellodoctor_adapters.testing.contract_encryption_data import NEW_ONLY, ROTATING
from hellodoctor_domain.model.records import RecordId
from hellodoctor_domain.model.values import EmailAddress, PatientId


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    url = create_postgres_schema(postgres_server_url())
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        drop_postgres_schema(url)


_OLD_ROWS = [
    "INSERT INTO patients (id, name, date_of_birth, phone, email, health_id, "
    "emergency_contacts, allergies, blood_group, version) VALUES ('p1', 'Ada', '1980-02-03', "
    "'+44 7700 900123', 'ada@example.org', 'NHS-1', "
    """'[{"name": "Bo", "phone": "+1 555 0100", "relationship": "son"}]', '["latex"]', 'O-', 1)""",
    "INSERT INTO medical_records (id, revision, patient_id, created_at, body) VALUES "
    "('rec-1', 1, 'p1', :created, :body)",
    "INSERT INTO accounts (id, email, email_key, role, status, created_at, patient_id, "
    "totp_enabled, version) VALUES ('u1', 'Ada@Example.org', 'ada@example.org', 'patient', "
    "'active', :created, 'p1', false, 1)",
]
_BODY = (
    '{"author_id": "doc-1", "kind": "consultation", "appointment_id": null, '
    '"hospital_id": null, "diagnoses": [["E11.9", "Type 2 diabetes", "chronic"]], '
    '"symptoms": [], "vitals": [], "prescriptions": [], "lab_results": [], "allergies": [], '
    '"notes": "old note", "attachments": [], "follow_up": null, "correction_reason": null}'
)


def test_plain_rows_of_0013_read_after_the_upgrade_and_sealed_by_rewrap(
    empty_database: str,
) -> None:
    engine = create_engine(empty_database)
    try:
        upgrade(engine, "0013_clinic_day")
        # As the old columns held them: UTC text on SQLite, timestamptz on PostgreSQL.
        sqlite = engine.dialect.name == "sqlite"
        created = "'2026-03-29 01:30:00.000000'" if sqlite else "now()"
        with engine.begin() as connection:
            for statement in _OLD_ROWS:
                connection.execute(sa.text(statement.replace(":created", created)), {"body": _BODY})
        upgrade(engine)
        storage = SqlUnitOfWorkFactory(engine, check_schema=True, cipher=ROTATING)
        with storage() as uow:
            patient = uow.patients.get(PatientId("p1"))
            assert (patient.date_of_birth, patient.allergies) == (date(1980, 2, 3), ("latex",))
            assert patient.emergency_contacts[0].name == "Bo"
            assert uow.records.revisions(RecordId("rec-1"))[0].notes == "old note"
            assert uow.accounts.by_email(EmailAddress("ADA@example.org")) is not None
            assert uow.emergency_grants.patient_with_health_id("NHS-1") is None  # no index yet
        report = storage.rewrap()
        assert report.table("patients").rewrapped == 7
        assert (report.table("medical_records").rewrapped, report.table("accounts").rewrapped) == (
            1,
            1,
        )
        with engine.connect() as connection:
            dump = str(connection.exec_driver_sql("SELECT * FROM patients").all())
            dump += str(connection.exec_driver_sql("SELECT * FROM medical_records").all())
            dump += str(connection.exec_driver_sql("SELECT * FROM accounts").all())
        for plain in ("7700", "NHS-1", "latex", "Type 2", "old note", "ada@", "Ada@", "1980"):
            assert plain not in dump
        with SqlUnitOfWorkFactory(engine, cipher=NEW_ONLY)() as uow:
            assert uow.patients.get(PatientId("p1")).phone == "+44 7700 900123"
            assert uow.emergency_grants.patient_with_health_id("NHS-1") == PatientId("p1")
            assert uow.accounts.by_email(EmailAddress("ada@example.org")) is not None
    finally:
        engine.dispose()
