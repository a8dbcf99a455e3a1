"""The use cases through ``Scheduling``, over the in-memory adapters, a manual clock and the
offline payment gateway (bookings that are paid for are paid by card through ``Billing``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from attrs import evolve

from hellodoctor_adapters.memory import (
    InMemoryEventPublisher,
    InMemoryStore,
    InMemoryUnitOfWorkFactory,
    ManualClock,
    SequentialIds,
)
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.outbox import OutboxMessage
from hellodoctor_adapters.testing.fixtures import state_of
from hellodoctor_domain.errors import (
    AccessDenied,
    BeyondHorizon,
    BookingRuleViolation,
    CancellationNotAllowed,
    ConcurrencyError,
    HoldExpired,
    IllegalTransition,
    InThePast,
    InvalidDuration,
    InvalidValue,
    NotAcceptingBookings,
    NotFound,
    OffGrid,
    OutsideAvailability,
    SlotUnavailable,
    TooShortNotice,
)
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.availability import Availability, LocalWindow, Weekday, WorkingDay
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
from hellodoctor_domain.model.payments import Payment, PaymentMethod, PaymentStatus, RefundIssued
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    DoctorId,
    Money,
    PatientId,
    TimeRange,
    UserId,
)
from hellodoctor_domain.use_cases.billing import Billing
from hellodoctor_domain.use_cases.scheduling import BookingRequest, Scheduling, SchedulingSettings

Status = AppointmentStatus

MONDAY = date(2026, 6, 1)
NOW = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
SLOT = timedelta(minutes=30)
NOTICE = timedelta(hours=2)
HORIZON = timedelta(days=30)
FEE = Money(6000, "EUR")

PAID = DoctorId("dr-paid")  # charges a fee: bookings are held until paid
FREE = DoctorId("dr-free")  # charges nothing: bookings are booked at once
ALICE = PatientId("pat-alice")
BOB = PatientId("pat-bob")
ADMIN = Actor.admin(UserId("admin"))


def at(clock: str, day: int = 1) -> datetime:
    """``clock`` UTC on the ``day``-th day after MONDAY (default: Tuesday)."""
    return datetime.combine(MONDAY + timedelta(days=day), time.fromisoformat(clock), tzinfo=UTC)


def weekdays(*hours: tuple[str, str], breaks: tuple[tuple[str, str], ...] = ()) -> list[WorkingDay]:
    def w(pair: tuple[str, str]) -> LocalWindow:
        return LocalWindow(time.fromisoformat(pair[0]), time.fromisoformat(pair[1]))

    return [
        WorkingDay(day, [w(h) for h in hours], breaks=[w(b) for b in breaks])
        for day in list(Weekday)[:5]
    ]


class Clinic:
    """A scheduling service (and billing, to pay) over a fresh in-memory store, with two doctors
    working Mon-Fri 09:00-17:00 UTC with lunch 12:00-13:00, and two patients."""

    def __init__(self, *, buffer: timedelta = timedelta(0), minimum_notice: timedelta = NOTICE):
        self.clock = ManualClock(NOW)
        self.publisher = InMemoryEventPublisher()
        self.store = InMemoryStore()
        self.uow = InMemoryUnitOfWorkFactory(self.store, self.publisher)
        self.settings = SchedulingSettings()
        self.gateway = OfflinePaymentGateway()
        self.scheduling = Scheduling(
            self.uow, self.clock, SequentialIds("apt"), self.gateway, self.settings
        )
        self.billing = Billing(self.uow, self.clock, SequentialIds("pay"), self.gateway)
        for doctor_id, fee in ((PAID, FEE), (FREE, Money.zero("EUR"))):
            self.scheduling.register_doctor(
                ADMIN,
                Doctor(doctor_id, f"Dr {doctor_id}", "GP", f"REG-{doctor_id}", fee, "UTC"),
            )
            self.define(doctor_id, buffer=buffer, minimum_notice=minimum_notice)
        for patient_id in (ALICE, BOB):
            self.scheduling.register_patient(Patient(patient_id, f"Patient {patient_id}"))
        # The set-up's hours changes (AvailabilityChanged) are no test's business.
        self.publisher.published.clear()
        self.store.outbox.clear()

    def define(self, doctor_id: DoctorId, **rules: object) -> Availability:
        rules.setdefault("minimum_notice", NOTICE)
        rules.setdefault("booking_horizon", HORIZON)
        rules.setdefault("slot_length", SLOT)
        zone = self.scheduling.doctor(doctor_id).time_zone
        weekly = weekdays(("09:00", "17:00"), breaks=(("12:00", "13:00"),))
        return self.scheduling.define_availability(
            ADMIN,
            Availability(doctor_id, zone, weekly, **rules),  # type: ignore[arg-type]
        )

    def book(
        self,
        start: datetime,
        *,
        patient: PatientId = ALICE,
        doctor: DoctorId = PAID,
        length: timedelta | None = None,
        actor: Actor | None = None,
    ) -> Appointment:
        request = BookingRequest(doctor_id=doctor, patient_id=patient, start=start, length=length)
        return self.scheduling.book(actor or Actor.patient(patient), request)

    def starts(
        self, doctor: DoctorId = PAID, day: int = 1, length: timedelta | None = None
    ) -> list[datetime]:
        period = TimeRange(at("00:00", day), at("00:00", day + 1))
        return [
            slot.time.start for slot in self.scheduling.free_slots(doctor, period, None, length)
        ]

    def stored(self, appointment_id: AppointmentId) -> Appointment:
        return self.scheduling.appointment(ADMIN, appointment_id)

    def pay_by_card(self, held: Appointment) -> Appointment:
        """The patient pays the hold by card and the gateway's success arrives: booked."""
        started = self.billing.start_payment(
            Actor.patient(held.patient_id), held.id, PaymentMethod.CARD
        )
        assert started.payment.provider_reference is not None
        paid = self.gateway.complete(started.payment.provider_reference)
        self.billing.handle_webhook(paid.body, paid.signature)
        return self.stored(held.id)

    def payment_of(self, appointment_id: AppointmentId) -> Payment:
        with self.uow() as uow:
            found = uow.payments.for_appointment(appointment_id)
        assert found is not None, f"{appointment_id} has no payment"
        return found

    def published(self) -> list[type[AppointmentEvent]]:
        return [type(event) for event in self.publisher.published]


