"""The cancellation policy (who may cancel, until when, what it refunds) and party rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from hellodoctor_domain.errors import AccessDenied, CancellationNotAllowed, InvalidValue
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.policy import (
    CancellationPolicy,
    is_party,
    require_clinician,
    require_party,
)
from hellodoctor_domain.model.values import Actor, DoctorId, Money, PatientId, UserId

Make = Callable[..., Appointment]
TICK = timedelta(microseconds=1)
POLICY = CancellationPolicy()


def patient_of(appointment: Appointment) -> Actor:
    return Actor.patient(appointment.patient_id)


def doctor_of(appointment: Appointment) -> Actor:
    return Actor.doctor(appointment.doctor_id)


ADMIN = Actor.admin(UserId("admin-1"))
STRANGER_PATIENT = Actor.patient(PatientId("pat-other"))
STRANGER_DOCTOR = Actor.doctor(DoctorId("dr-other"))


def test_default_policy_is_full_refund_a_day_ahead_and_half_later() -> None:
    assert POLICY.full_refund_notice == timedelta(hours=24)
    assert POLICY.late_refund_percent == 50


@pytest.mark.parametrize(
    "notice", [timedelta(days=5), timedelta(hours=24, minutes=1), timedelta(hours=24)]
)
def test_patient_cancelling_early_enough_gets_everything_back(
    make_appointment: Make, notice: timedelta
) -> None:
    booked = make_appointment(AppointmentStatus.BOOKED, price=Money(6000, "EUR"))
    now = booked.time.start - notice
    assert POLICY.refund_for(booked, patient_of(booked), now) == Money(6000, "EUR")


@pytest.mark.parametrize(
    "notice", [timedelta(hours=24) - TICK, timedelta(hours=3), timedelta(minutes=1), TICK]
)
@pytest.mark.parametrize("minor_units", [6000, 999, 1])
def test_patient_cancelling_late_gets_the_late_share_rounded_down(
    make_appointment: Make, notice: timedelta, minor_units: int
) -> None:
    booked = make_appointment(AppointmentStatus.BOOKED, price=Money(minor_units, "USD"))

    refund = POLICY.refund_for(booked, patient_of(booked), booked.time.start - notice)

    assert refund == Money(minor_units * POLICY.late_refund_percent // 100, "USD")
    assert refund.minor_units <= minor_units * POLICY.late_refund_percent / 100


@pytest.mark.parametrize("into_visit", [timedelta(0), TICK, timedelta(minutes=10)])
def test_patient_cancelling_once_the_visit_started_gets_nothing(
    make_appointment: Make, into_visit: timedelta
) -> None:
    booked = make_appointment(AppointmentStatus.BOOKED, price=Money(6000, "EUR"))
    now = booked.time.start + into_visit
    assert now < booked.time.end  # still allowed: it has not ended

    assert POLICY.refund_for(booked, patient_of(booked), now) == Money.zero("EUR")


def test_a_custom_policy_moves_the_line_and_the_share(make_appointment: Make) -> None:
    policy = CancellationPolicy(full_refund_notice=timedelta(hours=48), late_refund_percent=25)
    booked = make_appointment(AppointmentStatus.BOOKED, price=Money(10000, "JPY"))
    patient = patient_of(booked)

    assert policy.refund_for(booked, patient, booked.time.start - timedelta(hours=48)) == Money(
        10000, "JPY"
    )
    assert policy.refund_for(booked, patient, booked.time.start - timedelta(hours=30)) == Money(
        2500, "JPY"
    )
    # The default policy would have refunded in full at 30 hours.
    assert POLICY.refund_for(booked, patient, booked.time.start - timedelta(hours=30)) == Money(
        10000, "JPY"
    )


@pytest.mark.parametrize("percent", [-1, 101])
def test_a_late_share_is_a_percentage(percent: int) -> None:
    with pytest.raises(InvalidValue):
        CancellationPolicy(late_refund_percent=percent)


@pytest.mark.parametrize("who", ["patient", "doctor", "admin"])
def test_cancelling_a_hold_refunds_nothing_because_nothing_was_paid(
    make_appointment: Make, who: str
) -> None:
    held = make_appointment(AppointmentStatus.HELD, price=Money(6000, "EUR"))
    actor = {"patient": patient_of(held), "doctor": doctor_of(held), "admin": ADMIN}[who]
    now = held.created_at + timedelta(minutes=1)
    assert held.time.start - now > POLICY.full_refund_notice

    assert POLICY.refund_for(held, actor, now) == Money.zero("EUR")


@pytest.mark.parametrize("who", ["doctor", "admin"])
@pytest.mark.parametrize(
    "before_start",
    [timedelta(days=3), timedelta(hours=2), TICK, timedelta(0), -timedelta(minutes=20)],
)
def test_the_doctor_or_an_admin_always_refunds_in_full(
    make_appointment: Make, who: str, before_start: timedelta
) -> None:
    booked = make_appointment(AppointmentStatus.BOOKED, price=Money(6000, "EUR"))
    actor = doctor_of(booked) if who == "doctor" else ADMIN

    refund = POLICY.refund_for(booked, actor, booked.time.start - before_start)

    assert refund == Money(6000, "EUR")


@pytest.mark.parametrize("who", ["patient", "doctor", "admin"])
@pytest.mark.parametrize("after_end", [timedelta(0), timedelta(hours=1), timedelta(days=30)])
def test_nobody_may_cancel_once_the_visit_is_over(
    make_appointment: Make, who: str, after_end: timedelta
) -> None:
    booked = make_appointment(AppointmentStatus.BOOKED)
    actor = {"patient": patient_of(booked), "doctor": doctor_of(booked), "admin": ADMIN}[who]

    with pytest.raises(CancellationNotAllowed):
        POLICY.refund_for(booked, actor, booked.time.end + after_end)


def test_cancelling_in_the_last_moment_of_the_visit_is_still_allowed(
    make_appointment: Make,
) -> None:
    booked = make_appointment(AppointmentStatus.BOOKED, price=Money(6000, "EUR"))
    assert POLICY.refund_for(booked, doctor_of(booked), booked.time.end - TICK) == Money(
        6000, "EUR"
    )


@pytest.mark.parametrize("outsider", [STRANGER_PATIENT, STRANGER_DOCTOR], ids=["patient", "doctor"])
@pytest.mark.parametrize("status", [AppointmentStatus.HELD, AppointmentStatus.BOOKED])
def test_outsiders_may_not_cancel(
    make_appointment: Make, outsider: Actor, status: AppointmentStatus
) -> None:
    appointment = make_appointment(status)

    with pytest.raises(AccessDenied):
        POLICY.refund_for(appointment, outsider, appointment.created_at + timedelta(minutes=1))
    # Refused for who they are, before anything about the appointment's timing is revealed.
    with pytest.raises(AccessDenied):
        POLICY.refund_for(appointment, outsider, appointment.time.end + timedelta(days=1))


def test_refund_currency_is_the_price_currency(make_appointment: Make) -> None:
    booked = make_appointment(AppointmentStatus.BOOKED, price=Money(5000, "KWD"))
    held = make_appointment(AppointmentStatus.HELD, price=Money(5000, "KWD"))
    late = booked.time.start - timedelta(hours=1)
    assert POLICY.refund_for(booked, patient_of(booked), late).currency == "KWD"
    assert POLICY.refund_for(booked, patient_of(booked), booked.time.start).currency == "KWD"
    assert POLICY.refund_for(held, patient_of(held), late).currency == "KWD"


# -- parties -----------------------------------------------------------------------------------


def test_parties_are_the_patient_the_doctor_and_admins(make_appointment: Make) -> None:
    appointment = make_appointment()
    assert is_party(patient_of(appointment), appointment)
    assert is_party(doctor_of(appointment), appointment)
    assert is_party(ADMIN, appointment)
    assert not is_party(STRANGER_PATIENT, appointment)
    assert not is_party(STRANGER_DOCTOR, appointment)
    # The account behind an actor does not matter, only the profile it acts as.
    assert is_party(Actor.patient(appointment.patient_id, UserId("other-login")), appointment)
    require_party(doctor_of(appointment), appointment)
    with pytest.raises(AccessDenied):
        require_party(STRANGER_DOCTOR, appointment)


def test_only_the_doctor_or_an_admin_record_outcomes(make_appointment: Make) -> None:
    appointment = make_appointment()
    require_clinician(doctor_of(appointment), appointment)
    require_clinician(ADMIN, appointment)
    for refused in (patient_of(appointment), STRANGER_DOCTOR, STRANGER_PATIENT):
        with pytest.raises(AccessDenied):
            require_clinician(refused, appointment)
