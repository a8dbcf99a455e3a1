"""Video consultations: when a telemedicine appointment's room is open, who may enter it, the
single-use tickets that let them in, and the record of who joined and left.

A room belongs to one telemedicine appointment. It is open from ``opens_before`` the start
until ``grace_after`` the end, only while the appointment is booked; a cancelled appointment's
room never opens. Its two seats are the appointment's doctor and its patient (an admin may read
the attendance but never enters): at most two participants, one per seat.

A ticket is a random secret handed to a participant by the API and presented once when the
WebSocket connects (browsers cannot set headers on one). Only its SHA-256 digest is stored;
redeeming it is one conditional write in the storage, so a replayed ticket loses even a race.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import datetime, timedelta

from attrs import define, field

from hellodoctor_domain.errors import (
    AppointmentCancelledRoom,
    InvalidValue,
    NotFound,
    NotTelemedicine,
    RoomClosed,
    RoomNotOpen,
    RoomTicketExpired,
    RoomTicketUnknown,
    RoomTicketUsed,
)
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    AppointmentType,
    Role,
    TimeRange,
    UserId,
    utc,
)

SEATS = (Role.DOCTOR, Role.PATIENT)


def _positive(_instance: object, attribute: object, value: timedelta) -> None:
    if value <= timedelta(0):
        raise InvalidValue(f"{getattr(attribute, 'name', 'value')} must be positive")


def _not_negative(_instance: object, attribute: object, value: timedelta) -> None:
    if value < timedelta(0):
        raise InvalidValue(f"{getattr(attribute, 'name', 'value')} cannot be negative")


@define(frozen=True)
class RoomPolicy:
    """When rooms open and close, and how long a ticket lives."""

    opens_before: timedelta = field(default=timedelta(minutes=10), validator=_not_negative)
    grace_after: timedelta = field(default=timedelta(minutes=15), validator=_not_negative)
    ticket_lifetime: timedelta = field(default=timedelta(seconds=60), validator=_positive)

    def window(self, appointment: Appointment) -> TimeRange:
        return TimeRange(
            appointment.time.start - self.opens_before, appointment.time.end + self.grace_after
        )

    def check_open(self, appointment: Appointment, now: datetime) -> None:
        """Raise the reason the appointment's room is not open at ``now``, if any."""
        if appointment.appointment_type is not AppointmentType.TELEMEDICINE:
            raise NotTelemedicine(f"appointment {appointment.id} is an in-person visit")
        if appointment.status is AppointmentStatus.CANCELLED:
            raise AppointmentCancelledRoom(f"appointment {appointment.id} was cancelled")
        if appointment.status is not AppointmentStatus.BOOKED:
            raise RoomClosed(f"appointment {appointment.id} is {appointment.status}")
        window, now = self.window(appointment), utc(now)
        if now < window.start:
            raise RoomNotOpen(f"the room opens at {window.start.isoformat()}")
        if now >= window.end:
            raise RoomClosed(f"the room closed at {window.end.isoformat()}")


def seat_of(actor: Actor, appointment: Appointment) -> Role:
    """The seat ``actor`` takes in the appointment's room: its doctor's or its patient's. To
    anyone else the appointment does not exist (``NotFound``, as everywhere)."""
    if actor.role is Role.DOCTOR and actor.doctor_id == appointment.doctor_id:
        return Role.DOCTOR
    if actor.role is Role.PATIENT and actor.patient_id == appointment.patient_id:
        return Role.PATIENT
    raise NotFound(f"no consultation room for appointment {appointment.id}")


def participant(seat: Role, user_id: UserId, appointment: Appointment) -> Actor:
    """The actor a ticket stands for: who took ``seat`` when it was issued."""
    if seat is Role.DOCTOR:
        return Actor.doctor(appointment.doctor_id, user_id)
    return Actor.patient(appointment.patient_id, user_id)


def ticket_digest(ticket: str) -> str:
    """What storage keeps of a ticket: a 256-bit random secret needs no salt."""
    return hashlib.sha256(ticket.encode()).hexdigest()


def new_ticket() -> str:
    return secrets.token_urlsafe(32)


def _optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


@define(eq=False)
class RoomTicket:
    """A ticket as stored: its digest (the key), whose seat in which room, and its lifetime."""

    digest: str = field(repr=False)
    appointment_id: AppointmentId
    user_id: UserId
    seat: Role = field()
    issued_at: datetime = field(converter=utc)
    expires_at: datetime = field(converter=utc)
    used_at: datetime | None = field(default=None, converter=_optional_utc)

    @seat.validator
    def _a_seat(self, _attribute: object, value: Role) -> None:
        if value not in SEATS:
            raise InvalidValue("a room has a doctor's seat and a patient's seat only")

    def refusal(self, now: datetime) -> RoomTicketUsed | RoomTicketExpired:
        """Why this ticket, which the storage did not redeem at ``now``, admits nobody."""
        if self.used_at is not None:
            return RoomTicketUsed("this room ticket was already used")
        if utc(now) >= self.expires_at:
            return RoomTicketExpired("this room ticket expired")
        # Redeemed by someone else between the conditional write and this read.
        return RoomTicketUsed("this room ticket was already used")


def unknown_ticket() -> RoomTicketUnknown:
    return RoomTicketUnknown("no such room ticket")


class Presence(enum.StrEnum):
    JOINED = "joined"
    LEFT = "left"


@define(frozen=True)
class RoomPresence:
    """One line of a room's attendance: who joined or left, and when."""

    appointment_id: AppointmentId
    user_id: UserId
    seat: Role
    presence: Presence
    at: datetime = field(converter=utc)
