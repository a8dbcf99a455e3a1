"""Shared builders for the unit tests of the appointment aggregate and its policy."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus, Cancellation
from hellodoctor_domain.model.values import (
    AppointmentId,
    DoctorId,
    Money,
    PatientId,
    Role,
    TimeRange,
    UserId,
)

MakeAppointment = Callable[..., Appointment]

VISIT_START = datetime(2026, 6, 10, 10, 0, tzinfo=UTC)
REQUESTED_AT = VISIT_START - timedelta(days=3)
HOLD_FOR = timedelta(minutes=15)
DOCTOR = DoctorId("dr-1")
PATIENT = PatientId("pat-1")


def _build(
    status: AppointmentStatus = AppointmentStatus.BOOKED,
    *,
    price: Money | None = None,
    length: timedelta = timedelta(minutes=30),
    buffer: timedelta = timedelta(0),
    start: datetime = VISIT_START,
    requested_at: datetime = REQUESTED_AT,
    doctor_id: DoctorId = DOCTOR,
    patient_id: PatientId = PATIENT,
) -> Appointment:
    """An appointment brought to ``status`` through its real transitions (never by assigning
    the status), with the events of getting there cleared.

    Held and booked appointments are requested ``requested_at`` with a fee, so they were held
    for ``HOLD_FOR`` first; a booked one was confirmed a minute after the request.
    """
    price = Money(6000, "EUR") if price is None else price
    appointment = Appointment.request(
        id=AppointmentId("apt-1"),
        doctor_id=doctor_id,
        patient_id=patient_id,
        time=TimeRange.starting_at(start, length),
        price=price,
        buffer=buffer,
        now=requested_at,
        hold_for=HOLD_FOR,
    )
    soon = requested_at + timedelta(minutes=1)
    if status is not AppointmentStatus.HELD and appointment.status is AppointmentStatus.HELD:
        if status is AppointmentStatus.EXPIRED:
            assert appointment.hold_expires_at is not None
            appointment.expire(appointment.hold_expires_at)
        else:
            appointment.confirm(soon)
    if status is AppointmentStatus.COMPLETED:
        appointment.complete(appointment.time.start)
    elif status is AppointmentStatus.NO_SHOW:
        appointment.mark_no_show(appointment.time.start)
    elif status is AppointmentStatus.CANCELLED:
        appointment.cancel(
            Cancellation(Role.PATIENT, UserId("pat-1"), "changed plans", soon, Money.zero("EUR"))
        )
    assert appointment.status is status
    appointment.events.clear()
    return appointment


@pytest.fixture
def make_appointment() -> MakeAppointment:
    return _build
