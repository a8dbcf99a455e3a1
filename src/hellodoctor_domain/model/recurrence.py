"""Recurrence rules of a series of appointments (issue 17): a small, strict subset of RFC 5545.

A series repeats a visit at one local wall-clock time on the doctor's calendar: "Tuesdays at
10:00, 8 times" (``Recurrence.weekly``) or an ``RRULE`` (``Recurrence.parse``) of

* ``FREQ=DAILY`` or ``FREQ=WEEKLY`` (required);
* ``INTERVAL=n`` (1 to 52; default 1);
* ``BYDAY=MO,WE,...`` (plain weekdays, no ordinal prefixes; for WEEKLY default: the first
  day's weekday, for DAILY: every day);
* exactly one of ``COUNT=n`` or ``UNTIL=yyyymmdd`` (also ``yyyymmddThhmmss`` local, or with a
  trailing ``Z`` for UTC); an unbounded rule is refused;
* ``WKST=MO`` only (weeks start on Monday, RFC 5545's default).

Anything else (other parts, a part twice, ``FREQ=MONTHLY``, lower case) is ``InvalidValue``
naming it: a rule we would read differently from the client's calendar is refused rather than
guessed. A series has at most ``MAX_OCCURRENCES`` (52: a year of weekly visits).

Why a hand-written parser: the domain is standard library and ``attrs`` only, and the rule
must be expanded where the doctor's zone and the project's daylight-saving reading live (the
wall time 10:00 stays 10:00 across a change; a skipped time is the instant the clocks jump,
a repeated one its first occurrence, exactly as working hours are read). ``dateutil``'s
``rrulestr`` at the HTTP edge would accept the whole RFC (BYSETPOS, HOURLY, ...) and still need
this subset checked, and would split one rule between two layers.

Occurrences are the dates the rule matches on or after the first day (``dateutil``'s reading:
a first day that does not match ``BYDAY`` is not itself an occurrence).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

from attrs import define, field

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.availability import _instant
from hellodoctor_domain.model.values import time_zone

MAX_OCCURRENCES = 52
MAX_INTERVAL = 52

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


class Frequency(enum.StrEnum):
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"


def _weekdays(_instance: object, _attribute: object, value: frozenset[int]) -> None:
    if not value or not all(isinstance(day, int) and 0 <= day <= 6 for day in value):
        raise InvalidValue("BYDAY names one or more weekdays")


@define(frozen=True, kw_only=True)
class Recurrence:
    """When a series repeats, in local dates; ``first_day``/``at`` say where it starts."""

    frequency: Frequency
    interval: int = 1
    # Weekdays, Monday 0; ``None``: every day (DAILY) or the first day's weekday (WEEKLY).
    by_day: frozenset[int] | None = field(default=None)
    count: int | None = None
    # The last local moment an occurrence may start at (inclusive).
    until: datetime | None = None

    def __attrs_post_init__(self) -> None:
        if not 1 <= self.interval <= MAX_INTERVAL:
            raise InvalidValue(f"INTERVAL is 1 to {MAX_INTERVAL}")
        if self.by_day is not None:
            _weekdays(self, None, self.by_day)
        if (self.count is None) == (self.until is None):
            raise InvalidValue("a series needs exactly one of COUNT or UNTIL")
        if self.count is not None and not 1 <= self.count <= MAX_OCCURRENCES:
            raise InvalidValue(f"COUNT is 1 to {MAX_OCCURRENCES}")
        if self.until is not None and self.until.tzinfo is not None:
            raise InvalidValue("UNTIL is a local wall-clock moment")

    @classmethod
    def weekly(cls, weekday: int, count: int) -> Recurrence:
        """Every week on ``weekday`` (Monday 0), ``count`` times."""
        return cls(frequency=Frequency.WEEKLY, by_day=frozenset({weekday}), count=count)

    @classmethod
    def parse(cls, text: str, zone_name: str = "UTC") -> Recurrence:
        """Read an ``RRULE`` of the subset above (``RRULE:`` prefix optional). A ``UTC``
        ``UNTIL`` is turned into the doctor's local time (``zone_name``)."""
        if not isinstance(text, str):
            raise InvalidValue("a recurrence rule is text")
        body = text.strip()
        if body.startswith("RRULE:"):
            body = body[len("RRULE:") :]
        parts: dict[str, str] = {}
        for item in body.split(";"):
            name, sep, value = item.partition("=")
            if not sep or not value:
                raise InvalidValue(f"RRULE part {item!r} is not NAME=value")
            if name in parts:
                raise InvalidValue(f"RRULE names {name} twice")
            parts[name] = value
        unknown = set(parts) - {"FREQ", "INTERVAL", "BYDAY", "COUNT", "UNTIL", "WKST"}
        if unknown:
            raise InvalidValue(f"RRULE part(s) not supported: {', '.join(sorted(unknown))}")
        if parts.get("WKST", "MO") != "MO":
            raise InvalidValue("only WKST=MO is supported")
        try:
            frequency = Frequency(parts.get("FREQ", ""))
        except ValueError:
            raise InvalidValue("FREQ is DAILY or WEEKLY") from None
        by_day = None
        if "BYDAY" in parts:
            names = parts["BYDAY"].split(",")
            if len(set(names)) != len(names) or not all(name in WEEKDAYS for name in names):
                raise InvalidValue("BYDAY lists distinct weekdays MO,TU,WE,TH,FR,SA,SU")
            by_day = frozenset(WEEKDAYS.index(name) for name in names)
        interval = _number(parts, "INTERVAL", 1)
        assert interval is not None
        return cls(
            frequency=frequency,
            interval=interval,
            by_day=by_day,
            count=_number(parts, "COUNT", None),
            until=_until(parts["UNTIL"], zone_name) if "UNTIL" in parts else None,
        )

    def as_rrule(self) -> str:
        """The rule in RFC 5545 form (``UNTIL`` as a local date-time)."""
        parts = [f"FREQ={self.frequency.value}"]
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.by_day is not None:
            parts.append("BYDAY=" + ",".join(WEEKDAYS[day] for day in sorted(self.by_day)))
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if self.until is not None:
            parts.append(f"UNTIL={self.until.strftime('%Y%m%dT%H%M%S')}")
        return ";".join(parts)

    # -- expansion -------------------------------------------------------------------------

    def local_starts(self, first_day: date, at: time) -> list[datetime]:
        """Every occurrence as a naive local wall-clock date-time, in order. More than
        ``MAX_OCCURRENCES`` is ``InvalidValue`` (never silently cut short)."""
        starts: list[datetime] = []
        for day in self._days(first_day):
            start = datetime.combine(day, at.replace(tzinfo=None, fold=0))
            if self.until is not None and start > self.until:
                break
            if len(starts) == MAX_OCCURRENCES:
                raise InvalidValue(f"a series has at most {MAX_OCCURRENCES} occurrences")
            starts.append(start)
            if self.count is not None and len(starts) == self.count:
                break
        if not starts:
            raise InvalidValue("the rule has no occurrence on or after the first day")
        return starts

    def starts(self, first_day: date, at: time, zone_name: str) -> list[datetime]:
        """Every occurrence as a UTC instant: each local date at ``at`` in the zone, read like
        working hours (a skipped time is the instant the clocks jump; a repeated one its first
        occurrence), so 10:00 stays 10:00 local across daylight-saving changes."""
        zone = time_zone(zone_name)
        return [_instant(start, zone) for start in self.local_starts(first_day, at)]

    def _days(self, first_day: date) -> Iterator[date]:
        # Bounded: at most MAX_OCCURRENCES + 1 matches are needed, at most 7 days per step.
        limit = first_day + timedelta(days=7 * MAX_INTERVAL * (MAX_OCCURRENCES + 2))
        if self.frequency is Frequency.DAILY:
            day = first_day
            while day <= limit:
                if self.by_day is None or day.weekday() in self.by_day:
                    yield day
                day += timedelta(days=self.interval)
            return
        weekdays = sorted(self.by_day if self.by_day is not None else {first_day.weekday()})
        monday = first_day - timedelta(days=first_day.weekday())
        while monday <= limit:
            for weekday in weekdays:
                day = monday + timedelta(days=weekday)
                if day >= first_day:
                    yield day
            monday += timedelta(weeks=self.interval)


