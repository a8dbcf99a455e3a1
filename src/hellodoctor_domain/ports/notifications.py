"""Messages to people."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from attrs import define

from hellodoctor_domain.model.appointment import Appointment
from hellodoctor_domain.model.notifications import Channel, PhoneNumber
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.values import EmailAddress, Money, Role, TimeRange


@define(frozen=True)
class Notification:
    recipient: EmailAddress
    subject: str
    body: str
    kind: str


class Notifier(Protocol):
    def send(self, notification: Notification) -> None: ...


class NoticeKind(enum.StrEnum):
    """What happened, as a person is told it (one template each)."""

    HELD = "held"  # reserved while the patient pays
    BOOKED = "booked"
    PAYMENT_RECEIVED = "payment_received"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    HOLD_EXPIRED = "hold_expired"
    NO_SHOW = "no_show"
    REMINDER = "reminder"
    OFFERED = "offered"  # a freed time held for a waiting patient (the waitlist)


@define(frozen=True)
class AppointmentNotice:
    """One message about one appointment to one person (``recipient``: patient or doctor).

    ``appointment`` is as stored when the notice was made (its ``version`` is the calendar
    entry's sequence); ``time`` is the visit's time the message speaks of."""

    kind: NoticeKind
    recipient: Role
    email: EmailAddress
    appointment: Appointment
    doctor: Doctor
    patient: Patient
    time: TimeRange
    previous_time: TimeRange | None = None
    refund: Money | None = None
    amount: Money | None = None  # paid
    hold_expires_at: datetime | None = None
    before: timedelta | None = None  # a reminder's lead time
    # The zone the recipient reads times in (their own, else the doctor's); None: the doctor's.
    zone: str | None = None
    language: str = "en"
    # How the recipient wants it (their preferences; e-mail alone by default).
    channels: frozenset[Channel] = frozenset({Channel.EMAIL})
    phone: PhoneNumber | None = None

    @property
    def reading_zone(self) -> str:
        """The zone the recipient reads times in: their own if they chose one, else the
        doctor's (where the visit happens)."""
        return self.zone or self.doctor.time_zone


class AppointmentMessenger(Protocol):
    def send(self, notice: AppointmentNotice) -> None:
        """Deliver the notice (e-mail with a calendar entry); raises a ``PortError`` when the
        channel is unavailable, so the delivery is retried."""


@define(frozen=True)
class SmsMessage:
    to: PhoneNumber
    body: str
    kind: str  # e.g. "appointment-booked"


class SmsSender(Protocol):
    def send(self, message: SmsMessage) -> None:
        """Send one text message; raises a ``PortError`` when the provider is unavailable or
        refuses it, so the delivery is retried."""


def sms_text(notice: AppointmentNotice) -> str:
    """The short text of an appointment notice, the time as the recipient reads it."""
    here = notice.time.start.astimezone(ZoneInfo(notice.reading_zone))
    when = f"{here:%a} {here.day} {here:%b %Y %H:%M %Z}"
    what = {
        NoticeKind.HELD: "reserved until paid",
        NoticeKind.BOOKED: "confirmed",
        NoticeKind.PAYMENT_RECEIVED: "paid",
        NoticeKind.RESCHEDULED: "moved",
        NoticeKind.CANCELLED: "cancelled",
        NoticeKind.HOLD_EXPIRED: "released (not paid in time)",
        NoticeKind.NO_SHOW: "missed",
        NoticeKind.REMINDER: "coming up",
        NoticeKind.OFFERED: "free and held for you: accept it in the app",
    }[notice.kind]
    if notice.recipient is Role.DOCTOR:  # no patient's name in a text anyone may glance at
        return f"HelloDoctor: an appointment on {when} is {what}."
    return f"HelloDoctor: your appointment with {notice.doctor.name} on {when} is {what}."
