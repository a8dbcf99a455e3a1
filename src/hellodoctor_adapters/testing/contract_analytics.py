"""The analytics contract: what the storage counts (per local day and status, lead times, new
and returning patients) equals a plain Python computation over the same appointments, on
random small data sets spanning a daylight-saving change, for a doctor and for everyone.

Part of ``UnitOfWorkContract``; needs only ``uow_factory``.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs
import pytest

from hellodoctor_adapters.testing.fixtures import appointment, seed
from hellodoctor_domain.model.analytics import PatientMix, RevenueLine, revenue_lines
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
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
