"""When a doctor can be booked: weekly hours in the doctor's own time zone, with exceptions.

Working hours are wall-clock times in the doctor's IANA zone ("09:00-17:00 in Europe/Paris"),
so they keep meaning the same thing to the doctor across daylight-saving changes. Everything
is turned into UTC ``TimeRange`` s for one local date at a time and all arithmetic happens on
those: a window's instants are exact, and the slot grid steps in real elapsed time.

Daylight-saving edges:

* a wall-clock time that does not exist (skipped by spring-forward) is read as the instant the
  clocks jump: a window 01:30-02:30 in New York on spring-forward night is 01:30-03:00 on the
  wall (30 real minutes), and a window lying wholly inside the skipped hour is empty;
* a wall-clock time that happens twice (fall-back) is read as its first occurrence;
* a window spanning a change is as long as the time that really elapses (one hour shorter on
  spring-forward night, one hour longer on fall-back night), so no slot ever starts at a
  moment that does not exist, and none is counted twice.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from attrs import define, field

from hellodoctor_domain.errors import (
    BeyondHorizon,
    InThePast,
    InvalidDuration,
    InvalidValue,
    OffGrid,
    OutsideAvailability,
    TooShortNotice,
)
from hellodoctor_domain.model.events import Aggregate, DomainEvent
from hellodoctor_domain.model.values import (
    AppointmentType,
    DoctorId,
    HospitalId,
    TimeRange,
    merged,
    time_zone,
    utc,
)

MIDNIGHT = time(0)


class Weekday(enum.IntEnum):
    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6


def _wall_clock(value: time) -> time:
    if not isinstance(value, time) or value.tzinfo is not None:
        raise InvalidValue("working-hour times are wall-clock times without a zone")
    return value.replace(fold=0)


@define(frozen=True)
class LocalWindow:
    """A wall-clock window within one day, ``[start, end)``. An end of 00:00 means the
    midnight that ends the day (18:00-00:00); overnight work is two windows."""

    # fold is dropped: time(1, fold=1) == time(1), so equal windows must mean the same instants.
    start: time = field(converter=_wall_clock)
    end: time = field(converter=_wall_clock)

    def __attrs_post_init__(self) -> None:
        if self.end <= self.start and self.end != MIDNIGHT:
            raise InvalidValue(f"a window must end after it starts ({self.start}-{self.end})")

    def on(self, day: date, zone_name: str) -> TimeRange | None:
        """This window on ``day`` in the zone, as UTC instants (see module doc for DST);
        ``None`` when it vanishes that day (02:00-03:00 on a night that skips that hour)."""
        return _window_on(self, day, zone_name)


# A pure function of its (hashable, immutable) arguments, asked for every day of every slot
# listing: remembered, so a doctor's month costs its zone arithmetic once per process.
@functools.lru_cache(maxsize=8192)
def _window_on(window: LocalWindow, day: date, zone_name: str) -> TimeRange | None:
    zone = time_zone(zone_name)
    start = _instant(datetime.combine(day, window.start), zone)
    end_day = day + timedelta(days=1) if window.end == MIDNIGHT else day
    end = _instant(datetime.combine(end_day, window.end), zone)
    return TimeRange(start, end) if start < end else None


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a naive wall-clock time in ``zone``: its first occurrence, or, when
    the clocks skip it, the instant they jump (the end of the gap)."""
    first = utc(wall.replace(tzinfo=zone, fold=0))
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # Skipped. fold=0 and fold=1 read it with the offsets before and after the jump, which
    # bracket the jump; find it to the second (transitions fall on whole seconds).
    low, high = sorted((first, utc(wall.replace(tzinfo=zone, fold=1))))
    lo_s, hi_s = 0, int((high - low).total_seconds())
    while lo_s < hi_s:
        middle = (lo_s + hi_s) // 2
        if (low + timedelta(seconds=middle)).astimezone(zone).replace(tzinfo=None) > wall:
            hi_s = middle
        else:
            lo_s = middle + 1
    return low + timedelta(seconds=lo_s)


def _windows(values: Iterable[LocalWindow]) -> tuple[LocalWindow, ...]:
    return tuple(sorted(values, key=lambda window: (window.start, window.end)))


