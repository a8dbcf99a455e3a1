"""The storage port of reviews: the reviews themselves and each doctor's rating."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime

from hellodoctor_domain.model.reviews import DoctorRating, Review
from hellodoctor_domain.model.values import DoctorId, ReviewId
from hellodoctor_domain.ports.repository import EntityRepository

ReviewCursor = tuple[datetime, ReviewId]


class ReviewRepository(EntityRepository[Review, ReviewId]):
    """Reviews by id. ``add`` raises ``AlreadyExists`` for a second review of one appointment:
    a unique rule of the storage decides, so two racing reviews cannot both land."""

    def of_doctor(
        self,
        doctor_id: DoctorId,
        *,
        include_hidden: bool,
        limit: int,
        before: ReviewCursor | None = None,
    ) -> list[Review]:
        """The doctor's reviews, newest first (``written_at``, then id, both descending),
        those strictly before ``before`` in that order; hidden ones only when asked."""
        return self._all_seen(self._of_doctor(doctor_id, include_hidden, limit, before))

    @abc.abstractmethod
    def _of_doctor(
        self,
        doctor_id: DoctorId,
        include_hidden: bool,
        limit: int,
        before: ReviewCursor | None,
    ) -> Sequence[Review]: ...


class RatingLedger(abc.ABC):
    """Each doctor's count and sum of visible ratings, changed by atomic increments in the
    storage (an upsert adding to the row, ``$inc``, the lock), never a read in Python followed
    by a write, so concurrent reviews add up exactly. The change belongs to the unit of work."""

    @abc.abstractmethod
    def add(self, review: Review) -> None:
        """Count ``review`` (just written) in its doctor's rating."""

    @abc.abstractmethod
    def withdraw(self, review: Review) -> None:
        """Stop counting ``review`` (just hidden) in its doctor's rating."""

    @abc.abstractmethod
    def ratings(self, doctor_ids: Sequence[DoctorId]) -> dict[DoctorId, DoctorRating]:
        """The ratings of those doctors (zero for a doctor nobody reviewed yet)."""
