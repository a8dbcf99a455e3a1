"""Reviews after a real visit: the patient of a completed appointment reviews it once, within
the review window (422 ``review-not-allowed`` otherwise, 409 ``already-exists`` the second
time); the doctor answers once; an admin hides a review, saying why. Anyone reads a doctor's
visible reviews and rating; the doctor and admins see the hidden ones too. The text is plain
text: JSON carries it as written, and the portal escapes it."""

from __future__ import annotations

from typing import Any

import falcon

from hellodoctor_domain.model.reviews import (
    HIGHEST_RATING,
    LOWEST_RATING,
    MAX_HIDING_REASON,
    MAX_REPLY_TEXT,
    MAX_REVIEW_TEXT,
    DoctorRating,
    Review,
)
from hellodoctor_domain.model.values import AppointmentId, DoctorId, ReviewId
from hellodoctor_http.api import Resource
from hellodoctor_http.api.values import iso
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import integer, request_body, text
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    CURSOR_PARAM,
    DATETIME,
    STRING,
    Operation,
    Route,
    answer,
    integer_query,
    path_param,
    ref,
)
from hellodoctor_http.params import QueryReader, encode_cursor

# -- requests -------------------------------------------------------------------------------


@request_body
class ReviewBody:
    rating: int = integer(LOWEST_RATING, HIGHEST_RATING)
    text: str = text(MAX_REVIEW_TEXT, default="", description="Plain text, shown escaped.")


@request_body
class ReplyBody:
    text: str = text(MAX_REPLY_TEXT)


@request_body
class HideBody:
    reason: str = text(MAX_HIDING_REASON)


# -- answers --------------------------------------------------------------------------------


def rating_json(rating: DoctorRating) -> dict[str, Any]:
    return {"average": rating.average, "count": rating.count}


def review_json(review: Review) -> dict[str, Any]:
    return {
        "id": review.id.value,
        "appointment_id": review.appointment_id.value,
        "doctor_id": review.doctor_id.value,
        "rating": review.rating,
        "text": review.text,
        "written_at": iso(review.written_at),
        "reply": None
        if review.reply is None
        else {"text": review.reply.text, "at": iso(review.reply.at)},
        "hidden": None
        if review.hiding is None
        else {"reason": review.hiding.reason, "at": iso(review.hiding.at)},
    }


_NULLABLE_TEXT = {"type": ["string", "null"]}
SCHEMAS: dict[str, Any] = {
    "Rating": answer(
        average={"type": ["number", "null"], "description": "Null until the first review."},
        count={"type": "integer", "minimum": 0},
    ),
    "ReviewReply": answer(text=STRING, at=DATETIME),
    "ReviewHiding": answer(reason=STRING, at=DATETIME),
    "Review": answer(
        id=STRING,
        appointment_id=STRING,
        doctor_id=STRING,
        rating={"type": "integer", "minimum": LOWEST_RATING, "maximum": HIGHEST_RATING},
        text=STRING,
        written_at=DATETIME,
        reply={"oneOf": [{"type": "null"}, ref("ReviewReply")]},
        hidden={"oneOf": [{"type": "null"}, ref("ReviewHiding")]},
    ),
    "ReviewPage": answer(
        items={"type": "array", "items": ref("Review")},
        rating=ref("Rating"),
        next_cursor={**_NULLABLE_TEXT, "description": "Pass as ?cursor= for the next page."},
    ),
}

# -- resources ------------------------------------------------------------------------------


class AppointmentReview(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, appointment_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, ReviewBody)
        review = self.components.reviews.write(
            actor, AppointmentId(appointment_id), body.rating, body.text
        )
        resp.location = f"{API}/reviews/{review.id.value}"
        write_json(resp, review_json(review), status=201)


class ReviewItem(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, review_id: str) -> None:
        review = self.components.reviews.get(req.context.actor, ReviewId(review_id))
        write_json(resp, review_json(review))


class ReviewReplyResource(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, review_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, ReplyBody)
        write_json(
            resp, review_json(self.components.reviews.answer(actor, ReviewId(review_id), body.text))
        )


class ReviewHide(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, review_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, HideBody)
        write_json(
            resp, review_json(self.components.reviews.hide(actor, ReviewId(review_id), body.reason))
        )


_PAGE_PARAMS = (CURSOR_PARAM, integer_query("limit", 1, 100, 20))


class DoctorReviews(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        params = QueryReader(req, _PAGE_PARAMS)
        limit = params.count("limit")
        position = params.keyset("before")
        params.done()
        before = None if position is None else (position[0], ReviewId(position[1]))
        found, rating = self.components.reviews.of_doctor(
            req.context.actor, DoctorId(doctor_id), limit + 1, before
        )
        shown = found[:limit]
        last = shown[-1] if shown else None
        write_json(
            resp,
            {
                "items": [review_json(review) for review in shown],
                "rating": rating_json(rating),
                "next_cursor": encode_cursor({"before": [iso(last.written_at), last.id.value]})
                if last is not None and len(found) > limit
                else None,
            },
        )


# -- routes ---------------------------------------------------------------------------------

_REVIEW = path_param("review_id", "A review's id.")
ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/appointments/{{appointment_id}}/review",
        AppointmentReview,
        {
            "post": Operation(
                "Review a completed visit, once, within the review window (30 days)",
                "bearer",
                "the appointment's patient; anyone else gets 404",
                ok=201,
                response="Review",
                body=ReviewBody,
                params=(path_param("appointment_id", "An appointment's id."),),
                problems=("not-found", "review-not-allowed", "already-exists", *BODY_PROBLEMS),
                headers=("Location",),
                tag="reviews",
            )
        },
    ),
    Route(
        f"{API}/reviews/{{review_id}}",
        ReviewItem,
        {
            "get": Operation(
                "A review (a hidden one only for its patient, its doctor and admins)",
                "public",
                "anyone",
                response="Review",
                params=(_REVIEW,),
                problems=("not-found",),
                tag="reviews",
            )
        },
    ),
    Route(
        f"{API}/reviews/{{review_id}}/reply",
        ReviewReplyResource,
        {
            "post": Operation(
                "Answer a review of your visit, once",
                "bearer",
                "the reviewed doctor; anyone else gets 404",
                response="Review",
                body=ReplyBody,
                params=(_REVIEW,),
                problems=("not-found", "illegal-transition", "concurrent-update", *BODY_PROBLEMS),
                tag="reviews",
            )
        },
    ),
    Route(
        f"{API}/reviews/{{review_id}}/hide",
        ReviewHide,
        {
            "post": Operation(
                "Hide a review from the public, saying why (it stops counting in the rating)",
                "bearer",
                "admin; anyone else gets 404",
                response="Review",
                body=HideBody,
                params=(_REVIEW,),
                problems=("not-found", "illegal-transition", "concurrent-update", *BODY_PROBLEMS),
                tag="reviews",
            )
        },
    ),
    Route(
        f"{API}/doctors/{{doctor_id}}/reviews",
        DoctorReviews,
        {
            "get": Operation(
                "A doctor's reviews, newest first, and rating",
                "public",
                "anyone (the doctor and admins also see hidden ones)",
                response="ReviewPage",
                params=(path_param("doctor_id", "A doctor's id."), *_PAGE_PARAMS),
                problems=("not-found",),
                tag="reviews",
            )
        },
    ),
)
