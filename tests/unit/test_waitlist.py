"""The waitlist entry (issue 17 item 1): which visits it waits for, in the doctor's wall-clock
time (daylight-saving days included), and its state machine."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hellodoctor_domain.errors import IllegalTransition, InvalidValue
from hellodoctor_domain.model.values import AppointmentId, DoctorId, PatientId, TimeRange
from hellodoctor_domain.model.waitlist import (
    DayPart,
    WaitlistEntry,
    WaitlistEntryId,
    WaitlistStatus,
)

NOW = datetime(2030, 3, 1, 6, tzinfo=UTC)


def morning(first: date, last: date) -> WaitlistEntry:
    start, end = DayPart.MORNING.minutes
    return WaitlistEntry(
        id=WaitlistEntryId("w1"),
        patient_id=PatientId("p1"),
        doctor_id=DoctorId("d1"),
        first_day=first,
        last_day=last,
        window_start=start,
        window_end=end,
        joined_at=NOW,
    )


def visit(start: datetime, minutes: int = 30) -> TimeRange:
    return TimeRange.starting_at(start, timedelta(minutes=minutes))


def test_a_visit_matches_in_the_doctors_wall_clock_time_across_daylight_saving() -> None:
    # London springs forward on 31 March 2030: 11:30 local is 10:30Z that day, 11:30Z the day
    # before. Both are morning visits there; 11:45 local for 30 minutes runs past noon.
    entry = morning(date(2030, 3, 30), date(2030, 3, 31))
    london = "Europe/London"
    assert entry.matches(visit(datetime(2030, 3, 31, 10, 30, tzinfo=UTC)), london)
    assert entry.matches(visit(datetime(2030, 3, 30, 11, 30, tzinfo=UTC)), london)
    assert not entry.matches(visit(datetime(2030, 3, 31, 11, 30, tzinfo=UTC)), london)  # 12:30
    assert not entry.matches(visit(datetime(2030, 3, 31, 10, 45, tzinfo=UTC)), london)  # to 12:15
    assert not entry.matches(visit(datetime(2030, 4, 1, 9, tzinfo=UTC)), london)  # a day after
    # 05:30Z on the 31st is 06:30 in London but 22:30 the day before in Los Angeles.
    assert not entry.matches(visit(datetime(2030, 3, 31, 5, 30, tzinfo=UTC)), "America/Los_Angeles")


def test_an_entry_moves_through_its_states_once() -> None:
    entry = morning(date(2030, 3, 2), date(2030, 3, 4))
    with pytest.raises(IllegalTransition):
        entry.accept(NOW)
    entry.offer(
        AppointmentId("a1"), visit(NOW + timedelta(days=1)), NOW + timedelta(minutes=15), NOW
    )
    assert entry.status is WaitlistStatus.OFFERED
    assert not entry.offer_lapsed(NOW + timedelta(minutes=14))
    assert entry.offer_lapsed(NOW + timedelta(minutes=15))
    with pytest.raises(IllegalTransition):
        entry.offer(AppointmentId("a2"), visit(NOW), NOW, NOW)  # one offer at a time
    entry.decline(NOW)
    assert (entry.status, entry.closed_at) == (WaitlistStatus.DECLINED, NOW)
    for step in (entry.accept, entry.decline, entry.lapse, entry.leave):
        with pytest.raises(IllegalTransition):
            step(NOW)


@pytest.mark.parametrize(
    ("first", "last", "window"),
    [
        (date(2030, 3, 5), date(2030, 3, 4), (360, 720)),  # ends before it starts
        (date(2030, 3, 1), date(2030, 7, 1), (360, 720)),  # longer than 92 days
        (date(2030, 3, 1), date(2030, 3, 2), (720, 720)),  # an empty window
        (date(2030, 3, 1), date(2030, 3, 2), (0, 1441)),  # past the end of the day
    ],
)
def test_nonsense_entries_are_refused(first: date, last: date, window: tuple[int, int]) -> None:
    with pytest.raises(InvalidValue):
        WaitlistEntry(
            id=WaitlistEntryId("w1"),
            patient_id=PatientId("p1"),
            doctor_id=DoctorId("d1"),
            first_day=first,
            last_day=last,
            window_start=window[0],
            window_end=window[1],
            joined_at=NOW,
        )
