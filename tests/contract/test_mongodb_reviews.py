"""A crash between a review's write and its rating's ``$inc`` on MongoDB: the worker's
housekeeping finishes the change once (never twice), and drops the journal entry of a review
whose own write never landed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from hellodoctor_adapters.memory import ManualClock
from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb.reviews import STALE_ENTRY, MongoRatingLedger
from hellodoctor_adapters.mongodb.testing import new_factory
from hellodoctor_adapters.testing.contract_reviews import ADMIN, D1, VISITS, patient, visited
from hellodoctor_adapters.testing.fixtures import MONDAY
from hellodoctor_domain.model.reviews import DoctorRating
from hellodoctor_domain.model.values import AppointmentId, DoctorId
from hellodoctor_domain.ports.search import DoctorSearch, SearchSort
from hellodoctor_domain.use_cases.reviews import Reviews


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY + timedelta(days=VISITS + 1))


@pytest.fixture
def factory(clock: ManualClock) -> Iterator[MongoUnitOfWorkFactory]:
    made = new_factory(lease=timedelta(seconds=30), clock=clock.now)
    yield made
    made.client.drop_database(made.store.database.name)
    made.close()


@pytest.fixture
def reviews(factory: MongoUnitOfWorkFactory, clock: ManualClock) -> Reviews:
    return visited(factory, clock)


def rating(reviews: Reviews) -> DoctorRating:
    return reviews.ratings([D1])[D1]


def searched(
    factory: MongoUnitOfWorkFactory, clock: ManualClock
) -> list[tuple[DoctorId, int, int]]:
    """The rating the doctor search reads (the copy on the doctor's document)."""
    with factory() as uow:
        hits = uow.directory.search(
            DoctorSearch(min_rating=1.0, sort=SearchSort.RATING), clock.now()
        )
    return [(h.doctor.id, h.rating_count, h.rating_total) for h in hits]


def test_a_rating_change_cut_short_by_a_crash_is_finished_once(
    reviews: Reviews,
    factory: MongoUnitOfWorkFactory,
    clock: ManualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reviews.write(patient(1), AppointmentId("v1"), 4, "")
    with monkeypatch.context() as crash:  # the process dies right after the commit's writes
        crash.setattr(MongoRatingLedger, "settle", lambda self: None)
        second = reviews.write(patient(2), AppointmentId("v2"), 2, "")
    assert rating(reviews) == DoctorRating(D1, 1, 4)  # lagging by the second review
    assert searched(factory, clock) == [(D1, 1, 4)]
    assert factory.housekeeping()["ratings repaired"] == 0  # too young: may be in flight
    clock.advance(STALE_ENTRY + timedelta(seconds=1))
    assert factory.housekeeping()["ratings repaired"] == 1
    assert rating(reviews) == DoctorRating(D1, 2, 6)
    assert searched(factory, clock) == [(D1, 2, 6)]  # the search's copy follows the repair
    assert factory.housekeeping()["ratings repaired"] == 0  # done: never applied twice
    assert rating(reviews) == DoctorRating(D1, 2, 6)

    with monkeypatch.context() as crash:  # and the same for hiding it
        crash.setattr(MongoRatingLedger, "settle", lambda self: None)
        reviews.hide(ADMIN, second.id, "abusive")
    clock.advance(STALE_ENTRY + timedelta(seconds=1))
    assert factory.housekeeping()["ratings repaired"] == 1
    assert rating(reviews) == DoctorRating(D1, 1, 4)


def test_the_journal_entry_of_a_review_that_never_landed_is_dropped(
    reviews: Reviews,
    factory: MongoUnitOfWorkFactory,
    clock: ManualClock,
) -> None:
    journal = factory.store.collection("rating_journal")
    journal.insert_one(
        {
            "_id": "lost",
            "review_id": "rev-never-written",
            "kind": "add",
            "doctor_id": D1.value,
            "count": 1,
            "total": 5,
            "at": clock.now(),
        }
    )
    clock.advance(STALE_ENTRY + timedelta(seconds=1))
    assert factory.housekeeping()["ratings repaired"] == 0
    assert journal.count_documents({}) == 0
    assert rating(reviews) == DoctorRating(D1)
