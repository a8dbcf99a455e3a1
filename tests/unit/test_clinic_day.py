"""The clinic's day in the domain: a booked visit's arrival steps, and the local day."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory, ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.testing.fixtures import appointment, at, doctor, every_day, patient
from hellodoctor_domain import Actor, BookingRequest, DoctorId, Money, PatientId, Role, UserId
from hellodoctor_domain.errors import IllegalTransition, TimeOffCollides
from hellodoctor_domain.model.appointment import AppointmentStatus, VisitStage
from hellodoctor_domain.model.availability import TimeOff
from hellodoctor_domain.model.events import AppointmentCheckedIn, AppointmentConsultationStarted
from hellodoctor_domain.model.payments import PaymentMethod
from hellodoctor_domain.use_cases.billing import Billing
from hellodoctor_domain.use_cases.clinic_day import age_on, day_range
from hellodoctor_domain.use_cases.scheduling import Scheduling
from hellodoctor_domain.use_cases.time_off import TimeOffBookings


def test_a_booked_visit_is_checked_in_called_in_and_completed() -> None:
    visit = appointment("a1", at(9))
    assert visit.stage is VisitStage.BOOKED
    with pytest.raises(IllegalTransition):
        visit.start_consultation(at(8, 55))  # not arrived yet
    visit.check_in(at(8, 50))
    visit.start_consultation(at(9, 2))
    assert (visit.stage, visit.status) == (VisitStage.IN_CONSULTATION, AppointmentStatus.BOOKED)
    assert [type(e) for e in visit.events] == [
        AppointmentCheckedIn,
        AppointmentConsultationStarted,
    ]
    visit.complete(at(9, 30))
    assert (visit.stage, visit.arrived_at, visit.completed_at) == (
        VisitStage.COMPLETED,
        at(8, 50),
        at(9, 30),
    )


@pytest.mark.parametrize(
    "status", [AppointmentStatus.HELD, AppointmentStatus.CANCELLED, AppointmentStatus.COMPLETED]
)
def test_only_a_booked_visit_is_checked_in(status: AppointmentStatus) -> None:
    with pytest.raises(IllegalTransition):
        appointment("a1", at(9), status=status).check_in(at(8, 50))


def test_a_visit_that_is_over_is_not_checked_in_and_an_arrival_is_no_no_show() -> None:
    with pytest.raises(IllegalTransition):
        appointment("a1", at(9)).check_in(at(9, 30))
    arrived = appointment("a2", at(9))
    arrived.check_in(at(8, 59))
    with pytest.raises(IllegalTransition):
        arrived.mark_no_show(at(9, 40))


def test_a_local_day_is_23_or_25_hours_on_a_daylight_saving_change() -> None:
    assert day_range(date(2030, 3, 10), "America/New_York").duration == timedelta(hours=23)
    assert day_range(date(2030, 11, 3), "America/New_York").duration == timedelta(hours=25)
    assert day_range(date(2030, 3, 11), "America/New_York").start.hour == 4  # 00:00 EDT


def test_age_in_whole_years_on_the_day() -> None:
    assert age_on(date(1990, 1, 8), date(2030, 1, 7)) == 39
    assert age_on(date(1990, 1, 7), date(2030, 1, 7)) == 40
    assert age_on(None, date(2030, 1, 7)) is None


def test_time_off_cancels_a_paid_visit_it_covers_with_a_full_refund() -> None:
    storage, gateway = InMemoryUnitOfWorkFactory(), OfflinePaymentGateway()
    clock = ManualClock(at(6))
    scheduling = Scheduling(storage, clock, SequentialIds("apt"), gateway)
    billing = Billing(storage, clock, SequentialIds("pay"), gateway)
    admin = Actor.admin(UserId("admin"))
    scheduling.register_doctor(admin, doctor("d1", Money(8000, "GBP")))
    scheduling.define_availability(admin, every_day(DoctorId("d1")))
    scheduling.register_patient(patient("p1"))
    grace = Actor.patient(PatientId("p1"))
    visit = scheduling.book(
        grace,
        BookingRequest(doctor_id=DoctorId("d1"), patient_id=PatientId("p1"), start=at(10, day=1)),
    )
    paying = billing.start_payment(grace, visit.id, PaymentMethod.CARD)
    paid = gateway.complete(paying.payment.provider_reference)
    billing.handle_webhook(paid.body, paid.signature)
    away = TimeOff(date(2030, 1, 8), date(2030, 1, 8), reason="conference")
    bookings = TimeOffBookings(scheduling, storage, clock)
    the_doctor = Actor.doctor(DoctorId("d1"))
    with pytest.raises(TimeOffCollides) as refused:
        bookings.add_time_off(the_doctor, DoctorId("d1"), away)
    assert refused.value.collisions == ((visit.id.value, at(10, day=1)),)
    added = bookings.add_time_off(the_doctor, DoctorId("d1"), away, cancel_bookings=True)
    [cancelled] = added.cancelled
    assert cancelled.cancellation is not None
    assert (cancelled.cancellation.by, cancelled.cancellation.refund) == (
        Role.DOCTOR,
        Money(8000, "GBP"),
    )
    assert added.availability.time_off == (away,)
