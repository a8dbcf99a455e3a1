"""Reviews: the patient of a completed visit rates it (1 to 5) and may say why, once, within a
window after the visit; the doctor may answer once; a platform admin may hide a review, saying
why. Only visible reviews count towards the doctor's rating (``DoctorRating``), which the
storage keeps beside the reviews in the same unit of work.

The text is kept as the patient wrote it (plain text, never HTML): whoever renders it escapes
it (the JSON API by encoding, the portal's templates by autoescaping).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from typing import ClassVar

from attrs import define

from hellodoctor_domain.errors import IllegalStateChange, InvalidValue, NotFound, ReviewNotAllowed
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.events import Aggregate, DomainEvent
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    DoctorId,
    PatientId,
    ReviewId,
    Role,
    UserId,
    utc,
)

REVIEW_WINDOW = timedelta(days=30)
MAX_REVIEW_TEXT = 2000
MAX_REPLY_TEXT = 2000
MAX_HIDING_REASON = 500
LOWEST_RATING, HIGHEST_RATING = 1, 5


def plain_text(value: str, what: str, limit: int, *, required: bool) -> str:
    """``value`` trimmed, within ``limit`` characters, free of control characters other than
    line breaks and tabs (which a reader may have typed)."""
    if not isinstance(value, str):
        raise InvalidValue(f"{what} must be text")
    text = value.strip()
    if required and not text:
        raise InvalidValue(f"{what} must not be blank")
    if len(text) > limit:
        raise InvalidValue(f"{what} is longer than {limit} characters")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise InvalidValue(f"{what} contains control characters")
    return text


@define(frozen=True)
class ReviewReply:
    text: str
    at: datetime


@define(frozen=True)
class ReviewHiding:
    """Why an admin hid the review, who and when (the audit trail of the moderation)."""

    reason: str
    by: UserId
    at: datetime


@define(frozen=True)
class DoctorRating:
    """A doctor's visible reviews: how many, and the sum of their ratings (kept as integers so
    concurrent reviews add up exactly; the average is derived)."""

    doctor_id: DoctorId
    count: int = 0
    total: int = 0

    @property
    def average(self) -> float | None:
        return None if self.count == 0 else round(self.total / self.count, 2)


@define(frozen=True, kw_only=True)
class ReviewEvent(DomainEvent):
    aggregate_type: ClassVar[str] = "review"

    review_id: ReviewId
    doctor_id: DoctorId

    @property
    def aggregate_id(self) -> str:
        return self.review_id.value


@define(frozen=True, kw_only=True)
class ReviewWritten(ReviewEvent):
    appointment_id: AppointmentId
    rating: int


@define(frozen=True, kw_only=True)
class ReviewAnswered(ReviewEvent):
    pass


@define(frozen=True, kw_only=True)
class ReviewHidden(ReviewEvent):
    by: UserId
    reason: str


@define(eq=False)
class Review(Aggregate):
    id: ReviewId
    appointment_id: AppointmentId
    doctor_id: DoctorId
    patient_id: PatientId
    rating: int
    text: str
    written_at: datetime
    reply: ReviewReply | None = None
    hiding: ReviewHiding | None = None
    version: int = 0

    @classmethod
    def write(
        cls,
        review_id: ReviewId,
        appointment: Appointment,
        by: Actor,
        rating: int,
        text: str,
        now: datetime,
        window: timedelta = REVIEW_WINDOW,
    ) -> Review:
        """The patient of ``appointment`` reviews it. Someone else's appointment does not
        exist for them (``NotFound``); one not completed, or completed more than ``window``
        ago, is refused (``ReviewNotAllowed``)."""
        if by.role is not Role.PATIENT or by.patient_id != appointment.patient_id:
            raise NotFound(f"no appointment {appointment.id}")
        if appointment.status is not AppointmentStatus.COMPLETED:
            raise ReviewNotAllowed(
                f"appointment {appointment.id} is {appointment.status}: only a completed "
                "visit can be reviewed"
            )
        if utc(now) > appointment.time.end + window:
            raise ReviewNotAllowed(
                f"reviews of appointment {appointment.id} closed {window.days} days after it"
            )
        if isinstance(rating, bool) or not isinstance(rating, int):
            raise InvalidValue("rating must be a whole number")
        if not LOWEST_RATING <= rating <= HIGHEST_RATING:
            raise InvalidValue(f"rating must be from {LOWEST_RATING} to {HIGHEST_RATING}")
        review = cls(
            review_id,
            appointment.id,
            appointment.doctor_id,
            appointment.patient_id,
            rating,
            plain_text(text, "text", MAX_REVIEW_TEXT, required=False),
            utc(now),
        )
        review.record(
            ReviewWritten(
                occurred_at=utc(now),
                review_id=review_id,
                doctor_id=review.doctor_id,
                appointment_id=appointment.id,
                rating=rating,
            )
        )
        return review

    @property
    def visible(self) -> bool:
        return self.hiding is None

    def visible_to(self, actor: Actor | None) -> bool:
        """Hidden reviews stay visible to their author, the doctor and admins."""
        if self.visible:
            return True
        if actor is None:
            return False
        return (
            actor.role is Role.ADMIN
            or actor.patient_id == self.patient_id
            or actor.doctor_id == self.doctor_id
        )

    def answer(self, by: Actor, text: str, now: datetime) -> None:
        """The reviewed doctor answers, once."""
        if by.doctor_id != self.doctor_id:
            raise NotFound(f"no review {self.id}")
        if self.reply is not None:
            raise IllegalStateChange(f"review {self.id}", "answered", "answered again")
        self.reply = ReviewReply(plain_text(text, "reply", MAX_REPLY_TEXT, required=True), utc(now))
        self.record(
            ReviewAnswered(occurred_at=utc(now), review_id=self.id, doctor_id=self.doctor_id)
        )

    def hide(self, by: Actor, reason: str, now: datetime) -> None:
        """A platform admin hides it from the public, saying why; it no longer counts towards
        the rating (the caller withdraws it from the doctor's rating in the same unit of work)."""
        if by.role is not Role.ADMIN:
            raise NotFound(f"no review {self.id}")
        if self.hiding is not None:
            raise IllegalStateChange(f"review {self.id}", "hidden", "hidden again")
        why = plain_text(reason, "reason", MAX_HIDING_REASON, required=True)
        self.hiding = ReviewHiding(why, by.user_id, utc(now))
        self.record(
            ReviewHidden(
                occurred_at=utc(now),
                review_id=self.id,
                doctor_id=self.doctor_id,
                by=by.user_id,
                reason=why,
            )
        )


__all__ = [
    "MAX_REVIEW_TEXT",
    "REVIEW_WINDOW",
    "DoctorRating",
    "Review",
    "ReviewAnswered",
    "ReviewEvent",
    "ReviewHidden",
    "ReviewHiding",
    "ReviewReply",
    "ReviewWritten",
]
