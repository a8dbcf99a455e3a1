"""Domain events: facts an aggregate records about itself, published after commit and written
to the outbox in the same transaction.

Any aggregate records events the same way: it derives from ``Aggregate`` and ``record`` s them in
its ``events``. Its repository tracks every aggregate it takes in or hands out, and the unit of
work collects (and clears) their events at commit. Each event family names its aggregate
(``aggregate_type``, ``aggregate_id``), so the outbox can store any event type. The events of
an aggregate family live beside it (payments in :mod:`~hellodoctor_domain.model.payments`);
appointments' are here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from attrs import define, field

from hellodoctor_domain.model.values import (
    AppointmentId,
    DoctorId,
    Money,
    PatientId,
    Role,
    TimeRange,
)


@define(frozen=True, kw_only=True)
class DomainEvent:
    """A fact about one aggregate. Subclasses name it: ``aggregate_type`` (a class constant,
    stored in the outbox, so never renamed) and ``aggregate_id``."""

    aggregate_type: ClassVar[str]
    occurred_at: datetime

    @property
    def aggregate_id(self) -> str:
        raise NotImplementedError


@define(eq=False)
class Aggregate:
    """An entity (identity equality) that records domain events about itself. ``events`` is
    no part of its state: copies start without any, and storage never keeps them."""

    events: list[DomainEvent] = field(factory=list, init=False, repr=False, eq=False)

    def record(self, event: DomainEvent) -> None:
        """Note that ``event`` happened to this aggregate (published if the unit of work that
        wrote it commits)."""
        self.events.append(event)


@define(frozen=True, kw_only=True)
class AppointmentEvent(DomainEvent):
    aggregate_type: ClassVar[str] = "appointment"

    appointment_id: AppointmentId
    doctor_id: DoctorId
    patient_id: PatientId

    @property
    def aggregate_id(self) -> str:
        return self.appointment_id.value


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


@define(frozen=True, kw_only=True)
class AppointmentReminderDue(AppointmentEvent):
    """A reminder ``before`` the visit, scheduled (not recorded by the aggregate) for the
    appointment as it was at ``version``: sent only if it is still booked at that version, so
    a visit cancelled or moved since never gets it. ``occurred_at`` is when it falls due."""

    time: TimeRange
    version: int
    before: timedelta


@define(frozen=True, kw_only=True)
class AppointmentCheckedIn(AppointmentEvent):
    """The patient arrived: checked in at the desk (issue 17). Still booked."""

    time: TimeRange


@define(frozen=True, kw_only=True)
class AppointmentConsultationStarted(AppointmentEvent):
    """The doctor called the patient in (issue 17). Still booked until completed."""

    time: TimeRange
