"""Reviews after a real visit: the patient of a completed appointment reviews it once, within
the review window; the doctor answers once; a platform admin hides a review, saying why (the
hiding is kept on the review and recorded as an event: the audit trail). Anyone reads a
doctor's visible reviews and rating; hidden ones stay visible to their author, the doctor and
admins. Each write changes the doctor's rating in the same unit of work."""

from __future__ import annotations

from datetime import timedelta

from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.reviews import REVIEW_WINDOW, DoctorRating, Review
from hellodoctor_domain.model.values import Actor, AppointmentId, DoctorId, ReviewId, Role
from hellodoctor_domain.ports.reviews import ReviewCursor
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory


class Reviews:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        window: timedelta = REVIEW_WINDOW,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._window = window

    def write(self, actor: Actor, appointment_id: AppointmentId, rating: int, text: str) -> Review:
        with self._uow() as uow:
            appointment = uow.appointments.get(appointment_id)
            review = Review.write(
                ReviewId(f"rev-{self._ids.new_id()}"),
                appointment,
                actor,
                rating,
                text,
                self._clock.now(),
                self._window,
            )
            uow.reviews.add(review)  # AlreadyExists: this visit was reviewed already
            uow.ratings.add(review)
            uow.commit()
        return review

    def get(self, actor: Actor | None, review_id: ReviewId) -> Review:
        with self._uow() as uow:
            review = uow.reviews.get(review_id)
        if not review.visible_to(actor):
            raise NotFound(f"no review {review_id}")
        return review

    def answer(self, actor: Actor, review_id: ReviewId, text: str) -> Review:
        with self._uow() as uow:
            review = self._visible(uow.reviews.get(review_id), actor)
            review.answer(actor, text, self._clock.now())
            uow.reviews.update(review)
            uow.commit()
        return review

    def hide(self, actor: Actor, review_id: ReviewId, reason: str) -> Review:
        with self._uow() as uow:
            review = self._visible(uow.reviews.get(review_id), actor)
            review.hide(actor, reason, self._clock.now())
            uow.reviews.update(review)
            uow.ratings.withdraw(review)
            uow.commit()
        return review

    def of_doctor(
        self,
        actor: Actor | None,
        doctor_id: DoctorId,
        limit: int,
        before: ReviewCursor | None = None,
    ) -> tuple[list[Review], DoctorRating]:
        """A page of the doctor's reviews (newest first) and the rating. Admins and the doctor
        also see the hidden ones."""
        include_hidden = actor is not None and (
            actor.role is Role.ADMIN or actor.doctor_id == doctor_id
        )
        with self._uow() as uow:
            uow.doctors.get(doctor_id)  # NotFound for an unknown doctor
            reviews = uow.reviews.of_doctor(
                doctor_id, include_hidden=include_hidden, limit=limit, before=before
            )
            rating = uow.ratings.ratings([doctor_id])[doctor_id]
        return reviews, rating

    def ratings(self, doctor_ids: list[DoctorId]) -> dict[DoctorId, DoctorRating]:
        with self._uow() as uow:
            return uow.ratings.ratings(doctor_ids)

    @staticmethod
    def _visible(review: Review, actor: Actor) -> Review:
        if not review.visible_to(actor):
            raise NotFound(f"no review {review.id}")
        return review
