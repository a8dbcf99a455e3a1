"""Reviews and ratings over the in-memory store (the reference adapter). The unit of work
holds the store's lock throughout, so the one-review-per-visit check and its insert, and each
rating's read and write, are single atomic steps here."""

from __future__ import annotations

from collections.abc import Sequence

from attrs import evolve

from hellodoctor_adapters.memory.store import _Journalled
from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError, NotFound
from hellodoctor_domain.model.reviews import DoctorRating, Review
from hellodoctor_domain.model.values import DoctorId, ReviewId
from hellodoctor_domain.ports.reviews import RatingLedger, ReviewCursor, ReviewRepository


class InMemoryReviewRepository(_Journalled, ReviewRepository):
    def _add(self, review: Review) -> None:
        table = self._store.reviews
        if review.id in table:
            raise AlreadyExists(f"review {review.id} exists")
        if any(r.appointment_id == review.appointment_id for r in table.values()):
            raise AlreadyExists(f"appointment {review.appointment_id} was reviewed already")
        self._put(table, review.id, evolve(review, version=1))

    def _get(self, review_id: ReviewId) -> Review:
        try:
            return evolve(self._store.reviews[review_id])
        except KeyError:
            raise NotFound(f"no review {review_id}") from None

    def _update(self, review: Review) -> None:
        stored = self._store.reviews.get(review.id)
        if stored is None:
            raise NotFound(f"no review {review.id}")
        if stored.version != review.version:
            raise ConcurrencyError(f"review {review.id} changed since it was read")
        self._put(self._store.reviews, review.id, evolve(review, version=review.version + 1))

    def _of_doctor(
        self,
        doctor_id: DoctorId,
        include_hidden: bool,
        limit: int,
        before: ReviewCursor | None,
    ) -> Sequence[Review]:
        mine = [
            r
            for r in self._store.reviews.values()
            if r.doctor_id == doctor_id
            and (include_hidden or r.visible)
            and (before is None or (r.written_at, r.id) < before)
        ]
        mine.sort(key=lambda r: (r.written_at, r.id), reverse=True)
        return [evolve(r) for r in mine[:limit]]


class InMemoryRatingLedger(_Journalled, RatingLedger):
    def add(self, review: Review) -> None:
        self._move(review.doctor_id, 1, review.rating)

    def withdraw(self, review: Review) -> None:
        self._move(review.doctor_id, -1, -review.rating)

    def ratings(self, doctor_ids: Sequence[DoctorId]) -> dict[DoctorId, DoctorRating]:
        table = self._store.ratings
        return {d: table.get(d, DoctorRating(d)) for d in doctor_ids}

    def _move(self, doctor_id: DoctorId, count: int, total: int) -> None:
        now = self._store.ratings.get(doctor_id, DoctorRating(doctor_id))
        changed = evolve(now, count=now.count + count, total=now.total + total)
        self._put(self._store.ratings, doctor_id, changed)
