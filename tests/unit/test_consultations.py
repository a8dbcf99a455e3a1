"""Consultation rooms: when they open, who may enter, single-use tickets, attendance, and
completing the visit from the room -- the use cases over the in-memory storage."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory, ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.testing.fixtures import appointment, at, seed
from hellodoctor_domain import (
    Actor,
    AppointmentId,
    AppointmentStatus,
    AppointmentType,
    DoctorId,
    PatientId,
    Role,
    Scheduling,
    UserId,
)
from hellodoctor_domain.errors import (
    AccessDenied,
    AppointmentCancelledRoom,
    IllegalTransition,
    InvalidValue,
    NotFound,
    NotTelemedicine,
    RoomClosed,
    RoomNotOpen,
    RoomTicketExpired,
    RoomTicketUnknown,
    RoomTicketUsed,
)
from hellodoctor_domain.model.consultation import Presence, RoomPolicy, ticket_digest
from hellodoctor_domain.use_cases.consultations import Consultations

START = at(10)  # a 30-minute visit: the room is open 09:50 to 10:45
DOCTOR = Actor.doctor(DoctorId("d1"), UserId("u-d1"))
PATIENT = Actor.patient(PatientId("p1"), UserId("u-p1"))
ROOM = AppointmentId("tele")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START - timedelta(minutes=10))


@pytest.fixture
def storage() -> InMemoryUnitOfWorkFactory:
    storage = InMemoryUnitOfWorkFactory()
    seed(storage)
    with storage() as uow:
        for key, kind in (("tele", AppointmentType.TELEMEDICINE), ("visit", None)):
            built = appointment(key, START if kind else at(12))
            if kind:
                built.appointment_type = kind
            uow.appointments.add(built)
        uow.commit()
    return storage


@pytest.fixture
def scheduling(storage: InMemoryUnitOfWorkFactory, clock: ManualClock) -> Scheduling:
    return Scheduling(storage, clock, SequentialIds("s"), OfflinePaymentGateway())


@pytest.fixture
def rooms(
    storage: InMemoryUnitOfWorkFactory, clock: ManualClock, scheduling: Scheduling
) -> Consultations:
    return Consultations(storage, clock, scheduling, RoomPolicy())


def test_the_room_opens_ten_minutes_before_and_closes_after_the_grace(
    rooms: Consultations, clock: ManualClock
) -> None:
    clock.advance(-timedelta(seconds=1))
    with pytest.raises(RoomNotOpen):
        rooms.issue_ticket(PATIENT, ROOM)
    clock.advance(timedelta(seconds=1))
    issued = rooms.issue_ticket(PATIENT, ROOM)
    assert (issued.seat, issued.window.start, issued.window.end) == (
        Role.PATIENT,
        START - timedelta(minutes=10),
        START + timedelta(minutes=45),
    )
    assert issued.expires_at == clock.now() + timedelta(seconds=60)
    clock.set(START + timedelta(minutes=45))
    with pytest.raises(RoomClosed):
        rooms.issue_ticket(DOCTOR, ROOM)


@pytest.mark.parametrize(
    "stranger",
    [
        Actor.patient(PatientId("p2"), UserId("u-p2")),
        Actor.doctor(DoctorId("d2"), UserId("u-d2")),
        Actor.admin(UserId("admin")),
    ],
)
def test_only_its_doctor_and_patient_get_tickets(rooms: Consultations, stranger: Actor) -> None:
    with pytest.raises(NotFound):
        rooms.issue_ticket(stranger, ROOM)


def test_an_in_person_visit_has_no_room(rooms: Consultations, clock: ManualClock) -> None:
    clock.set(at(12))
    with pytest.raises(NotTelemedicine):
        rooms.issue_ticket(PATIENT, AppointmentId("visit"))


def test_a_cancelled_appointments_room_never_opens(
    rooms: Consultations, scheduling: Scheduling
) -> None:
    ticket = rooms.issue_ticket(PATIENT, ROOM).ticket
    scheduling.cancel(DOCTOR, ROOM, "unwell")
    with pytest.raises(AppointmentCancelledRoom):
        rooms.admit(ticket, ROOM)
    with pytest.raises(AppointmentCancelledRoom):
        rooms.issue_ticket(PATIENT, ROOM)


def test_a_ticket_admits_once_and_is_stored_only_as_a_digest(
    rooms: Consultations, storage: InMemoryUnitOfWorkFactory
) -> None:
    ticket = rooms.issue_ticket(DOCTOR, ROOM).ticket
    assert list(storage.store.rooms.tickets) == [ticket_digest(ticket)]
    admitted = rooms.admit(ticket, ROOM)
    assert (admitted.actor, admitted.seat) == (DOCTOR, Role.DOCTOR)
    assert admitted.closes_at == START + timedelta(minutes=45)
    with pytest.raises(RoomTicketUsed):
        rooms.admit(ticket, ROOM)


def test_an_expired_forged_or_misdirected_ticket_admits_nobody(
    rooms: Consultations, clock: ManualClock
) -> None:
    ticket = rooms.issue_ticket(PATIENT, ROOM).ticket
    with pytest.raises(RoomTicketUnknown):
        rooms.admit("forged", ROOM)
    with pytest.raises(RoomTicketUnknown):
        rooms.admit(ticket, AppointmentId("visit"))
    clock.advance(timedelta(seconds=60))
    with pytest.raises(RoomTicketExpired):
        rooms.admit(ticket, ROOM)


def test_a_ticket_still_valid_after_the_window_closed_is_refused(
    rooms: Consultations, clock: ManualClock
) -> None:
    clock.set(START + timedelta(minutes=44, seconds=30))
    ticket = rooms.issue_ticket(PATIENT, ROOM).ticket
    clock.advance(timedelta(seconds=30))
    with pytest.raises(RoomClosed):
        rooms.admit(ticket, ROOM)


def test_attendance_is_recorded_and_shown_to_the_parties(
    rooms: Consultations, clock: ManualClock
) -> None:
    admitted = rooms.admit(rooms.issue_ticket(PATIENT, ROOM).ticket, ROOM)
    rooms.record(admitted, Presence.JOINED)
    clock.advance(timedelta(minutes=20))
    rooms.record(admitted, Presence.LEFT)
    for party in (DOCTOR, PATIENT, Actor.admin(UserId("admin"))):
        lines = rooms.attendance(party, ROOM)
        assert [(line.user_id, line.seat, line.presence) for line in lines] == [
            (UserId("u-p1"), Role.PATIENT, Presence.JOINED),
            (UserId("u-p1"), Role.PATIENT, Presence.LEFT),
        ]
        assert lines[1].at - lines[0].at == timedelta(minutes=20)
    with pytest.raises(NotFound):
        rooms.attendance(Actor.patient(PatientId("p2")), ROOM)


def test_the_doctor_completes_from_the_room_and_the_patient_cannot(
    rooms: Consultations, clock: ManualClock
) -> None:
    doctor = rooms.admit(rooms.issue_ticket(DOCTOR, ROOM).ticket, ROOM)
    patient = rooms.admit(rooms.issue_ticket(PATIENT, ROOM).ticket, ROOM)
    with pytest.raises(IllegalTransition):  # not started yet
        rooms.complete(doctor)
    clock.set(START + timedelta(minutes=25))
    with pytest.raises(AccessDenied):
        rooms.complete(patient)
    assert rooms.complete(doctor).status is AppointmentStatus.COMPLETED


def test_a_room_policy_refuses_negative_or_zero_durations() -> None:
    with pytest.raises(InvalidValue):
        RoomPolicy(opens_before=timedelta(minutes=-1))
    with pytest.raises(InvalidValue):
        RoomPolicy(ticket_lifetime=timedelta(0))
