"""``EmailMessenger``: an appointment notice as one e-mail -- plain text and HTML alternatives
from the templates, and the visit's calendar entry attached.

Bodies are 8-bit UTF-8, not quoted-printable, so a person reading the Maildir (or a test) sees
the words as written. Times are given in the doctor's zone, named, so a daylight-saving change
reads right.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol
from zoneinfo import ZoneInfo

import jinja2

from hellodoctor_adapters.mail.calendar import appointment_uid, calendar, calendar_event
from hellodoctor_domain.model.values import Money, Role, TimeRange
from hellodoctor_domain.ports.notifications import AppointmentNotice, NoticeKind

_SUBJECTS = {
    NoticeKind.HELD: "Your appointment is reserved: please pay to confirm it",
    NoticeKind.BOOKED: "Appointment confirmed",
    NoticeKind.PAYMENT_RECEIVED: "Payment received",
    NoticeKind.RESCHEDULED: "Appointment moved",
    NoticeKind.CANCELLED: "Appointment cancelled",
    NoticeKind.HOLD_EXPIRED: "Reservation released: it was not paid in time",
    NoticeKind.NO_SHOW: "You missed your appointment",
    NoticeKind.REMINDER: "Reminder: your appointment",
    NoticeKind.OFFERED: "A time you waited for is free: it is held for you",
}
_HEADLINES = {
    NoticeKind.HELD: "We are holding this time for you until it is paid.",
    NoticeKind.BOOKED: "Your appointment is confirmed.",
    NoticeKind.PAYMENT_RECEIVED: "We received your payment for this appointment.",
    NoticeKind.RESCHEDULED: "Your appointment has moved.",
    NoticeKind.CANCELLED: "Your appointment is cancelled.",
    NoticeKind.HOLD_EXPIRED: "The reserved time was released because it was not paid in time.",
    NoticeKind.NO_SHOW: "You were marked as not attending this appointment.",
    NoticeKind.REMINDER: "A reminder of your appointment",
    NoticeKind.OFFERED: "A time you are on the waitlist for has come free.",
}


class MailOutlet(Protocol):
    def deliver(self, message: EmailMessage) -> None: ...


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("hellodoctor_adapters.mail", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def local(moment: datetime, zone: str) -> str:
    """e.g. ``Sunday 31 March 2030, 09:00 CEST``."""
    here = moment.astimezone(ZoneInfo(zone))
    return f"{here:%A} {here.day} {here:%B %Y, %H:%M %Z}"


def span(time: TimeRange, zone: str) -> str:
    end = time.end.astimezone(ZoneInfo(zone))
    return f"{local(time.start, zone)} to {end:%H:%M} ({zone})"


def money(amount: Money | None) -> str:
    if amount is None or amount.minor_units == 0:
        return ""
    return str(amount)


class EmailMessenger:
    def __init__(self, outlet: MailOutlet, sender: str) -> None:
        self._outlet = outlet
        self._sender = sender
        self._templates = _environment()

    def send(self, notice: AppointmentNotice) -> None:
        self._outlet.deliver(self.compose(notice))

    def compose(self, notice: AppointmentNotice) -> EmailMessage:
        zone = notice.reading_zone  # the recipient's own zone, else the doctor's
        to_patient = notice.recipient is Role.PATIENT
        facts = {
            "name": notice.patient.name if to_patient else notice.doctor.name,
            "headline": _headline(notice),
            "when": span(notice.time, zone),
            "previous": span(notice.previous_time, zone) if notice.previous_time else "",
            "doctor": notice.doctor.name,
            "other": "" if to_patient else notice.patient.name,
            "amount": money(notice.amount),
            "refund": money(notice.refund),
            "hold_until": local(notice.hold_expires_at, zone) if notice.hold_expires_at else "",
            "fee": money(notice.appointment.price),  # what accepting an offer costs
        }
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = str(notice.email)
        message["Subject"] = _SUBJECTS[notice.kind]
        message["Date"] = formatdate(usegmt=True)
        message["X-HelloDoctor-Kind"] = f"appointment-{notice.kind.value}"
        # A waitlist offer has its own template ("a slot is offered to you"); the rest share one.
        template = "waitlist_offer" if notice.kind is NoticeKind.OFFERED else "appointment"
        text = self._templates.get_template(f"{template}.txt.j2").render(facts)
        html = self._templates.get_template(f"{template}.html.j2").render(facts)
        message.set_content(text, cte="8bit")
        message.add_alternative(html, subtype="html", cte="8bit")
        cancelled = notice.kind in (NoticeKind.CANCELLED, NoticeKind.HOLD_EXPIRED)
        summary = (
            f"Appointment with {notice.doctor.name}"
            if to_patient
            else f"Appointment: {notice.patient.name}"
        )
        entry = calendar_event(notice.appointment, notice.doctor, summary, stamp=datetime.now(UTC))
        entry.add("organizer", f"mailto:{_address(self._sender)}")
        entry.add("attendee", f"mailto:{notice.email}")
        method = "CANCEL" if cancelled else "REQUEST"
        if cancelled:
            entry["status"] = "CANCELLED"
        message.add_attachment(
            calendar([entry], method=method).to_ical(),
            maintype="text",
            subtype="calendar",
            filename="appointment.ics",
            params={"method": method},
        )
        message["X-HelloDoctor-Calendar-UID"] = appointment_uid(notice.appointment)
        return message


def _headline(notice: AppointmentNotice) -> str:
    if notice.kind is NoticeKind.REMINDER and notice.before is not None:
        minutes = notice.before // timedelta(minutes=1)
        hours = minutes // 60
        ahead = f"{minutes} minutes" if minutes % 60 else f"{hours} hour{'s' * (hours != 1)}"
        return f"A reminder: your appointment is in {ahead}."
    return _HEADLINES[notice.kind]


def _address(sender: str) -> str:
    return sender.rpartition("<")[2].rstrip(">").strip() or sender