@pytest.fixture
def clinic() -> Clinic:
    return Clinic()


def tuesday_grid() -> list[datetime]:
    """Every slot start of the standard Tuesday, by the rule: 09:00-12:00 and 13:00-17:00."""
    morning = [at("09:00") + SLOT * k for k in range(3 * 2)]
    afternoon = [at("13:00") + SLOT * k for k in range(4 * 2)]
    return morning + afternoon


# -- book ----------------------------------------------------------------------------------------


def test_booking_a_doctor_with_a_fee_holds_the_time_until_paid(clinic: Clinic) -> None:
    held = clinic.book(at("10:00"))

    assert held.status is Status.HELD
    assert held.price == FEE
    assert held.time == TimeRange.starting_at(at("10:00"), SLOT)
    assert held.hold_expires_at == NOW + clinic.settings.hold_for
    assert held.created_at == NOW
    assert state_of(clinic.stored(held.id)) == state_of(held)
    assert clinic.published() == [AppointmentHeld]


def test_booking_a_free_doctor_books_at_once(clinic: Clinic) -> None:
    booked = clinic.book(at("10:00"), doctor=FREE)

    assert booked.status is Status.BOOKED
    assert booked.hold_expires_at is None
    assert booked.price == Money.zero("EUR")
    assert clinic.stored(booked.id).status is Status.BOOKED
    assert clinic.published() == [AppointmentBooked]


def test_a_longer_visit_takes_whole_slots(clinic: Clinic) -> None:
    long_visit = clinic.book(at("10:00"), length=SLOT * 3)
    assert long_visit.time == TimeRange(at("10:00"), at("11:30"))
    assert clinic.starts() == [s for s in tuesday_grid() if not at("10:00") <= s < at("11:30")]


@pytest.mark.parametrize(
    ("start", "length", "error"),
    [
        (NOW - timedelta(hours=1), None, InThePast),
        (NOW + timedelta(hours=1), None, TooShortNotice),
        (at("09:00", day=35), None, BeyondHorizon),
        (at("10:00"), timedelta(minutes=45), InvalidDuration),
        (at("07:00"), None, OutsideAvailability),
        (at("12:00"), None, OutsideAvailability),
        (at("10:00", day=5), None, OutsideAvailability),  # Saturday
        (at("10:10"), None, OffGrid),
    ],
    ids=["past", "notice", "horizon", "duration", "early", "lunch", "saturday", "grid"],
)
def test_booking_rule_violations_are_refused_and_store_nothing(
    clinic: Clinic, start: datetime, length: timedelta | None, error: type[BookingRuleViolation]
) -> None:
    with pytest.raises(error):
        clinic.book(start, length=length)
    assert clinic.store.appointments == {}
    assert clinic.publisher.published == []


def test_an_explicit_zero_length_is_an_invalid_duration_when_booking(clinic: Clinic) -> None:
    with pytest.raises(InvalidDuration):
        clinic.starts(length=timedelta(0))
    with pytest.raises(InvalidDuration):
        clinic.book(at("10:00"), length=timedelta(0))
    assert clinic.store.appointments == {}


def test_a_doctor_not_accepting_bookings_is_refused_and_lists_nothing(clinic: Clinic) -> None:
    clinic.scheduling.set_accepting_bookings(Actor.doctor(PAID), PAID, False)

    with pytest.raises(NotAcceptingBookings):
        clinic.book(at("10:00"))
    assert clinic.starts() == []

    clinic.scheduling.set_accepting_bookings(ADMIN, PAID, True)
    assert clinic.book(at("10:00")).status is Status.HELD


def test_a_doctor_without_availability_takes_no_bookings(clinic: Clinic) -> None:
    newcomer = DoctorId("dr-new")
    clinic.scheduling.register_doctor(
        ADMIN, Doctor(newcomer, "Dr New", "GP", "REG-new", FEE, "UTC")
    )
    with pytest.raises(NotAcceptingBookings):
        clinic.book(at("10:00"), doctor=newcomer)
    assert clinic.starts(newcomer) == []
    with pytest.raises(NotFound):
        clinic.scheduling.availability(newcomer)


def test_only_an_admin_registers_doctors_and_only_the_doctor_closes_their_calendar(
    clinic: Clinic,
) -> None:
    other = Doctor(DoctorId("dr-x"), "Dr X", "GP", "REG-x", FEE, "UTC")
    for actor in (Actor.patient(ALICE), Actor.doctor(PAID)):
        with pytest.raises(AccessDenied):
            clinic.scheduling.register_doctor(actor, other)
    for actor in (Actor.patient(ALICE), Actor.doctor(FREE)):
        with pytest.raises(AccessDenied):
            clinic.scheduling.set_accepting_bookings(actor, PAID, False)
    assert clinic.scheduling.doctor(PAID).accepting_bookings


