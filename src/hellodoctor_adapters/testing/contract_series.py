"""The recurring series contract (issue 17): a series' occurrences are written all or none, a
refusal lists every date that cannot be had, the rest of a series can be cancelled, one
occurrence rescheduled without leaving its series, and a weekly 10:00 stays 10:00 local across
a daylight-saving change; every storage keeps the series id and finds a series by it.

Part of ``UnitOfWorkContract``; needs only ``uow_factory``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.testing.fixtures import appointment, doctor, every_day, patient
from hellodoctor_domain.errors import NotFound, SeriesConflict, SlotUnavailable
from hellodoctor_domain.model.appointment import AppointmentStatus
from hellodoctor_domain.model.recurrence import Recurrence
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    DoctorId,
    Money,
    PatientId,
    SeriesId,
    UserId,
)
from hellodoctor_domain.ports.scheduling import AppointmentQuery
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.scheduling import BookingRequest, Scheduling
from hellodoctor_domain.use_cases.series import TAKEN, SeriesBooking, SeriesRequest

ADMIN = Actor.admin(UserId("admin"))
P1 = Actor.patient(PatientId("p1"))
# Tuesdays from 2030-03-05; the clocks of Europe/London go forward on Sunday 2030-03-31.
FIRST_TUESDAY = date(2030, 3, 5)
OPENING = datetime(2030, 3, 1, 6, tzinfo=UTC)
LONDON = "Europe/London"


def _office(
    uow_factory: UnitOfWorkFactory, zone: str = "UTC", fee: Money | None = None
) -> tuple[Scheduling, SeriesBooking]:
    clock = ManualClock(OPENING)
    scheduling = Scheduling(uow_factory, clock, SequentialIds("apt"), OfflinePaymentGateway())
    series = SeriesBooking(uow_factory, clock, SequentialIds("series"), scheduling)
    scheduling.register_doctor(ADMIN, doctor("d1", fee, zone=zone))
    scheduling.define_availability(ADMIN, every_day(DoctorId("d1"), zone))
    for key in ("p1", "p2"):
        scheduling.register_patient(patient(key))
    return scheduling, series


def _weekly(count: int = 8, patient_key: str = "p1") -> SeriesRequest:
    return SeriesRequest(
        doctor_id=DoctorId("d1"),
        patient_id=PatientId(patient_key),
        first_day=FIRST_TUESDAY,
        at=time(10),
        recurrence=Recurrence.weekly(1, count),
    )


def _tuesday(week: int, hour: int = 10) -> datetime:
    return datetime.combine(FIRST_TUESDAY + timedelta(weeks=week), time(hour), UTC)


class SeriesStorageContract:
    def test_a_weekly_series_is_booked_whole_and_found_by_its_id(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        _, booking = _office(uow_factory)
        booked = booking.book(P1, _weekly(8))
        assert [a.time.start for a in booked.occurrences] == [_tuesday(w) for w in range(8)]
        read = booking.series(P1, booked.id)
        assert [a.id for a in read.occurrences] == [a.id for a in booked.occurrences]
        assert {a.series_id for a in read.occurrences} == {booked.id}
        assert {a.status for a in read.occurrences} == {AppointmentStatus.BOOKED}
        with uow_factory() as uow:
            page = uow.appointments.search(AppointmentQuery(series_id=booked.id, limit=3))
            assert [a.id for a in page] == [a.id for a in booked.occurrences[:3]]
        with pytest.raises(NotFound):  # not a party: the series does not exist for them
            booking.series(Actor.patient(PatientId("p2")), booked.id)
        with pytest.raises(NotFound):
            booking.series(ADMIN, SeriesId("no-such-series"))

    def test_a_refusal_lists_every_taken_date_and_writes_nothing(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        scheduling, booking = _office(uow_factory)
        p2 = Actor.patient(PatientId("p2"))
        for week in (2, 5):  # the doctor is busy these weeks
            scheduling.book(
                p2,
                BookingRequest(
                    doctor_id=DoctorId("d1"), patient_id=PatientId("p2"), start=_tuesday(week)
                ),
            )
        with uow_factory() as uow:
            before = len(uow.appointments.search(AppointmentQuery(limit=200)))
        with pytest.raises(SeriesConflict) as refused:
            booking.book(P1, _weekly(8))
        assert refused.value.refusals == ((_tuesday(2), TAKEN), (_tuesday(5), TAKEN))
        with uow_factory() as uow:
            assert len(uow.appointments.search(AppointmentQuery(limit=200))) == before
        # A series partly outside the doctor's hours names those dates and the rule broken.
        late = SeriesRequest(
            doctor_id=DoctorId("d1"),
            patient_id=PatientId("p1"),
            first_day=FIRST_TUESDAY,
            at=time(17, 30),
            recurrence=Recurrence.parse("FREQ=DAILY;COUNT=3"),
            length=timedelta(hours=1),
        )
        with pytest.raises(SeriesConflict) as outside:
            booking.book(P1, late)
        assert [reason for _, reason in outside.value.refusals] == ["outside-availability"] * 3

    def test_occurrences_written_together_commit_all_or_none(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        _office(uow_factory)
        with uow_factory() as uow:
            uow.appointments.add(appointment("taken", _tuesday(2), patient_key="p2"))
            uow.commit()
        # The storage is the last word: the third write of one transaction collides.
        with pytest.raises(SlotUnavailable), uow_factory() as uow:
            for week in range(4):
                uow.appointments.add(appointment(f"s{week}", _tuesday(week)))
            uow.commit()
        with uow_factory() as uow:
            assert uow.appointments.for_patient(PatientId("p1")) == []
        # Nothing of the refused set still holds a time (MongoDB released every claim).
        with uow_factory() as uow:
            for week in (0, 1, 3):
                uow.appointments.add(appointment(f"other{week}", _tuesday(week), patient_key="p2"))
            uow.commit()

    def test_cancelling_the_rest_frees_those_times_and_keeps_the_earlier_ones(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        scheduling, booking = _office(uow_factory)
        booked = booking.book(P1, _weekly(6))
        third = booked.occurrences[2]
        cancelled = booking.cancel_from(P1, booked.id, third.id, "moving away")
        assert [a.id for a in cancelled] == [a.id for a in booked.occurrences[2:]]
        after = booking.series(P1, booked.id).occurrences
        assert [a.status for a in after] == [AppointmentStatus.BOOKED] * 2 + [
            AppointmentStatus.CANCELLED
        ] * 4
        # The freed weeks are bookable again; cancelling the rest again changes nothing.
        scheduling.book(
            Actor.patient(PatientId("p2")),
            BookingRequest(
                doctor_id=DoctorId("d1"), patient_id=PatientId("p2"), start=third.time.start
            ),
        )
        assert booking.cancel_from(P1, booked.id, third.id) == []
        with pytest.raises(NotFound):
            booking.cancel_from(P1, booked.id, AppointmentId("not-in-it"))

    def test_one_occurrence_rescheduled_or_cancelled_stays_in_its_series(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        scheduling, booking = _office(uow_factory)
        booked = booking.book(P1, _weekly(3))
        second, third = booked.occurrences[1], booked.occurrences[2]
        moved = scheduling.reschedule(P1, second.id, _tuesday(1, hour=14))
        scheduling.cancel(P1, third.id)
        assert moved.series_id == booked.id
        read = booking.series(P1, booked.id).occurrences
        assert [(a.time.start, a.status) for a in read] == [
            (_tuesday(0), AppointmentStatus.BOOKED),
            (_tuesday(1, hour=14), AppointmentStatus.BOOKED),
            (_tuesday(2), AppointmentStatus.CANCELLED),
        ]

    def test_a_weekly_series_keeps_ten_oclock_london_time_across_the_clocks_going_forward(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        _, booking = _office(uow_factory, zone=LONDON, fee=Money(4000, "GBP"))
        request = SeriesRequest(
            doctor_id=DoctorId("d1"),
            patient_id=PatientId("p1"),
            first_day=date(2030, 3, 19),
            at=time(10),
            recurrence=Recurrence.parse("FREQ=WEEKLY;BYDAY=TU;UNTIL=20300409"),
        )
        booked = booking.book(ADMIN, request)
        stored = booking.series(ADMIN, booked.id).occurrences
        local = [a.time.start.astimezone(ZoneInfo(LONDON)) for a in stored]
        assert [(t.date(), t.time()) for t in local] == [
            (date(2030, 3, 19), time(10)),
            (date(2030, 3, 26), time(10)),
            (date(2030, 4, 2), time(10)),
            (date(2030, 4, 9), time(10)),
        ]
        # 10:00 GMT, then 10:00 BST (09:00 UTC) after the last Sunday of March.
        assert [a.time.start.hour for a in stored] == [10, 10, 9, 9]
        # A fee: every occurrence is an ordinary hold, paid on its own.
        assert {(a.status, a.price) for a in stored} == {
            (AppointmentStatus.HELD, Money(4000, "GBP"))
        }
