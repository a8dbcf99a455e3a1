"""A Hypothesis state machine that drives the scheduling use cases against any storage.

It books, confirms, pays by card, cancels, reschedules, expires, completes and advances the
clock for three doctors (different slot lengths, buffers, fees and time zones; visits of one to
four slots, so intervals of different lengths overlap) and three patients. After every step it
checks that no two active appointments overlap (per doctor, buffers included, and per patient),
and every answer -- success or the exact refusal, and each cancellation's refund -- is compared
with a deliberately simple model that knows nothing about the implementation.

Usage, for any adapter::

    TestMyStorage = make_booking_machine(lambda: MyUnitOfWorkFactory(fresh=True)).TestCase
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from attrs import define, field
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.testing.fixtures import MONDAY, doctor, every_day, patient
from hellodoctor_domain import (
    Actor,
    AppointmentId,
    AppointmentStatus,
    BookingRequest,
    DoctorId,
    Money,
    PatientId,
    Scheduling,
    SchedulingSettings,
    TimeRange,
    UserId,
)
from hellodoctor_domain.errors import (
    BeyondHorizon,
    CancellationNotAllowed,
    HoldExpired,
    IllegalTransition,
    InThePast,
    InvalidValue,
    NotFound,
    OffGrid,
    OutsideAvailability,
    PaymentNotAllowed,
    SeriesConflict,
    SlotUnavailable,
    TooShortNotice,
)
from hellodoctor_domain.model.payments import PaymentMethod
from hellodoctor_domain.model.recurrence import Recurrence
from hellodoctor_domain.model.values import SeriesId
from hellodoctor_domain.ports.scheduling import AppointmentQuery
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.billing import Billing
from hellodoctor_domain.use_cases.clinic_day import ClinicDay
from hellodoctor_domain.use_cases.series import TAKEN, SeriesBooking, SeriesRequest

HOLD = timedelta(minutes=15)
NOTICE = timedelta(hours=1)
HORIZON = timedelta(days=3)
START = MONDAY + timedelta(hours=6)
EVERYTHING = TimeRange(MONDAY - timedelta(days=1), MONDAY + timedelta(days=30))


@define(frozen=True)
class DoctorModel:
    """A doctor as the model sees them: working 08:00-18:00 local every day, in a zone with a
    fixed UTC offset (so the model needs no time-zone library)."""

    key: str
    zone: str
    utc_offset: timedelta
    slot: timedelta
    buffer: timedelta
    fee: Money

    def day_window(self, day: int) -> TimeRange:
        local_midnight_in_utc = MONDAY + timedelta(days=day) - self.utc_offset
        return TimeRange(
            local_midnight_in_utc + timedelta(hours=8), local_midnight_in_utc + timedelta(hours=18)
        )


DOCTORS = (
    DoctorModel("d1", "UTC", timedelta(0), timedelta(minutes=30), timedelta(0), Money(5000, "EUR")),
    DoctorModel(
        "d2", "UTC", timedelta(0), timedelta(minutes=20), timedelta(minutes=10), Money(0, "EUR")
    ),
    DoctorModel(
        "d3",
        "Asia/Kolkata",
        timedelta(hours=5, minutes=30),
        timedelta(minutes=15),
        timedelta(minutes=5),
        Money(2000, "EUR"),
    ),
)
PATIENTS = ("p1", "p2", "p3")
ACTIVE = (AppointmentStatus.HELD, AppointmentStatus.BOOKED)


@define
class AppointmentModel:
    key: str
    doctor: DoctorModel
    patient: str
    time: TimeRange
    status: AppointmentStatus
    hold_expires_at: datetime | None
    paid_by_card: bool = False  # money was taken, so a cancellation refunds per policy
    arrived: bool = False  # checked in at the desk (issue 17): still booked, still blocking

    @property
    def blocked(self) -> TimeRange:
        return self.time.extended(after=self.doctor.buffer)

    def lapsed(self, now: datetime) -> bool:
        return (
            self.status is AppointmentStatus.HELD
            and self.hold_expires_at is not None
            and now >= self.hold_expires_at
        )

    def blocks(self, now: datetime) -> bool:
        return self.status is AppointmentStatus.BOOKED or (
            self.status is AppointmentStatus.HELD and not self.lapsed(now)
        )


@define
class Model:
    now: datetime = START
    appointments: dict[str, AppointmentModel] = field(factory=dict)

    def rule_violation(self, doctor: DoctorModel, visit: TimeRange) -> type[Exception] | None:
        if visit.start <= self.now:
            return InThePast
        if visit.start < self.now + NOTICE:
            return TooShortNotice
        if visit.start > self.now + HORIZON:
            return BeyondHorizon
        for day in range(-1, 6):
            window = doctor.day_window(day)
            if window.contains(visit):
                return OffGrid if (visit.start - window.start) % doctor.slot else None
        return OutsideAvailability

    def in_the_way(
        self, doctor: DoctorModel, patient: str, visit: TimeRange, moving: str | None = None
    ) -> list[AppointmentModel]:
        """Active appointments colliding with a visit (the one being moved excluded)."""
        blocked = visit.extended(after=doctor.buffer)
        return [
            other
            for other in self.appointments.values()
            if other.key != moving
            and other.status in ACTIVE
            and (
                (other.doctor.key == doctor.key and other.blocked.overlaps(blocked))
                or (other.patient == patient and other.time.overlaps(visit))
            )
        ]

    def take(
        self, doctor: DoctorModel, patient: str, visit: TimeRange, moving: str | None = None
    ) -> type[Exception] | None:
        """Whether the time can be taken; on success, lapsed holds in the way expire."""
        colliding = self.in_the_way(doctor, patient, visit, moving)
        if any(other.blocks(self.now) for other in colliding):
            return SlotUnavailable
        for other in colliding:
            other.status = AppointmentStatus.EXPIRED
        return None


def _outcome(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as error:
        return error


def _kebab(name: str) -> str:
    """``OutsideAvailability`` -> ``outside-availability`` (a series refusal's reason)."""
    return "".join(f"-{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def _agree(action: str, expected: type[Exception] | None, outcome: Any) -> None:
    got = type(outcome) if isinstance(outcome, Exception) else None
    # Visible with --hypothesis-show-statistics: proof that runs reach every outcome.
    event(f"{action.split()[0]}: {expected.__name__ if expected else 'success'}")
    assert got is expected, (
        f"{action}: the system disagrees with the model: expected "
        f"{expected.__name__ if expected else 'success'}, got {got.__name__ if got else 'success'}"
        f" ({outcome!r})"
    )


starts = st.tuples(
    st.sampled_from(DOCTORS),
    st.sampled_from(PATIENTS),
    st.integers(min_value=0, max_value=3),  # day
    # A few slots from the day's opening, so bookings collide often; 60 lies past closing.
    st.one_of(st.integers(min_value=0, max_value=9), st.just(60)),
    st.sampled_from([0, 0, 0, 0, 5, -15]),  # mostly on the grid; sometimes off it
    st.integers(min_value=1, max_value=4),  # visit length in slots
)


def make_booking_machine(
    new_uow_factory: Callable[[], UnitOfWorkFactory],
) -> type[RuleBasedStateMachine]:
    """A state machine class whose every run starts from ``new_uow_factory()`` (a factory over
    fresh, empty storage). Use ``.TestCase`` as a test, with settings as you need."""
    from hellodoctor_adapters.testing.free_slots_machine import FreeSlotsRules
    from hellodoctor_adapters.testing.waitlist_machine import WaitlistRules

    class BookingMachine(WaitlistRules, FreeSlotsRules, RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.model = Model()
            self.clock = ManualClock(START)
            self.uow_factory = new_uow_factory()
            self.gateway = OfflinePaymentGateway()
            self.scheduling = Scheduling(
                self.uow_factory,
                self.clock,
                SequentialIds("apt"),
                self.gateway,
                SchedulingSettings(hold_for=HOLD),
            )
            self.billing = Billing(self.uow_factory, self.clock, SequentialIds("pay"), self.gateway)
            self.clinic_day = ClinicDay(self.uow_factory, self.clock)
            # Recurring series (issue 17): series id -> its occurrences' keys, by start.
            self.series_booking = SeriesBooking(
                self.uow_factory, self.clock, SequentialIds("series"), self.scheduling
            )
            self.series: dict[str, list[str]] = {}

        @initialize()
        def open_the_clinic(self) -> None:
            admin = Actor.admin(UserId("admin"))
            for spec in DOCTORS:
                self.scheduling.register_doctor(admin, doctor(spec.key, spec.fee, spec.zone))
                self.scheduling.define_availability(
                    admin,
                    every_day(
                        DoctorId(spec.key),
                        spec.zone,
                        slot_length=spec.slot,
                        buffer=spec.buffer,
                        minimum_notice=NOTICE,
                        booking_horizon=HORIZON,
                        max_slots_per_visit=4,
                    ),
                )
            for key in PATIENTS:
                self.scheduling.register_patient(patient(key))

        # -- helpers -------------------------------------------------------------------------

        def pick(self, data: st.DataObject) -> AppointmentModel:
            """Mostly an active appointment (the interesting case), sometimes any."""
            every = sorted(self.model.appointments.values(), key=lambda a: a.key)
            active = [a for a in every if a.status in ACTIVE]
            prefer_active = data.draw(st.integers(0, 3), label="prefer active") > 0
            if active and prefer_active:
                every = active
            return data.draw(st.sampled_from(every), label="appointment")

        @staticmethod
        def visit(spec: tuple[DoctorModel, str, int, int, int, int]) -> TimeRange:
            doctor_spec, _, day, index, nudge, slots = spec
            start = doctor_spec.day_window(day).start + index * doctor_spec.slot
            start += timedelta(minutes=nudge)
            return TimeRange.starting_at(start, slots * doctor_spec.slot)

        # -- rules ---------------------------------------------------------------------------

        @rule(spec=starts)
        def book(self, spec: tuple[DoctorModel, str, int, int, int, int]) -> None:
            doctor_spec, patient_key = spec[0], spec[1]
            visit = self.visit(spec)
            expected = self.model.rule_violation(doctor_spec, visit)
            if expected is None:
                expected = self.model.take(doctor_spec, patient_key, visit)
            outcome = _outcome(
                lambda: self.scheduling.book(
                    Actor.patient(PatientId(patient_key)),
                    BookingRequest(
                        doctor_id=DoctorId(doctor_spec.key),
                        patient_id=PatientId(patient_key),
                        start=visit.start,
                        length=visit.duration,
                    ),
                )
            )
            _agree(f"book {doctor_spec.key} {patient_key} {visit}", expected, outcome)
            if expected is None:
                held = not doctor_spec.fee.is_zero
                self.model.appointments[outcome.id.value] = AppointmentModel(
                    outcome.id.value,
                    doctor_spec,
                    patient_key,
                    visit,
                    AppointmentStatus.HELD if held else AppointmentStatus.BOOKED,
                    self.model.now + HOLD if held else None,
                )

        @precondition(lambda self: self.model.appointments)
        @rule(data=st.data())
        def pay(self, data: st.DataObject) -> None:
            target = self.pick(data)
            expected: type[Exception] | None = None
            if target.status is not AppointmentStatus.HELD:
                expected = IllegalTransition
            elif target.lapsed(self.model.now):
                expected = HoldExpired
                target.status = AppointmentStatus.EXPIRED
            else:
                target.status = AppointmentStatus.BOOKED
            outcome = _outcome(lambda: self.scheduling.confirm(AppointmentId(target.key)))
            _agree(f"confirm {target.key}", expected, outcome)

        @precondition(lambda self: self.model.appointments)
        @rule(data=st.data())
        def pay_by_card(self, data: st.DataObject) -> None:
            """The patient pays and the gateway's success arrives at once: money is taken."""
            target = self.pick(data)
            expected: type[Exception] | None = None
            if target.status is not AppointmentStatus.HELD:
                expected = PaymentNotAllowed
            elif target.lapsed(self.model.now):
                expected = HoldExpired  # refused before anything is charged; nothing changes
            elif target.doctor.fee.is_zero:
                # Only a waitlist offer holds a free doctor's time: accepting it books it, and
                # there is nothing for a card to collect.
                expected = InvalidValue
            else:
                target.status = AppointmentStatus.BOOKED
                target.paid_by_card = True

            def pay() -> None:
                started = self.billing.start_payment(
                    Actor.patient(PatientId(target.patient)),
                    AppointmentId(target.key),
                    PaymentMethod.CARD,
                )
                assert started.payment.provider_reference is not None
                paid = self.gateway.complete(started.payment.provider_reference)
                self.billing.handle_webhook(paid.body, paid.signature)

            _agree(f"pay {target.key}", expected, _outcome(pay))

        @precondition(lambda self: self.model.appointments)
        @rule(data=st.data(), who=st.sampled_from(["patient", "doctor", "admin", "stranger"]))
        def cancel(self, data: st.DataObject, who: str) -> None:
            target = self.pick(data)
            actor = {
                "patient": Actor.patient(PatientId(target.patient)),
                "doctor": Actor.doctor(DoctorId(target.doctor.key)),
                "admin": Actor.admin(UserId("admin")),
                "stranger": Actor.patient(PatientId("someone-else")),
            }[who]
            expected: type[Exception] | None = None
            if who == "stranger":
                expected = NotFound
            elif self.model.now >= target.time.end:
                expected = CancellationNotAllowed
            elif target.status not in ACTIVE:
                expected = IllegalTransition
            outcome = _outcome(lambda: self.scheduling.cancel(actor, AppointmentId(target.key)))
            _agree(f"cancel {target.key} as {who}", expected, outcome)
            if expected is None:
                refund = self.refund(target, who)
                event(f"cancel: refund {'some' if refund.minor_units else 'none'}")
                assert outcome.cancellation.refund == refund, outcome
                target.status = AppointmentStatus.CANCELLED

        def refund(self, target: AppointmentModel, who: str) -> Money:
            """The policy's refund, capped by what was taken: nothing for a hold, or for a
            booking confirmed without money passing through a payment."""
            price = target.doctor.fee
            if target.status is not AppointmentStatus.BOOKED or not target.paid_by_card:
                return Money.zero(price.currency)
            if who != "patient":
                return price
            notice = target.time.start - self.model.now
            if notice >= timedelta(hours=24):
                return price
            return price.share(50) if notice > timedelta(0) else Money.zero(price.currency)

        @precondition(lambda self: self.model.appointments)
        @rule(data=st.data(), spec=starts)
        def reschedule(
            self, data: st.DataObject, spec: tuple[DoctorModel, str, int, int, int, int]
        ) -> None:
            target = self.pick(data)
            slots = int(target.time.duration / target.doctor.slot)
            new_time = self.visit((target.doctor, target.patient, *spec[2:5], slots))
            now = self.model.now
            expected: type[Exception] | None
            if target.status not in ACTIVE:
                expected = IllegalTransition
            elif target.lapsed(now):
                expected = HoldExpired
            elif now >= target.time.start:
                expected = IllegalTransition
            else:
                expected = self.model.rule_violation(target.doctor, new_time) or self.model.take(
                    target.doctor, target.patient, new_time, moving=target.key
                )
            outcome = _outcome(
                lambda: self.scheduling.reschedule(
                    Actor.patient(PatientId(target.patient)),
                    AppointmentId(target.key),
                    new_time.start,
                )
            )
            _agree(f"reschedule {target.key} to {new_time}", expected, outcome)
            if expected is None:
                self.note_freed(target.doctor, target.time)  # the waitlist may offer it
                target.time = new_time

        @rule()
        def expire_holds(self) -> None:
            lapsed = {a.key for a in self.model.appointments.values() if a.lapsed(self.model.now)}
            expired = {key.value for key in self.scheduling.expire_holds(limit=1000)}
            assert expired == lapsed, (expired, lapsed)
            for key in lapsed:
                self.model.appointments[key].status = AppointmentStatus.EXPIRED

        @precondition(lambda self: self.model.appointments)
        @rule(data=st.data(), no_show=st.booleans())
        def record_outcome(self, data: st.DataObject, no_show: bool) -> None:
            target = self.pick(data)
            actor = Actor.doctor(DoctorId(target.doctor.key))
            expected: type[Exception] | None = None
            if target.status is not AppointmentStatus.BOOKED or self.model.now < target.time.start:
                expected = IllegalTransition
            elif no_show and target.arrived:
                expected = IllegalTransition  # an arrived patient is not a no-show
            record = self.scheduling.mark_no_show if no_show else self.scheduling.complete
            outcome = _outcome(lambda: record(actor, AppointmentId(target.key)))
            _agree(f"{'no-show' if no_show else 'complete'} {target.key}", expected, outcome)
            if expected is None:
                target.status = (
                    AppointmentStatus.NO_SHOW if no_show else AppointmentStatus.COMPLETED
                )

        @precondition(lambda self: self.model.appointments)
        @rule(data=st.data())
        def check_in(self, data: st.DataObject) -> None:
            """The patient arrives (issue 17): booked -> arrived, the time still taken."""
            target = self.pick(data)
            actor = Actor.doctor(DoctorId(target.doctor.key))
            expected: type[Exception] | None = None
            if (
                target.status is not AppointmentStatus.BOOKED
                or target.arrived
                or self.model.now >= target.time.end
            ):
                expected = IllegalTransition
            outcome = _outcome(lambda: self.clinic_day.check_in(actor, AppointmentId(target.key)))
            _agree(f"check-in {target.key}", expected, outcome)
            if expected is None:
                target.arrived = True

        @rule(spec=starts, count=st.integers(min_value=1, max_value=3))
        def book_series(
            self, spec: tuple[DoctorModel, str, int, int, int, int], count: int
        ) -> None:
            """A daily series (issue 17): every occurrence or none; a refusal names each one
            that cannot be had (the rule it breaks, or taken), checked against the model."""
            doctor_spec, patient_key, _, index = spec[:4]
            first = self.visit((*spec[:3], min(index, 9), *spec[4:]))
            visits = [first.shifted_to(first.start + timedelta(days=k)) for k in range(count)]
            refusals: list[tuple[datetime, str]] = []
            for visit in visits:
                broken = self.model.rule_violation(doctor_spec, visit)
                if broken is not None:
                    refusals.append((visit.start, _kebab(broken.__name__)))
                elif any(
                    other.blocks(self.model.now)
                    for other in self.model.in_the_way(doctor_spec, patient_key, visit)
                ):
                    refusals.append((visit.start, TAKEN))
            local = first.start + doctor_spec.utc_offset
            request = SeriesRequest(
                doctor_id=DoctorId(doctor_spec.key),
                patient_id=PatientId(patient_key),
                first_day=local.date(),
                at=time(local.hour, local.minute),
                recurrence=Recurrence.parse(f"FREQ=DAILY;COUNT={count}"),
                length=first.duration,
            )
            outcome = _outcome(
                lambda: self.series_booking.book(Actor.patient(PatientId(patient_key)), request)
            )
            expected = SeriesConflict if refusals else None
            _agree(f"series {doctor_spec.key} {patient_key} {visits}", expected, outcome)
            if refusals:
                assert outcome.refusals == tuple(refusals), (outcome.refusals, refusals)
                return
            for visit in visits:
                assert self.model.take(doctor_spec, patient_key, visit) is None
            held = not doctor_spec.fee.is_zero
            assert [a.time for a in outcome.occurrences] == visits
            self.series[outcome.id.value] = [a.id.value for a in outcome.occurrences]
            for occurrence in outcome.occurrences:
                self.model.appointments[occurrence.id.value] = AppointmentModel(
                    occurrence.id.value,
                    doctor_spec,
                    patient_key,
                    occurrence.time,
                    AppointmentStatus.HELD if held else AppointmentStatus.BOOKED,
                    self.model.now + HOLD if held else None,
                )
            with self.uow_factory() as uow:  # all of it stored, under its series id
                stored = uow.appointments.search(AppointmentQuery(series_id=outcome.id, limit=10))
            assert [a.id.value for a in stored] == self.series[outcome.id.value]

        @precondition(lambda self: self.series)
        @rule(data=st.data())
        def cancel_rest_of_series(self, data: st.DataObject) -> None:
            """Cancel an occurrence and the following ones not yet started (issue 17)."""
            key = data.draw(st.sampled_from(sorted(self.series)), label="series")
            members = [self.model.appointments[k] for k in self.series[key]]
            chosen = data.draw(st.sampled_from(members), label="from occurrence")
            now = self.model.now
            # In the order of their times: a rescheduled occurrence may have moved past another.
            expected = [
                a.key
                for a in sorted(members, key=lambda a: (a.time.start, a.key))
                if a.status in ACTIVE and a.time.start >= chosen.time.start and a.time.start > now
            ]
            outcome = _outcome(
                lambda: self.series_booking.cancel_from(
                    Actor.patient(PatientId(chosen.patient)),
                    SeriesId(key),
                    AppointmentId(chosen.key),
                )
            )
            _agree(f"cancel series {key} from {chosen.key}", None, outcome)
            assert [a.id.value for a in outcome] == expected
            for cancelled in outcome:
                assert cancelled.cancellation.refund == self.refund(
                    self.model.appointments[cancelled.id.value], "patient"
                )
                self.model.appointments[cancelled.id.value].status = AppointmentStatus.CANCELLED

        @rule(minutes=st.sampled_from([1, 5, 15, 16, 45, 60, 180, 600]))
        def advance_clock(self, minutes: int) -> None:
            self.model.now = self.clock.advance(timedelta(minutes=minutes))

        # -- invariants ----------------------------------------------------------------------

        @invariant()
        def nobody_is_double_booked(self) -> None:
            stored = []
            with self.uow_factory() as uow:
                for spec in DOCTORS:
                    stored.extend(
                        uow.appointments.for_doctor(
                            DoctorId(spec.key), EVERYTHING, active_only=False
                        )
                    )
            active = [a for a in stored if a.is_active]
            for index, first in enumerate(active):
                for second in active[index + 1 :]:
                    if first.doctor_id == second.doctor_id:
                        assert not first.blocked.overlaps(second.blocked), (
                            f"doctor double-booked: {first} and {second}"
                        )
                    if first.patient_id == second.patient_id:
                        assert not first.time.overlaps(second.time), (
                            f"patient double-booked: {first} and {second}"
                        )
            statuses = {a.id.value: a.status for a in stored}
            expected = {key: a.status for key, a in self.model.appointments.items()}
            assert statuses == expected, "the stored appointments disagree with the model"
            arrived = {a.id.value for a in stored if a.arrived_at is not None}
            assert arrived == {k for k, a in self.model.appointments.items() if a.arrived}

    return BookingMachine
