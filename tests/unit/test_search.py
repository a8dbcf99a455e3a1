"""The doctor search's use case: the next free slot summary follows the slot listing, the
worker's refresh finds the stale ones, places become doctor sets, and pages follow on."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from attrs import evolve

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory, ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.testing.fixtures import MONDAY, appointment, every_day, seed
from hellodoctor_domain import Scheduling
from hellodoctor_domain.errors import InvalidValue, NotFound
from hellodoctor_domain.model.values import DoctorId, HospitalId
from hellodoctor_domain.ports.search import DoctorSearch, SearchSort
from hellodoctor_domain.use_cases.search import DoctorFinder, Place, distance_km

D1, D2 = DoctorId("d1"), DoctorId("d2")


@pytest.fixture
def world() -> tuple[InMemoryUnitOfWorkFactory, ManualClock, DoctorFinder]:
    storage = InMemoryUnitOfWorkFactory()
    clock = ManualClock(MONDAY + timedelta(hours=7))
    seed(storage, doctors=2)
    with storage() as uow:
        uow.availability.save(every_day(D1, opens=time(9), closes=time(10)))
        uow.commit()
    scheduling = Scheduling(storage, clock, SequentialIds("a"), OfflinePaymentGateway())
    return storage, clock, DoctorFinder(storage, clock, scheduling)


def test_the_summary_is_the_first_free_slot_and_moves_with_bookings(
    world: tuple[InMemoryUnitOfWorkFactory, ManualClock, DoctorFinder],
) -> None:
    storage, clock, finder = world
    first = finder.refresh_doctor(D1)
    assert first.next_free == MONDAY + timedelta(hours=9)
    assert date(2030, 1, 7) in first.free_days
    assert len(first.free_days) == 30
    with storage() as uow:  # 09:00-10:00 taken on Monday: the next is Tuesday 09:00
        uow.appointments.add(appointment("x1", MONDAY + timedelta(hours=9), 60))
        uow.commit()
    clock.advance(timedelta(minutes=1))
    moved = finder.refresh_doctor(D1)
    assert moved.next_free == MONDAY + timedelta(days=1, hours=9)
    assert date(2030, 1, 7) not in moved.free_days
    assert finder.refresh_doctor(D2).next_free is None  # no working hours


def test_the_worker_refreshes_missing_passed_and_old_summaries(
    world: tuple[InMemoryUnitOfWorkFactory, ManualClock, DoctorFinder],
) -> None:
    _storage, clock, finder = world
    assert finder.refresh_free_slots() == 2  # none had a summary
    assert finder.refresh_free_slots() == 0
    clock.advance(timedelta(hours=2, minutes=1))  # d1's 09:00 passed; d2's is 2 hours old
    assert finder.refresh_free_slots() == 2


def test_search_filters_by_free_day_and_within_days(
    world: tuple[InMemoryUnitOfWorkFactory, ManualClock, DoctorFinder],
) -> None:
    _storage, _clock, finder = world
    finder.refresh_free_slots()
    soon = finder.search(DoctorSearch(free_within_days=1, sort=SearchSort.EARLIEST))
    assert [h.doctor.id for h in soon.hits] == [D1]
    assert soon.hits[0].next_free == MONDAY + timedelta(hours=9)
    assert [h.doctor.id for h in finder.search(DoctorSearch(free_on=date(2030, 1, 8))).hits] == [D1]
    assert finder.search(DoctorSearch(free_on=date(2030, 3, 8))).hits == []
    with pytest.raises(InvalidValue):
        finder.search(DoctorSearch(free_within_days=31))


def test_pages_follow_on_by_cursor(
    world: tuple[InMemoryUnitOfWorkFactory, ManualClock, DoctorFinder],
) -> None:
    _storage, _clock, finder = world
    page = finder.search(DoctorSearch(limit=1, sort=SearchSort.FEE))
    assert [h.doctor.id for h in page.hits] == [D1]
    assert page.next_after == (0, "d1")
    rest = finder.search(DoctorSearch(limit=1, sort=SearchSort.FEE, after=page.next_after))
    assert [h.doctor.id for h in rest.hits] == [D2]
    assert rest.next_after is None


def test_places_become_doctors_and_an_unknown_hospital_is_not_found(
    world: tuple[InMemoryUnitOfWorkFactory, ManualClock, DoctorFinder],
) -> None:
    _storage, _clock, finder = world
    with pytest.raises(NotFound):
        finder.search(DoctorSearch(), Place(hospital_id=HospitalId("nowhere")))
    nobody = finder.search(DoctorSearch(), Place(latitude=0.0, longitude=0.0, radius_km=10))
    assert nobody.hits == []
    with pytest.raises(InvalidValue):
        Place(latitude=1.0)
    assert distance_km(18.52, 73.86, 19.08, 72.88) == pytest.approx(119, abs=3)  # Pune-Mumbai
    assert evolve(DoctorSearch(text="Cardio-logy!"), limit=3).text == "cardio logy"
