"""The RRULE subset of a recurring series (issue 17): strict parsing, expansion in local dates,
and the wall-clock time kept across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.recurrence import MAX_OCCURRENCES, Frequency, Recurrence


def _days(rule: str, first: date) -> list[date]:
    return [start.date() for start in Recurrence.parse(rule).local_starts(first, time(10))]


def test_weekly_on_tuesdays_eight_times() -> None:
    starts = Recurrence.weekly(1, 8).local_starts(date(2026, 12, 1), time(10))
    assert [s.date() for s in starts] == [date(2026, 12, 1 + 7 * k) for k in range(5)] + [
        date(2027, 1, 5),
        date(2027, 1, 12),
        date(2027, 1, 19),
    ]
    assert {s.time() for s in starts} == {time(10)}


@pytest.mark.parametrize(
    ("rule", "first", "expected"),
    [
        # Mondays and Thursdays every other week; the first day (a Wednesday) is no occurrence.
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;COUNT=4",
            date(2026, 12, 2),
            [date(2026, 12, 3), date(2026, 12, 14), date(2026, 12, 17), date(2026, 12, 28)],
        ),
        (
            "RRULE:FREQ=DAILY;INTERVAL=3;COUNT=3",
            date(2026, 12, 30),
            [date(2026, 12, 30), date(2027, 1, 2), date(2027, 1, 5)],
        ),
        # Weekdays only, until a date (inclusive, the whole day).
        (
            "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;UNTIL=20261208",
            date(2026, 12, 4),
            [date(2026, 12, 4), date(2026, 12, 7), date(2026, 12, 8)],
        ),
        # WEEKLY without BYDAY repeats the first day's weekday.
        ("FREQ=WEEKLY;COUNT=2;WKST=MO", date(2026, 12, 2), [date(2026, 12, 2), date(2026, 12, 9)]),
    ],
)
def test_rules_expand_to_local_dates(rule: str, first: date, expected: list[date]) -> None:
    assert _days(rule, first) == expected


def test_until_with_a_time_stops_before_a_later_start() -> None:
    assert _days("FREQ=DAILY;UNTIL=20261203T095959", date(2026, 12, 1)) == [
        date(2026, 12, 1),
        date(2026, 12, 2),
    ]


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=MONTHLY;COUNT=2",
        "FREQ=DAILY",  # unbounded
        "FREQ=DAILY;COUNT=2;UNTIL=20270101",  # both
        "FREQ=DAILY;COUNT=0",
        f"FREQ=DAILY;COUNT={MAX_OCCURRENCES + 1}",
        "FREQ=DAILY;COUNT=2;COUNT=3",
        "FREQ=WEEKLY;BYDAY=1MO;COUNT=2",
        "FREQ=WEEKLY;BYDAY=MO,MO;COUNT=2",
        "FREQ=WEEKLY;BYSETPOS=1;COUNT=2",
        "FREQ=WEEKLY;WKST=SU;COUNT=2",
        "freq=daily;count=2",
        "FREQ=DAILY;INTERVAL=0;COUNT=2",
        "FREQ=DAILY;UNTIL=20270230",
        "FREQ=DAILY;UNTIL=00010101T000000Z",  # before the calendar begins, in New York
        "FREQ=DAILY;UNTIL=99991231T235959Z",
        "FREQ=DAILY;COUNT=-1",
        "FREQ=DAILY;;COUNT=1",
        "",
    ],
)
def test_anything_outside_the_subset_is_refused(rule: str) -> None:
    with pytest.raises(InvalidValue):
        Recurrence.parse(rule, "Asia/Tokyo" if "9999" in rule else "America/New_York")


def test_an_until_rule_longer_than_the_maximum_is_refused_not_cut_short() -> None:
    rule = Recurrence.parse("FREQ=DAILY;UNTIL=20301231")
    with pytest.raises(InvalidValue):
        rule.local_starts(date(2026, 12, 1), time(10))


def test_a_rule_with_no_occurrence_is_refused() -> None:
    with pytest.raises(InvalidValue):
        Recurrence.parse("FREQ=DAILY;UNTIL=20261130").local_starts(date(2026, 12, 1), time(10))


def test_round_trip_through_rrule_text() -> None:
    rule = Recurrence.parse("FREQ=WEEKLY;INTERVAL=2;BYDAY=TH,MO;COUNT=4")
    assert rule.as_rrule() == "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;COUNT=4"
    assert Recurrence.parse(rule.as_rrule()) == rule
    assert rule.frequency is Frequency.WEEKLY


def test_a_utc_until_is_read_in_the_doctors_zone() -> None:
    # 09:30 UTC on 2 December is 10:30 in Paris: a 10:00 visit that day is still inside.
    rule = Recurrence.parse("FREQ=DAILY;UNTIL=20261202T093000Z", "Europe/Paris")
    assert rule.until == datetime(2026, 12, 2, 10, 30)
    assert len(rule.local_starts(date(2026, 12, 1), time(10))) == 2


@pytest.mark.parametrize(
    ("zone", "first", "utc_hours"),
    [
        # The clocks go forward on the last Sunday of March (29 March 2026) in London.
        ("Europe/London", date(2026, 3, 17), [10, 10, 9, 9]),
        # And back on the last Sunday of October (25 October 2026).
        ("Europe/London", date(2026, 10, 13), [9, 9, 10, 10]),
        # New York: forward on 8 March 2026.
        ("America/New_York", date(2026, 2, 24), [15, 15, 14, 14]),
    ],
)
def test_ten_oclock_stays_ten_oclock_local_across_daylight_saving(
    zone: str, first: date, utc_hours: list[int]
) -> None:
    starts = Recurrence.weekly(first.weekday(), 4).starts(first, time(10), zone)
    assert [s.hour for s in starts] == utc_hours
    assert all(s.tzinfo is UTC for s in starts)
    assert {s.astimezone(ZoneInfo(zone)).time() for s in starts} == {time(10)}


def test_a_time_the_clocks_skip_is_the_instant_they_jump() -> None:
    # 01:30 does not exist in London on 29 March 2026: read as 02:00 BST (01:00 UTC).
    starts = Recurrence.parse("FREQ=DAILY;COUNT=2").starts(
        date(2026, 3, 29), time(1, 30), "Europe/London"
    )
    assert starts == [
        datetime(2026, 3, 29, 1, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
    ]