def test_a_patient_books_only_for_themselves(clinic: Clinic) -> None:
    with pytest.raises(AccessDenied):
        clinic.book(at("10:00"), patient=BOB, actor=Actor.patient(ALICE))
    assert clinic.store.appointments == {}


def test_a_doctor_books_only_into_their_own_calendar(clinic: Clinic) -> None:
    with pytest.raises(AccessDenied):
        clinic.book(at("10:00"), doctor=PAID, actor=Actor.doctor(FREE))
    on_behalf = clinic.book(at("10:00"), doctor=PAID, patient=BOB, actor=Actor.doctor(PAID))
    by_admin = clinic.book(at("11:00"), doctor=PAID, patient=BOB, actor=ADMIN)
    assert {on_behalf.patient_id, by_admin.patient_id} == {BOB}


def test_unknown_doctor_or_patient_is_not_found(clinic: Clinic) -> None:
    with pytest.raises(NotFound):
        clinic.book(at("10:00"), doctor=DoctorId("dr-nobody"))
    with pytest.raises(NotFound):
        clinic.book(at("10:00"), patient=PatientId("pat-nobody"))


def test_the_same_time_cannot_be_booked_twice(clinic: Clinic) -> None:
    first = clinic.book(at("10:00"))

    with pytest.raises(SlotUnavailable):
        clinic.book(at("10:00"), patient=BOB)
    with pytest.raises(SlotUnavailable):
        clinic.book(at("09:30"), patient=BOB, length=SLOT * 2)  # overlaps the second half

    assert list(clinic.store.appointments) == [first.id]
    assert clinic.published() == [AppointmentHeld]
    # Touching is not overlapping.
    clinic.book(at("10:30"), patient=BOB)
    clinic.book(at("09:30"), patient=BOB)


def test_a_patient_cannot_be_in_two_places_at_once(clinic: Clinic) -> None:
    clinic.book(at("10:00"), doctor=PAID)
    with pytest.raises(SlotUnavailable):
        clinic.book(at("10:00"), doctor=FREE)
    clinic.book(at("10:00"), doctor=FREE, patient=BOB)


def test_the_buffer_keeps_the_time_after_each_visit_free() -> None:
    clinic = Clinic(buffer=timedelta(minutes=10))
    booked = clinic.book(at("10:00"))
    assert booked.blocked == TimeRange(at("10:00"), at("10:40"))

    # The next slot starts inside the buffer; the one before would push its buffer into ours.
    with pytest.raises(SlotUnavailable):
        clinic.book(at("10:30"), patient=BOB)
    with pytest.raises(SlotUnavailable):
        clinic.book(at("09:30"), patient=BOB)
    clinic.book(at("11:00"), patient=BOB)
    clinic.book(at("09:00"), patient=BOB)


def test_a_lapsed_hold_frees_its_time_for_the_next_booking(clinic: Clinic) -> None:
    lapsed = clinic.book(at("10:00"))
    clinic.clock.advance(clinic.settings.hold_for)

    taken = clinic.book(at("10:00"), patient=BOB)

    assert taken.status is Status.HELD
    assert clinic.stored(lapsed.id).status is Status.EXPIRED
    assert clinic.published() == [AppointmentHeld, AppointmentHoldExpired, AppointmentHeld]


def test_a_hold_that_has_not_lapsed_still_blocks(clinic: Clinic) -> None:
    held = clinic.book(at("10:00"))
    clinic.clock.advance(clinic.settings.hold_for - timedelta(seconds=1))
    with pytest.raises(SlotUnavailable):
        clinic.book(at("10:00"), patient=BOB)
    assert clinic.stored(held.id).status is Status.HELD


# -- free slots ----------------------------------------------------------------------------------


def test_free_slots_of_an_empty_day_are_the_whole_grid(clinic: Clinic) -> None:
    assert clinic.starts() == tuesday_grid()
    availability = clinic.scheduling.availability(PAID)
    tuesday = TimeRange(at("00:00"), at("00:00", day=2))
    assert clinic.starts() == [slot.start for slot in availability.grid(tuesday)]


def test_free_slots_leave_out_taken_time(clinic: Clinic) -> None:
    clinic.book(at("10:00"))
    clinic.book(at("14:00"), patient=BOB, length=SLOT * 2)

    taken = {at("10:00"), at("14:00"), at("14:30")}
    assert clinic.starts() == [s for s in tuesday_grid() if s not in taken]
    # Another doctor's calendar is unaffected.
    assert clinic.starts(FREE) == tuesday_grid()


def test_free_slots_leave_out_neighbours_the_buffer_would_collide_with() -> None:
    buffer = timedelta(minutes=10)
    clinic = Clinic(buffer=buffer)
    clinic.book(at("10:00"))
    blocked = TimeRange(at("10:00"), at("10:00") + SLOT + buffer)

    expected = [s for s in tuesday_grid() if not TimeRange(s, s + SLOT + buffer).overlaps(blocked)]
    assert at("09:30") not in expected
    assert at("10:30") not in expected
    assert clinic.starts() == expected


