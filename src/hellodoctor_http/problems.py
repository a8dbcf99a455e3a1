"""Every error as ``application/problem+json`` (RFC 9457) with a stable ``type`` URI.

The catalogue below is the single list of problem types: the error handlers use it, and the
OpenAPI document publishes it. A client switches on ``type``, never on ``title`` or ``detail``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import falcon
from attrs import define, field

from hellodoctor_domain import errors
from hellodoctor_http.jsoncodec import dump_json

_log = logging.getLogger("hellodoctor.http")

PROBLEM_BASE = "https://hellodoctor.dev/problems/"
PROBLEM_JSON = "application/problem+json"


@define(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    # What the client may do about it, published in the OpenAPI document.
    description: str = ""

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.slug


def _catalogue(*types: ProblemType) -> dict[str, ProblemType]:
    return {problem.slug: problem for problem in types}


PROBLEMS = _catalogue(
    ProblemType("malformed-body", 400, "The body is not valid JSON"),
    ProblemType("bad-request", 400, "The request cannot be understood"),
    ProblemType(
        "unauthorized",
        401,
        "Authentication is required",
        "Send a valid, unexpired bearer token in the Authorization header.",
    ),
    ProblemType("access-denied", 403, "You may not do this"),
    ProblemType(
        "not-found", 404, "No such resource", "Also the answer for resources that are not yours."
    ),
    ProblemType("method-not-allowed", 405, "This method is not allowed here"),
    ProblemType("not-acceptable", 406, "No acceptable representation"),
    ProblemType("slot-unavailable", 409, "The time is taken", "Pick another free slot."),
    ProblemType("illegal-transition", 409, "The appointment cannot do that in its state"),
    ProblemType("hold-expired", 409, "The hold lapsed; the time has been released"),
    ProblemType("cancellation-not-allowed", 409, "The cancellation policy refuses this"),
    ProblemType(
        "time-off-collides",
        409,
        "The time off covers booked appointments",
        "errors lists each; ask again with cancel_bookings to cancel them (full refunds).",
    ),
    ProblemType(
        "series-conflict",
        409,
        "Some occurrences of the series cannot be booked, so none was",
        "errors lists every one (occurrences/N: its start and why: taken, "
        "outside-availability...).",
    ),
    ProblemType("not-telemedicine", 409, "An in-person visit has no consultation room"),
    ProblemType(
        "room-not-open",
        409,
        "The consultation room is not open yet",
        "It opens a few minutes before the start (detail says when).",
    ),
    ProblemType(
        "room-closed",
        409,
        "The consultation room is closed",
        "Its window has passed, or the appointment is not booked (cancelled, completed).",
    ),
    ProblemType(
        "invalid-room-ticket",
        401,
        "The room ticket is unknown, used or expired",
        "Ask for a new one (on the WebSocket each reason has its close code).",
    ),
    ProblemType(
        "concurrent-update",
        409,
        "Someone else changed this at the same time",
        "Retry the request; Retry-After says when.",
    ),
    ProblemType("already-exists", 409, "It already exists"),
    ProblemType(
        "precondition-failed",
        412,
        "The resource changed since you read it",
        "Read it again (its ETag) and resend with the new If-Match.",
    ),
    ProblemType("payload-too-large", 413, "The body is too large"),
    ProblemType("unsupported-media-type", 415, "Send application/json"),
    ProblemType(
        "validation-error",
        422,
        "The request is not valid",
        "errors lists each field (JSON path) and what is wrong with it.",
    ),
    ProblemType("invalid-value", 422, "A value is not acceptable"),
    ProblemType("booking-rule-violation", 422, "The doctor's booking rules refuse this time"),
    ProblemType("in-the-past", 422, "The requested time is not in the future"),
    ProblemType("too-short-notice", 422, "The requested time is sooner than the minimum notice"),
    ProblemType("beyond-horizon", 422, "The requested time is beyond the booking horizon"),
    ProblemType("outside-availability", 422, "The requested time is outside the doctor's hours"),
    ProblemType("off-grid", 422, "The requested start is not on the doctor's slot grid"),
    ProblemType("invalid-duration", 422, "The requested length is not a whole number of slots"),
    ProblemType("not-accepting-bookings", 422, "The doctor is not taking bookings"),
    ProblemType("too-many-requests", 429, "Too many requests", "Wait for Retry-After seconds."),
    ProblemType(
        "authentication-failed", 401, "Wrong e-mail, password or code", "Nothing says which."
    ),
    ProblemType("second-factor-required", 401, "Send the authenticator code too"),
    ProblemType("refresh-token-reused", 401, "The refresh token was already used; sign in again"),
    ProblemType("email-not-verified", 403, "Verify your e-mail address first"),
    ProblemType("second-factor-enrollment-required", 403, "Set up two-factor sign-in first"),
    ProblemType("invalid-one-time-secret", 422, "The code or link is wrong, used or expired"),
    ProblemType("weak-password", 422, "The password is too weak"),
    ProblemType(
        "idempotency-key-reused",
        422,
        "The Idempotency-Key was used for a different request",
        "Use a new key for a new request.",
    ),
    ProblemType("payment-not-allowed", 409, "This appointment cannot be paid now"),
    ProblemType(
        "walk-in-claim-refused",
        409,
        "This walk-in's profile cannot be claimed",
        "Claimed already, or it belongs to an account, or your own profile is in use: "
        "ask the front desk.",
    ),
    ProblemType(
        "payment-already-started",
        409,
        "A payment with another method is under way",
        "Finish it, or wait for the hold to lapse.",
    ),
    ProblemType("insufficient-funds", 409, "The wallet does not hold enough"),
    ProblemType("no-bed-available", 409, "No bed of that type is free in that ward"),
    ProblemType(
        "review-not-allowed",
        422,
        "This visit cannot be reviewed",
        "Only a completed visit, within the review window after it.",
    ),
    ProblemType("refund-exceeds-payment", 409, "That refund is more than was paid"),
    ProblemType("webhook-rejected", 400, "The webhook's signature or body is not valid"),
    ProblemType("internal-error", 500, "Something went wrong on our side"),
    # Answered by the serving front (front.py) before the app sees the request.
    ProblemType(
        "request-timeout",
        408,
        "The request did not arrive in time",
        "Send the whole request head (and body) promptly; the connection is closed.",
    ),
    ProblemType(
        "request-header-fields-too-large",
        431,
        "The request head is too large or has too many header fields",
    ),
    ProblemType(
        "server-timeout",
        503,
        "The server did not answer in time",
        "Retry later; Retry-After says when. The request may still take effect: "
        "retry with the same Idempotency-Key where the operation takes one.",
    ),
    ProblemType(
        "backend-unavailable",
        503,
        "A service we depend on is unavailable",
        "Retry later; Retry-After says when.",
    ),
)

# Domain and port errors, most specific first is not needed: the handler walks the MRO.
ERROR_PROBLEMS: dict[type[Exception], str] = {
    errors.SlotUnavailable: "slot-unavailable",
    errors.InThePast: "in-the-past",
    errors.TooShortNotice: "too-short-notice",
    errors.BeyondHorizon: "beyond-horizon",
    errors.OutsideAvailability: "outside-availability",
    errors.OffGrid: "off-grid",
    errors.InvalidDuration: "invalid-duration",
    errors.NotAcceptingBookings: "not-accepting-bookings",
    errors.BookingRuleViolation: "booking-rule-violation",
    errors.NotFound: "not-found",
    errors.AccessDenied: "access-denied",
    errors.IllegalTransition: "illegal-transition",
    errors.HoldExpired: "hold-expired",
    errors.CancellationNotAllowed: "cancellation-not-allowed",
    errors.TimeOffCollides: "time-off-collides",
    errors.SeriesConflict: "series-conflict",
    errors.NotTelemedicine: "not-telemedicine",
    errors.RoomNotOpen: "room-not-open",
    errors.RoomClosed: "room-closed",
    errors.AppointmentCancelledRoom: "room-closed",
    errors.RoomUnavailable: "room-closed",
    errors.InvalidRoomTicket: "invalid-room-ticket",
    errors.RoomTicketUnknown: "invalid-room-ticket",
    errors.RoomTicketUsed: "invalid-room-ticket",
    errors.RoomTicketExpired: "invalid-room-ticket",
    errors.ConcurrencyError: "concurrent-update",
    errors.AlreadyExists: "already-exists",
    errors.Conflict: "already-exists",
    errors.BackendUnavailable: "backend-unavailable",
    errors.WeakPassword: "weak-password",
    errors.InvalidValue: "invalid-value",
    errors.AuthenticationFailed: "authentication-failed",
    errors.SecondFactorRequired: "second-factor-required",
    errors.RefreshTokenReused: "refresh-token-reused",
    errors.EmailNotVerified: "email-not-verified",
    errors.SecondFactorEnrollmentRequired: "second-factor-enrollment-required",
    errors.InvalidOneTimeSecret: "invalid-one-time-secret",
    errors.IdempotencyKeyReused: "idempotency-key-reused",
    errors.WalkInClaimRefused: "walk-in-claim-refused",
    errors.TooManyAttempts: "too-many-requests",
    errors.IllegalPaymentTransition: "illegal-transition",
    errors.PaymentNotAllowed: "payment-not-allowed",
    errors.PaymentAlreadyStarted: "payment-already-started",
    errors.InsufficientFunds: "insufficient-funds",
    errors.RefundExceedsPayment: "refund-exceeds-payment",
    errors.NoBedAvailable: "no-bed-available",
    errors.ReviewNotAllowed: "review-not-allowed",
    errors.IllegalStateChange: "illegal-transition",
    errors.WebhookRejected: "webhook-rejected",
    errors.TooLarge: "payload-too-large",
    errors.UnsupportedMediaType: "unsupported-media-type",
    errors.DomainError: "bad-request",
    errors.PortError: "backend-unavailable",
}

# Port errors other than these carry driver text (table names, constraint names): clients get
# the problem's title instead, and the log gets the message.
_SAFE_DETAIL = (errors.DomainError,)
_RETRY_AFTER_SECONDS = {"concurrent-update": "1", "backend-unavailable": "5"}

_FALCON_STATUS_PROBLEMS = {
    400: "bad-request",
    401: "unauthorized",
    403: "access-denied",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "too-many-requests",
    503: "backend-unavailable",
}


@define(frozen=True)
class FieldError:
    field: str
    message: str


@define
class Problem(Exception):
    """Raise from a resource to answer with a problem of the catalogue."""

    slug: str
    detail: str = ""
    errors: Sequence[FieldError] = field(factory=tuple)
    headers: Mapping[str, str] = field(factory=dict)

    def __attrs_post_init__(self) -> None:
        Exception.__init__(self, self.detail or self.slug)

    @property
    def type(self) -> ProblemType:
        return PROBLEMS[self.slug]


def validation_problem(errors_: Sequence[FieldError], detail: str = "") -> Problem:
    listed = detail or "; ".join(f"{e.field}: {e.message}" for e in errors_[:5])
    return Problem("validation-error", listed, errors=tuple(errors_))


def unauthorized(detail: str, *, invalid_token: bool = False) -> Problem:
    """401 with the challenge of RFC 6750; ``invalid_token`` when one was sent and refused."""
    challenge = 'Bearer realm="hellodoctor"'
    if invalid_token:
        challenge += ', error="invalid_token"'
    return Problem("unauthorized", detail, headers={"WWW-Authenticate": challenge})


def problem_document(
    problem_type: ProblemType, detail: str, instance: str, request_id: str | None
) -> dict[str, Any]:
    """The body of a problem; also written by the serving front (``front.py``) for the
    requests it refuses before the app sees them."""
    body: dict[str, Any] = {
        "type": problem_type.uri,
        "title": problem_type.title,
        "status": problem_type.status,
        "detail": detail or problem_type.title,
        "instance": instance,
    }
    if request_id:
        body["request_id"] = request_id
    return body


def render(
    req: falcon.Request,
    resp: falcon.Response,
    problem_type: ProblemType,
    detail: str,
    *,
    field_errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> None:
    body = problem_document(
        problem_type, detail, req.relative_uri, getattr(req.context, "request_id", None)
    )
    if field_errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in field_errors]
    resp.status = problem_type.status
    resp.content_type = PROBLEM_JSON
    resp.data = dump_json(body)
    resp.context.problem = problem_type.slug
    for name, value in (headers or {}).items():
        resp.set_header(name, value)


# -- error handlers (falcon's add_error_handler signature) ----------------------------------


def handle_problem(req: falcon.Request, resp: falcon.Response, ex: Problem, _params: Any) -> None:
    render(req, resp, ex.type, ex.detail, field_errors=ex.errors, headers=ex.headers)


def handle_domain_error(
    req: falcon.Request, resp: falcon.Response, ex: Exception, _params: Any
) -> None:
    slug = next(
        (ERROR_PROBLEMS[kind] for kind in type(ex).__mro__ if kind in ERROR_PROBLEMS),
        "internal-error",
    )
    problem_type = PROBLEMS[slug]
    if isinstance(ex, _SAFE_DETAIL):
        detail = str(ex)
    else:
        detail = problem_type.title
        _log.warning(
            "%s answered %s: %s",
            type(ex).__name__,
            problem_type.status,
            ex,
            extra={"request_id": getattr(req.context, "request_id", None)},
        )
    headers = {}
    if isinstance(ex, errors.TooManyAttempts):
        headers["Retry-After"] = str(max(1, ex.retry_after_seconds))
    elif slug in _RETRY_AFTER_SECONDS:
        headers["Retry-After"] = _RETRY_AFTER_SECONDS[slug]
    if problem_type.status == 401:  # RFC 9110: every 401 names its challenge
        headers["WWW-Authenticate"] = 'Bearer realm="hellodoctor"'
    render(req, resp, problem_type, detail, headers=headers)


def handle_falcon_error(
    req: falcon.Request, resp: falcon.Response, ex: falcon.HTTPError, _params: Any
) -> None:
    status = ex.status_code
    slug = _FALCON_STATUS_PROBLEMS.get(status)
    problem_type = (
        PROBLEMS[slug] if slug else ProblemType("http-error", status, ex.title or "HTTP error")
    )
    render(
        req,
        resp,
        problem_type,
        ex.description or problem_type.title,
        headers=dict(ex.headers or {}),
    )


def handle_unexpected(
    req: falcon.Request, resp: falcon.Response, ex: Exception, _params: Any
) -> None:
    request_id = getattr(req.context, "request_id", None)
    _log.error(
        "unhandled error on %s %s (request %s)",
        req.method,
        req.path,
        request_id,
        exc_info=ex,
        extra={"request_id": request_id},
    )
    render(req, resp, PROBLEMS["internal-error"], "The error was logged with the request id.")


def install(app: falcon.App[Any, Any]) -> None:
    """Register the handlers; falcon picks the most specific class for each exception."""
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(tuple(ERROR_PROBLEMS), handle_domain_error)  # type: ignore[call-overload]
    app.add_error_handler(falcon.HTTPError, handle_falcon_error)
    app.add_error_handler(Problem, handle_problem)
