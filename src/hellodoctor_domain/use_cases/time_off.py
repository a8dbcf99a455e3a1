"""Use case of a doctor's time off that collides with bookings (issue 17, item 6).

Adding time off is refused while it covers active appointments, listing each
(``TimeOffCollides``); asked again with ``cancel_bookings``, the time off is saved first (so
no new booking can be made in it) and then every appointment it covers is cancelled through
``Scheduling.cancel``: by the doctor (or admin) asking, so the patient is refunded in full to
where the money came from, and each cancellation records ``AppointmentCancelled`` for the
notifications.

A booking that read the hours before the time off was saved may still commit inside it; such
a late arrival is listed in the answer (``still_booked``) rather than silently kept.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo

from attrs import define, evolve

from hellodoctor_domain.errors import AccessDenied, TimeOffCollides
from hellodoctor_domain.model.appointment import Appointment
from hellodoctor_domain.model.availability import Availability, TimeOff
from hellodoctor_domain.model.values import Actor, DoctorId, Role, TimeRange, time_zone, utc
from hellodoctor_domain.ports.runtime import Clock
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.scheduling import Scheduling

DEFAULT_REASON = "the doctor is unavailable"


@define(frozen=True)
class TimeOffAdded:
    availability: Availability
    cancelled: tuple[Appointment, ...]
    still_booked: tuple[Appointment, ...] = ()


def time_off_ranges(time_off: TimeOff, zone: str) -> list[TimeRange]:
    """The UTC stretches the time off covers: whole local days, or the window on each."""
    where = time_zone(zone)
    ranges: list[TimeRange] = []
    day = time_off.first_day
    while day <= time_off.last_day:
        if time_off.window is None:
            ranges.append(_whole_day(day, where))
        else:
            covered = time_off.window.on(day, zone)
            if covered is not None:
                ranges.append(covered)
        day += timedelta(days=1)
    return ranges


def _whole_day(day: date, where: tzinfo) -> TimeRange:
    start = datetime.combine(day, time(0), tzinfo=where)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=where)
    return TimeRange(utc(start), utc(end))


class TimeOffBookings:
    def __init__(self, scheduling: Scheduling, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._scheduling = scheduling
        self._uow = uow
        self._clock = clock

    def add_time_off(
        self,
        actor: Actor,
        doctor_id: DoctorId,
        time_off: TimeOff,
        *,
        cancel_bookings: bool = False,
    ) -> TimeOffAdded:
        if not (
            actor.role is Role.ADMIN or (actor.role is Role.DOCTOR and actor.doctor_id == doctor_id)
        ):
            raise AccessDenied("only the doctor or an admin adds the doctor's time off")
        availability = self._scheduling.availability(doctor_id)
        found = self.collisions(availability, time_off)
        if found and not cancel_bookings:
            raise TimeOffCollides(tuple((a.id.value, a.time.start) for a in found))
        changed = evolve(availability, time_off=(*availability.time_off, time_off))
        stored = self._scheduling.define_availability(
            actor, changed, if_version=availability.version
        )
        if not cancel_bookings:
            late = self.collisions(stored, time_off)
            return TimeOffAdded(stored, (), tuple(late))
        reason = time_off.reason or DEFAULT_REASON
        cancelled = tuple(
            self._scheduling.cancel(actor, a.id, reason)
            for a in self.collisions(stored, time_off)  # read again: after the save
        )
        return TimeOffAdded(stored, cancelled)

    def collisions(self, availability: Availability, time_off: TimeOff) -> list[Appointment]:
        """The active appointments (lapsed holds aside) whose visit the time off covers."""
        now = self._clock.now()
        ranges = time_off_ranges(time_off, availability.time_zone)
        if not ranges:
            return []
        span = TimeRange(ranges[0].start, ranges[-1].end)
        with self._uow() as uow:
            near = uow.appointments.for_doctor(availability.doctor_id, span)
        return [
            a for a in near if a.blocks_time_at(now) and any(a.time.overlaps(r) for r in ranges)
        ]
