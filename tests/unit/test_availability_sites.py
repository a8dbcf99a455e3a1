"""Windows at hospitals: a doctor is at one place at a time, and a visit is at its window's
hospital."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.availability import (
    Availability,
    ExtraHours,
    LocalWindow,
    Weekday,
    WorkingDay,
)
from hellodoctor_domain.model.values import AppointmentType, DoctorId, HospitalId, TimeRange

DOCTOR = DoctorId("dr-1")
NORTH = HospitalId("hosp-north")
SOUTH = HospitalId("hosp-south")
MONDAY = date(2026, 6, 1)
SATURDAY = MONDAY + timedelta(days=5)
SLOT = timedelta(minutes=30)


def window(start: str, end: str) -> LocalWindow:
    return LocalWindow(time.fromisoformat(start), time.fromisoformat(end))


def at(day: date, clock: str, zone: str = "UTC") -> datetime:
    return datetime.combine(day, time.fromisoformat(clock), tzinfo=ZoneInfo(zone))


def rules(
    weekly: list[WorkingDay], extra: list[ExtraHours] | None = None, zone: str = "UTC"
) -> Availability:
    return Availability(DOCTOR, zone, weekly, extra_hours=extra or [])


def visit(day: date, clock: str, zone: str = "UTC") -> TimeRange:
    return TimeRange.starting_at(at(day, clock, zone), SLOT)


def test_overlapping_windows_at_two_hospitals_on_one_weekday_are_refused() -> None:
    with pytest.raises(InvalidValue, match="one place at a time"):
        rules(
            [
                WorkingDay(Weekday.MONDAY, [window("09:00", "13:00")], hospital_id=NORTH),
                WorkingDay(Weekday.MONDAY, [window("12:00", "17:00")], hospital_id=SOUTH),
            ]
        )


def test_a_window_at_a_hospital_may_not_overlap_one_naming_none() -> None:
    with pytest.raises(InvalidValue, match="one place at a time"):
        rules(
            [
                WorkingDay(Weekday.MONDAY, [window("09:00", "13:00")], hospital_id=NORTH),
                WorkingDay(Weekday.MONDAY, [window("09:30", "10:00")]),
            ]
        )


def test_extra_hours_at_another_hospital_may_not_overlap_that_weekday() -> None:
    weekly = [WorkingDay(Weekday.SATURDAY, [window("09:00", "12:00")], hospital_id=NORTH)]
    with pytest.raises(InvalidValue, match="one place at a time"):
        rules(weekly, [ExtraHours(SATURDAY, window("11:30", "14:00"), SOUTH)])
    with pytest.raises(InvalidValue, match="one place at a time"):
        rules(
            [],
            [
                ExtraHours(SATURDAY, window("18:00", "00:00"), NORTH),
                ExtraHours(SATURDAY, window("23:00", "23:30"), SOUTH),
            ],
        )
    # The same date's extra hours at the same hospital are simply more time there.
    assert rules(weekly, [ExtraHours(SATURDAY, window("11:00", "14:00"), NORTH)]).sites(
        SATURDAY
    ) == ((NORTH, TimeRange(at(SATURDAY, "09:00"), at(SATURDAY, "14:00"))),)


def test_windows_at_two_hospitals_may_touch_or_use_the_others_break() -> None:
    found = rules(
        [
            WorkingDay(
                Weekday.MONDAY,
                [window("09:00", "17:00")],
                breaks=[window("12:00", "14:00")],
                hospital_id=NORTH,
            ),
            WorkingDay(Weekday.MONDAY, [window("12:00", "14:00")], hospital_id=SOUTH),
            WorkingDay(Weekday.MONDAY, [window("17:00", "19:00")]),
        ]
    )
    assert found.sites(MONDAY) == (
        (NORTH, TimeRange(at(MONDAY, "09:00"), at(MONDAY, "12:00"))),
        (SOUTH, TimeRange(at(MONDAY, "12:00"), at(MONDAY, "14:00"))),
        (NORTH, TimeRange(at(MONDAY, "14:00"), at(MONDAY, "17:00"))),
        (None, TimeRange(at(MONDAY, "17:00"), at(MONDAY, "19:00"))),
    )
    # Touching windows at two places are not merged: a visit may not straddle them.
    assert found.hospitals == {NORTH, SOUTH}
    assert found.hospital_at(TimeRange(at(MONDAY, "11:30"), at(MONDAY, "12:30"))) is None
    assert found.hospital_at(visit(MONDAY, "12:30")) == SOUTH
    assert found.hospital_at(visit(MONDAY, "16:30")) == NORTH
    assert found.hospital_at(visit(MONDAY, "18:00")) is None


def test_the_same_weekday_at_one_place_on_another_weekday_is_no_conflict() -> None:
    found = rules(
        [
            WorkingDay(Weekday.MONDAY, [window("09:00", "17:00")], hospital_id=NORTH),
            WorkingDay(Weekday.TUESDAY, [window("09:00", "17:00")], hospital_id=SOUTH),
        ]
    )
    assert found.hospital_at(visit(MONDAY, "09:00")) == NORTH
    assert found.hospital_at(visit(MONDAY + timedelta(days=1), "09:00")) == SOUTH


def test_a_visit_is_at_its_windows_hospital_and_telemedicine_at_none() -> None:
    found = rules([WorkingDay(Weekday.MONDAY, [window("09:00", "17:00")], hospital_id=NORTH)])
    assert found.site_of(visit(MONDAY, "10:00"), AppointmentType.IN_PERSON) == NORTH
    assert found.site_of(visit(MONDAY, "10:00"), AppointmentType.TELEMEDICINE) is None


def test_sites_on_a_daylight_saving_day_keep_their_hospital() -> None:
    # Spring forward in New York (8 March 2026): 02:00-03:00 does not exist.
    sunday = date(2026, 3, 8)
    zone = "America/New_York"
    found = rules(
        [
            WorkingDay(Weekday.SUNDAY, [window("01:00", "03:30")], hospital_id=NORTH),
            WorkingDay(Weekday.SUNDAY, [window("03:30", "05:00")], hospital_id=SOUTH),
        ],
        zone=zone,
    )
    assert found.sites(sunday) == (
        (NORTH, TimeRange(at(sunday, "01:00", zone), at(sunday, "03:30", zone))),
        (SOUTH, TimeRange(at(sunday, "03:30", zone), at(sunday, "05:00", zone))),
    )
    assert found.sites(sunday)[0][1].duration == timedelta(hours=1, minutes=30)
    assert found.hospital_at(visit(sunday, "03:00", zone)) == NORTH
    assert found.hospital_at(visit(sunday, "04:00", zone)) == SOUTH
