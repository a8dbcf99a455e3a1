"""Analytics of appointments: per local day of a report's time zone and per status, counted by
the storage (never by loading appointments here), and the rates derived from those counts.

Days are the caller's zone's calendar days, each turned into its UTC bounds here, so a day of
23 or 25 hours (daylight saving) counts exactly the visits that start on it; the storage only
buckets by those bounds.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta

from attrs import define

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.appointment import AppointmentStatus
from hellodoctor_domain.model.payments import PaymentMethod
from hellodoctor_domain.model.values import DoctorId, time_zone

MAX_REPORT_DAYS = 366


@define(frozen=True)
class LocalDay:
    """A calendar day of a time zone, as the UTC instants it starts and ends at."""

    day: date
    start: datetime
    end: datetime


def local_days(first: date, last: date, zone: str) -> tuple[LocalDay, ...]:
    """Each day from ``first`` to ``last`` (both included) in ``zone``."""
    if last < first:
        raise InvalidValue("a report's last day comes before its first")
    if (last - first).days + 1 > MAX_REPORT_DAYS:
        raise InvalidValue(f"a report covers at most {MAX_REPORT_DAYS} days")
    where = time_zone(zone)

    def midnight(day: date) -> datetime:
        return datetime.combine(day, time(0), where).astimezone(UTC)

    days = [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
    return tuple(LocalDay(d, midnight(d), midnight(d + timedelta(days=1))) for d in days)


@define(frozen=True)
class StatusCount:
    """How many appointments starting on ``day`` have ``status``, and the sum of their lead
    times (from being booked to their start) in whole seconds."""

    day: date
    status: AppointmentStatus
    count: int
    lead_seconds: int


@define(frozen=True)
class PatientMix:
    """Patients with a visit in the period: seen for the first time in it, or seen before."""

    new: int = 0
    returning: int = 0


# Visits that were asked for: a hold that lapsed unpaid was never a booking.
_REQUESTED = frozenset(AppointmentStatus) - {AppointmentStatus.EXPIRED}


@define(frozen=True)
class AppointmentReport:
    zone: str
    days: tuple[LocalDay, ...]
    counts: tuple[StatusCount, ...]
    patients: PatientMix

    def on(self, day: date) -> dict[AppointmentStatus, int]:
        return {c.status: c.count for c in self.counts if c.day == day}

    def total(self, statuses: Collection[AppointmentStatus]) -> int:
        return sum(c.count for c in self.counts if c.status in statuses)

    @property
    def cancellation_rate(self) -> float | None:
        """Cancelled among the visits asked for (lapsed holds left out)."""
        return _ratio(self.total({AppointmentStatus.CANCELLED}), self.total(_REQUESTED))

    @property
    def no_show_rate(self) -> float | None:
        """No-shows among the visits that came due (completed or missed)."""
        missed = self.total({AppointmentStatus.NO_SHOW})
        return _ratio(missed, missed + self.total({AppointmentStatus.COMPLETED}))

    @property
    def mean_lead_minutes(self) -> float | None:
        """How long before the visit it was booked, on average (lapsed holds left out)."""
        asked = [c for c in self.counts if c.status in _REQUESTED]
        count = sum(c.count for c in asked)
        return None if count == 0 else round(sum(c.lead_seconds for c in asked) / count / 60, 1)


@define(frozen=True)
class RevenueLine:
    """Money for visits on one local day, by payment method and currency, in minor units:
    ``gross`` taken (by when the payment succeeded), ``refunded`` (by when each refund was
    recorded), so a day's net may be negative when refunds outweigh new payments."""

    day: date
    method: PaymentMethod
    currency: str
    gross: int
    refunded: int

    @property
    def net(self) -> int:
        return self.gross - self.refunded


@define(frozen=True)
class RevenueReport:
    zone: str
    days: tuple[LocalDay, ...]
    lines: tuple[RevenueLine, ...]

    def totals(self) -> dict[str, tuple[int, int]]:
        """Per currency: (gross, refunded)."""
        found: dict[str, tuple[int, int]] = {}
        for line in self.lines:
            gross, refunded = found.get(line.currency, (0, 0))
            found[line.currency] = (gross + line.gross, refunded + line.refunded)
        return dict(sorted(found.items()))