def test_free_slots_for_longer_visits_need_all_their_slots_free(clinic: Clinic) -> None:
    taken = clinic.book(at("10:00")).time
    hour = timedelta(hours=1)
    segments = [TimeRange(at("09:00"), at("12:00")), TimeRange(at("13:00"), at("17:00"))]
    expected = [
        s
        for s in tuesday_grid()
        if any(segment.contains(TimeRange(s, s + hour)) for segment in segments)
        and not TimeRange(s, s + hour).overlaps(taken)
    ]
    assert clinic.starts(length=hour) == expected
    assert at("09:30") not in expected
    assert at("10:00") not in expected
    with pytest.raises(InvalidDuration):
        clinic.starts(length=timedelta(minutes=40))


@pytest.fixture
def probe_patient(clinic: Clinic) -> PatientId:
    probe = PatientId("pat-probe")
    clinic.scheduling.register_patient(Patient(probe, "Probe"))
    return probe


def test_free_slots_agree_with_booking(clinic: Clinic, probe_patient: PatientId) -> None:
    clinic.define(PAID, buffer=timedelta(minutes=10))
    clinic.book(at("10:00"))
    clinic.book(at("13:30"), patient=BOB)
    listed = set(clinic.starts())
    assert listed
    assert set(tuesday_grid()) - listed  # both answers get checked

    for start in tuesday_grid():
        try:
            probe = clinic.book(start, patient=probe_patient, actor=ADMIN)
        except SlotUnavailable:
            assert start not in listed, start
        else:
            assert start in listed, start
            clinic.scheduling.cancel(ADMIN, probe.id, "probe")


def test_cancelled_and_lapsed_appointments_free_their_slots(clinic: Clinic) -> None:
    cancelled = clinic.book(at("10:00"))
    clinic.book(at("11:00"), patient=BOB)
    clinic.scheduling.cancel(Actor.patient(ALICE), cancelled.id)
    assert at("10:00") in clinic.starts()
    assert at("11:00") not in clinic.starts()

    clinic.clock.advance(clinic.settings.hold_for)  # Bob's hold lapses; nobody has expired it
    assert at("11:00") in clinic.starts()
    assert clinic.starts() == tuesday_grid()


def test_free_slots_respect_notice_and_horizon(clinic: Clinic) -> None:
    clinic.clock.set(at("10:10"))
    earliest = at("10:10") + NOTICE
    assert clinic.starts() == [s for s in tuesday_grid() if s >= earliest]

    last_day = ((at("10:10") + HORIZON).date() - MONDAY).days
    latest = at("10:10") + HORIZON
    assert clinic.starts(day=last_day) == [
        s for s in (at("09:00", last_day) + SLOT * k for k in range(6)) if s <= latest
    ]
    assert len(clinic.starts(day=last_day)) == 3  # 09:00, 09:30, 10:00
    assert clinic.starts(day=last_day + 1) == []  # a Friday, wholly beyond the horizon
    assert clinic.starts(day=0) == []  # Monday: in the past


def test_free_slots_list_at_most_the_configured_span(clinic: Clinic) -> None:
    longest = clinic.settings.longest_slot_listing
    assert clinic.scheduling.free_slots(PAID, TimeRange(NOW, NOW + longest))
    with pytest.raises(InvalidValue):
        clinic.scheduling.free_slots(PAID, TimeRange(NOW, NOW + longest + timedelta(seconds=1)))


def test_free_slots_are_shown_in_the_display_zone(clinic: Clinic) -> None:
    period = TimeRange(at("00:00"), at("00:00", day=2))
    kolkata = ZoneInfo("Asia/Kolkata")

    slots = clinic.scheduling.free_slots(PAID, period, display_zone="Asia/Kolkata")

    assert [slot.time.start for slot in slots] == tuesday_grid()
    for slot in slots:
        assert slot.local_start == slot.time.start
        assert slot.local_end == slot.time.end
        assert slot.local_start.tzinfo == kolkata
        assert slot.local_start.utcoffset() == timedelta(hours=5, minutes=30)
        assert slot.local_start.replace(tzinfo=None) == slot.time.start.replace(
            tzinfo=None
        ) + timedelta(hours=5, minutes=30)
    # 09:00 UTC is 14:30 in Kolkata.
    assert slots[0].local_start.time() == time(14, 30)


def test_free_slots_default_to_the_doctor_s_zone_and_refuse_unknown_ones(clinic: Clinic) -> None:
    paris = DoctorId("dr-paris")
    clinic.scheduling.register_doctor(
        ADMIN, Doctor(paris, "Dr Paris", "GP", "REG-paris", FEE, "Europe/Paris")
    )
    clinic.define(paris)
    period = TimeRange(at("00:00"), at("00:00", day=2))

    slots = clinic.scheduling.free_slots(paris, period)

    assert slots[0].local_start.tzinfo == ZoneInfo("Europe/Paris")
    assert slots[0].local_start.time() == time(9)  # the doctor's own wall clock
    # In June Paris is UTC+2: 09:00 there is 07:00 UTC.
    assert slots[0].time.start == at("07:00")
    in_new_york = clinic.scheduling.free_slots(paris, period, display_zone="America/New_York")
    assert in_new_york[0].local_start.time() == time(3)
    with pytest.raises(InvalidValue):
        clinic.scheduling.free_slots(paris, period, display_zone="Europe/Gotham")


def test_a_doctor_s_hours_are_defined_in_the_doctor_s_zone(clinic: Clinic) -> None:
    with pytest.raises(InvalidValue):
        clinic.scheduling.define_availability(
            ADMIN, Availability(PAID, "Europe/Paris", weekdays(("09:00", "17:00")))
        )
    for actor in (Actor.patient(ALICE), Actor.doctor(FREE)):
        with pytest.raises(AccessDenied):
            clinic.scheduling.define_availability(
                actor, Availability(PAID, "UTC", weekdays(("09:00", "17:00")))
            )


