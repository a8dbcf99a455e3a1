"""The report's derived figures and its day bounds, from the counts a storage returns."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.analytics import (
    AppointmentReport,
    PatientMix,
    StatusCount,
    local_days,
)
from hellodoctor_domain.model.appointment import AppointmentStatus as S

DAY = date(2030, 10, 27)  # Europe/Berlin falls back: a 25-hour day


def test_days_are_the_zones_calendar_days_in_utc() -> None:
    days = local_days(DAY - timedelta(days=1), DAY, "Europe/Berlin")
    assert days[0].start == datetime(2030, 10, 25, 22, tzinfo=UTC)  # CEST midnight
    assert days[1].start == days[0].end
    assert days[1].end - days[1].start == timedelta(hours=25)


@pytest.mark.parametrize(
    ("first", "last", "zone"),
    [
        (DAY, DAY - timedelta(days=1), "UTC"),
        (DAY, DAY + timedelta(days=366), "UTC"),
        (DAY, DAY, "Nowhere/Place"),
    ],
)
def test_a_report_period_is_refused_when_it_makes_no_sense(
    first: date, last: date, zone: str
) -> None:
    with pytest.raises(InvalidValue):
        local_days(first, last, zone)


def test_rates_leave_lapsed_holds_out() -> None:
    counts = (
        StatusCount(DAY, S.COMPLETED, 6, 6 * 3600),
        StatusCount(DAY, S.NO_SHOW, 2, 2 * 3600),
        StatusCount(DAY, S.CANCELLED, 2, 2 * 7200),
        StatusCount(DAY, S.EXPIRED, 10, 10 * 60),
    )
    report = AppointmentReport("UTC", local_days(DAY, DAY, "UTC"), counts, PatientMix(3, 1))
    assert report.cancellation_rate == 0.2  # 2 of the 10 asked for
    assert report.no_show_rate == 0.25  # 2 of the 8 that came due
    assert report.mean_lead_minutes == 72.0  # (8 h + 4 h) over 10 visits
    assert report.on(DAY)[S.EXPIRED] == 10
    empty = AppointmentReport("UTC", report.days, (), PatientMix())
    assert (empty.cancellation_rate, empty.no_show_rate, empty.mean_lead_minutes) == (
        None,
        None,
        None,
    )
