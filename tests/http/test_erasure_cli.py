"""``hellodoctor patients erase``: asks first (or ``--yes``), erases through the erasure use
case on the configured storage, says what went and what stays; an unknown patient is an
error."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.testing import migrated_sqlite_file
from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.model.profiles import Patient
from hellodoctor_domain.model.values import EmailAddress, PatientId, Role, UserId
from hellodoctor_domain.use_cases.erasure import pseudonym
from hellodoctor_http.cli import main


def test_patients_erase_confirms_then_pseudonymises(tmp_path: Path) -> None:
    url = migrated_sqlite_file(tmp_path)
    factory = SqlUnitOfWorkFactory(url)
    address = EmailAddress("ada@example.org")
    with factory() as uow:
        uow.patients.add(
            Patient(PatientId("p-ada"), "Ada Lovelace", email=address, phone="+447700900123")
        )
        uow.accounts.add(
            Account(
                UserId("u-ada"),
                address,
                Role.PATIENT,
                AccountStatus.ACTIVE,
                datetime.now(UTC),
                password_hash="$2b$12$x",
                patient_id=PatientId("p-ada"),
            )
        )
        uow.commit()
    env = {"HELLODOCTOR_DATABASE_URL": url}
    command = ["patients", "erase", "p-ada", "--reason", "ticket 42", "--operator", "ops"]

    declined = CliRunner().invoke(main, command, env=env, input="n\n")
    assert declined.exit_code == 1
    with factory() as uow:
        assert uow.patients.get(PatientId("p-ada")).name == "Ada Lovelace"

    erased = CliRunner().invoke(main, [*command, "--yes"], env=env)
    assert erased.exit_code == 0, erased.output
    name = pseudonym(PatientId("p-ada"))
    assert f"name -> {name}" in erased.output
    assert f"{name}@erased.invalid" in erased.output
    assert "kept: audit trail" in erased.output
    with factory() as uow:
        profile = uow.patients.get(PatientId("p-ada"))
        assert (profile.name, profile.phone, profile.email) == (name, None, None)
        account = uow.accounts.get(UserId("u-ada"))
        assert account.status is AccountStatus.DISABLED
        assert account.password_hash is None
        (entry,) = uow.audit.chain()
        assert entry.entry.user_id == UserId("cli:ops")
        assert entry.entry.purpose == "erasure:ticket 42"

    unknown = CliRunner().invoke(
        main, ["patients", "erase", "p-nobody", "--reason", "x", "--yes"], env=env
    )
    assert unknown.exit_code == 1
    assert "no patient p-nobody" in unknown.output
    factory.dispose()