def test_replacing_availability_changes_the_grid(clinic: Clinic) -> None:
    current = clinic.scheduling.availability(PAID)
    replaced = clinic.scheduling.define_availability(
        Actor.doctor(PAID),
        evolve(current, weekly=weekdays(("14:00", "16:00"))),
        if_version=current.version,
    )
    assert replaced.version == current.version + 1
    assert clinic.starts() == [at("14:00") + SLOT * k for k in range(4)]
    with pytest.raises(ConcurrencyError):
        clinic.scheduling.define_availability(ADMIN, current, if_version=current.version)


def test_with_no_minimum_notice_every_listed_slot_is_bookable() -> None:
    clinic = Clinic(minimum_notice=timedelta(0))
    clinic.clock.set(at("10:00"))

    listed = clinic.starts()
    assert listed

    clinic.book(listed[0])


# -- confirm -------------------------------------------------------------------------------------


def test_confirming_payment_books_the_hold(clinic: Clinic) -> None:
    held = clinic.book(at("10:00"))
    clinic.clock.advance(timedelta(minutes=5))

    booked = clinic.scheduling.confirm(held.id)

    assert booked.status is Status.BOOKED
    assert clinic.stored(held.id).status is Status.BOOKED
    assert clinic.published() == [AppointmentHeld, AppointmentBooked]
    assert clinic.publisher.published[-1].occurred_at == NOW + timedelta(minutes=5)
    # Paid for: it no longer lapses, and keeps its time once the hold would have ended.
    clinic.clock.advance(clinic.settings.hold_for * 2)
    assert clinic.scheduling.expire_holds() == []
    assert at("10:00") not in clinic.starts()
    assert at("09:30") in clinic.starts()


def test_confirming_a_lapsed_hold_expires_it_and_says_so(clinic: Clinic) -> None:
    held = clinic.book(at("10:00"))
    clinic.clock.advance(clinic.settings.hold_for)

    with pytest.raises(HoldExpired):
        clinic.scheduling.confirm(held.id)

    # The expiry is committed even though the call raised: the caller refunds the payment.
    assert clinic.stored(held.id).status is Status.EXPIRED
    assert clinic.published() == [AppointmentHeld, AppointmentHoldExpired]
    assert at("10:00") in clinic.starts()


def test_confirming_twice_or_an_unknown_appointment_is_refused(clinic: Clinic) -> None:
    held = clinic.book(at("10:00"))
    clinic.scheduling.confirm(held.id)
    with pytest.raises(IllegalTransition):
        clinic.scheduling.confirm(held.id)
    with pytest.raises(NotFound):
        clinic.scheduling.confirm(AppointmentId("apt-nope"))


# -- cancel --------------------------------------------------------------------------------------


def paid_booking(clinic: Clinic, start: datetime, patient: PatientId = ALICE) -> Appointment:
    return clinic.pay_by_card(clinic.book(start, patient=patient))


def test_a_patient_cancelling_a_day_ahead_is_refunded_in_full_to_the_card_once(
    clinic: Clinic,
) -> None:
    booked = paid_booking(clinic, at("10:00"))
    policy = clinic.settings.cancellation_policy
    assert booked.time.start - clinic.clock.now() >= policy.full_refund_notice

    cancelled = clinic.scheduling.cancel(Actor.patient(ALICE), booked.id, "feeling better")

    assert cancelled.status is Status.CANCELLED
    assert cancelled.cancellation is not None
    assert cancelled.cancellation.refund == FEE
    assert cancelled.cancellation.reason == "feeling better"
    assert cancelled.cancellation.at == NOW
    assert state_of(clinic.stored(booked.id)) == state_of(cancelled)
    # One unit of work, two aggregates: the appointment's and the payment's events, in no
    # promised order between them.
    last_two = clinic.publisher.published[-2:]
    assert {type(event) for event in last_two} == {AppointmentCancelled, RefundIssued}
    (event,) = [event for event in last_two if isinstance(event, AppointmentCancelled)]
    assert event.refund == FEE
    assert at("10:00") in clinic.starts()
    with pytest.raises(IllegalTransition):  # cancelling again refunds nothing more
        clinic.scheduling.cancel(Actor.patient(ALICE), booked.id)
    stored = clinic.payment_of(booked.id)
    assert stored.status is PaymentStatus.REFUNDED
    assert len(stored.refunds) == 1
    assert len(clinic.gateway.refunds) == 1
    assert clinic.gateway.captured() == Money.zero("EUR")


def test_a_patient_cancelling_late_gets_the_policy_share(clinic: Clinic) -> None:
    booked = paid_booking(clinic, at("10:00"))
    clinic.clock.set(at("08:00"))
    policy = clinic.settings.cancellation_policy

    cancelled = clinic.scheduling.cancel(Actor.patient(ALICE), booked.id)

    assert cancelled.cancellation is not None
    assert cancelled.cancellation.refund == FEE.share(policy.late_refund_percent)
    assert cancelled.cancellation.refund.minor_units < FEE.minor_units
    # The rest is the policy's fee: kept, on the card.
    assert clinic.payment_of(booked.id).status is PaymentStatus.PARTIALLY_REFUNDED
    assert clinic.gateway.captured() == FEE - cancelled.cancellation.refund


