"""Room tickets and attendance on MongoDB. New tickets and attendance lines are inserted at
commit like every other write; redeeming a ticket is one ``find_one_and_update`` on the
ticket's document filtered on ``used_at: null`` and ``expires_at > now``, applied at once and
never undone (a ticket is used up whatever happens next), so exactly one of two concurrent
redemptions gets it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument

from hellodoctor_adapters.mongodb.documents import Document, floor_ms
from hellodoctor_adapters.mongodb.store import MongoStore, Undo, translated, undo_delete
from hellodoctor_domain.model.consultation import Presence, RoomPresence, RoomTicket
from hellodoctor_domain.model.values import AppointmentId, Role, UserId
from hellodoctor_domain.ports.consultations import RoomAttendance, RoomTicketRepository


def _ticket_from(document: Document) -> RoomTicket:
    return RoomTicket(
        document["_id"],
        AppointmentId(document["appointment_id"]),
        UserId(document["user_id"]),
        Role(document["seat"]),
        document["issued_at"],
        document["expires_at"],
        document["used_at"],
    )


class MongoRoomTickets(RoomTicketRepository):
    def __init__(self, store: MongoStore) -> None:
        self._collection = store.collection("room_tickets")
        self.pending: list[Document] = []

    def add(self, ticket: RoomTicket) -> None:
        self.pending.append(
            {
                "_id": ticket.digest,
                "appointment_id": ticket.appointment_id.value,
                "user_id": ticket.user_id.value,
                "seat": ticket.seat.value,
                "issued_at": floor_ms(ticket.issued_at),
                "expires_at": floor_ms(ticket.expires_at),
                "used_at": None if ticket.used_at is None else floor_ms(ticket.used_at),
            }
        )

    @translated
    def redeem(
        self, digest: str, appointment_id: AppointmentId, now: datetime
    ) -> RoomTicket | None:
        document = self._collection.find_one_and_update(
            {
                "_id": digest,
                "appointment_id": appointment_id.value,
                "used_at": None,
                "expires_at": {"$gt": now},
            },
            {"$set": {"used_at": floor_ms(now)}},
            return_document=ReturnDocument.AFTER,
        )
        return None if document is None else _ticket_from(document)

    @translated
    def get(self, digest: str) -> RoomTicket | None:
        document = self._collection.find_one({"_id": digest})
        return None if document is None else _ticket_from(document)

    def flush(self, undo: list[Undo]) -> None:
        for document in self.pending:
            self._collection.insert_one(document)
            undo.append(undo_delete(self._collection, document["_id"]))


class MongoRoomAttendance(RoomAttendance):
    def __init__(self, store: MongoStore) -> None:
        self._collection = store.collection("room_attendance")
        self.pending: list[Document] = []

    def record(self, entry: RoomPresence) -> None:
        self.pending.append(
            {
                "appointment_id": entry.appointment_id.value,
                "user_id": entry.user_id.value,
                "seat": entry.seat.value,
                "presence": entry.presence.value,
                "at": floor_ms(entry.at),
            }
        )

    @translated
    def of(self, appointment_id: AppointmentId) -> list[RoomPresence]:
        cursor = self._collection.find({"appointment_id": appointment_id.value}).sort(
            [("at", ASCENDING), ("_id", ASCENDING)]
        )
        return [
            RoomPresence(
                AppointmentId(document["appointment_id"]),
                UserId(document["user_id"]),
                Role(document["seat"]),
                Presence(document["presence"]),
                document["at"],
            )
            for document in cursor
        ]

    def flush(self, undo: list[Undo]) -> None:
        for document in self.pending:
            inserted: Any = self._collection.insert_one(dict(document)).inserted_id
            undo.append(undo_delete(self._collection, inserted))
