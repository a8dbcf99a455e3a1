"""Use cases of video consultations: issue a room ticket to the appointment's doctor or patient,
admit whoever presents one (once), record who joined and left, and let the doctor complete
the visit from the room.

The signalling server (``hellodoctor_http.signalling``) calls ``admit`` when a WebSocket
connects and ``record`` when a participant joins or leaves; it never decides who may enter.
Whether a seat is already taken is the signalling hub's to decide atomically (it holds the
live connections), one holder per seat.
"""

from __future__ import annotations

from datetime import datetime

from attrs import define, field

from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.appointment import Appointment
from hellodoctor_domain.model.consultation import (
    Presence,
    RoomPolicy,
    RoomPresence,
    RoomTicket,
    new_ticket,
    participant,
    seat_of,
    ticket_digest,
    unknown_ticket,
)
from hellodoctor_domain.model.policy import is_party
from hellodoctor_domain.model.values import Actor, AppointmentId, Role, TimeRange
from hellodoctor_domain.ports.runtime import Clock
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.scheduling import Scheduling


@define(frozen=True)
class IssuedTicket:
    """What the participant is handed: the secret itself is never stored."""

    ticket: str = field(repr=False)
    appointment_id: AppointmentId
    seat: Role
    expires_at: datetime
    window: TimeRange


@define(frozen=True)
class Admission:
    """A participant let into a room: who, in which seat, until when the room stays open."""

    appointment_id: AppointmentId
    actor: Actor
    seat: Role
    closes_at: datetime


class Consultations:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        scheduling: Scheduling,
        policy: RoomPolicy | None = None,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._scheduling = scheduling
        self.policy = policy or RoomPolicy()

    def issue_ticket(self, actor: Actor, appointment_id: AppointmentId) -> IssuedTicket:
        """A single-use ticket to the appointment's room, for its doctor or patient while the
        room is open; ``NotFound`` to anyone else."""
        now = self._clock.now()
        with self._uow() as uow:
            appointment = _appointment(uow, appointment_id)
            seat = seat_of(actor, appointment)
            self.policy.check_open(appointment, now)
            secret = new_ticket()
            expires_at = now + self.policy.ticket_lifetime
            uow.room_tickets.add(
                RoomTicket(
                    ticket_digest(secret), appointment_id, actor.user_id, seat, now, expires_at
                )
            )
            uow.commit()
        return IssuedTicket(
            secret, appointment_id, seat, expires_at, self.policy.window(appointment)
        )

    def admit(self, ticket: str, appointment_id: AppointmentId) -> Admission:
        """Redeem ``ticket`` for ``appointment_id``'s room: it is used up whatever follows, and
        the room must still be open (the appointment may have been cancelled since)."""
        now = self._clock.now()
        digest = ticket_digest(ticket)
        with self._uow() as uow:
            redeemed = uow.room_tickets.redeem(digest, appointment_id, now)
            if redeemed is None:
                stored = uow.room_tickets.get(digest)
                uow.rollback()
                if stored is None or stored.appointment_id != appointment_id:
                    raise unknown_ticket()
                raise stored.refusal(now)
            uow.commit()
        with self._uow() as uow:
            appointment = _appointment(uow, appointment_id)
        self.policy.check_open(appointment, now)
        return Admission(
            appointment_id,
            participant(redeemed.seat, redeemed.user_id, appointment),
            redeemed.seat,
            self.policy.window(appointment).end,
        )

    def record(self, admission: Admission, presence: Presence) -> RoomPresence:
        entry = RoomPresence(
            admission.appointment_id,
            admission.actor.user_id,
            admission.seat,
            presence,
            self._clock.now(),
        )
        with self._uow() as uow:
            uow.room_attendance.record(entry)
            uow.commit()
        return entry

    def attendance(self, actor: Actor, appointment_id: AppointmentId) -> list[RoomPresence]:
        """Who joined and left the room, for the appointment's parties (admins included)."""
        with self._uow() as uow:
            appointment = _appointment(uow, appointment_id)
            if not is_party(actor, appointment):
                raise NotFound(f"no appointment {appointment_id}")
            return uow.room_attendance.of(appointment_id)

    def complete(self, admission: Admission) -> Appointment:
        """The doctor ends the visit from the room: the same transition as the API's
        ``complete`` (only the doctor may; the patient is refused by ``Scheduling``)."""
        return self._scheduling.complete(admission.actor, admission.appointment_id)


def _appointment(uow: UnitOfWork, appointment_id: AppointmentId) -> Appointment:
    return uow.appointments.get(appointment_id)