def test_cancelling_a_hold_refunds_nothing(clinic: Clinic) -> None:
    held = clinic.book(at("10:00"))
    cancelled = clinic.scheduling.cancel(Actor.doctor(PAID), held.id)
    assert cancelled.cancellation is not None
    assert cancelled.cancellation.refund == Money.zero("EUR")


def test_outsiders_cannot_cancel_and_nothing_changes(clinic: Clinic) -> None:
    booked = paid_booking(clinic, at("10:00"))
    before = clinic.stored(booked.id)
    events_before = len(clinic.publisher.published)

    for outsider in (Actor.patient(BOB), Actor.doctor(FREE)):
        with pytest.raises(NotFound):  # the same answer as for an unknown id
            clinic.scheduling.cancel(outsider, booked.id)

    assert state_of(clinic.stored(booked.id)) == state_of(before)
    assert len(clinic.publisher.published) == events_before


def test_cancelling_after_the_visit_or_twice_is_refused(clinic: Clinic) -> None:
    first = paid_booking(clinic, at("10:00"))
    second = paid_booking(clinic, at("11:00"))
    clinic.scheduling.cancel(ADMIN, second.id)
    with pytest.raises(IllegalTransition):
        clinic.scheduling.cancel(ADMIN, second.id)

    clinic.clock.set(first.time.end)
    with pytest.raises(CancellationNotAllowed):
        clinic.scheduling.cancel(ADMIN, first.id)
    assert clinic.stored(first.id).status is Status.BOOKED


# -- reschedule ----------------------------------------------------------------------------------


def test_rescheduling_moves_the_visit_and_frees_the_old_time(clinic: Clinic) -> None:
    booked = paid_booking(clinic, at("10:00"))
    version_before = clinic.stored(booked.id).version

    moved = clinic.scheduling.reschedule(Actor.patient(ALICE), booked.id, at("15:00"))

    assert moved.time == TimeRange.starting_at(at("15:00"), SLOT)
    assert moved.status is Status.BOOKED
    assert clinic.stored(booked.id).time == moved.time
    assert clinic.stored(booked.id).version == version_before + 1
    assert at("10:00") in clinic.starts()
    assert at("15:00") not in clinic.starts()
    event = clinic.publisher.published[-1]
    assert isinstance(event, AppointmentRescheduled)
    assert event.previous_time == TimeRange.starting_at(at("10:00"), SLOT)
    assert event.time == moved.time


def test_rescheduling_keeps_the_length(clinic: Clinic) -> None:
    long_visit = clinic.book(at("09:00"), length=SLOT * 2)
    moved = clinic.scheduling.reschedule(ADMIN, long_visit.id, at("15:00"))
    assert moved.time == TimeRange(at("15:00"), at("16:00"))


def test_a_rescheduled_visit_takes_the_doctor_s_current_buffer(clinic: Clinic) -> None:
    booked = paid_booking(clinic, at("10:00"))
    assert booked.buffer == timedelta(0)
    clinic.define(PAID, buffer=timedelta(minutes=10))

    moved = clinic.scheduling.reschedule(Actor.patient(ALICE), booked.id, at("15:00"))

    assert moved.buffer == timedelta(minutes=10)
    assert clinic.stored(booked.id).blocked == TimeRange(at("15:00"), at("15:40"))
    with pytest.raises(SlotUnavailable):
        clinic.book(at("15:30"), patient=BOB)


def test_a_reschedule_onto_taken_time_changes_nothing(clinic: Clinic) -> None:
    mine = paid_booking(clinic, at("10:00"))
    theirs = paid_booking(clinic, at("15:00"), patient=BOB)
    before = {a.id: state_of(clinic.stored(a.id)) for a in (mine, theirs)}
    events_before = len(clinic.publisher.published)

    with pytest.raises(SlotUnavailable):
        clinic.scheduling.reschedule(Actor.patient(ALICE), mine.id, at("15:00"))

    assert {a: state_of(clinic.stored(a)) for a in before} == before
    assert len(clinic.publisher.published) == events_before
    assert at("10:00") not in clinic.starts()


def test_a_failed_reschedule_also_undoes_the_holds_it_expired_on_the_way(clinic: Clinic) -> None:
    lapsing = clinic.book(at("15:00"), patient=BOB)
    mine = paid_booking(clinic, at("10:00"))
    elsewhere = clinic.book(at("15:00"), doctor=FREE)  # Alice is busy at 15:00 with FREE
    clinic.clock.advance(clinic.settings.hold_for)  # Bob's hold at the target has lapsed
    before = {a.id: state_of(clinic.stored(a.id)) for a in (lapsing, mine, elsewhere)}
    events_before = len(clinic.publisher.published)

    # Bob's lapsed hold is expired on the way, then Alice's own 15:00 refuses the move.
    with pytest.raises(SlotUnavailable):
        clinic.scheduling.reschedule(Actor.patient(ALICE), mine.id, at("15:00"))

    assert {a: state_of(clinic.stored(a)) for a in before} == before
    assert clinic.stored(lapsing.id).status is Status.HELD
    assert len(clinic.publisher.published) == events_before


def test_a_reschedule_onto_a_lapsed_hold_expires_it(clinic: Clinic) -> None:
    lapsing = clinic.book(at("15:00"), patient=BOB)
    mine = paid_booking(clinic, at("10:00"))
    clinic.clock.advance(clinic.settings.hold_for)

    moved = clinic.scheduling.reschedule(Actor.patient(ALICE), mine.id, at("15:00"))

    assert moved.time.start == at("15:00")
    assert clinic.stored(lapsing.id).status is Status.EXPIRED
    # One transaction, one instant: both facts are published, in no promised order.
    assert set(clinic.published()[-2:]) == {AppointmentHoldExpired, AppointmentRescheduled}


