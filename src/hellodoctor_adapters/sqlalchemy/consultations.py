"""Room tickets and attendance on SQLAlchemy Core. A ticket is redeemed by one conditional
``UPDATE ... WHERE used_at IS NULL AND expires_at > now``: of two concurrent redemptions the
database lets exactly one update the row (the other waits for the row lock on PostgreSQL, or
for the write lock on SQLite, then finds ``used_at`` set)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.rows import first_row
from hellodoctor_adapters.sqlalchemy.schema import room_attendance, room_tickets
from hellodoctor_domain.model.consultation import Presence, RoomPresence, RoomTicket
from hellodoctor_domain.model.values import AppointmentId, Role, UserId
from hellodoctor_domain.ports.consultations import RoomAttendance, RoomTicketRepository


def _ticket_from(row: RowMapping) -> RoomTicket:
    return RoomTicket(
        row["digest"],
        AppointmentId(row["appointment_id"]),
        UserId(row["user_id"]),
        Role(row["seat"]),
        row["issued_at"],
        row["expires_at"],
        row["used_at"],
    )


class SqlRoomTickets(RoomTicketRepository):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, ticket: RoomTicket) -> None:
        row: dict[str, Any] = {
            "digest": ticket.digest,
            "appointment_id": ticket.appointment_id.value,
            "user_id": ticket.user_id.value,
            "seat": ticket.seat.value,
            "issued_at": ticket.issued_at,
            "expires_at": ticket.expires_at,
            "used_at": ticket.used_at,
        }
        with translated_errors():
            self._connection.execute(sa.insert(room_tickets).values(**row))

    def redeem(
        self, digest: str, appointment_id: AppointmentId, now: datetime
    ) -> RoomTicket | None:
        with translated_errors():
            updated = self._connection.execute(
                sa.update(room_tickets)
                .where(
                    room_tickets.c.digest == digest,
                    room_tickets.c.appointment_id == appointment_id.value,
                    room_tickets.c.used_at.is_(None),
                    room_tickets.c.expires_at > now,
                )
                .values(used_at=now)
            )
        return self.get(digest) if updated.rowcount == 1 else None

    def get(self, digest: str) -> RoomTicket | None:
        row = first_row(
            self._connection, sa.select(room_tickets).where(room_tickets.c.digest == digest)
        )
        return None if row is None else _ticket_from(row)


class SqlRoomAttendance(RoomAttendance):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def record(self, entry: RoomPresence) -> None:
        with translated_errors():
            self._connection.execute(
                sa.insert(room_attendance).values(
                    appointment_id=entry.appointment_id.value,
                    user_id=entry.user_id.value,
                    seat=entry.seat.value,
                    presence=entry.presence.value,
                    at=entry.at,
                )
            )

    def of(self, appointment_id: AppointmentId) -> list[RoomPresence]:
        statement = (
            sa.select(room_attendance)
            .where(room_attendance.c.appointment_id == appointment_id.value)
            .order_by(room_attendance.c.at, room_attendance.c.id)
        )
        with translated_errors():
            rows = self._connection.execute(statement).mappings().all()
        return [
            RoomPresence(
                AppointmentId(row["appointment_id"]),
                UserId(row["user_id"]),
                Role(row["seat"]),
                Presence(row["presence"]),
                row["at"],
            )
            for row in rows
        ]