_DIGITS = re.compile(r"[0-9]{1,3}")
_UNTIL = re.compile(r"([0-9]{8})(?:T([0-9]{6})(Z?))?")


def _number(parts: dict[str, str], name: str, default: int | None) -> int | None:
    if name not in parts:
        return default
    if not _DIGITS.fullmatch(parts[name]):
        raise InvalidValue(f"{name} is a whole number")
    return int(parts[name])


def _until(value: str, zone_name: str) -> datetime:
    matched = _UNTIL.fullmatch(value)
    if matched is None:
        raise InvalidValue("UNTIL is yyyymmdd or yyyymmddThhmmss[Z]")
    day, clock, in_utc = matched.groups()
    digits = day + (clock or "235959")
    try:
        moment = datetime.combine(
            date(int(digits[:4]), int(digits[4:6]), int(digits[6:8])),
            time(int(digits[8:10]), int(digits[10:12]), int(digits[12:14])),
        )
    except ValueError:
        raise InvalidValue(f"UNTIL {value} is not a date") from None
    if in_utc:
        try:
            local = moment.replace(tzinfo=UTC).astimezone(time_zone(zone_name))
        except OverflowError:
            raise InvalidValue(f"UNTIL {value} is out of range") from None
        moment = local.replace(tzinfo=None)
    return moment


__all__ = ["MAX_OCCURRENCES", "WEEKDAYS", "Frequency", "Recurrence"]