def test_an_appointment_may_move_onto_part_of_its_own_time(clinic: Clinic) -> None:
    two_slots = clinic.book(at("09:00"), length=SLOT * 2)

    moved = clinic.scheduling.reschedule(Actor.patient(ALICE), two_slots.id, at("09:30"))

    assert moved.time == TimeRange(at("09:30"), at("10:30"))
    assert at("09:00") in clinic.starts()


@pytest.mark.parametrize(
    ("target", "error"),
    [
        (at("10:10"), OffGrid),
        (at("12:00"), OutsideAvailability),
        (NOW + timedelta(hours=1), TooShortNotice),
        (at("10:00", day=40), BeyondHorizon),
    ],
    ids=["off-grid", "lunch", "notice", "horizon"],
)
def test_a_reschedule_breaking_the_doctor_s_rules_changes_nothing(
    clinic: Clinic, target: datetime, error: type[BookingRuleViolation]
) -> None:
    booked = paid_booking(clinic, at("10:00"))
    before = clinic.stored(booked.id)

    with pytest.raises(error):
        clinic.scheduling.reschedule(Actor.patient(ALICE), booked.id, target)

    assert state_of(clinic.stored(booked.id)) == state_of(before)


def test_a_started_visit_cannot_be_rescheduled(clinic: Clinic) -> None:
    booked = paid_booking(clinic, at("10:00"))
    clinic.clock.set(at("10:00"))

    with pytest.raises(IllegalTransition):
        clinic.scheduling.reschedule(ADMIN, booked.id, at("15:00"))

    assert clinic.stored(booked.id).time.start == at("10:00")


def test_a_lapsed_hold_cannot_be_rescheduled(clinic: Clinic) -> None:
    held = clinic.book(at("10:00"))
    clinic.clock.advance(clinic.settings.hold_for)
    with pytest.raises(HoldExpired):
        clinic.scheduling.reschedule(Actor.patient(ALICE), held.id, at("15:00"))


def test_outsiders_cannot_reschedule(clinic: Clinic) -> None:
    booked = paid_booking(clinic, at("10:00"))
    with pytest.raises(NotFound):
        clinic.scheduling.reschedule(Actor.patient(BOB), booked.id, at("15:00"))
    assert clinic.stored(booked.id).time.start == at("10:00")


# -- expire holds --------------------------------------------------------------------------------


def test_expire_holds_moves_only_lapsed_holds(clinic: Clinic) -> None:
    first = clinic.book(at("10:00"))
    second = clinic.book(at("11:00"), patient=BOB)
    paid = paid_booking(clinic, at("14:00"))
    clinic.clock.advance(timedelta(minutes=5))
    fresh = clinic.book(at("15:00"))
    assert first.hold_expires_at is not None
    clinic.clock.set(first.hold_expires_at)  # first and second lapse; fresh does not

    expired = clinic.scheduling.expire_holds()

    assert sorted(expired, key=str) == sorted([first.id, second.id], key=str)
    assert clinic.stored(first.id).status is Status.EXPIRED
    assert clinic.stored(second.id).status is Status.EXPIRED
    assert clinic.stored(paid.id).status is Status.BOOKED
    assert clinic.stored(fresh.id).status is Status.HELD
    assert clinic.published()[-2:] == [AppointmentHoldExpired, AppointmentHoldExpired]
    assert clinic.scheduling.expire_holds() == []


def test_expire_holds_takes_at_most_its_limit(clinic: Clinic) -> None:
    for start, patient in ((at("10:00"), ALICE), (at("11:00"), BOB)):
        clinic.book(start, patient=patient)
    clinic.clock.advance(clinic.settings.hold_for)

    assert len(clinic.scheduling.expire_holds(limit=1)) == 1
    assert len(clinic.scheduling.expire_holds(limit=1)) == 1
    assert clinic.scheduling.expire_holds(limit=1) == []


# -- outcomes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("use_case", "status", "event_type"),
    [
        ("complete", Status.COMPLETED, AppointmentCompleted),
        ("mark_no_show", Status.NO_SHOW, AppointmentMarkedNoShow),
    ],
)
def test_the_doctor_records_the_outcome_once_the_visit_started(
    clinic: Clinic, use_case: str, status: Status, event_type: type[AppointmentEvent]
) -> None:
    booked = paid_booking(clinic, at("10:00"))
    record = getattr(clinic.scheduling, use_case)

    with pytest.raises(IllegalTransition):
        record(Actor.doctor(PAID), booked.id)
    clinic.clock.set(at("10:00"))
    with pytest.raises(AccessDenied):  # a party, but not the clinician
        record(Actor.patient(ALICE), booked.id)
    for outsider in (Actor.doctor(FREE), Actor.patient(BOB)):
        with pytest.raises(NotFound):  # outsiders learn nothing, not even that it exists
            record(outsider, booked.id)
    assert clinic.stored(booked.id).status is Status.BOOKED

    done = record(Actor.doctor(PAID), booked.id)

    assert done.status is status
    assert clinic.stored(booked.id).status is status
    assert type(clinic.publisher.published[-1]) is event_type
    with pytest.raises(IllegalTransition):
        record(ADMIN, booked.id)