def revenue_lines(
    gross: Collection[tuple[date, PaymentMethod, str, int]],
    refunded: Collection[tuple[date, PaymentMethod, str, int]],
) -> tuple[RevenueLine, ...]:
    """Lines from a storage's two sums (payments taken, refunds recorded), merged by key."""
    amounts: dict[tuple[date, PaymentMethod, str], list[int]] = {}
    for index, sums in enumerate((gross, refunded)):
        for day, method, currency, minor_units in sums:
            amounts.setdefault((day, method, currency), [0, 0])[index] += minor_units
    return tuple(
        RevenueLine(day, method, currency, taken, back)
        for (day, method, currency), (taken, back) in sorted(amounts.items())
    )


# Statuses whose visits took the doctor's time: still to come, seen, or missed by the patient.
# A hold is not (yet) a booking, and cancelled or lapsed visits freed their time.
BOOKED_STATUSES = frozenset(
    {AppointmentStatus.BOOKED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW}
)


def available_seconds(
    segments: Iterable[tuple[datetime, datetime]], days: Sequence[LocalDay]
) -> dict[date, int]:
    """Per report day, the seconds of ``segments`` (a doctor's working stretches, UTC) lying
    within that day's bounds; days without any are left out."""
    found: dict[date, int] = {}
    ends = [day.end for day in days]
    for start, end in segments:
        # The first day ending after the segment starts, then on while days start before it ends.
        for day in days[bisect_right(ends, start) :]:
            if day.start >= end:
                break
            overlap = (min(end, day.end) - max(start, day.start)).total_seconds()
            if overlap > 0:
                found[day.day] = found.get(day.day, 0) + int(overlap)
    return found


@define(frozen=True)
class UtilisationLine:
    """One doctor's day: minutes booked (visits of ``BOOKED_STATUSES`` starting that day,
    their length) over minutes available (working hours less breaks and time off, in the
    doctor's own zone, that fall within the report's day)."""

    day: date
    doctor_id: DoctorId
    booked_minutes: int
    available_minutes: int

    @property
    def utilisation(self) -> float | None:
        return _ratio(self.booked_minutes, self.available_minutes)


@define(frozen=True)
class UtilisationReport:
    zone: str
    days: tuple[LocalDay, ...]
    lines: tuple[UtilisationLine, ...]

    def on(self, day: date) -> tuple[int, int]:
        """(booked, available) minutes of every doctor in the report on ``day``."""
        lines = [line for line in self.lines if line.day == day]
        return sum(x.booked_minutes for x in lines), sum(x.available_minutes for x in lines)

    def total(self) -> tuple[int, int]:
        """(booked, available) minutes over the whole report."""
        return (
            sum(line.booked_minutes for line in self.lines),
            sum(line.available_minutes for line in self.lines),
        )

    @property
    def utilisation(self) -> float | None:
        return _ratio(*self.total())


def utilisation_lines(
    booked: Collection[tuple[DoctorId, date, int]],
    available: Mapping[DoctorId, Mapping[date, int]],
) -> tuple[UtilisationLine, ...]:
    """Lines from the storage's booked seconds per doctor and day and the domain's available
    seconds, merged by key (whole minutes, rounded down)."""
    seconds: dict[tuple[date, str], list[int]] = {}  # keyed by plain values: fast to hash
    # The ids given are reused, not rebuilt per line: a new validated ``DoctorId`` for each of
    # a platform month's 30,000 lines was a sixth of that report's time at 10^6 appointments.
    ids: dict[str, DoctorId] = {}
    for doctor, day, taken in booked:
        ids.setdefault(doctor.value, doctor)
        seconds.setdefault((day, doctor.value), [0, 0])[0] += taken
    for doctor, by_day in available.items():
        ids.setdefault(doctor.value, doctor)
        for day, free in by_day.items():
            seconds.setdefault((day, doctor.value), [0, 0])[1] += free
    return tuple(
        UtilisationLine(day, ids[doctor], taken // 60, free // 60)
        for (day, doctor), (taken, free) in sorted(seconds.items())
    )


def _ratio(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


__all__ = [
    "BOOKED_STATUSES",
    "MAX_REPORT_DAYS",
    "AppointmentReport",
    "LocalDay",
    "PatientMix",
    "RevenueLine",
    "RevenueReport",
    "StatusCount",
    "UtilisationLine",
    "UtilisationReport",
    "available_seconds",
    "local_days",
    "revenue_lines",
    "utilisation_lines",
]
