"""In-memory room tickets and attendance. The store's lock serialises units of work, so the
check and the write of ``redeem`` are one step here, as the conditional write is elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from attrs import define, evolve, field

from hellodoctor_domain.errors import AlreadyExists
from hellodoctor_domain.model.consultation import RoomPresence, RoomTicket
from hellodoctor_domain.model.values import AppointmentId, utc
from hellodoctor_domain.ports.consultations import RoomAttendance, RoomTicketRepository


@define
class RoomTables:
    tickets: dict[str, RoomTicket] = field(factory=dict)
    attendance: list[RoomPresence] = field(factory=list)


class InMemoryRoomTickets(RoomTicketRepository):
    def __init__(self, tables: RoomTables, journal: list[Callable[[], None]]) -> None:
        self._tickets = tables.tickets
        self._journal = journal

    def _put(self, ticket: RoomTicket) -> None:
        previous = self._tickets.get(ticket.digest)

        def undo() -> None:
            if previous is None:
                self._tickets.pop(ticket.digest, None)
            else:
                self._tickets[ticket.digest] = previous

        self._journal.append(undo)
        self._tickets[ticket.digest] = evolve(ticket)

    def add(self, ticket: RoomTicket) -> None:
        if ticket.digest in self._tickets:
            raise AlreadyExists("that room ticket exists")
        self._put(ticket)

    def redeem(
        self, digest: str, appointment_id: AppointmentId, now: datetime
    ) -> RoomTicket | None:
        stored = self._tickets.get(digest)
        if (
            stored is None
            or stored.appointment_id != appointment_id
            or stored.used_at is not None
            or utc(now) >= stored.expires_at
        ):
            return None
        self._put(evolve(stored, used_at=now))
        return evolve(self._tickets[digest])

    def get(self, digest: str) -> RoomTicket | None:
        stored = self._tickets.get(digest)
        return None if stored is None else evolve(stored)


class InMemoryRoomAttendance(RoomAttendance):
    def __init__(self, tables: RoomTables, journal: list[Callable[[], None]]) -> None:
        self._entries = tables.attendance
        self._journal = journal

    def record(self, entry: RoomPresence) -> None:
        self._entries.append(entry)
        self._journal.append(lambda: self._entries.remove(entry))

    def of(self, appointment_id: AppointmentId) -> list[RoomPresence]:
        mine = [entry for entry in self._entries if entry.appointment_id == appointment_id]
        return sorted(mine, key=lambda entry: entry.at)  # stable: recording order at equal times