def test_an_admin_may_record_an_outcome_but_not_of_a_hold(clinic: Clinic) -> None:
    held = clinic.book(at("10:00"))
    booked = paid_booking(clinic, at("11:00"), patient=BOB)
    clinic.clock.set(at("11:00"))
    with pytest.raises(IllegalTransition):
        clinic.scheduling.complete(ADMIN, held.id)
    assert clinic.scheduling.complete(ADMIN, booked.id).status is Status.COMPLETED


# -- reading and access --------------------------------------------------------------------------


def test_outsiders_are_told_an_appointment_does_not_exist(clinic: Clinic) -> None:
    booked = paid_booking(clinic, at("10:00"))

    for party in (Actor.patient(ALICE), Actor.doctor(PAID), ADMIN):
        assert clinic.scheduling.appointment(party, booked.id).id == booked.id
    for outsider in (Actor.patient(BOB), Actor.doctor(FREE)):
        with pytest.raises(NotFound) as raised:
            clinic.scheduling.appointment(outsider, booked.id)
        # Exactly what a truly missing appointment gives: nothing to tell them apart.
        with pytest.raises(NotFound) as missing:
            clinic.scheduling.appointment(outsider, AppointmentId("apt-404"))
        assert type(raised.value) is type(missing.value)


def test_patients_list_only_their_own_appointments(clinic: Clinic) -> None:
    mine = clinic.book(at("10:00"))
    clinic.book(at("11:00"), patient=BOB)
    clinic.scheduling.cancel(Actor.patient(ALICE), mine.id)
    again = clinic.book(at("14:00"))

    listed = clinic.scheduling.patient_appointments(Actor.patient(ALICE), ALICE)

    assert [a.id for a in listed] == [mine.id, again.id]  # by start, cancelled included
    with pytest.raises(NotFound):
        clinic.scheduling.patient_appointments(Actor.patient(BOB), ALICE)
    with pytest.raises(AccessDenied):
        clinic.scheduling.patient_appointments(Actor.doctor(PAID), ALICE)
    assert [state_of(a) for a in clinic.scheduling.patient_appointments(ADMIN, ALICE)] == [
        state_of(a) for a in listed
    ]


def test_doctors_list_their_own_calendar_including_cancelled(clinic: Clinic) -> None:
    cancelled = clinic.book(at("10:00"))
    clinic.scheduling.cancel(ADMIN, cancelled.id)
    kept = clinic.book(at("11:00"), patient=BOB)
    clinic.book(at("11:00"), doctor=FREE)
    tuesday = TimeRange(at("00:00"), at("00:00", day=2))

    listed = clinic.scheduling.doctor_appointments(Actor.doctor(PAID), PAID, tuesday)

    assert [a.id for a in listed] == [cancelled.id, kept.id]
    with pytest.raises(AccessDenied):
        clinic.scheduling.doctor_appointments(Actor.doctor(FREE), PAID, tuesday)
    with pytest.raises(AccessDenied):
        clinic.scheduling.doctor_appointments(Actor.patient(ALICE), PAID, tuesday)


# -- events and transactions ---------------------------------------------------------------------


def test_events_are_published_after_commit_and_go_to_the_outbox(clinic: Clinic) -> None:
    outbox_when_published: list[list[OutboxMessage]] = []
    clinic.publisher.subscribe(
        AppointmentHeld, lambda event: outbox_when_published.append(list(clinic.store.outbox))
    )

    held = clinic.book(at("10:00"))

    (event,) = clinic.publisher.published
    assert event.appointment_id == held.id
    # The outbox is written by the commit; the subscriber ran after it.
    assert outbox_when_published == [[OutboxMessage.of(event)]]
    assert clinic.store.outbox == [OutboxMessage.of(event)]


def test_a_failing_subscriber_neither_undoes_nor_fails_a_committed_booking(
    clinic: Clinic, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(event: AppointmentEvent) -> None:
        raise RuntimeError("mailer down")

    clinic.publisher.subscribe(AppointmentHeld, explode)

    # The booking is committed before anyone is told; failing the caller now would only invite
    # a retry that collides with its own booking.
    booked = clinic.book(at("10:00"))

    (stored,) = clinic.store.appointments.values()
    assert stored.id == booked.id
    assert stored.status is Status.HELD
    assert at("10:00") not in clinic.starts()
    assert "publishing 1 committed events failed" in caplog.text


def test_a_refused_use_case_publishes_nothing_and_rolls_back(clinic: Clinic) -> None:
    lapsed = clinic.book(at("10:00"))
    clinic.clock.advance(clinic.settings.hold_for)
    live = clinic.book(at("11:00"))
    published_before = list(clinic.publisher.published)
    outbox_before = list(clinic.store.outbox)

    # 10:00-11:30 first expires Alice's lapsed 10:00 hold, then collides with her live 11:00.
    with pytest.raises(SlotUnavailable):
        clinic.book(at("10:00"), patient=BOB, length=SLOT * 3)

    assert clinic.publisher.published == published_before
    assert clinic.store.outbox == outbox_before
    assert clinic.stored(lapsed.id).status is Status.HELD  # the expiry was rolled back
    assert clinic.stored(live.id).status is Status.HELD
    assert len(clinic.store.appointments) == 2


def test_units_of_work_roll_back_unless_committed(clinic: Clinic) -> None:
    with clinic.uow() as uow:
        uow.patients.add(Patient(PatientId("pat-ghost"), "Ghost"))
    with pytest.raises(NotFound):
        clinic.book(at("10:00"), patient=PatientId("pat-ghost"))
