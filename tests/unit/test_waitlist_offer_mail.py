"""The waitlist's offer reaches the patient through the outbox (issue 17 item 1): the consumer
offers the time a cancellation freed, then mails the patient it was offered to, once, with
the offer's own template ("a slot is offered to you")."""

from __future__ import annotations

from datetime import date, timedelta

from attrs import evolve

from hellodoctor_adapters.mail.messenger import EmailMessenger
from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory, ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.outbox import event_of
from hellodoctor_adapters.relay import DirectTransport
from hellodoctor_adapters.testing.fixtures import MONDAY, doctor, every_day, patient
from hellodoctor_domain import Actor, BookingRequest, DoctorId, Money, PatientId, Scheduling
from hellodoctor_domain.model.values import EmailAddress, UserId
from hellodoctor_domain.model.waitlist import WaitlistStatus
from hellodoctor_domain.ports.notifications import AppointmentNotice, NoticeKind
from hellodoctor_domain.ports.outbox import OutboxEntry
from hellodoctor_domain.use_cases.delivery import Relay
from hellodoctor_domain.use_cases.notifying import NotificationConsumer
from hellodoctor_domain.use_cases.waitlist import JoinRequest, Waitlist, WaitlistOfferer

ADMIN = Actor.admin(UserId("admin"))
NOW = MONDAY + timedelta(hours=6)
VISIT = MONDAY + timedelta(days=1, hours=10)  # 10:00 London on Tuesday (GMT)


class Mailbox:
    def __init__(self) -> None:
        self.sent: list[AppointmentNotice] = []

    def send(self, notice: AppointmentNotice) -> None:
        self.sent.append(notice)


class Outlet:
    def __init__(self) -> None:
        self.messages: list[object] = []

    def deliver(self, message: object) -> None:
        self.messages.append(message)


def test_a_cancellation_offers_its_time_and_mails_the_waiting_patient_once() -> None:
    storage = InMemoryUnitOfWorkFactory()
    clock = ManualClock(NOW)
    scheduling = Scheduling(storage, clock, SequentialIds("apt"), OfflinePaymentGateway())
    scheduling.register_doctor(ADMIN, doctor("d1", Money(3000, "GBP"), zone="Europe/London"))
    scheduling.define_availability(ADMIN, every_day(DoctorId("d1"), zone="Europe/London"))
    for key in ("p1", "p2"):
        scheduling.register_patient(evolve(patient(key), email=EmailAddress(f"{key}@example.org")))
    waitlist = Waitlist(storage, clock, SequentialIds("wl"))
    entry = waitlist.join(
        Actor.patient(PatientId("p1")),
        JoinRequest(
            patient_id=PatientId("p1"),
            doctor_id=DoctorId("d1"),
            first_day=date(2030, 1, 8),
            last_day=date(2030, 1, 8),
            window_start=9 * 60,
            window_end=12 * 60,
        ),
    )
    held = scheduling.book(
        Actor.patient(PatientId("p2")),
        BookingRequest(doctor_id=DoctorId("d1"), patient_id=PatientId("p2"), start=VISIT),
    )
    outbox, inbox = storage.delivery()
    mailbox = Mailbox()
    consumer = NotificationConsumer(storage, inbox, mailbox, clock)
    offerer = WaitlistOfferer(waitlist)

    def handle(item: OutboxEntry) -> None:
        event = event_of(item.event_type, dict(item.payload))
        offerer.handle(item.id, event)
        consumer.handle(item.id, event)

    relay = Relay(outbox, DirectTransport(handle), clock)
    relay.drain()
    scheduling.cancel(Actor.patient(PatientId("p2")), held.id)
    relay.drain()
    offers = [n for n in mailbox.sent if n.kind is NoticeKind.OFFERED]
    assert [(n.patient.id, n.time.start) for n in offers] == [(PatientId("p1"), VISIT)]
    assert offers[0].hold_expires_at == NOW + timedelta(minutes=15)
    assert waitlist.entry(ADMIN, entry.id).status is WaitlistStatus.OFFERED
    # Delivering everything again sends nothing new and offers nothing twice.
    assert relay.drain() == 0
    assert len([n for n in mailbox.sent if n.kind is NoticeKind.OFFERED]) == 1

    outlet = Outlet()
    message = EmailMessenger(outlet, "HelloDoctor <x@hellodoctor.test>").compose(offers[0])
    assert message["Subject"] == "A time you waited for is free: it is held for you"
    text = message.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    assert "held for you until Monday 7 January 2030, 06:15 GMT" in body
    assert "(and pay £30.00)" in body or "(and pay 30.00 GBP)" in body
    assert "offered to the next patient waiting" in body
