"""The waitlist (issue 17 item 1): a patient waits for a doctor's time to free up.

::

    waiting --offer--> offered --accept--> booked
       |                  |----decline--> declined
       |                  |----lapse----> expired
       '------leave-------'----leave----> left

A patient joins a doctor's waitlist for a range of days and a window of the day (wall-clock
minutes in the doctor's zone: a morning is 06:00-12:00). When an active appointment of the
doctor is cancelled, its hold expires or it moves, the freed time is offered to the first
entry (join order) it matches whose patient is free then: the offer *is* an ordinary held
appointment (``Appointment`` in ``held``), written in the same unit of work as the entry's
move to ``offered`` (docs/domain.md, docs/clinic_day.md). The entry keeps which appointment
holds its offer and until when. Every state but ``waiting`` and ``offered`` is final.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, timedelta

from attrs import define, field

from hellodoctor_domain.errors import IllegalTransition, InvalidValue
from hellodoctor_domain.model.events import Aggregate, AppointmentEvent
from hellodoctor_domain.model.values import (
    AppointmentId,
    DoctorId,
    PatientId,
    TimeRange,
    _Identifier,
    time_zone,
    utc,
)

DAY_MINUTES = 24 * 60
# The longest range of days one entry may wait for.
LONGEST_WAIT = timedelta(days=92)


class WaitlistEntryId(_Identifier):
    """Identity of a waitlist entry."""


class WaitlistStatus(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    BOOKED = "booked"
    DECLINED = "declined"
    EXPIRED = "expired"
    LEFT = "left"

    @property
    def is_live(self) -> bool:
        return self in (WaitlistStatus.WAITING, WaitlistStatus.OFFERED)


class DayPart(enum.StrEnum):
    """Named windows of the day (wall clock, the doctor's zone)."""

    MORNING = "morning"
    AFTERNOON = "afternoon"
    EVENING = "evening"
    ANY = "any"

    @property
    def minutes(self) -> tuple[int, int]:
        return {
            DayPart.MORNING: (6 * 60, 12 * 60),
            DayPart.AFTERNOON: (12 * 60, 17 * 60),
            DayPart.EVENING: (17 * 60, 22 * 60),
            DayPart.ANY: (0, DAY_MINUTES),
        }[self]


def _optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


@define(frozen=True, kw_only=True)
class AppointmentOffered(AppointmentEvent):
    """A freed time is held for a waiting patient until ``hold_expires_at``: they accept it
    (and pay, if a fee is due) or decline it. Recorded on the held appointment, so it is
    written with it (and reaches the patient's "a slot is offered to you" notice)."""

    time: TimeRange
    hold_expires_at: datetime
    entry_id: str


@define(eq=False)
class WaitlistEntry(Aggregate):
    id: WaitlistEntryId
    patient_id: PatientId
    doctor_id: DoctorId
    first_day: date
    last_day: date
    # Wall-clock minutes from local midnight in the doctor's zone: a visit must start at or
    # after ``window_start`` and end at or before ``window_end`` (1440: midnight ending the day).
    window_start: int
    window_end: int
    joined_at: datetime = field(converter=utc)
    status: WaitlistStatus = WaitlistStatus.WAITING
    offered_appointment_id: AppointmentId | None = None
    offered_time: TimeRange | None = None
    offer_expires_at: datetime | None = field(default=None, converter=_optional_utc)
    closed_at: datetime | None = field(default=None, converter=_optional_utc)
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise InvalidValue("a waitlist range ends on or after its first day")
        if self.last_day - self.first_day > LONGEST_WAIT:
            raise InvalidValue(f"wait for at most {LONGEST_WAIT.days} days at a time")
        if not 0 <= self.window_start < self.window_end <= DAY_MINUTES:
            raise InvalidValue("a window of the day runs forwards within one day")

    # -- questions -----------------------------------------------------------------------

    def matches(self, time: TimeRange, zone: str) -> bool:
        """Whether a visit at ``time`` is one this entry waits for (the doctor's ``zone``)."""
        local_start = time.start.astimezone(time_zone(zone))
        local_end = time.end.astimezone(time_zone(zone))
        day = local_start.date()
        if not self.first_day <= day <= self.last_day:
            return False
        start: float = local_start.hour * 60 + local_start.minute + local_start.second / 60
        days_on = (local_end.date() - day).days
        end: float = days_on * DAY_MINUTES + local_end.hour * 60 + local_end.minute
        end += local_end.second / 60
        return self.window_start <= start and end <= self.window_end

    def offer_lapsed(self, now: datetime) -> bool:
        return (
            self.status is WaitlistStatus.OFFERED
            and self.offer_expires_at is not None
            and utc(now) >= self.offer_expires_at
        )

    # -- transitions ---------------------------------------------------------------------

    def offer(
        self, appointment_id: AppointmentId, time: TimeRange, expires_at: datetime, now: datetime
    ) -> None:
        self._require({WaitlistStatus.WAITING}, "offered a time")
        self.status = WaitlistStatus.OFFERED
        self.offered_appointment_id = appointment_id
        self.offered_time = time
        self.offer_expires_at = utc(expires_at)
        del now  # the offer's moment is the hold's creation

    def accept(self, now: datetime) -> None:
        self._require({WaitlistStatus.OFFERED}, "accepted")
        self._close(WaitlistStatus.BOOKED, now)

    def decline(self, now: datetime) -> None:
        self._require({WaitlistStatus.OFFERED}, "declined")
        self._close(WaitlistStatus.DECLINED, now)

    def lapse(self, now: datetime) -> None:
        self._require({WaitlistStatus.OFFERED}, "expired")
        self._close(WaitlistStatus.EXPIRED, now)

    def leave(self, now: datetime) -> None:
        self._require({WaitlistStatus.WAITING, WaitlistStatus.OFFERED}, "left")
        self._close(WaitlistStatus.LEFT, now)

    # -- internals -----------------------------------------------------------------------

    def _close(self, status: WaitlistStatus, now: datetime) -> None:
        self.status = status
        self.closed_at = utc(now)

    def _require(self, allowed: set[WaitlistStatus], action: str) -> None:
        if self.status not in allowed:
            raise IllegalTransition(str(self.id), self.status, action)


__all__ = [
    "AppointmentOffered",
    "DayPart",
    "WaitlistEntry",
    "WaitlistEntryId",
    "WaitlistStatus",
]
