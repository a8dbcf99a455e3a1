"""Test support for delivery (needs the dev extra: aiosmtpd): an SMTP server on a free
loopback port that keeps what it receives, and a small clinic on SQLite whose mails go to it
through the relay and the notification consumer."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from attrs import evolve

from hellodoctor_adapters.mail import EmailMessenger
from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.notify import SmtpNotifier
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.testing import migrated_sqlite_file
from hellodoctor_adapters.testing.fixtures import doctor, every_day, patient
from hellodoctor_domain import Actor, BookingRequest, DoctorId, PatientId, Scheduling
from hellodoctor_domain.model.values import AppointmentId, EmailAddress, UserId
from hellodoctor_domain.use_cases.delivery import RetryPolicy
from hellodoctor_http.delivery import Delivery, build_delivery

ZONE = "Europe/Paris"
# Sunday 31 March 2030: Paris moves from CET (+01:00) to CEST (+02:00) at 02:00 local.
DST_DAY = datetime(2030, 3, 31, tzinfo=UTC)
NOW = DST_DAY - timedelta(days=3)
ADMIN = Actor.admin(UserId("admin"))
PATIENT = Actor.patient(PatientId("p1"))


class SmtpInbox:
    def __init__(self) -> None:
        self.received: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.received if m["To"] == address]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Outlet:
    """The SMTP server, or (``down``) an SMTP port nobody listens on."""

    def __init__(self, port: int) -> None:
        self.up = SmtpNotifier("127.0.0.1", port, "no-reply@hellodoctor.test", security="none")
        self.down = False

    def deliver(self, message: EmailMessage) -> None:
        if self.down:
            SmtpNotifier("127.0.0.1", free_port(), "x@y.test", security="none").deliver(message)
        self.up.deliver(message)


class World:
    """A clinic on SQLite whose mails go to the SMTP server."""

    def __init__(self, directory: Path, smtp_port: int, broker_url: str | None = None) -> None:
        self.storage = SqlUnitOfWorkFactory(migrated_sqlite_file(directory))
        self.clock = ManualClock(NOW)
        self.scheduling = Scheduling(
            self.storage, self.clock, SequentialIds("apt"), OfflinePaymentGateway()
        )
        self.outlet = Outlet(smtp_port)
        self.messenger = EmailMessenger(self.outlet, "HelloDoctor <no-reply@hellodoctor.test>")
        self.delivery: Delivery = build_delivery(
            self.storage.delivery(),
            self.messenger,
            self.storage,
            self.clock,
            broker_url=broker_url,
            policy=RetryPolicy(max_attempts=3),
        )
        self.scheduling.register_doctor(
            ADMIN, doctor("d1", zone=ZONE, email=EmailAddress("dr@example.org"))
        )
        self.scheduling.define_availability(ADMIN, every_day(DoctorId("d1"), zone=ZONE))
        self.scheduling.register_patient(
            evolve(patient("p1"), email=EmailAddress("p1@example.org"))
        )
        # The set-up's own event (the hours changed) counts as delivered: tests count theirs.
        outbox, _ = self.storage.delivery()
        done = outbox.claim(self.clock.now(), timedelta(minutes=1), 100)
        outbox.mark_sent([entry.id for entry in done], self.clock.now())

    def book(self, start: datetime) -> AppointmentId:
        request = BookingRequest(doctor_id=DoctorId("d1"), patient_id=PatientId("p1"), start=start)
        booked = self.scheduling.book(PATIENT, request)
        return booked.id

    def close(self) -> None:
        self.delivery.close()
        self.storage.dispose()


@contextmanager
def smtp_server() -> Iterator[tuple[SmtpInbox, int]]:
    inbox, port = SmtpInbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
