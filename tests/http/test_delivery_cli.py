"""Delivery from the command line: ``hellodoctor worker`` delivers the outbox's mails with no
broker (the embedded default), into the Maildir a newcomer reads; the background loop ``serve``
runs in development; ``hellodoctor consume`` needs a broker."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from attrs import evolve
from click.testing import CliRunner

from hellodoctor_adapters.notify import MaildirNotifier
from hellodoctor_adapters.sqlalchemy.testing import migrated_sqlite_file
from hellodoctor_adapters.testing.fixtures import doctor, every_day, patient
from hellodoctor_domain import Actor, BookingRequest, DoctorId, PatientId
from hellodoctor_domain.model.values import EmailAddress, UserId
from hellodoctor_http.bootstrap import bootstrap
from hellodoctor_http.cli import main
from hellodoctor_http.config import Settings
from hellodoctor_http.delivery import deliver_until


def test_worker_once_delivers_a_booking_s_mails_into_the_maildir(tmp_path: Path) -> None:
    database, mail = migrated_sqlite_file(tmp_path), tmp_path / "mail"
    components = bootstrap(Settings(database_url=database, jwt_secret="k" * 40, mail_folder=mail))
    try:
        admin = Actor.admin(UserId("admin"))
        scheduling = components.scheduling
        scheduling.register_doctor(admin, doctor("d1", email=EmailAddress("dr@example.org")))
        scheduling.define_availability(admin, every_day(DoctorId("d1")))
        scheduling.register_patient(evolve(patient("p1"), email=EmailAddress("p1@example.org")))
        request = BookingRequest(
            doctor_id=DoctorId("d1"),
            patient_id=PatientId("p1"),
            # The worker runs on the real clock: a visit the day after tomorrow.
            start=(datetime.now(UTC) + timedelta(days=2)).replace(
                hour=9, minute=0, second=0, microsecond=0
            ),
        )
        scheduling.book(Actor.patient(PatientId("p1")), request)
    finally:
        components.close()
    assert MaildirNotifier(mail).messages() == []  # the request only wrote the outbox

    environment = {"HELLODOCTOR_DATABASE_URL": database, "HELLODOCTOR_MAIL_DIR": str(mail)}
    result = CliRunner().invoke(main, ["worker", "--once"], env=environment)
    assert result.exit_code == 0, result.output
    assert "relayed 2 events" in result.output  # the hours changed, then the booking
    delivered = MaildirNotifier(mail).messages()
    assert sorted(m["To"] for m in delivered) == ["dr@example.org", "p1@example.org"]
    assert {m["X-HelloDoctor-Kind"] for m in delivered} == {"appointment-booked"}
    # Readable as it lies in the folder: plain UTF-8, not quoted-printable.
    raw = b"".join(path.read_bytes() for path in (mail / "new").iterdir())
    assert b"Your appointment is confirmed." in raw

    again = CliRunner().invoke(main, ["worker", "--once"], env=environment)
    assert "relayed 0 events" in again.output
    assert len(MaildirNotifier(mail).messages()) == 2


def test_the_background_loop_delivers_until_stopped() -> None:
    passes = threading.Semaphore(0)

    def deliver() -> int:
        passes.release()
        return 0

    stop = threading.Event()
    thread = threading.Thread(target=deliver_until, args=(stop, deliver), kwargs={"interval": 0.01})
    thread.start()
    assert passes.acquire(timeout=30)
    assert passes.acquire(timeout=30)  # and again, pass after pass
    stop.set()
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_consume_needs_a_broker() -> None:
    result = CliRunner().invoke(
        main, ["consume", "--idle-exit", "1"], env={"HELLODOCTOR_DATABASE_URL": "memory://"}
    )
    assert result.exit_code != 0
    assert "HELLODOCTOR_BROKER_URL" in result.output