@define(frozen=True)
class WorkingDay:
    """Regular hours on one weekday, with breaks taken out of them, at one hospital (or at
    none named: a private practice, telemedicine). A doctor at two hospitals on one weekday
    has two working days for it, one per hospital."""

    weekday: Weekday = field(converter=Weekday)
    hours: tuple[LocalWindow, ...] = field(converter=_windows)
    breaks: tuple[LocalWindow, ...] = field(default=(), converter=_windows)
    hospital_id: HospitalId | None = None


@define(frozen=True)
class TimeOff:
    """Days (``first_day`` to ``last_day`` inclusive) off: whole days, or one window each day."""

    first_day: date
    last_day: date
    window: LocalWindow | None = None
    reason: str = ""

    def __attrs_post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise InvalidValue("time off must end on or after the day it starts")

    def covers(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day


@define(frozen=True)
class ExtraHours:
    """Hours worked on one date beyond the weekly pattern (a Saturday clinic, a late shift)."""

    day: date
    window: LocalWindow
    hospital_id: HospitalId | None = None


def _positive(_instance: object, attribute: object, value: timedelta) -> None:
    if value <= timedelta(0):
        raise InvalidValue(f"{getattr(attribute, 'name', 'duration')} must be positive")


def _not_negative(_instance: object, attribute: object, value: timedelta) -> None:
    if value < timedelta(0):
        raise InvalidValue(f"{getattr(attribute, 'name', 'duration')} cannot be negative")


def _whole_minutes(_instance: object, attribute: object, value: timedelta) -> None:
    if value % timedelta(minutes=1):
        raise InvalidValue(f"{getattr(attribute, 'name', 'duration')} must be whole minutes")


def _working_days(values: Iterable[WorkingDay]) -> tuple[WorkingDay, ...]:
    return tuple(values)


def _time_off(values: Iterable[TimeOff]) -> tuple[TimeOff, ...]:
    return tuple(values)


def _extra_hours(values: Iterable[ExtraHours]) -> tuple[ExtraHours, ...]:
    return tuple(values)


def _known_zone(_instance: object, _attribute: object, value: str) -> None:
    time_zone(value)


@define(frozen=True, kw_only=True)
class AvailabilityChanged(DomainEvent):
    """The doctor's hours, rules or time off were replaced: their free time may have moved
    (the search's next free slot summary is refreshed from it, docs/search.md)."""

    aggregate_type: ClassVar[str] = "availability"

    doctor_id: DoctorId

    @property
    def aggregate_id(self) -> str:
        return self.doctor_id.value


@define(eq=False)
class Availability(Aggregate):
    """A doctor's bookable time and booking rules (one per doctor, replaced as a whole).

    * ``slot_length`` is both the grid step (slots start at the start of each working segment
      and every ``slot_length`` after) and the default length of a visit; a longer visit is a
      whole number of slots.
    * ``buffer`` is kept free after every appointment (cleaning, notes), so an appointment
      blocks ``[start, end + buffer)`` of the doctor's time.
    * ``minimum_notice`` and ``booking_horizon`` bound how soon and how far ahead a start may be.
    """

    doctor_id: DoctorId
    time_zone: str = field(validator=_known_zone)
    weekly: tuple[WorkingDay, ...] = field(converter=_working_days)
    slot_length: timedelta = field(
        default=timedelta(minutes=30), validator=[_positive, _whole_minutes]
    )
    buffer: timedelta = field(default=timedelta(0), validator=[_not_negative, _whole_minutes])
    minimum_notice: timedelta = field(default=timedelta(hours=2), validator=_not_negative)
    booking_horizon: timedelta = field(default=timedelta(days=90), validator=_positive)
    max_slots_per_visit: int = 4
    time_off: tuple[TimeOff, ...] = field(default=(), converter=_time_off)
    extra_hours: tuple[ExtraHours, ...] = field(default=(), converter=_extra_hours)
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if self.booking_horizon <= self.minimum_notice:
            raise InvalidValue("the booking horizon must lie beyond the minimum notice")
        if self.max_slots_per_visit < 1:
            raise InvalidValue("a visit is at least one slot long")
        _refuse_two_places_at_once(self.weekly, self.extra_hours)

    @property
    def hospitals(self) -> frozenset[HospitalId]:
        """Every hospital a window names."""
        sites = (*(d.hospital_id for d in self.weekly), *(e.hospital_id for e in self.extra_hours))
        return frozenset(site for site in sites if site is not None)

    # -- working time --------------------------------------------------------------------

    def working_segments(self, day: date) -> tuple[TimeRange, ...]:
        """The bookable stretches of one local date, in UTC, sorted and non-overlapping."""
        return tuple(segment for _site, segment in self.sites(day))

    def sites(self, day: date) -> tuple[tuple[HospitalId | None, TimeRange], ...]:
        """The bookable stretches of one local date, in UTC, each with the hospital it is at,
        sorted. Stretches at one place are merged; those at two places never are (and never
        overlap: the constructor refuses that)."""
        by_site: dict[HospitalId | None, list[TimeRange]] = {}
        for working_day in self.weekly:
            if working_day.weekday != day.weekday():
                continue
            breaks = _on(working_day.breaks, day, self.time_zone)
            hours = _subtract_all(_on(working_day.hours, day, self.time_zone), breaks)
            by_site.setdefault(working_day.hospital_id, []).extend(hours)
        for extra in self.extra_hours:
            if extra.day == day:
                by_site.setdefault(extra.hospital_id, []).extend(
                    _on([extra.window], day, self.time_zone)
                )
        off_windows: list[TimeRange] = []
        for off in self.time_off:
            if off.covers(day):
                if off.window is None:
                    return ()
                off_windows.extend(_on([off.window], day, self.time_zone))
        found = [
            (site, segment)
            for site, segments in by_site.items()
            for segment in _subtract_all(merged(segments), off_windows)
        ]
        return tuple(sorted(found, key=lambda pair: (pair[1].start, pair[1].end)))

    def hospital_at(self, visit: TimeRange) -> HospitalId | None:
        """The hospital of the working stretch ``visit`` lies in (``None``: none is named, or
        the visit lies in no stretch)."""
        for day in self.local_days(visit):
            for site, segment in self.sites(day):
                if segment.contains(visit):
                    return site
        return None

    def site_of(self, visit: TimeRange, appointment_type: AppointmentType) -> HospitalId | None:
        """Where a visit happens: the hospital of its window; none for telemedicine."""
        if appointment_type is AppointmentType.TELEMEDICINE:
            return None
        return self.hospital_at(visit)

    def local_days(self, period: TimeRange) -> Iterator[date]:
        """Every local date in the doctor's zone that ``period`` touches (plus one each side,
        because a window of a neighbouring date can reach into the period)."""
        zone = time_zone(self.time_zone)
        day = period.start.astimezone(zone).date() - timedelta(days=1)
        last = period.end.astimezone(zone).date() + timedelta(days=1)
        while day <= last:
            yield day
            day += timedelta(days=1)

    def grid(self, period: TimeRange, length: timedelta | None = None) -> Iterator[TimeRange]:
        """Every on-grid visit of ``length`` (default one slot) lying inside working time and
        starting within ``period``, in time order. Booked appointments are not considered."""
        length = self.visit_length(length)
        for start in self.grid_starts(period, length):
            yield TimeRange(start, start + length)

    def grid_starts(self, period: TimeRange, length: timedelta | None = None) -> Iterator[datetime]:
        """The starts (UTC) of ``grid``'s visits, without building their ranges: a listing
        filters hundreds of candidates and shows only the free ones."""
        length = self.visit_length(length)
        step = self.slot_length
        for day in self.local_days(period):
            for segment in self.working_segments(day):
                start, last = segment.start, segment.end - length
                while start <= last and start < period.end:
                    if start >= period.start:
                        yield start
                    start += step

    # -- rules -----------------------------------------------------------------------------

    def visit_length(self, length: timedelta | None) -> timedelta:
        """``length`` (default: one slot) if it is a whole number of slots this doctor offers;
        ``InvalidDuration`` otherwise."""
        if length is None:
            return self.slot_length
        slots, remainder = divmod(length, self.slot_length)
        if remainder or not 1 <= slots <= self.max_slots_per_visit:
            raise InvalidDuration(
                f"a visit lasts 1 to {self.max_slots_per_visit} slots of "
                f"{self.slot_length}; {length} is not one of those"
            )
        return length

    def check_bookable(self, visit: TimeRange, now: datetime) -> None:
        """Raise the first booking rule ``visit`` breaks; order: past, notice, horizon,
        length, working hours, grid. Overlap with other appointments is *not* checked here:
        that is the storage's job, atomically."""
        now = utc(now)
        if visit.start <= now:
            raise InThePast(f"{visit.start.isoformat()} is not in the future")
        if visit.start < now + self.minimum_notice:
            raise TooShortNotice(
                f"bookings need {self.minimum_notice} notice; {visit.start.isoformat()} is sooner"
            )
        if visit.start > now + self.booking_horizon:
            raise BeyondHorizon(
                f"bookings open {self.booking_horizon} ahead; {visit.start.isoformat()} is later"
            )
        self.visit_length(visit.duration)
        for day in self.local_days(visit):
            for segment in self.working_segments(day):
                if segment.contains(visit):
                    if (visit.start - segment.start) % self.slot_length:
                        raise OffGrid(
                            f"{visit.start.isoformat()} is not on the {self.slot_length} grid "
                            f"starting {segment.start.isoformat()}"
                        )
                    return
        raise OutsideAvailability(f"{visit.start.isoformat()} is outside the doctor's hours")


def _on(windows: Iterable[LocalWindow], day: date, zone_name: str) -> list[TimeRange]:
    return [r for window in windows if (r := window.on(day, zone_name)) is not None]


def _subtract(base: TimeRange, holes: Iterable[TimeRange]) -> list[TimeRange]:
    pieces = [base]
    for hole in holes:
        pieces = [part for piece in pieces for part in piece.minus(hole)]
    return pieces


def _subtract_all(bases: Iterable[TimeRange], holes: list[TimeRange]) -> list[TimeRange]:
    return [part for base in bases for part in _subtract(base, holes)]


# -- one place at a time ---------------------------------------------------------------------

_DAY_MINUTES = 24 * 60


def _minutes(window: LocalWindow) -> tuple[int, int]:
    """``window`` as minutes since midnight, ``[start, end)``; an end of 00:00 is 24:00."""
    start = window.start.hour * 60 + window.start.minute
    end = window.end.hour * 60 + window.end.minute
    return start, _DAY_MINUTES if window.end == MIDNIGHT else end


def _without(
    spans: list[tuple[int, int]], holes: Iterable[tuple[int, int]]
) -> list[tuple[int, int]]:
    for hole_start, hole_end in holes:
        spans = [
            piece
            for start, end in spans
            for piece in ((start, min(end, hole_start)), (max(start, hole_end), end))
            if piece[0] < piece[1]
        ]
    return spans


def _refuse_two_places_at_once(
    weekly: Iterable[WorkingDay], extra_hours: Iterable[ExtraHours]
) -> None:
    """A doctor is at one place at a time: windows (breaks taken out) of one weekday, or of
    one date's extra hours and that weekday's, may not overlap when they name different
    hospitals (or one names a hospital and the other none). Wall-clock minutes are compared:
    a day's wall clock maps to its instants in order, so windows apart on the wall are apart
    in time."""
    Placed = list[tuple[HospitalId | None, tuple[int, int]]]
    by_weekday: dict[int, Placed] = {}
    for working_day in weekly:
        breaks = [_minutes(b) for b in working_day.breaks]
        hours = _without([_minutes(h) for h in working_day.hours], breaks)
        by_weekday.setdefault(working_day.weekday, []).extend(
            (working_day.hospital_id, span) for span in hours
        )
    by_date: dict[date, Placed] = {}
    for extra in extra_hours:
        by_date.setdefault(extra.day, []).append((extra.hospital_id, _minutes(extra.window)))
    checks: list[tuple[str, Placed]] = [
        (Weekday(weekday).name.lower(), placed) for weekday, placed in by_weekday.items()
    ]
    checks.extend(
        (day.isoformat(), [*by_weekday.get(day.weekday(), []), *placed])
        for day, placed in by_date.items()
    )
    for when, placed in checks:
        for index, (site, (start, end)) in enumerate(placed):
            for other_site, (other_start, other_end) in placed[index + 1 :]:
                if site != other_site and start < other_end and other_start < end:
                    where = ", ".join(str(s) if s else "no hospital" for s in (site, other_site))
                    raise InvalidValue(
                        f"a doctor is at one place at a time: {when}'s windows at {where} overlap"
                    )
