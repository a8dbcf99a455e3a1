"""Storage ports of video consultations: room tickets and the rooms' attendance."""

from __future__ import annotations

import abc
from datetime import datetime

from hellodoctor_domain.model.consultation import RoomPresence, RoomTicket
from hellodoctor_domain.model.values import AppointmentId


class RoomTicketRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, ticket: RoomTicket) -> None:
        """Store a new ticket (its digest is the key)."""

    @abc.abstractmethod
    def redeem(
        self, digest: str, appointment_id: AppointmentId, now: datetime
    ) -> RoomTicket | None:
        """Mark the ticket used at ``now`` and return it, if it exists, is for
        ``appointment_id``'s room, is unused and has not expired at ``now`` -- in **one
        conditional write**, so of two concurrent redemptions (in any processes) exactly one
        gets the ticket. ``None`` otherwise."""

    @abc.abstractmethod
    def get(self, digest: str) -> RoomTicket | None:
        """The ticket as stored, if any (to say why it was not redeemed)."""


class RoomAttendance(abc.ABC):
    @abc.abstractmethod
    def record(self, entry: RoomPresence) -> None: ...

    @abc.abstractmethod
    def of(self, appointment_id: AppointmentId) -> list[RoomPresence]:
        """The appointment's room attendance, oldest first (in recording order at equal times)."""
