"""Events to people, with real parts: a SQLite file, an SMTP server (aiosmtpd), the relay
and the notification consumer. Each booking change reaches patient and doctor once, with a
calendar entry ``icalendar`` parses, however often the relay or the consumer runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import icalendar
import pytest

from hellodoctor_adapters.outbox import event_of
from hellodoctor_domain.model.values import EmailAddress
from hellodoctor_domain.ports.notifications import NoticeKind
from hellodoctor_domain.ports.outbox import OutboxEntry
from hellodoctor_domain.use_cases.delivery import RetryPolicy
from hellodoctor_http.delivery import build_delivery
from hellodoctor_http.delivery_testing import (
    ADMIN,
    DST_DAY,
    PATIENT,
    ZONE,
    SmtpInbox,
    World,
    smtp_server,
)


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpInbox, int]]:
    with smtp_server() as running:
        yield running


@pytest.fixture
def world(tmp_path: Path, smtp: tuple[SmtpInbox, int]) -> Iterator[World]:
    built = World(tmp_path, smtp[1])
    yield built
    built.close()


def _calendar(message: EmailMessage) -> icalendar.Calendar:
    (part,) = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return icalendar.Calendar.from_ical(part.get_payload(decode=True))


def _event(message: EmailMessage) -> Any:
    (event,) = _calendar(message).walk("VEVENT")
    return event


def test_a_booking_sends_one_mail_each_with_a_calendar_entry_in_local_time(
    world: World, smtp: tuple[SmtpInbox, int]
) -> None:
    inbox, _ = smtp
    # 09:00 Paris on the morning the clocks went forward: 07:00 UTC (CEST, +02:00).
    appointment_id = world.book(DST_DAY + timedelta(hours=7))
    assert inbox.received == []  # the request only wrote the outbox

    assert world.delivery.relay.drain() == 1
    (to_patient,) = inbox.to("p1@example.org")
    (to_doctor,) = inbox.to("dr@example.org")
    assert to_patient["Subject"] == "Appointment confirmed"
    text = to_patient.get_body(("plain",)).get_content()
    assert "Sunday 31 March 2030, 09:00 CEST to 09:30 (Europe/Paris)" in text
    assert "Content-Transfer-Encoding: quoted-printable" not in to_patient.as_string()
    html = to_patient.get_body(("html",)).get_content()
    assert "<th>When</th>" in html

    calendar = _calendar(to_patient)
    assert calendar["METHOD"] == "REQUEST"
    (zone,) = calendar.walk("VTIMEZONE")
    assert zone["TZID"] == ZONE
    event = _event(to_patient)
    assert str(event["UID"]) == f"{appointment_id}@hellodoctor"
    start = event.decoded("DTSTART")
    assert (start.hour, start.minute, str(start.tzinfo)) == (9, 0, ZONE)
    assert start.utcoffset() == timedelta(hours=2)
    assert event["STATUS"] == "CONFIRMED"
    assert "Patient p1" in _event(to_doctor)["SUMMARY"]

    # Nothing more, however often the relay runs.
    world.clock.advance(timedelta(hours=1))
    assert world.delivery.relay.drain() == 0
    assert len(inbox.received) == 2


def test_reschedule_and_cancel_raise_the_sequence_and_cancel_the_entry(
    world: World, smtp: tuple[SmtpInbox, int]
) -> None:
    inbox, _ = smtp
    appointment_id = world.book(DST_DAY + timedelta(days=1, hours=8))
    world.delivery.relay.drain()
    world.scheduling.reschedule(PATIENT, appointment_id, DST_DAY + timedelta(days=1, hours=10))
    world.delivery.relay.drain()
    world.scheduling.cancel(PATIENT, appointment_id, "feeling better")
    world.delivery.relay.drain()

    booked, moved, cancelled = inbox.to("p1@example.org")
    assert [m["Subject"] for m in (booked, moved, cancelled)] == [
        "Appointment confirmed",
        "Appointment moved",
        "Appointment cancelled",
    ]
    sequences = [int(_event(m)["SEQUENCE"]) for m in (booked, moved, cancelled)]
    assert sequences == sorted(set(sequences))  # raised by each change
    assert {str(_event(m)["UID"]) for m in (booked, moved, cancelled)} == {
        f"{appointment_id}@hellodoctor"
    }
    assert _calendar(cancelled)["METHOD"] == "CANCEL"
    assert _event(cancelled)["STATUS"] == "CANCELLED"
    assert "Was:" in moved.get_body(("plain",)).get_content()


def test_a_notice_about_a_state_that_no_longer_holds_is_not_sent(
    world: World, smtp: tuple[SmtpInbox, int]
) -> None:
    inbox, _ = smtp
    appointment_id = world.book(DST_DAY + timedelta(days=1, hours=8))
    world.scheduling.cancel(PATIENT, appointment_id, "changed plans")
    world.delivery.relay.drain()  # the booking's event arrives after the cancellation

    assert [m["Subject"] for m in inbox.to("p1@example.org")] == ["Appointment cancelled"]


def test_a_relay_killed_between_handing_on_and_marking_still_has_one_effect(
    world: World, smtp: tuple[SmtpInbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, _ = smtp
    world.book(DST_DAY + timedelta(days=1, hours=8))
    outbox, _ = world.storage.delivery()

    class Killed(BaseException):
        pass

    def die(*_: object) -> None:
        raise Killed

    dying = build_delivery(
        (outbox, world.storage.delivery()[1]),
        world.messenger,
        world.storage,
        world.clock,
        broker_url=None,
        policy=RetryPolicy(),
    )
    monkeypatch.setattr(outbox, "mark_sent", die)
    with pytest.raises(Killed):
        dying.relay.run_once()
    assert len(inbox.received) == 2  # handed on, never marked

    world.clock.advance(timedelta(minutes=10))  # the dead relay's lease lapses
    assert world.delivery.relay.drain() == 1  # handed on again...
    assert len(inbox.received) == 2  # ...and the inbox made it one effect


def test_a_failing_outlet_is_retried_with_backoff_then_dead_lettered_and_retried_by_an_admin(
    world: World, smtp: tuple[SmtpInbox, int]
) -> None:
    inbox, _ = smtp
    world.book(DST_DAY + timedelta(days=1, hours=8))
    world.outlet.down = True

    relay = world.delivery.relay
    assert relay.run_once().failed == 1
    assert relay.run_once().claimed == 0  # not due yet
    world.clock.advance(relay.policy.first_delay)
    assert relay.run_once().failed == 1
    world.clock.advance(relay.policy.first_delay * 2)
    assert relay.run_once().dead == 1  # the third failure of three
    world.clock.advance(timedelta(days=1))
    assert relay.run_once().claimed == 0

    (letter,) = relay.dead_letters(ADMIN)
    assert letter.entry.event_type == "AppointmentBooked"
    assert "cannot send e-mail" in letter.error
    world.outlet.down = False
    relay.retry(ADMIN, letter.entry.id)
    assert relay.drain() == 1
    assert {m["To"] for m in inbox.received} == {"p1@example.org", "dr@example.org"}
    assert relay.dead_letters(ADMIN) == []


def test_fifty_deliveries_of_one_entry_send_one_mail(
    world: World, smtp: tuple[SmtpInbox, int]
) -> None:
    inbox, _ = smtp
    world.book(DST_DAY + timedelta(days=1, hours=8))
    outbox, _ = world.storage.delivery()
    (entry,) = outbox.claim(world.clock.now(), timedelta(minutes=1), 10)
    handle = world.delivery.transport.send
    for _ in range(50):
        assert handle([entry]) == {}
    assert len(inbox.received) == 2


def test_an_entry_becomes_one_notice_per_person_told(world: World) -> None:
    world.book(DST_DAY + timedelta(days=1, hours=8))
    outbox, _ = world.storage.delivery()
    (entry,) = outbox.claim(world.clock.now(), timedelta(minutes=1), 10)
    assert isinstance(entry, OutboxEntry)
    event = event_of(entry.event_type, dict(entry.payload))
    to_patient, to_doctor = world.delivery.consumer.notices(event)
    assert (to_patient.kind, to_patient.email) == (
        NoticeKind.BOOKED,
        EmailAddress("p1@example.org"),
    )
    assert (to_doctor.kind, to_doctor.email) == (NoticeKind.BOOKED, EmailAddress("dr@example.org"))


def _reminders(inbox: SmtpInbox) -> list[EmailMessage]:
    return [
        m for m in inbox.to("p1@example.org") if m["X-HelloDoctor-Kind"] == "appointment-reminder"
    ]


def test_reminders_come_24_hours_and_1_hour_before_in_local_time_across_daylight_saving(
    world: World, smtp: tuple[SmtpInbox, int]
) -> None:
    inbox, _ = smtp
    visit = DST_DAY + timedelta(hours=7)  # Sunday 09:00 CEST; the day before, 08:00 was CET
    world.book(visit)
    world.delivery.relay.drain()  # the booking's mails; the reminders are scheduled
    world.clock.set(visit - timedelta(hours=24, seconds=1))
    assert world.delivery.relay.drain() == 0  # not due yet

    world.clock.set(visit - timedelta(hours=24))
    assert world.delivery.relay.drain() == 1
    (day_before,) = _reminders(inbox)
    text = day_before.get_body(("plain",)).get_content()
    assert "your appointment is in 24 hours" in text
    assert "Sunday 31 March 2030, 09:00 CEST" in text
    assert _event(day_before).decoded("DTSTART").utcoffset() == timedelta(hours=2)

    world.clock.set(visit - timedelta(hours=1))
    assert world.delivery.relay.drain() == 1
    assert "is in 1 hour." in _reminders(inbox)[-1].get_body(("plain",)).get_content()
    assert len(_reminders(inbox)) == 2


def test_a_reminder_for_an_appointment_cancelled_after_it_was_scheduled_is_not_sent(
    world: World, smtp: tuple[SmtpInbox, int]
) -> None:
    inbox, _ = smtp
    visit = DST_DAY + timedelta(days=1, hours=8)
    appointment_id = world.book(visit)
    world.delivery.relay.drain()  # reminders scheduled
    world.scheduling.cancel(PATIENT, appointment_id, "feeling better")
    world.delivery.relay.drain()

    world.clock.set(visit)
    assert world.delivery.relay.drain() == 2  # both fell due and were delivered...
    assert _reminders(inbox) == []  # ...to nothing: the appointment is cancelled


def test_after_a_reschedule_the_old_reminder_is_not_sent_and_the_new_one_is(
    world: World, smtp: tuple[SmtpInbox, int]
) -> None:
    inbox, _ = smtp
    first = DST_DAY + timedelta(days=1, hours=8)
    moved = first + timedelta(hours=3)
    appointment_id = world.book(first)
    world.delivery.relay.drain()
    world.scheduling.reschedule(PATIENT, appointment_id, moved)
    world.delivery.relay.drain()

    world.clock.set(first - timedelta(hours=1))  # the old 1-hour reminder's time
    world.delivery.relay.drain()
    old_times = [
        m for m in _reminders(inbox) if "in 1 hour" in m.get_body(("plain",)).get_content()
    ]
    assert old_times == []

    world.clock.set(moved - timedelta(hours=1))
    world.delivery.relay.drain()
    (reminder,) = [
        m for m in _reminders(inbox) if "in 1 hour" in m.get_body(("plain",)).get_content()
    ]
    # 08:00 UTC moved by 3 hours: 11:00 UTC, 13:00 in Paris (CEST since Sunday).
    assert "Monday 1 April 2030, 13:00 CEST" in reminder.get_body(("plain",)).get_content()
    # Each lead time sent once, for the new time only.
    sent = [m.get_body(("plain",)).get_content() for m in _reminders(inbox)]
    assert len(sent) == 2
    assert all("Monday 1 April 2030, 13:00 CEST" in text for text in sent)
