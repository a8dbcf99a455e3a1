"""The reviews contract: a review round-trips, a visit is reviewed at most once however many
reviews race, a doctor's rating adds up exactly under concurrent reviews and follows hiding,
and a doctor's reviews page newest first by keyset.

Part of ``UnitOfWorkContract``; needs only ``uow_factory``.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from hellodoctor_adapters.memory.services import ManualClock, SequentialIds
from hellodoctor_adapters.testing.fixtures import MONDAY, appointment, seed, state_of
from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError
from hellodoctor_domain.model.appointment import AppointmentStatus
from hellodoctor_domain.model.reviews import DoctorRating
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    DoctorId,
    PatientId,
    UserId,
)
from hellodoctor_domain.ports.search import DoctorSearch, SearchSort
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.reviews import Reviews

D1 = DoctorId("d1")
ADMIN = Actor.admin(UserId("admin-1"))
VISITS = 8  # completed visits v1..v8, one a day, each of its own patient p1..p8


def patient(index: int) -> Actor:
    return Actor.patient(PatientId(f"p{index}"))


def visited(uow_factory: UnitOfWorkFactory, clock: ManualClock) -> Reviews:
    seed(uow_factory, doctors=2, patients=VISITS)
    with uow_factory() as uow:
        for index in range(1, VISITS + 1):
            uow.appointments.add(
                appointment(
                    f"v{index}",
                    MONDAY + timedelta(days=index, hours=9),
                    patient_key=f"p{index}",
                    status=AppointmentStatus.COMPLETED,
                )
            )
        uow.commit()
    return Reviews(uow_factory, clock, SequentialIds("r"))


class ReviewStorageContract:
    @pytest.fixture
    def review_clock(self) -> ManualClock:
        return ManualClock(MONDAY + timedelta(days=VISITS + 1))

    @pytest.fixture
    def reviews(self, uow_factory: UnitOfWorkFactory, review_clock: ManualClock) -> Reviews:
        return visited(uow_factory, review_clock)

    def test_a_review_round_trips_with_its_reply_and_hiding(
        self, reviews: Reviews, uow_factory: UnitOfWorkFactory
    ) -> None:
        written = reviews.write(patient(1), AppointmentId("v1"), 4, "  Kind and on time.\n ")
        reviews.answer(Actor.doctor(D1), written.id, "Thank you!")
        hidden = reviews.hide(ADMIN, written.id, "names another patient")
        with uow_factory() as uow:
            read = uow.reviews.get(written.id)
        assert state_of(read) == state_of(hidden)
        assert read.text == "Kind and on time."
        assert read.reply is not None
        assert read.reply.text == "Thank you!"
        assert read.hiding is not None
        assert read.hiding.by == ADMIN.user_id
        assert read.version == 3

    def test_a_stale_review_update_is_refused(
        self, reviews: Reviews, uow_factory: UnitOfWorkFactory
    ) -> None:
        written = reviews.write(patient(1), AppointmentId("v1"), 5, "")
        with uow_factory() as uow:
            stale = uow.reviews.get(written.id)
        reviews.answer(Actor.doctor(D1), written.id, "Thanks")
        with pytest.raises(ConcurrencyError), uow_factory() as uow:
            uow.reviews.update(stale)
            uow.commit()

    def test_racing_reviews_of_one_visit_store_one_and_count_once(
        self, reviews: Reviews, uow_factory: UnitOfWorkFactory
    ) -> None:
        threads = 8
        barrier = threading.Barrier(threads)

        def write(rating: int) -> str:
            barrier.wait()
            try:
                reviews.write(patient(2), AppointmentId("v2"), rating, "")
            except AlreadyExists:
                return "refused"
            return "stored"

        with ThreadPoolExecutor(threads) as pool:
            outcomes = list(pool.map(write, [1 + i % 5 for i in range(threads)]))
        assert outcomes.count("stored") == 1
        page, rating = reviews.of_doctor(None, D1, limit=10)
        assert len(page) == 1
        assert (rating.count, rating.total) == (1, page[0].rating)

    def test_concurrent_reviews_keep_the_rating_exact(
        self, reviews: Reviews, uow_factory: UnitOfWorkFactory
    ) -> None:
        barrier = threading.Barrier(VISITS)
        ratings = [1 + index % 5 for index in range(VISITS)]

        def write(index: int) -> None:
            barrier.wait()
            reviews.write(patient(index + 1), AppointmentId(f"v{index + 1}"), ratings[index], "")

        with ThreadPoolExecutor(VISITS) as pool:
            list(pool.map(write, range(VISITS)))
        assert reviews.ratings([D1, DoctorId("d2")]) == {
            D1: DoctorRating(D1, VISITS, sum(ratings)),
            DoctorId("d2"): DoctorRating(DoctorId("d2")),
        }
        # The search's stored average (what the rating sort's index holds) is exact too.
        exact = sum(ratings) / VISITS
        assert _by_rating(uow_factory, exact) == [(D1, exact)]
        assert _by_rating(uow_factory, math.nextafter(exact, 6.0)) == []

    def test_hiding_moves_the_searched_average(
        self, reviews: Reviews, uow_factory: UnitOfWorkFactory
    ) -> None:
        first = reviews.write(patient(1), AppointmentId("v1"), 1, "")
        reviews.write(patient(2), AppointmentId("v2"), 4, "")
        assert _by_rating(uow_factory, 0.0) == [(D1, 2.5), (DoctorId("d2"), 0.0)]
        assert _by_rating(uow_factory, 3.0) == []
        reviews.hide(ADMIN, first.id, "abusive")
        assert _by_rating(uow_factory, 0.0) == [(D1, 4.0), (DoctorId("d2"), 0.0)]
        assert _by_rating(uow_factory, 3.0) == [(D1, 4.0)]

    def test_hiding_withdraws_the_review_from_the_rating_and_the_public_page(
        self, reviews: Reviews
    ) -> None:
        first = reviews.write(patient(1), AppointmentId("v1"), 1, "")
        reviews.write(patient(2), AppointmentId("v2"), 5, "")
        reviews.hide(ADMIN, first.id, "abusive")
        public, rating = reviews.of_doctor(None, D1, limit=10)
        assert [r.rating for r in public] == [5]
        assert (rating.count, rating.total, rating.average) == (1, 5, 5.0)
        own, _ = reviews.of_doctor(Actor.doctor(D1), D1, limit=10)
        assert [r.id for r in own] == [r.id for r in reviews.of_doctor(ADMIN, D1, limit=10)[0]]
        assert len(own) == 2

    def test_a_doctors_reviews_page_newest_first_by_keyset(
        self, reviews: Reviews, review_clock: ManualClock
    ) -> None:
        written = []
        for index in range(1, 6):
            written.append(reviews.write(patient(index), AppointmentId(f"v{index}"), 3, ""))
            review_clock.advance(timedelta(minutes=1))
        first, _ = reviews.of_doctor(None, D1, limit=2)
        assert [r.id for r in first] == [written[4].id, written[3].id]
        cursor = (first[-1].written_at, first[-1].id)
        second, _ = reviews.of_doctor(None, D1, limit=10, before=cursor)
        assert [r.id for r in second] == [w.id for w in reversed(written[:3])]


def _by_rating(uow_factory: UnitOfWorkFactory, at_least: float) -> list[tuple[DoctorId, float]]:
    """Doctors rated at least ``at_least``, by the search's rating sort: (id, average)."""
    query = DoctorSearch(min_rating=at_least, sort=SearchSort.RATING)
    with uow_factory() as uow:
        hits = uow.directory.search(query, MONDAY)
    return [(hit.doctor.id, hit.average) for hit in hits]
