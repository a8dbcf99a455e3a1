"""The analytics contract: what the storage counts (per local day and status, lead times, new
and returning patients) equals a plain Python computation over the same appointments, on
random small data sets spanning a daylight-saving change, for a doctor and for everyone.

Part of ``UnitOfWorkContract``; needs only ``uow_factory``.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest

from hellodoctor_adapters.testing.fixtures import appointment, seed
from hellodoctor_domain.errors import AccessDenied, NotFound
from hellodoctor_domain.model.analytics import PatientMix, RevenueLine, revenue_lines
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.availability import (
    Availability,
    ExtraHours,
    LocalWindow,
    TimeOff,
    Weekday,
    WorkingDay,
)
from hellodoctor_domain.model.payments import (
    Payment,
    PaymentId,
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
    Refund,
    RefundReason,
)
from hellodoctor_domain.model.values import Actor, DoctorId, Money, UserId
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.analytics import Analytics

ZONE = "Europe/London"  # clocks go forward on Sunday 2030-03-31: a 23-hour day
FIRST, LAST = date(2030, 3, 29), date(2030, 4, 2)
ADMIN = Actor.admin(UserId("admin-1"))
# Visits from two days before the report to one day after it, on a half-hour grid.
GRID_START = datetime(2030, 3, 27, tzinfo=UTC)
GRID_SLOTS = 7 * 48


def generated(seed_value: int, count: int = 40) -> list[Appointment]:
    """``count`` appointments in distinct grid slots (so no overlap rule is touched), of random
    doctors, patients and statuses, each booked a random while before it starts."""
    rng = random.Random(seed_value)
    made = []
    for index, slot in enumerate(rng.sample(range(GRID_SLOTS), count)):
        start = GRID_START + timedelta(minutes=30 * slot)
        status = rng.choice(list(AppointmentStatus))
        built = appointment(
            f"an{index}",
            start,
            doctor_key=rng.choice(["d1", "d2"]),
            patient_key=rng.choice(["p1", "p2", "p3", "p4"]),
            status=status,
            hold_expires_at=start - timedelta(hours=1),
        )
        made.append(
            attrs.evolve(built, created_at=start - timedelta(seconds=rng.randint(60, 9 * 86400)))
        )
    return made


def expected_counts(made: list[Appointment], doctors: set[str]) -> Counter[tuple[date, str]]:
    zone = ZoneInfo(ZONE)
    found: Counter[tuple[date, str]] = Counter()
    for a in made:
        day = a.time.start.astimezone(zone).date()
        if a.doctor_id.value in doctors and FIRST <= day <= LAST:
            found[(day, a.status.value)] += 1
    return found


def expected_mix(made: list[Appointment], doctors: set[str]) -> PatientMix:
    zone = ZoneInfo(ZONE)
    before, during = set(), set()
    for a in made:
        if a.doctor_id.value not in doctors or a.status is AppointmentStatus.EXPIRED:
            continue
        day = a.time.start.astimezone(zone).date()
        if day < FIRST:
            before.add(a.patient_id)
        elif day <= LAST:
            during.add(a.patient_id)
    return PatientMix(len(during - before), len(during & before))


def paid(made: list[Appointment], seed_value: int) -> list[Payment]:
    """A payment for about two visits in three, by card or wallet, taken a random while
    before the visit; about half of them partly refunded later."""
    rng = random.Random(seed_value)
    payments = []
    for visit in made:
        if rng.random() < 0.33:
            continue
        method = rng.choice([PaymentMethod.CARD, PaymentMethod.WALLET])
        amount = rng.randint(100, 9000)
        taken = visit.time.start - timedelta(seconds=rng.randint(60, 3 * 86400))
        refunds: tuple[Refund, ...] = ()
        if rng.random() < 0.5:
            part = rng.randint(1, amount)
            card, wallet = (part, 0) if method is PaymentMethod.CARD else (0, part)
            refunds = (
                Refund(
                    f"refund-{visit.id}",
                    RefundReason.CANCELLATION,
                    Money(card, "EUR"),
                    Money(wallet, "EUR"),
                    taken + timedelta(seconds=rng.randint(60, 3 * 86400)),
                ),
            )
        payments.append(
            Payment(
                PaymentId(f"pay-{visit.id}"),
                PaymentPurpose.APPOINTMENT,
                visit.patient_id,
                visit.id,
                method,
                Money(amount, "EUR"),
                Money(amount if method is PaymentMethod.WALLET else 0, "EUR"),
                PaymentStatus.PARTIALLY_REFUNDED if refunds else PaymentStatus.SUCCEEDED,
                taken,
                taken,
                succeeded_at=taken,
                refunds=refunds,
            )
        )
    return payments


def expected_revenue(
    made: list[Appointment], payments: list[Payment], doctors: set[str]
) -> tuple[RevenueLine, ...]:
    zone = ZoneInfo(ZONE)
    doctor_of = {a.id: a.doctor_id.value for a in made}
    gross, back = [], []
    for payment in payments:
        assert payment.appointment_id is not None
        if doctor_of[payment.appointment_id] not in doctors:
            continue
        assert payment.succeeded_at is not None
        day = payment.succeeded_at.astimezone(zone).date()
        if FIRST <= day <= LAST:
            gross.append((day, payment.method, "EUR", payment.amount.minor_units))
        for refund in payment.refunds:
            day = refund.recorded_at.astimezone(zone).date()
            if FIRST <= day <= LAST:
                amount = refund.card.minor_units + refund.wallet.minor_units
                back.append((day, payment.method, "EUR", amount))
    return revenue_lines(gross, back)


class AnalyticsContract:
    @pytest.mark.parametrize("seed_value", [4, 5])
    def test_revenue_is_what_python_sums(
        self, uow_factory: UnitOfWorkFactory, seed_value: int
    ) -> None:
        seed(uow_factory, doctors=2, patients=4)
        made = generated(seed_value)
        payments = paid(made, seed_value)
        with uow_factory() as uow:
            for each in made:
                uow.appointments.add(each)
            for payment in payments:
                uow.payments.add(payment)
            uow.commit()
        analytics = Analytics(uow_factory)
        for doctor, doctors in ((DoctorId("d2"), {"d2"}), (None, {"d1", "d2"})):
            report = analytics.revenue(ADMIN, FIRST, LAST, ZONE, doctor_id=doctor)
            assert report.lines == expected_revenue(made, payments, doctors)
            assert report.lines  # the data set is not empty in the period

    @pytest.mark.parametrize("seed_value", [1, 2, 3])
    def test_the_storage_counts_what_python_counts(
        self, uow_factory: UnitOfWorkFactory, seed_value: int
    ) -> None:
        seed(uow_factory, doctors=2, patients=4)
        made = generated(seed_value)
        with uow_factory() as uow:
            for each in made:
                uow.appointments.add(each)
            uow.commit()
        analytics = Analytics(uow_factory)
        for doctor, doctors in (
            (DoctorId("d1"), {"d1"}),
            (None, {"d1", "d2"}),
        ):
            report = analytics.appointments(ADMIN, FIRST, LAST, ZONE, doctor_id=doctor)
            got = Counter({(c.day, c.status.value): c.count for c in report.counts})
            assert got == expected_counts(made, doctors)
            assert report.patients == expected_mix(made, doctors)
            leads = {(c.day, c.status.value): c.lead_seconds for c in report.counts}
            zone = ZoneInfo(ZONE)
            want: Counter[tuple[date, str]] = Counter()
            for a in made:
                day = a.time.start.astimezone(zone).date()
                if a.doctor_id.value in doctors and FIRST <= day <= LAST:
                    want[(day, a.status.value)] += int(
                        (a.time.start - a.created_at).total_seconds()
                    )
            assert leads == dict(want)

    def test_the_daylight_saving_day_has_23_hours(self, uow_factory: UnitOfWorkFactory) -> None:
        report = Analytics(uow_factory).appointments(ADMIN, FIRST, LAST, ZONE)
        lengths = {d.day: d.end - d.start for d in report.days}
        assert lengths[date(2030, 3, 31)] == timedelta(hours=23)
        assert lengths[date(2030, 4, 1)] == timedelta(hours=24)


# -- utilisation --------------------------------------------------------------------------------

# Doctors' own zones: London changes its clocks inside the report; Kolkata is half an hour off.
DOCTOR_ZONES = {"d1": "Europe/London", "d2": "Asia/Kolkata"}
BOOKED = {"booked", "completed", "no_show"}


def _half_hour_window(rng: random.Random) -> LocalWindow:
    start = rng.randrange(0, 47)
    end = rng.randrange(start + 1, 49)
    return LocalWindow(_clock(start), _clock(end % 48))


def _clock(half_hours: int) -> time:
    return time(half_hours // 2, 30 * (half_hours % 2))


def random_hours(doctor: str, seed_value: int) -> Availability:
    """Random weekly windows (some with a break), a day or a window off, and extra hours."""
    rng = random.Random(f"{doctor}-{seed_value}")
    weekly = []
    for weekday in Weekday:
        if rng.random() < 0.2:
            continue
        hours = _half_hour_window(rng)
        breaks = (_half_hour_window(rng),) if rng.random() < 0.4 else ()
        if doctor == "d1" and weekday is Weekday.SUNDAY:
            # Across the hour London skips on 2030-03-31: 02:00 wall, 2.5 hours real.
            hours, breaks = LocalWindow(time(0, 30), time(4)), ()
        weekly.append(WorkingDay(weekday, (hours,), breaks))
    report_days = [FIRST + timedelta(days=n) for n in range(-1, (LAST - FIRST).days + 2)]
    off_day = rng.choice(report_days)
    time_off = (TimeOff(off_day, off_day, _half_hour_window(rng) if rng.random() < 0.5 else None),)
    extra = (ExtraHours(rng.choice(report_days), _half_hour_window(rng)),)
    return Availability(
        DoctorId(doctor),
        DOCTOR_ZONES[doctor],
        weekly,
        time_off=time_off,
        extra_hours=extra,
    )


def _works_at(hours: Availability, instant: datetime) -> bool:
    """Whether ``hours`` has the doctor working at ``instant``, read naively off the wall
    clock of their zone (no domain arithmetic)."""
    wall = instant.astimezone(ZoneInfo(hours.time_zone))
    day, now = wall.date(), wall.hour * 60 + wall.minute

    def inside(window: LocalWindow) -> bool:
        start = window.start.hour * 60 + window.start.minute
        end = window.end.hour * 60 + window.end.minute or 24 * 60
        return start <= now < end

    for off in hours.time_off:
        if off.first_day <= day <= off.last_day and (off.window is None or inside(off.window)):
            return False
    weekly = any(
        w.weekday == day.weekday()
        and any(inside(h) for h in w.hours)
        and not any(inside(b) for b in w.breaks)
        for w in hours.weekly
    )
    return weekly or any(e.day == day and inside(e.window) for e in hours.extra_hours)


def expected_utilisation(
    made: list[Appointment], hours: list[Availability], doctors: set[str]
) -> dict[tuple[date, str], tuple[int, int]]:
    """(booked, available) minutes per (day, doctor), available counted half hour by half
    hour off the wall clock."""
    zone = ZoneInfo(ZONE)
    booked: Counter[tuple[date, str]] = Counter()
    available: Counter[tuple[date, str]] = Counter()
    for a in made:
        day = a.time.start.astimezone(zone).date()
        if a.doctor_id.value in doctors and a.status.value in BOOKED and FIRST <= day <= LAST:
            booked[(day, a.doctor_id.value)] += int(a.time.duration.total_seconds())
    start = datetime.combine(FIRST, time(0), zone).astimezone(UTC)
    end = datetime.combine(LAST + timedelta(days=1), time(0), zone).astimezone(UTC)
    for each in hours:
        if each.doctor_id.value not in doctors:
            continue
        minute = start
        while minute < end:
            if _works_at(each, minute):
                available[(minute.astimezone(zone).date(), each.doctor_id.value)] += 30 * 60
            # Every bound (windows, zone offsets, the clock change) lies on the half hour.
            minute += timedelta(minutes=30)
    return {
        key: (booked[key] // 60, available[key] // 60)
        for key in sorted(set(booked) | set(available))
    }


class UtilisationContract:
    @pytest.mark.parametrize("seed_value", [6, 7])
    def test_utilisation_is_what_python_counts_off_the_wall_clock(
        self, uow_factory: UnitOfWorkFactory, seed_value: int
    ) -> None:
        seed(uow_factory, doctors=2, patients=4)
        made = generated(seed_value)
        hours = [random_hours(doctor, seed_value) for doctor in DOCTOR_ZONES]
        with uow_factory() as uow:
            for each in made:
                uow.appointments.add(each)
            for availability in hours:
                uow.availability.save(availability)
            uow.commit()
        analytics = Analytics(uow_factory)
        for doctor, doctors in ((DoctorId("d1"), {"d1"}), (None, {"d1", "d2"})):
            report = analytics.utilisation(ADMIN, FIRST, LAST, ZONE, doctor_id=doctor)
            got = {
                (line.day, line.doctor_id.value): (line.booked_minutes, line.available_minutes)
                for line in report.lines
            }
            want = expected_utilisation(made, hours, doctors)
            assert got == want
            assert any(booked for booked, _ in want.values())  # not an empty data set
            assert any(free for _, free in want.values())
        # The clock change: d1 works 00:30-04:00 on Sundays, 3.5 hours less the skipped one
        # (unless that Sunday is off or its extra hours add to it).
        sunday = {
            line.doctor_id.value: line for line in report.lines if line.day == date(2030, 3, 31)
        }
        if not any(off.covers(date(2030, 3, 31)) for off in hours[0].time_off) and not any(
            extra.day == date(2030, 3, 31) for extra in hours[0].extra_hours
        ):
            assert sunday["d1"].available_minutes == 150

    def test_a_doctor_sees_no_one_elses_utilisation(self, uow_factory: UnitOfWorkFactory) -> None:
        seed(uow_factory, doctors=2, patients=1)
        analytics = Analytics(uow_factory)
        doctor = Actor.doctor(DoctorId("d1"))
        with pytest.raises(NotFound):
            analytics.utilisation(doctor, FIRST, LAST, ZONE, doctor_id=DoctorId("d2"))
        with pytest.raises(AccessDenied):
            analytics.utilisation(doctor, FIRST, LAST, ZONE)
