"""The notification consumer honours each person's preferences (channels, reminders, their
own time zone) and sends SMS through the SMS port (the in-memory fake here): each channel once
per event, whatever the redeliveries, and a failed SMS retried without repeating the e-mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from attrs import evolve

from hellodoctor_adapters.mail.messenger import EmailMessenger
from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory, ManualClock, SequentialIds
from hellodoctor_adapters.outbox import event_of
from hellodoctor_adapters.relay import DirectTransport
from hellodoctor_adapters.sms import InMemorySms
from hellodoctor_adapters.testing.fixtures import doctor, every_day, patient
from hellodoctor_domain import Actor, BookingRequest, DoctorId, PatientId, Scheduling
from hellodoctor_domain.errors import BackendUnavailable
from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.model.notifications import Channel, NotificationPreferences, PhoneNumber
from hellodoctor_domain.model.values import AppointmentId, EmailAddress, Role, UserId
from hellodoctor_domain.ports.notifications import AppointmentNotice, NoticeKind, SmsMessage
from hellodoctor_domain.use_cases.delivery import Relay
from hellodoctor_domain.use_cases.notifying import NotificationConsumer

# Sunday 31 March 2030: London moves to BST and Paris to CEST; the visit is at 09:00 UTC.
VISIT = datetime(2030, 3, 31, 9, 0, tzinfo=UTC)
NOW = VISIT - timedelta(days=3)
ADMIN = Actor.admin(UserId("admin"))
PATIENT_EMAIL, DOCTOR_EMAIL = EmailAddress("p1@example.org"), EmailAddress("dr@example.org")
PHONE = PhoneNumber("+447911123456")


class Mailbox:
    """The e-mail channel: keeps each notice (and can be made to fail)."""

    def __init__(self) -> None:
        self.sent: list[AppointmentNotice] = []

    def send(self, notice: AppointmentNotice) -> None:
        self.sent.append(notice)


class FlakySms(InMemorySms):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def send(self, message: SmsMessage) -> None:
        if self.failures:
            self.failures -= 1
            raise BackendUnavailable("Twilio did not answer")
        super().send(message)


class Clinic:
    def __init__(self, sms: InMemorySms | None = None) -> None:
        self.storage = InMemoryUnitOfWorkFactory()
        self.clock = ManualClock(NOW)
        self.mailbox = Mailbox()
        self.sms = sms if sms is not None else InMemorySms()
        outbox, inbox = self.storage.delivery()
        self.consumer = NotificationConsumer(
            self.storage, inbox, self.mailbox, self.clock, outbox=outbox, sms=self.sms
        )
        self.relay = Relay(
            outbox,
            DirectTransport(
                lambda entry: self.consumer.handle(
                    entry.id, event_of(entry.event_type, dict(entry.payload))
                )
            ),
            self.clock,
        )
        self.scheduling = Scheduling(self.storage, self.clock, SequentialIds("apt"), _no_payments())
        self.scheduling.register_doctor(
            ADMIN, doctor("d1", zone="Europe/London", email=DOCTOR_EMAIL)
        )
        self.scheduling.define_availability(ADMIN, every_day(DoctorId("d1"), zone="Europe/London"))
        self.scheduling.register_patient(evolve(patient("p1"), email=PATIENT_EMAIL))
        with self.storage() as uow:
            for key, email, role, links in (
                ("acct-p1", PATIENT_EMAIL, Role.PATIENT, {"patient_id": PatientId("p1")}),
                ("acct-d1", DOCTOR_EMAIL, Role.DOCTOR, {"doctor_id": DoctorId("d1")}),
            ):
                uow.accounts.add(
                    Account(UserId(key), email, role, AccountStatus.ACTIVE, NOW, **links)
                )
            uow.commit()

    def prefer(self, account: str, **chosen: object) -> None:
        with self.storage() as uow:
            uow.notification_preferences.save(
                NotificationPreferences(UserId(account), **chosen)  # type: ignore[arg-type]
            )
            uow.commit()

    def book(self) -> AppointmentId:
        request = BookingRequest(doctor_id=DoctorId("d1"), patient_id=PatientId("p1"), start=VISIT)
        return self.scheduling.book(Actor.patient(PatientId("p1")), request).id

    def emails_to(self, role: Role) -> list[NoticeKind]:
        return [notice.kind for notice in self.mailbox.sent if notice.recipient is role]


def _no_payments() -> object:
    from hellodoctor_adapters.offline_payments import OfflinePaymentGateway

    return OfflinePaymentGateway()


def test_by_default_everyone_gets_e_mail_only() -> None:
    clinic = Clinic()
    clinic.book()
    clinic.relay.drain()
    assert clinic.emails_to(Role.PATIENT) == [NoticeKind.BOOKED]
    assert clinic.emails_to(Role.DOCTOR) == [NoticeKind.BOOKED]
    assert clinic.sms.sent == []


def test_sms_goes_to_those_who_chose_it_with_the_time_in_their_own_zone() -> None:
    clinic = Clinic()
    clinic.prefer("acct-p1", channels={Channel.SMS}, phone=PHONE, time_zone="Europe/Paris")
    clinic.book()
    clinic.relay.drain()
    assert clinic.emails_to(Role.PATIENT) == []  # e-mail switched off
    assert clinic.emails_to(Role.DOCTOR) == [NoticeKind.BOOKED]
    (text,) = clinic.sms.sent
    assert text.to == PHONE
    assert text.kind == "appointment-booked"
    # 09:00 UTC on the day Paris moved to summer time is 11:00 CEST there.
    assert "31 Mar 2030 11:00 CEST" in text.body
    assert "Dr d1" in text.body


def test_a_doctors_text_does_not_name_the_patient() -> None:
    clinic = Clinic()
    clinic.prefer("acct-d1", channels={Channel.EMAIL, Channel.SMS}, phone=PHONE)
    clinic.book()
    clinic.relay.drain()
    (text,) = clinic.sms.sent
    assert "Patient p1" not in text.body
    assert "31 Mar 2030 10:00 BST" in text.body  # the doctor's own zone: London, on BST


def test_reminders_off_means_no_reminders_but_other_notices_still_come() -> None:
    clinic = Clinic()
    clinic.prefer("acct-p1", reminders=False)
    clinic.book()
    clinic.relay.drain()
    clinic.clock.advance(VISIT - NOW - timedelta(minutes=30))  # both reminders are due
    clinic.relay.drain()
    assert clinic.emails_to(Role.PATIENT) == [NoticeKind.BOOKED]


def test_reminders_on_come_in_the_patients_zone() -> None:
    clinic = Clinic()
    clinic.prefer("acct-p1", time_zone="Europe/Paris")
    clinic.book()
    clinic.relay.drain()
    clinic.clock.advance(VISIT - NOW - timedelta(minutes=30))
    clinic.relay.drain()
    reminders = [n for n in clinic.mailbox.sent if n.kind is NoticeKind.REMINDER]
    assert [n.before for n in reminders] == [timedelta(hours=24), timedelta(hours=1)]
    composed = EmailMessenger(_Nowhere(), "HelloDoctor <x@hellodoctor.test>").compose(reminders[-1])
    text = composed.get_body(("plain",))
    assert text is not None
    assert "11:00 CEST" in text.get_content()  # the patient's zone, on its first summer day


class _Nowhere:
    def deliver(self, message: object) -> None:
        raise AssertionError("not sent in this test")


def test_a_redelivered_event_sends_each_channel_once() -> None:
    clinic = Clinic()
    clinic.prefer("acct-p1", channels={Channel.EMAIL, Channel.SMS}, phone=PHONE)
    clinic.book()
    entries = clinic.storage.delivery()[0].claim(NOW, timedelta(minutes=1), 100)
    booked = [e for e in entries if e.event_type == "AppointmentBooked"]
    assert booked
    for _ in range(5):
        for entry in booked:
            clinic.consumer.handle(entry.id, event_of(entry.event_type, dict(entry.payload)))
    assert clinic.emails_to(Role.PATIENT) == [NoticeKind.BOOKED]
    assert len(clinic.sms.sent) == 1


def test_a_failed_sms_is_retried_without_repeating_the_e_mail() -> None:
    clinic = Clinic(FlakySms(failures=1))
    clinic.prefer("acct-p1", channels={Channel.EMAIL, Channel.SMS}, phone=PHONE)
    clinic.book()
    first = clinic.relay.run_once()
    assert first.failed == 1
    assert clinic.sms.sent == []
    clinic.clock.advance(timedelta(minutes=5))  # past the backoff
    clinic.relay.drain()
    assert len(clinic.sms.sent) == 1
    assert clinic.emails_to(Role.PATIENT) == [NoticeKind.BOOKED]  # once, not again


def test_without_an_sms_sender_sms_preferences_fall_back_to_nothing_extra() -> None:
    clinic = Clinic()
    clinic.consumer = NotificationConsumer(
        clinic.storage, clinic.storage.delivery()[1], clinic.mailbox, clinic.clock
    )
    clinic.prefer("acct-p1", channels={Channel.EMAIL, Channel.SMS}, phone=PHONE)
    clinic.book()
    entries = clinic.storage.delivery()[0].claim(NOW, timedelta(minutes=1), 100)
    for entry in entries:
        clinic.consumer.handle(entry.id, event_of(entry.event_type, dict(entry.payload)))
    assert clinic.emails_to(Role.PATIENT) == [NoticeKind.BOOKED]
    assert clinic.sms.sent == []


@pytest.mark.parametrize("value", ["07911123456", "+0123456789", "+44 7911 123456", ""])
def test_a_phone_number_in_the_domain_is_e164_already(value: str) -> None:
    from hellodoctor_domain.errors import InvalidValue

    with pytest.raises(InvalidValue):
        PhoneNumber(value)


def test_sms_needs_a_phone_number() -> None:
    from hellodoctor_domain.errors import InvalidValue

    with pytest.raises(InvalidValue):
        NotificationPreferences(UserId("u"), {Channel.SMS})
