"""The appointment aggregate and its state machine.

::

    held --confirm--> booked --complete--> completed
     |                  |----mark_no_show--> no_show
     |--expire--> expired
     '--cancel--> cancelled <--cancel-- booked

A booked visit also moves through the clinic's day (issue 17) without leaving ``booked``, so
the storages' no-overlap rule is untouched: ``check_in`` (arrived, at the desk), then
``start_consultation`` (in consultation), then ``complete``; each step keeps its moment
(``arrived_at``, ``consultation_started_at``, ``completed_at``). ``stage`` names where it is.

``held`` and ``booked`` are *active*: they occupy the doctor's time (plus buffer) and the
patient's time. Every other state is final and occupies nothing. A hold whose expiry has passed
no longer blocks anyone, even before a worker has moved it to ``expired``.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from attrs import define, field

from hellodoctor_domain.errors import HoldExpired, IllegalTransition, InvalidValue
from hellodoctor_domain.model.events import (
    Aggregate,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCheckedIn,
    AppointmentCompleted,
    AppointmentConsultationStarted,
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
    HospitalId,
    Money,
    PatientId,
    Role,
    SeriesId,
    TimeRange,
    UserId,
    VisitKind,
    utc,
)


class AppointmentStatus(enum.StrEnum):
    HELD = "held"
    BOOKED = "booked"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_STATUSES


ACTIVE_STATUSES = frozenset({AppointmentStatus.HELD, AppointmentStatus.BOOKED})


class VisitStage(enum.StrEnum):
    """An appointment's status, with ``booked`` refined by the clinic's day (issue 17)."""

    HELD = "held"
    BOOKED = "booked"
    ARRIVED = "arrived"
    IN_CONSULTATION = "in_consultation"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@define(frozen=True)
class Cancellation:
    by: Role
    user_id: UserId
    reason: str
    at: datetime = field(converter=utc)
    refund: Money


def _optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


@define(eq=False)
class Appointment(Aggregate):
    id: AppointmentId
    doctor_id: DoctorId
    patient_id: PatientId
    time: TimeRange
    price: Money
    status: AppointmentStatus
    created_at: datetime = field(converter=utc)
    buffer: timedelta = timedelta(0)
    appointment_type: AppointmentType = AppointmentType.IN_PERSON
    visit_kind: VisitKind = VisitKind.REGULAR
    reason: str = ""
    hold_expires_at: datetime | None = field(default=None, converter=_optional_utc)
    cancellation: Cancellation | None = None
    # Where the visit happens: the hospital of the doctor's window it falls in (never the
    # client's say); ``None`` for a window naming none, and for telemedicine.
    hospital_id: HospitalId | None = None
    # Storage's optimistic-concurrency token: the version this object was read at.
    version: int = 0
    # The clinic's day (issue 17): when the patient arrived, was called in, was seen.
    arrived_at: datetime | None = field(default=None, converter=_optional_utc)
    consultation_started_at: datetime | None = field(default=None, converter=_optional_utc)
    completed_at: datetime | None = field(default=None, converter=_optional_utc)
    # The recurring series it was booked in (issue 17), kept when it is rescheduled.
    series_id: SeriesId | None = None

    def __attrs_post_init__(self) -> None:
        if self.buffer < timedelta(0):
            raise InvalidValue("a buffer cannot be negative")
        if self.status is AppointmentStatus.HELD and self.hold_expires_at is None:
            raise InvalidValue("a held appointment needs an expiry")

    # -- creation ----------------------------------------------------------------------

    @classmethod
    def request(
        cls,
        *,
        id: AppointmentId,
        doctor_id: DoctorId,
        patient_id: PatientId,
        time: TimeRange,
        price: Money,
        buffer: timedelta,
        now: datetime,
        hold_for: timedelta,
        appointment_type: AppointmentType = AppointmentType.IN_PERSON,
        visit_kind: VisitKind = VisitKind.REGULAR,
        reason: str = "",
        hospital_id: HospitalId | None = None,
    ) -> Appointment:
        """A new appointment: held for ``hold_for`` when there is a fee to pay, else booked."""
        now = utc(now)
        held = not price.is_zero
        appointment = cls(
            id=id,
            doctor_id=doctor_id,
            patient_id=patient_id,
            time=time,
            price=price,
            status=AppointmentStatus.HELD if held else AppointmentStatus.BOOKED,
            created_at=now,
            buffer=buffer,
            appointment_type=appointment_type,
            visit_kind=visit_kind,
            reason=reason,
            hold_expires_at=now + hold_for if held else None,
            hospital_id=hospital_id,
        )
        if held:
            assert appointment.hold_expires_at is not None
            appointment._record(
                AppointmentHeld,
                now,
                time=time,
                price=price,
                hold_expires_at=appointment.hold_expires_at,
            )
        else:
            appointment._record(AppointmentBooked, now, time=time, price=price)
        return appointment

    # -- questions -----------------------------------------------------------------------

    @property
    def blocked(self) -> TimeRange:
        """The doctor's time this appointment occupies: the visit and the buffer after it."""
        return self.time.extended(after=self.buffer)

    @property
    def is_active(self) -> bool:
        return self.status.is_active

    def hold_lapsed(self, now: datetime) -> bool:
        return (
            self.status is AppointmentStatus.HELD
            and self.hold_expires_at is not None
            and utc(now) >= self.hold_expires_at
        )

    def blocks_time_at(self, now: datetime) -> bool:
        """Whether this appointment occupies its time at ``now`` (a lapsed hold does not)."""
        return self.is_active and not self.hold_lapsed(now)

    # -- transitions ---------------------------------------------------------------------

    def confirm(self, now: datetime) -> None:
        """The fee has been paid: held -> booked. A lapsed hold cannot be confirmed."""
        self._require({AppointmentStatus.HELD}, "confirmed")
        if self.hold_lapsed(now):
            raise HoldExpired(f"the hold on appointment {self.id} lapsed at {self.hold_expires_at}")
        self.status = AppointmentStatus.BOOKED
        self._record(AppointmentBooked, now, time=self.time, price=self.price)

    def cancel(self, cancellation: Cancellation) -> None:
        self._require(ACTIVE_STATUSES, "cancelled")
        self.status = AppointmentStatus.CANCELLED
        self.cancellation = cancellation
        self._record(
            AppointmentCancelled,
            cancellation.at,
            time=self.time,
            cancelled_by=cancellation.by,
            reason=cancellation.reason,
            refund=cancellation.refund,
        )

    def expire(self, now: datetime) -> None:
        self._require({AppointmentStatus.HELD}, "expired")
        if not self.hold_lapsed(now):
            raise IllegalTransition(str(self.id), self.status, "expired before its hold lapses")
        self.status = AppointmentStatus.EXPIRED
        self._record(AppointmentHoldExpired, now, time=self.time)

    def reschedule(self, new_time: TimeRange, now: datetime) -> None:
        """Move to ``new_time`` (same length rules are the caller's); the storage takes the new
        time atomically with releasing the old one."""
        self._require(ACTIVE_STATUSES, "rescheduled")
        if self.hold_lapsed(now):
            raise HoldExpired(f"the hold on appointment {self.id} lapsed at {self.hold_expires_at}")
        if utc(now) >= self.time.start:
            raise IllegalTransition(str(self.id), "already started", "rescheduled")
        previous = self.time
        self.time = new_time
        self._record(AppointmentRescheduled, now, previous_time=previous, time=new_time)

    def complete(self, now: datetime) -> None:
        self._require({AppointmentStatus.BOOKED}, "completed")
        if utc(now) < self.time.start:
            raise IllegalTransition(str(self.id), "not started yet", "completed")
        self.status = AppointmentStatus.COMPLETED
        self.completed_at = utc(now)
        self._record(AppointmentCompleted, now, time=self.time)

    def mark_no_show(self, now: datetime) -> None:
        self._require({AppointmentStatus.BOOKED}, "marked as a no-show")
        if self.arrived_at is not None:
            raise IllegalTransition(str(self.id), "arrived", "marked as a no-show")
        if utc(now) < self.time.start:
            raise IllegalTransition(str(self.id), "not started yet", "marked as a no-show")
        self.status = AppointmentStatus.NO_SHOW
        self._record(AppointmentMarkedNoShow, now, time=self.time)

    # -- the clinic's day (issue 17) -------------------------------------------------------

    @property
    def stage(self) -> VisitStage:
        """Where the visit is: its status, refined while booked by the arrival steps."""
        if self.status is AppointmentStatus.BOOKED:
            if self.consultation_started_at is not None:
                return VisitStage.IN_CONSULTATION
            if self.arrived_at is not None:
                return VisitStage.ARRIVED
        return VisitStage(self.status.value)

    def check_in(self, now: datetime) -> None:
        """The patient is at the desk: booked -> arrived (on the visit's day, not after it)."""
        self._require({AppointmentStatus.BOOKED}, "checked in")
        if self.arrived_at is not None:
            raise IllegalTransition(str(self.id), "arrived", "checked in")
        if utc(now) >= self.time.end:
            raise IllegalTransition(str(self.id), "over", "checked in")
        self.arrived_at = utc(now)
        self.record_step(AppointmentCheckedIn, now)

    def start_consultation(self, now: datetime) -> None:
        """The doctor calls the patient in: arrived -> in consultation."""
        self._require({AppointmentStatus.BOOKED}, "called in")
        if self.arrived_at is None:
            raise IllegalTransition(str(self.id), "not arrived", "called in")
        if self.consultation_started_at is not None:
            raise IllegalTransition(str(self.id), "in consultation", "called in")
        self.consultation_started_at = max(utc(now), self.arrived_at)
        self.record_step(AppointmentConsultationStarted, now)

    def record_step(self, event_type: type[AppointmentEvent], now: datetime) -> None:
        self._record(event_type, now, time=self.time)

    # -- internals -----------------------------------------------------------------------

    def _require(
        self, allowed: frozenset[AppointmentStatus] | set[AppointmentStatus], action: str
    ) -> None:
        if self.status not in allowed:
            raise IllegalTransition(str(self.id), self.status, action)

    def _record(self, event_type: type[AppointmentEvent], now: datetime, **facts: object) -> None:
        self.record(
            event_type(
                appointment_id=self.id,
                doctor_id=self.doctor_id,
                patient_id=self.patient_id,
                occurred_at=utc(now),
                **facts,
            )
        )
