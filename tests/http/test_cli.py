"""``hellodoctor admin create`` and ``hellodoctor demo seed`` on a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hellodoctor_adapters.notify import MaildirNotifier
from hellodoctor_adapters.security import BcryptPasswordHasher
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_domain import EmailAddress, Role
from hellodoctor_domain.model.accounts import AccountStatus, check_password_strength
from hellodoctor_http.cli import main
from hellodoctor_http.demo import DEMO_LOGINS, DEMO_PASSWORD

ADMIN_PASSWORD = "a long admin passphrase"
STAFF = ("admin", "create", "--email")


@pytest.fixture
def environment(tmp_path: Path) -> dict[str, str]:
    return {
        "HELLODOCTOR_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "HELLODOCTOR_BCRYPT_COST": "4",
        "HELLODOCTOR_MAIL_DIR": str(tmp_path / "mail"),
    }


def _account(environment: dict[str, str], email: str):  # type: ignore[no-untyped-def]
    storage = SqlUnitOfWorkFactory(environment["HELLODOCTOR_DATABASE_URL"])
    try:
        with storage() as uow:
            return uow.accounts.by_email(EmailAddress(email))
    finally:
        storage.dispose()


def test_admin_create_takes_the_password_from_the_environment(
    environment: dict[str, str],
) -> None:
    runner = CliRunner()
    created = runner.invoke(
        main,
        ["admin", "create", "--email", "root@clinic.example"],
        env={**environment, "HELLODOCTOR_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    assert created.exit_code == 0, created.output
    account = _account(environment, "root@clinic.example")
    assert (account.role, account.status) == (Role.ADMIN, AccountStatus.ACTIVE)
    assert BcryptPasswordHasher(4).verify(ADMIN_PASSWORD, account.password_hash)
    assert "otpauth://" not in created.output
    again = runner.invoke(
        main,
        ["admin", "create", "--email", "root@clinic.example"],
        env={**environment, "HELLODOCTOR_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )
    assert again.exit_code != 0
    assert "already has an account" in again.output


def test_admin_create_prompts_twice_and_refuses_a_weak_password(
    environment: dict[str, str],
) -> None:
    runner = CliRunner()
    mismatched = runner.invoke(
        main,
        ["admin", "create", "--email", "a@clinic.example"],
        env=environment,
        input=f"{ADMIN_PASSWORD}\nsomething else entirely\n{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n",
    )
    assert mismatched.exit_code == 0, mismatched.output
    assert "do not match" in mismatched.output
    weak = runner.invoke(
        main, ["admin", "create", "--email", "b@clinic.example"], env=environment, input="x\nx\n"
    )
    assert weak.exit_code != 0
    assert "password refused" in weak.output
    assert _account(environment, "b@clinic.example") is None


def test_admin_create_prints_the_totp_uri_when_admins_need_two_factor(
    environment: dict[str, str],
) -> None:
    created = CliRunner().invoke(
        main,
        ["admin", "create", "--email", "root@clinic.example"],
        env={
            **environment,
            "HELLODOCTOR_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "HELLODOCTOR_REQUIRE_TOTP_FOR": "admin,doctor",
        },
    )
    assert created.exit_code == 0, created.output
    assert "otpauth://totp/" in created.output
    assert _account(environment, "root@clinic.example").totp_secret is not None


def test_demo_seed_makes_active_demo_logins_once(environment: dict[str, str]) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["demo", "seed"], env=environment)
    assert first.exit_code == 0, first.output
    hasher = BcryptPasswordHasher(4)
    for login in DEMO_LOGINS:
        check_password_strength(DEMO_PASSWORD, EmailAddress(login.email))
        account = _account(environment, login.email)
        assert (account.role, account.status) == (login.role, AccountStatus.ACTIVE)
        assert (account.patient_id, account.doctor_id) == (login.patient, login.doctor)
        assert hasher.verify(DEMO_PASSWORD, account.password_hash)
    assert {login.role for login in DEMO_LOGINS} == set(Role)
    _appointments_are_at_their_doctors_hospital(environment)
    second = runner.invoke(main, ["demo", "seed"], env=environment)
    assert second.exit_code == 0
    assert "demo data: 0 of" in second.output


def test_admin_create_makes_a_hospital_administrator_appointed_to_their_hospital(
    environment: dict[str, str],
) -> None:
    from hellodoctor_adapters.testing.contract_hospitals import hospital
    from hellodoctor_domain.model.values import HospitalId

    runner = CliRunner()
    env = {**environment, "HELLODOCTOR_ADMIN_PASSWORD": ADMIN_PASSWORD}
    first = runner.invoke(main, ["admin", "create", "--email", "root@clinic.example"], env=env)
    assert first.exit_code == 0, first.output
    storage = SqlUnitOfWorkFactory(environment["HELLODOCTOR_DATABASE_URL"])
    try:
        with storage() as uow:
            uow.hospitals.add(hospital("h1"))
            uow.commit()
    finally:
        storage.dispose()
    wrong = runner.invoke(
        main,
        [*STAFF, "x@clinic.example", "--role", "insurer", "--hospital", "h1"],
        env=env,
    )
    assert wrong.exit_code == 2
    assert "--role insurer takes --scheme" in wrong.output
    missing = runner.invoke(
        main,
        [*STAFF, "x@clinic.example", "--role", "hospital_admin", "--hospital", "h9"],
        env=env,
    )
    assert missing.exit_code == 1
    assert "h9" in missing.output
    assert _account(environment, "x@clinic.example") is None  # nothing half made
    made = runner.invoke(
        main,
        [*STAFF, "lead@clinic.example", "--role", "hospital_admin", "--hospital", "h1"],
        env=env,
    )
    assert made.exit_code == 0, made.output
    account = _account(environment, "lead@clinic.example")
    assert (account.role, account.status) == (Role.HOSPITAL_ADMIN, AccountStatus.ACTIVE)
    storage = SqlUnitOfWorkFactory(environment["HELLODOCTOR_DATABASE_URL"])
    try:
        with storage() as uow:
            assert uow.hospitals.get(HospitalId("h1")).administrators == (account.id,)
    finally:
        storage.dispose()


def _appointments_are_at_their_doctors_hospital(environment: dict[str, str]) -> None:
    """The demo doctors' hours name their hospital, so each in-person appointment does."""
    from hellodoctor_domain.ports.scheduling import AppointmentQuery

    storage = SqlUnitOfWorkFactory(environment["HELLODOCTOR_DATABASE_URL"])
    try:
        with storage() as uow:
            found = uow.appointments.search(AppointmentQuery(limit=200))
    finally:
        storage.dispose()
    in_person = [a for a in found if a.appointment_type.value == "in_person"]
    assert in_person
    for appointment in in_person:
        # dr-lon-1 works at hosp-lon.
        expected = "hosp-" + appointment.doctor_id.value.split("-")[1]
        assert appointment.hospital_id is not None
        assert appointment.hospital_id.value == expected


def test_the_demo_s_mails_reach_the_maildir(environment: dict[str, str]) -> None:
    """The README's run command: demo seed, then the server's delivery loop (one worker pass
    here) puts the demo appointments' mails in var/mail, to the demo logins among others."""
    runner = CliRunner()
    assert runner.invoke(main, ["demo", "seed"], env=environment).exit_code == 0
    delivered = runner.invoke(main, ["worker", "--once"], env=environment)
    assert delivered.exit_code == 0, delivered.output
    mail = MaildirNotifier(environment["HELLODOCTOR_MAIL_DIR"]).messages()
    recipients = {str(message["To"]) for message in mail}
    assert {"grace@hellodoctor.example", "doctor@hellodoctor.example"} <= recipients
    assert {message["X-HelloDoctor-Kind"] for message in mail} >= {"appointment-booked"}
