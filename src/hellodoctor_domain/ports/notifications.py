"""Messages to people."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from typing import Protocol

from attrs import define

from hellodoctor_domain.model.appointment import Appointment
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


class AppointmentMessenger(Protocol):
    def send(self, notice: AppointmentNotice) -> None:
        """Deliver the notice (e-mail with a calendar entry); raises a ``PortError`` when the
        channel is unavailable, so the delivery is retried."""
