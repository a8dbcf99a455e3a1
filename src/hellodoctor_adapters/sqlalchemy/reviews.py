"""Reviews and ratings over SQLAlchemy Core.

The database decides every race: a second review of one visit breaks
``uq_reviews_appointment_id`` (``AlreadyExists``); a stale update fails its compare-and-set on
``version``; a rating changes by one statement that adds to the stored row (an upsert for a
new review, an ``UPDATE ... SET review_count = review_count - 1`` for a hidden one), so two
concurrent reviews both count, on PostgreSQL through the row lock, on SQLite through its single
writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, RowMapping

from hellodoctor_adapters.review_records import review_from, review_record
from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.rows import compare_and_set, first_row
from hellodoctor_adapters.sqlalchemy.schema import doctor_ratings, doctors, reviews
from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.reviews import DoctorRating, Review
from hellodoctor_domain.model.values import DoctorId, ReviewId
from hellodoctor_domain.ports.reviews import RatingLedger, ReviewCursor, ReviewRepository


def _review(row: RowMapping) -> Review:
    return review_from(row, row["record"], row["version"])


class SqlReviewRepository(ReviewRepository):
    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self._connection = connection

    def _add(self, review: Review) -> None:
        with translated_errors(), self._connection.begin_nested():
            self._connection.execute(
                sa.insert(reviews).values(
                    id=review.id.value,
                    appointment_id=review.appointment_id.value,
                    doctor_id=review.doctor_id.value,
                    patient_id=review.patient_id.value,
                    rating=review.rating,
                    text=review.text,
                    written_at=review.written_at,
                    visible=review.visible,
                    record=review_record(review),
                    version=1,
                )
            )

    def _get(self, review_id: ReviewId) -> Review:
        row = first_row(self._connection, sa.select(reviews).where(reviews.c.id == review_id.value))
        if row is None:
            raise NotFound(f"no review {review_id}")
        return _review(row)

    def _update(self, review: Review) -> None:
        compare_and_set(
            self._connection,
            reviews,
            reviews.c.id == review.id.value,
            review.version,
            {"visible": review.visible, "record": review_record(review)},
            f"review {review.id}",
        )

    def _of_doctor(
        self,
        doctor_id: DoctorId,
        include_hidden: bool,
        limit: int,
        before: ReviewCursor | None,
    ) -> Sequence[Review]:
        query = (
            sa.select(reviews)
            .where(reviews.c.doctor_id == doctor_id.value)
            .order_by(reviews.c.written_at.desc(), reviews.c.id.desc())
            .limit(limit)
        )
        if not include_hidden:
            query = query.where(reviews.c.visible.is_(True))
        if before is not None:
            query = query.where(
                sa.tuple_(reviews.c.written_at, reviews.c.id) < (before[0], before[1].value)
            )
        with translated_errors():
            return [_review(row) for row in self._connection.execute(query).mappings()]


class SqlRatingLedger(RatingLedger):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, review: Review) -> None:
        doctor_id, rating = review.doctor_id, review.rating
        insert = (
            postgresql.insert(doctor_ratings)
            if self._connection.dialect.name == "postgresql"
            else sqlite.insert(doctor_ratings)
        )
        statement = (
            insert.values(doctor_id=doctor_id.value, review_count=1, rating_total=rating)
            .on_conflict_do_update(
                index_elements=[doctor_ratings.c.doctor_id],
                set_={
                    "review_count": doctor_ratings.c.review_count + 1,
                    "rating_total": doctor_ratings.c.rating_total + rating,
                },
            )
            .returning(doctor_ratings.c.review_count, doctor_ratings.c.rating_total)
        )
        self._store_average(doctor_id, statement)

    def withdraw(self, review: Review) -> None:
        doctor_id, rating = review.doctor_id, review.rating
        statement = (
            sa.update(doctor_ratings)
            .where(doctor_ratings.c.doctor_id == doctor_id.value)
            .values(
                review_count=doctor_ratings.c.review_count - 1,
                rating_total=doctor_ratings.c.rating_total - rating,
            )
            .returning(doctor_ratings.c.review_count, doctor_ratings.c.rating_total)
        )
        self._store_average(doctor_id, statement)

    def _store_average(self, doctor_id: DoctorId, change: Any) -> None:
        """Apply ``change`` to the doctor's count and total, then write the average it leaves
        to ``doctors.rating_average`` (the rating sort's index) in the same transaction. The
        change holds the ratings row's lock, so concurrent reviews write their averages in
        the order of their totals and the last one written is the true one."""
        with translated_errors():
            row = self._connection.execute(change).one_or_none()
            count, total = (row[0], row[1]) if row is not None else (0, 0)
            self._connection.execute(
                sa.update(doctors)
                .where(doctors.c.id == doctor_id.value)
                .values(rating_average=total / count if count else 0.0)
            )

    def ratings(self, doctor_ids: Sequence[DoctorId]) -> dict[DoctorId, DoctorRating]:
        query = sa.select(doctor_ratings).where(
            doctor_ratings.c.doctor_id.in_([d.value for d in doctor_ids])
        )
        with translated_errors():
            rows = self._connection.execute(query).mappings().all()
        found = {
            DoctorId(row["doctor_id"]): DoctorRating(
                DoctorId(row["doctor_id"]), row["review_count"], row["rating_total"]
            )
            for row in rows
        }
        return {d: found.get(d, DoctorRating(d)) for d in doctor_ids}
