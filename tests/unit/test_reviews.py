"""The review rules of the domain: who may review which visit, when, and what."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hellodoctor_adapters.testing.fixtures import MONDAY, appointment
from hellodoctor_domain.errors import (
    IllegalStateChange,
    InvalidValue,
    NotFound,
    ReviewNotAllowed,
)
from hellodoctor_domain.model.appointment import AppointmentStatus
from hellodoctor_domain.model.reviews import REVIEW_WINDOW, DoctorRating, Review
from hellodoctor_domain.model.values import Actor, DoctorId, PatientId, ReviewId, UserId

VISIT = appointment("a1", MONDAY, status=AppointmentStatus.COMPLETED)
END = VISIT.time.end
OWNER = Actor.patient(PatientId("p1"))


def write(
    actor: Actor = OWNER, rating: int = 4, text: str = "", now: object = None, visit: object = None
) -> Review:
    return Review.write(
        ReviewId("r1"),
        visit or VISIT,  # type: ignore[arg-type]
        actor,
        rating,
        text,
        now or END + timedelta(hours=1),  # type: ignore[arg-type]
    )


def test_the_patient_of_a_completed_visit_reviews_it_and_an_event_is_recorded() -> None:
    review = write(text=" Good ")
    assert (review.rating, review.text, review.doctor_id) == (4, "Good", DoctorId("d1"))
    assert [type(e).__name__ for e in review.events] == ["ReviewWritten"]


@pytest.mark.parametrize(
    "actor",
    [
        Actor.patient(PatientId("p2")),
        Actor.doctor(DoctorId("d1")),
        Actor.admin(UserId("admin")),
    ],
    ids=["another patient", "the doctor", "an admin"],
)
def test_nobody_else_may_review_and_the_visit_does_not_exist_for_them(actor: Actor) -> None:
    with pytest.raises(NotFound):
        write(actor)


@pytest.mark.parametrize(
    "status", [s for s in AppointmentStatus if s is not AppointmentStatus.COMPLETED]
)
def test_only_a_completed_visit_can_be_reviewed(status: AppointmentStatus) -> None:
    with pytest.raises(ReviewNotAllowed):
        write(visit=appointment("a1", MONDAY, status=status))


def test_the_window_closes_after_the_configured_days() -> None:
    write(now=END + REVIEW_WINDOW)  # the last moment still counts
    with pytest.raises(ReviewNotAllowed):
        write(now=END + REVIEW_WINDOW + timedelta(microseconds=1))


@pytest.mark.parametrize("rating", [0, 6, -1, True])
def test_a_rating_is_a_whole_number_from_one_to_five(rating: int) -> None:
    with pytest.raises(InvalidValue):
        write(rating=rating)


@pytest.mark.parametrize("text", ["x" * 2001, "nul\x00", "bell\x07"])
def test_the_text_is_bounded_plain_text(text: str) -> None:
    with pytest.raises(InvalidValue):
        write(text=text)


def test_the_doctor_answers_once_and_only_the_doctor() -> None:
    review = write()
    with pytest.raises(NotFound):
        review.answer(Actor.doctor(DoctorId("d2")), "Thanks", END)
    review.answer(Actor.doctor(DoctorId("d1")), "Thanks", END)
    with pytest.raises(IllegalStateChange):
        review.answer(Actor.doctor(DoctorId("d1")), "Again", END)


def test_only_an_admin_hides_saying_why_and_the_author_still_sees_it() -> None:
    review = write()
    admin = Actor.admin(UserId("admin"))
    with pytest.raises(NotFound):
        review.hide(OWNER, "mine", END)
    with pytest.raises(InvalidValue):
        review.hide(admin, "  ", END)
    review.hide(admin, "abusive", END)
    assert not review.visible
    assert review.visible_to(OWNER)
    assert review.visible_to(Actor.doctor(DoctorId("d1")))
    assert not review.visible_to(Actor.patient(PatientId("p2")))
    assert not review.visible_to(None)
    with pytest.raises(IllegalStateChange):
        review.hide(admin, "again", END)


def test_the_average_is_derived_from_integer_sums() -> None:
    assert DoctorRating(DoctorId("d1")).average is None
    assert DoctorRating(DoctorId("d1"), 3, 13).average == 4.33
