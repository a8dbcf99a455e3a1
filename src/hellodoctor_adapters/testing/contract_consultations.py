"""The consultations contract: room tickets are redeemed at most once (one conditional write,
whatever the number of concurrent redeemers), expired or unknown tickets never, and the rooms'
attendance keeps its order. Mix ``ConsultationStorageContract`` into a storage's test class
beside ``UnitOfWorkContract``; it needs only ``uow_factory``."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from hellodoctor_adapters.testing.fixtures import MONDAY, appointment, at, seed, state_of
from hellodoctor_domain import AppointmentId, Role, UserId
from hellodoctor_domain.model.consultation import (
    Presence,
    RoomPresence,
    RoomTicket,
    ticket_digest,
)
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory

ROOM = AppointmentId("tele-1")
ISSUED = at(9)
EXPIRES = ISSUED + timedelta(minutes=1)


def _ticket(secret: str = "ticket-1", seat: Role = Role.PATIENT) -> RoomTicket:
    return RoomTicket(ticket_digest(secret), ROOM, UserId("u-p1"), seat, ISSUED, EXPIRES)


class ConsultationStorageContract:
    @pytest.fixture
    def with_room(self, uow_factory: UnitOfWorkFactory) -> UnitOfWorkFactory:
        seed(uow_factory)
        with uow_factory() as uow:
            uow.appointments.add(appointment(ROOM.value, at(9, 10)))
            uow.room_tickets.add(_ticket())
            uow.commit()
        return uow_factory

    def test_a_ticket_round_trips_by_its_digest(self, with_room: UnitOfWorkFactory) -> None:
        with with_room() as uow:
            stored = uow.room_tickets.get(ticket_digest("ticket-1"))
            assert uow.room_tickets.get(ticket_digest("never issued")) is None
        assert state_of(stored) == state_of(_ticket())

    def test_a_ticket_is_redeemed_once(self, with_room: UnitOfWorkFactory) -> None:
        digest = ticket_digest("ticket-1")
        now = ISSUED + timedelta(seconds=5)
        with with_room() as uow:
            redeemed = uow.room_tickets.redeem(digest, ROOM, now)
            uow.commit()
        assert redeemed is not None
        assert (redeemed.seat, redeemed.used_at) == (Role.PATIENT, now)
        with with_room() as uow:
            assert uow.room_tickets.redeem(digest, ROOM, now + timedelta(seconds=1)) is None
            again = uow.room_tickets.get(digest)
        assert again is not None
        assert again.used_at == now

    def test_an_expired_unknown_or_misdirected_ticket_is_not_redeemed(
        self, with_room: UnitOfWorkFactory
    ) -> None:
        digest = ticket_digest("ticket-1")
        with with_room() as uow:
            assert uow.room_tickets.redeem(digest, ROOM, EXPIRES) is None
            assert uow.room_tickets.redeem(ticket_digest("forged"), ROOM, ISSUED) is None
            assert uow.room_tickets.redeem(digest, AppointmentId("other"), ISSUED) is None
            stored = uow.room_tickets.get(digest)
        assert stored is not None
        assert stored.used_at is None

    def test_a_ticket_added_in_a_rolled_back_unit_of_work_does_not_exist(
        self, with_room: UnitOfWorkFactory
    ) -> None:
        with with_room() as uow:
            uow.room_tickets.add(_ticket("ticket-2", Role.DOCTOR))
        with with_room() as uow:
            assert uow.room_tickets.get(ticket_digest("ticket-2")) is None

    def test_concurrent_redemptions_of_one_ticket_have_one_winner(
        self, with_room: UnitOfWorkFactory
    ) -> None:
        digest = ticket_digest("ticket-1")
        contenders = 6
        start = threading.Barrier(contenders)

        def redeem(index: int) -> bool:
            start.wait(timeout=30)  # outside: a unit of work may hold a lock until it ends
            with with_room() as uow:
                won = uow.room_tickets.redeem(digest, ROOM, ISSUED + timedelta(seconds=index + 1))
                uow.commit()
                return won is not None

        with ThreadPoolExecutor(contenders) as pool:
            winners = sum(pool.map(redeem, range(contenders)))
        assert winners == 1

    def test_attendance_is_kept_in_order_per_room(self, with_room: UnitOfWorkFactory) -> None:
        lines = [
            RoomPresence(ROOM, UserId("u-d1"), Role.DOCTOR, Presence.JOINED, at(9, 1)),
            RoomPresence(ROOM, UserId("u-p1"), Role.PATIENT, Presence.JOINED, at(9, 2)),
            RoomPresence(ROOM, UserId("u-p1"), Role.PATIENT, Presence.LEFT, at(9, 2)),
            RoomPresence(ROOM, UserId("u-d1"), Role.DOCTOR, Presence.LEFT, at(9, 40)),
        ]
        with with_room() as uow:
            uow.appointments.add(appointment("other", at(11)))
            uow.room_attendance.record(
                RoomPresence(
                    AppointmentId("other"), UserId("u"), Role.DOCTOR, Presence.JOINED, MONDAY
                )
            )
            for line in lines:
                uow.room_attendance.record(line)
            uow.commit()
        with with_room() as uow:
            uow.room_attendance.record(
                RoomPresence(ROOM, UserId("u-p1"), Role.PATIENT, Presence.JOINED, at(9, 50))
            )  # rolled back
        with with_room() as uow:
            assert uow.room_attendance.of(ROOM) == lines
