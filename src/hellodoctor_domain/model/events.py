"""Domain events: facts about appointments, recorded by the aggregate and published after
commit (and written to an outbox by adapters that have one)."""

from __future__ import annotations

from datetime import datetime

from attrs import define

from hellodoctor_domain.model.values import (
    AppointmentId,
    DoctorId,
    Money,
    PatientId,
    Role,
    TimeRange,
)


@define(frozen=True, kw_only=True)
class AppointmentEvent:
    appointment_id: AppointmentId
    doctor_id: DoctorId
    patient_id: PatientId
    occurred_at: datetime


@define(frozen=True, kw_only=True)
class AppointmentHeld(AppointmentEvent):
    """The time is reserved while the patient pays; it lapses at ``hold_expires_at``."""

    time: TimeRange
    price: Money
    hold_expires_at: datetime


@define(frozen=True, kw_only=True)
class AppointmentBooked(AppointmentEvent):
    time: TimeRange
    price: Money


@define(frozen=True, kw_only=True)
class AppointmentCancelled(AppointmentEvent):
    time: TimeRange
    cancelled_by: Role
    reason: str
    refund: Money


@define(frozen=True, kw_only=True)
class AppointmentRescheduled(AppointmentEvent):
    previous_time: TimeRange
    time: TimeRange


@define(frozen=True, kw_only=True)
class AppointmentHoldExpired(AppointmentEvent):
    time: TimeRange


@define(frozen=True, kw_only=True)
class AppointmentCompleted(AppointmentEvent):
    time: TimeRange


@define(frozen=True, kw_only=True)
class AppointmentMarkedNoShow(AppointmentEvent):
    time: TimeRange
