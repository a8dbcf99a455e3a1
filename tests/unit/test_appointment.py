"""The appointment state machine: legal moves, refused moves, holds, and recorded events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hellodoctor_adapters.testing.fixtures import state_of
from hellodoctor_domain.errors import HoldExpired, IllegalTransition, InvalidValue
from hellodoctor_domain.model.appointment import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    Cancellation,
)
from hellodoctor_domain.model.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCompleted,
    AppointmentEvent,
    AppointmentHeld,
    AppointmentHoldExpired,
    AppointmentMarkedNoShow,
    AppointmentRescheduled,
)
from hellodoctor_domain.model.values import (
    AppointmentId,
    AppointmentType,
    DoctorId,
    Money,
    PatientId,
    Role,
    TimeRange,
    UserId,
    VisitKind,
)

Status = AppointmentStatus
TICK = timedelta(microseconds=1)
FEE = Money(6000, "EUR")


def cancellation(at: datetime, refund: Money | None = None) -> Cancellation:
    return Cancellation(Role.DOCTOR, UserId("dr-1"), "doctor is ill", at, refund or FEE)


# Each action with the moment it is tried at, chosen so that only the state can refuse it:
# before the hold lapses for confirm/cancel/reschedule, after it lapses (but before the visit)
# for expire, at the start of the visit for the outcomes.
def _early(a: Appointment) -> datetime:
    return a.created_at + timedelta(minutes=1)


ACTIONS: dict[str, Callable[[Appointment], None]] = {
    "confirm": lambda a: a.confirm(_early(a)),
    "cancel": lambda a: a.cancel(cancellation(_early(a))),
    "expire": lambda a: a.expire(a.time.start - timedelta(minutes=1)),
    "reschedule": lambda a: a.reschedule(a.time.shifted_to(a.time.end), _early(a)),
    "complete": lambda a: a.complete(a.time.start),
    "mark_no_show": lambda a: a.mark_no_show(a.time.start),
}

LEGAL: dict[tuple[Status, str], tuple[Status, type[AppointmentEvent]]] = {
    (Status.HELD, "confirm"): (Status.BOOKED, AppointmentBooked),
    (Status.HELD, "cancel"): (Status.CANCELLED, AppointmentCancelled),
    (Status.HELD, "expire"): (Status.EXPIRED, AppointmentHoldExpired),
    (Status.HELD, "reschedule"): (Status.HELD, AppointmentRescheduled),
    (Status.BOOKED, "cancel"): (Status.CANCELLED, AppointmentCancelled),
    (Status.BOOKED, "reschedule"): (Status.BOOKED, AppointmentRescheduled),
    (Status.BOOKED, "complete"): (Status.COMPLETED, AppointmentCompleted),
    (Status.BOOKED, "mark_no_show"): (Status.NO_SHOW, AppointmentMarkedNoShow),
}

ILLEGAL = [
    (status, action) for status in Status for action in ACTIONS if (status, action) not in LEGAL
]


@pytest.mark.parametrize(("status", "action"), list(LEGAL), ids=lambda v: str(v))
def test_every_legal_transition_moves_and_records_its_event(
    make_appointment: Callable[..., Appointment], status: Status, action: str
) -> None:
    appointment = make_appointment(status)
    new_status, event_type = LEGAL[status, action]

    ACTIONS[action](appointment)

    assert appointment.status is new_status
    assert len(appointment.events) == 1
    assert type(appointment.events[0]) is event_type


@pytest.mark.parametrize(("status", "action"), ILLEGAL, ids=lambda v: str(v))
def test_every_illegal_transition_raises_and_changes_nothing(
    make_appointment: Callable[..., Appointment], status: Status, action: str
) -> None:
    appointment = make_appointment(status)
    time_before, cancellation_before = appointment.time, appointment.cancellation

    with pytest.raises(IllegalTransition) as raised:
        ACTIONS[action](appointment)

    assert raised.value.appointment_id == str(appointment.id)
    assert raised.value.current == status
    assert appointment.status is status
    assert appointment.time == time_before
    assert appointment.cancellation == cancellation_before
    assert appointment.events == []


def test_the_state_table_covers_every_pair() -> None:
    assert len(LEGAL) + len(ILLEGAL) == len(Status) * len(ACTIONS)
    assert {Status.HELD, Status.BOOKED} == ACTIVE_STATUSES
    # Only active states lead anywhere; every other state is final.
    assert {status for status, _ in LEGAL} == ACTIVE_STATUSES
    assert all(status.is_active is (status in ACTIVE_STATUSES) for status in Status)


# -- creation ------------------------------------------------------------------------------------


def request(price: Money, now: datetime, **extra: object) -> Appointment:
    return Appointment.request(
        id=AppointmentId("apt-9"),
        doctor_id=DoctorId("dr-1"),
        patient_id=PatientId("pat-1"),
        time=TimeRange.starting_at(datetime(2026, 6, 10, 10, tzinfo=UTC), timedelta(minutes=30)),
        price=price,
        buffer=timedelta(minutes=10),
        now=now,
        hold_for=timedelta(minutes=15),
        **extra,  # type: ignore[arg-type]
    )


def test_a_request_with_a_fee_is_held_until_the_hold_lapses() -> None:
    now = datetime(2026, 6, 1, 8, tzinfo=UTC)

    appointment = request(FEE, now)

    assert appointment.status is Status.HELD
    assert appointment.hold_expires_at == now + timedelta(minutes=15)
    (event,) = appointment.events
    assert event == AppointmentHeld(
        appointment_id=AppointmentId("apt-9"),
        doctor_id=DoctorId("dr-1"),
        patient_id=PatientId("pat-1"),
        occurred_at=now,
        time=appointment.time,
        price=FEE,
        hold_expires_at=now + timedelta(minutes=15),
    )


def test_a_free_request_is_booked_at_once_with_no_hold() -> None:
    now = datetime(2026, 6, 1, 8, tzinfo=UTC)

    appointment = request(Money.zero("EUR"), now)

    assert appointment.status is Status.BOOKED
    assert appointment.hold_expires_at is None
    assert not appointment.hold_lapsed(now + timedelta(days=365))
    (event,) = appointment.events
    assert event == AppointmentBooked(
        appointment_id=appointment.id,
        doctor_id=appointment.doctor_id,
        patient_id=appointment.patient_id,
        occurred_at=now,
        time=appointment.time,
        price=Money.zero("EUR"),
    )


def test_request_keeps_type_kind_and_reason_and_stores_utc() -> None:
    kolkata_now = datetime(2026, 6, 1, 13, 30, tzinfo=ZoneInfo("Asia/Kolkata"))

    appointment = request(
        FEE,
        kolkata_now,
        appointment_type=AppointmentType.TELEMEDICINE,
        visit_kind=VisitKind.FOLLOW_UP,
        reason="results",
    )

    assert appointment.appointment_type is AppointmentType.TELEMEDICINE
    assert appointment.visit_kind is VisitKind.FOLLOW_UP
    assert appointment.reason == "results"
    assert appointment.created_at == datetime(2026, 6, 1, 8, tzinfo=UTC)
    assert appointment.created_at.tzinfo is UTC
    assert appointment.hold_expires_at is not None
    assert appointment.hold_expires_at.tzinfo is UTC
    assert appointment.events[0].occurred_at.tzinfo is UTC


def test_request_refuses_a_naive_now() -> None:
    with pytest.raises(InvalidValue):
        request(FEE, datetime(2026, 6, 1, 8))


def test_a_held_appointment_needs_an_expiry() -> None:
    with pytest.raises(InvalidValue):
        Appointment(
            id=AppointmentId("apt-1"),
            doctor_id=DoctorId("dr-1"),
            patient_id=PatientId("pat-1"),
            time=TimeRange.starting_at(datetime(2026, 6, 10, 10, tzinfo=UTC), timedelta(hours=1)),
            price=FEE,
            status=Status.HELD,
            created_at=datetime(2026, 6, 1, tzinfo=UTC),
        )


def test_a_buffer_cannot_be_negative(make_appointment: Callable[..., Appointment]) -> None:
    with pytest.raises(InvalidValue):
        make_appointment(buffer=-timedelta(minutes=5))


def test_blocked_time_is_the_visit_plus_the_buffer_after_it(
    make_appointment: Callable[..., Appointment],
) -> None:
    appointment = make_appointment(buffer=timedelta(minutes=10))
    assert appointment.blocked == TimeRange(
        appointment.time.start, appointment.time.end + timedelta(minutes=10)
    )
    assert make_appointment().blocked == make_appointment().time


# -- holds ---------------------------------------------------------------------------------------


def test_a_hold_lapses_exactly_at_its_expiry(make_appointment: Callable[..., Appointment]) -> None:
    held = make_appointment(Status.HELD)
    expiry = held.hold_expires_at
    assert expiry is not None

    assert not held.hold_lapsed(expiry - TICK)
    assert held.hold_lapsed(expiry)
    assert held.hold_lapsed(expiry + timedelta(days=1))
    assert held.blocks_time_at(expiry - TICK)
    assert not held.blocks_time_at(expiry)
    # Lapsing is a question about time; the state only changes on expire().
    assert held.status is Status.HELD
    assert held.is_active


def test_hold_lapse_accepts_any_zone(make_appointment: Callable[..., Appointment]) -> None:
    held = make_appointment(Status.HELD)
    assert held.hold_expires_at is not None
    in_new_york = held.hold_expires_at.astimezone(ZoneInfo("America/New_York"))
    assert held.hold_lapsed(in_new_york)
    assert not held.hold_lapsed(in_new_york - TICK)


def test_only_a_held_appointment_can_lapse(make_appointment: Callable[..., Appointment]) -> None:
    booked = make_appointment(Status.BOOKED)
    assert booked.hold_expires_at is not None  # it was held before it was paid for
    later = booked.hold_expires_at + timedelta(days=1)
    assert not booked.hold_lapsed(later)
    assert booked.blocks_time_at(later)


@pytest.mark.parametrize(
    "status", [Status.COMPLETED, Status.NO_SHOW, Status.CANCELLED, Status.EXPIRED]
)
def test_final_states_block_no_time(
    make_appointment: Callable[..., Appointment], status: Status
) -> None:
    appointment = make_appointment(status)
    assert not appointment.is_active
    assert not appointment.blocks_time_at(appointment.created_at)
    assert not appointment.hold_lapsed(appointment.time.start)


@pytest.mark.parametrize("after_expiry", [timedelta(0), timedelta(minutes=5)])
def test_confirming_a_lapsed_hold_raises_hold_expired(
    make_appointment: Callable[..., Appointment], after_expiry: timedelta
) -> None:
    held = make_appointment(Status.HELD)
    assert held.hold_expires_at is not None

    with pytest.raises(HoldExpired):
        held.confirm(held.hold_expires_at + after_expiry)

    assert held.status is Status.HELD
    assert held.events == []


def test_confirming_just_before_the_lapse_books(
    make_appointment: Callable[..., Appointment],
) -> None:
    held = make_appointment(Status.HELD)
    assert held.hold_expires_at is not None
    held.confirm(held.hold_expires_at - TICK)
    assert held.status is Status.BOOKED


def test_a_hold_cannot_be_expired_before_it_lapses(
    make_appointment: Callable[..., Appointment],
) -> None:
    held = make_appointment(Status.HELD)
    assert held.hold_expires_at is not None

    with pytest.raises(IllegalTransition):
        held.expire(held.hold_expires_at - TICK)

    assert held.status is Status.HELD
    assert held.events == []
    held.expire(held.hold_expires_at)
    assert held.status is Status.EXPIRED


def test_a_lapsed_hold_cannot_be_rescheduled(make_appointment: Callable[..., Appointment]) -> None:
    held = make_appointment(Status.HELD)
    assert held.hold_expires_at is not None
    original = held.time

    with pytest.raises(HoldExpired):
        held.reschedule(original.shifted_to(original.end), held.hold_expires_at)

    assert held.time == original
    assert held.events == []


# -- timing of reschedule and outcomes --------------------------------------------------------


@pytest.mark.parametrize("after_start", [timedelta(0), timedelta(minutes=10), timedelta(hours=1)])
def test_reschedule_is_refused_once_the_visit_has_started(
    make_appointment: Callable[..., Appointment], after_start: timedelta
) -> None:
    booked = make_appointment(Status.BOOKED)
    original = booked.time

    with pytest.raises(IllegalTransition):
        booked.reschedule(original.shifted_to(original.end), original.start + after_start)

    assert booked.time == original
    assert booked.events == []


def test_reschedule_just_before_the_start_moves_the_visit(
    make_appointment: Callable[..., Appointment],
) -> None:
    booked = make_appointment(Status.BOOKED)
    original = booked.time
    new_time = original.shifted_to(original.start + timedelta(days=1))
    now = original.start - TICK

    booked.reschedule(new_time, now)

    assert booked.time == new_time
    assert booked.status is Status.BOOKED
    (event,) = booked.events
    assert event == AppointmentRescheduled(
        appointment_id=booked.id,
        doctor_id=booked.doctor_id,
        patient_id=booked.patient_id,
        occurred_at=now,
        previous_time=original,
        time=new_time,
    )


@pytest.mark.parametrize("outcome", ["complete", "mark_no_show"])
@pytest.mark.parametrize("before_start", [TICK, timedelta(hours=1), timedelta(days=2)])
def test_outcomes_are_refused_before_the_visit_starts(
    make_appointment: Callable[..., Appointment], outcome: str, before_start: timedelta
) -> None:
    booked = make_appointment(Status.BOOKED)

    with pytest.raises(IllegalTransition):
        getattr(booked, outcome)(booked.time.start - before_start)

    assert booked.status is Status.BOOKED
    assert booked.events == []


@pytest.mark.parametrize(
    ("outcome", "status", "event_type"),
    [
        ("complete", Status.COMPLETED, AppointmentCompleted),
        ("mark_no_show", Status.NO_SHOW, AppointmentMarkedNoShow),
    ],
)
def test_outcomes_after_the_visit_record_when_they_were_recorded(
    make_appointment: Callable[..., Appointment],
    outcome: str,
    status: Status,
    event_type: type[AppointmentEvent],
) -> None:
    booked = make_appointment(Status.BOOKED)
    now = booked.time.end + timedelta(hours=3)

    getattr(booked, outcome)(now)

    assert booked.status is status
    (event,) = booked.events
    assert event == event_type(
        appointment_id=booked.id,
        doctor_id=booked.doctor_id,
        patient_id=booked.patient_id,
        occurred_at=now,
        time=booked.time,
    )


# -- events carry the facts --------------------------------------------------------------------


def test_confirm_records_booked_with_time_and_price(
    make_appointment: Callable[..., Appointment],
) -> None:
    held = make_appointment(Status.HELD, price=Money(4500, "GBP"))
    now = held.created_at + timedelta(minutes=3)

    held.confirm(now)

    (event,) = held.events
    assert event == AppointmentBooked(
        appointment_id=held.id,
        doctor_id=held.doctor_id,
        patient_id=held.patient_id,
        occurred_at=now,
        time=held.time,
        price=Money(4500, "GBP"),
    )


def test_cancel_records_who_why_when_and_the_refund(
    make_appointment: Callable[..., Appointment],
) -> None:
    booked = make_appointment(Status.BOOKED)
    at_in_london = (booked.time.start - timedelta(hours=30)).astimezone(ZoneInfo("Europe/London"))
    record = Cancellation(Role.PATIENT, UserId("pat-1"), "feeling better", at_in_london, FEE)

    booked.cancel(record)

    assert booked.status is Status.CANCELLED
    assert booked.cancellation == record
    assert record.at.tzinfo is UTC
    (event,) = booked.events
    assert event == AppointmentCancelled(
        appointment_id=booked.id,
        doctor_id=booked.doctor_id,
        patient_id=booked.patient_id,
        occurred_at=booked.time.start - timedelta(hours=30),
        time=booked.time,
        cancelled_by=Role.PATIENT,
        reason="feeling better",
        refund=FEE,
    )


def test_expire_records_the_released_time(make_appointment: Callable[..., Appointment]) -> None:
    held = make_appointment(Status.HELD)
    assert held.hold_expires_at is not None
    now = held.hold_expires_at + timedelta(minutes=2)

    held.expire(now)

    assert held.status is Status.EXPIRED
    assert not held.blocks_time_at(now)
    (event,) = held.events
    assert event == AppointmentHoldExpired(
        appointment_id=held.id,
        doctor_id=held.doctor_id,
        patient_id=held.patient_id,
        occurred_at=now,
        time=held.time,
    )


def test_events_accumulate_in_order_across_a_life(
    make_appointment: Callable[..., Appointment],
) -> None:
    appointment = make_appointment(Status.HELD)
    first_time = appointment.time
    later = first_time.shifted_to(first_time.start + timedelta(hours=2))

    appointment.reschedule(later, appointment.created_at + timedelta(minutes=1))
    appointment.confirm(appointment.created_at + timedelta(minutes=2))
    appointment.complete(later.end)

    assert [type(event) for event in appointment.events] == [
        AppointmentRescheduled,
        AppointmentBooked,
        AppointmentCompleted,
    ]
    assert appointment.events[-1].occurred_at == later.end
    assert isinstance(appointment.events[-1], AppointmentCompleted)
    assert appointment.events[-1].time == later


def test_events_are_not_part_of_the_state(make_appointment: Callable[..., Appointment]) -> None:
    with_events = make_appointment(Status.HELD)
    with_events.events.append(_any_event())
    assert state_of(with_events) == state_of(make_appointment(Status.HELD))
    assert state_of(with_events) != state_of(make_appointment(Status.BOOKED))


def test_appointments_are_the_same_only_when_they_are_one_object(
    make_appointment: Callable[..., Appointment],
) -> None:
    held = make_appointment(Status.HELD)
    assert held == held
    assert held != make_appointment(Status.HELD)  # an equal copy is another entity


def _any_event() -> AppointmentEvent:
    return AppointmentEvent(
        appointment_id=AppointmentId("apt-1"),
        doctor_id=DoctorId("dr-1"),
        patient_id=PatientId("pat-1"),
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
