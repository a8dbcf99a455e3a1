"""The route table: every path, method, who may call it, its parameters, body and answers.

``create_app`` mounts exactly these routes and ``openapi.document`` describes exactly these,
so the OpenAPI document cannot drift from the app (a test also compares the mounted
responders with the document).
"""

from __future__ import annotations

from typing import Any

from attrs import define, field

from hellodoctor_domain import AppointmentStatus, AppointmentType, Role, VisitKind
from hellodoctor_domain.model.accounts import AccountStatus
from hellodoctor_domain.model.payments import (
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
    RefundReason,
    WalletEntryKind,
)
from hellodoctor_domain.use_cases.billing import WebhookOutcome
from hellodoctor_http.json_schema import wire_values
from hellodoctor_http.schemas import (
    AvailabilityBody,
    BookingBody,
    CancelBody,
    CodeBody,
    DoctorInviteBody,
    EmailBody,
    EmptyBody,
    LoginBody,
    PaymentBody,
    RefreshBody,
    RegisterBody,
    RescheduleBody,
    ResetBody,
    StaffBookingBody,
    TopUpBody,
    VerifyBody,
)

JSON = "application/json"
Body = type[Any] | tuple[type[Any], ...] | str

# -- JSON Schemas of bodies (OpenAPI 3.1 = JSON Schema 2020-12) ----------------------------


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


_STRING = {"type": "string"}
_DATETIME = {"type": "string", "format": "date-time"}
_NULLABLE_DATETIME = {"type": ["string", "null"], "format": "date-time"}
_CURSOR = {"type": ["string", "null"], "description": "Pass as ?cursor= for the next page."}

SCHEMAS: dict[str, Any] = {
    "Money": _object(
        ["minor_units", "currency", "text"],
        minor_units={"type": "integer", "description": "Whole minor units (cents, pence)."},
        currency={"type": "string", "pattern": "^[A-Z]{3}$"},
        text={"type": "string", "examples": ["80.00 GBP"]},
    ),
    "Doctor": _object(
        [
            "id",
            "name",
            "specialty",
            "registration_number",
            "qualifications",
            "languages",
            "time_zone",
            "consultation_fee",
            "accepting_bookings",
        ],
        id=_STRING,
        name=_STRING,
        specialty=_STRING,
        registration_number=_STRING,
        qualifications={"type": "array", "items": _STRING},
        languages={"type": "array", "items": _STRING},
        time_zone={"type": "string", "description": "IANA zone the doctor works in."},
        consultation_fee=_ref("Money"),
        accepting_bookings={"type": "boolean"},
    ),
    "DoctorPage": _object(
        ["items", "next_cursor"],
        items={"type": "array", "items": _ref("Doctor")},
        next_cursor=_CURSOR,
    ),
    "Availability": _object(
        [
            "doctor_id",
            "time_zone",
            "weekly",
            "slot_minutes",
            "buffer_minutes",
            "minimum_notice_minutes",
            "booking_horizon_days",
            "max_slots_per_visit",
            "time_off",
            "extra_hours",
            "version",
        ],
        doctor_id=_STRING,
        time_zone=_STRING,
        weekly={"type": "array", "items": _ref("WorkingDayInput")},
        slot_minutes={"type": "integer"},
        buffer_minutes={"type": "integer"},
        minimum_notice_minutes={"type": "integer"},
        booking_horizon_days={"type": "integer"},
        max_slots_per_visit={"type": "integer"},
        time_off={"type": "array", "items": _ref("TimeOffInput")},
        extra_hours={"type": "array", "items": _ref("ExtraHoursInput")},
        version={"type": "integer", "description": "Also the ETag; send it as If-Match."},
    ),
    "Slot": _object(
        ["start", "end", "local_start", "local_end"],
        start=_DATETIME,
        end=_DATETIME,
        local_start={**_DATETIME, "description": "In the requested zone (tz)."},
        local_end=_DATETIME,
    ),
    "SlotList": _object(
        ["doctor_id", "from", "to", "time_zone", "slots"],
        doctor_id=_STRING,
        **{"from": _DATETIME},
        to=_DATETIME,
        time_zone={"type": ["string", "null"]},
        slots={"type": "array", "items": _ref("Slot")},
    ),
    "Cancellation": _object(
        ["by", "reason", "at", "refund"],
        by={"enum": wire_values(Role)},
        reason=_STRING,
        at=_DATETIME,
        refund=_ref("Money"),
    ),
    "Appointment": _object(
        [
            "id",
            "doctor_id",
            "patient_id",
            "start",
            "end",
            "status",
            "type",
            "visit_kind",
            "reason",
            "price",
            "hold_expires_at",
            "created_at",
            "cancellation",
            "version",
        ],
        id=_STRING,
        doctor_id=_STRING,
        patient_id=_STRING,
        start=_DATETIME,
        end=_DATETIME,
        status={"enum": wire_values(AppointmentStatus)},
        type={"enum": wire_values(AppointmentType)},
        visit_kind={"enum": wire_values(VisitKind)},
        reason=_STRING,
        price=_ref("Money"),
        hold_expires_at={**_NULLABLE_DATETIME, "description": "Set while held (fee due)."},
        created_at=_DATETIME,
        cancellation={"oneOf": [_ref("Cancellation"), {"type": "null"}]},
        version={"type": "integer"},
    ),
    "AppointmentPage": _object(
        ["items", "next_cursor"],
        items={"type": "array", "items": _ref("Appointment")},
        next_cursor=_CURSOR,
    ),
    # -- payments: no input names a price; a top-up's amount is the one a client chooses --
    "Refund": _object(
        ["reason", "amount", "card", "wallet", "recorded_at", "settled"],
        reason={"enum": wire_values(RefundReason)},
        amount=_ref("Money"),
        card={**_ref("Money"), "description": "Back to the card."},
        wallet={**_ref("Money"), "description": "Back to the wallet."},
        recorded_at=_DATETIME,
        settled={"type": "boolean", "description": "The card part reached the provider."},
    ),
    "Payment": _object(
        [
            "id",
            "purpose",
            "patient_id",
            "appointment_id",
            "method",
            "status",
            "amount",
            "wallet_part",
            "card_part",
            "refunded",
            "failure",
            "refunds",
            "created_at",
            "updated_at",
            "succeeded_at",
        ],
        id=_STRING,
        purpose={"enum": wire_values(PaymentPurpose)},
        patient_id=_STRING,
        appointment_id={"type": ["string", "null"]},
        method={"enum": wire_values(PaymentMethod)},
        status={"enum": wire_values(PaymentStatus)},
        amount=_ref("Money"),
        wallet_part=_ref("Money"),
        card_part=_ref("Money"),
        refunded=_ref("Money"),
        failure=_STRING,
        refunds={"type": "array", "items": _ref("Refund")},
        created_at=_DATETIME,
        updated_at=_DATETIME,
        succeeded_at=_NULLABLE_DATETIME,
    ),
    "PaymentPage": _object(
        ["items", "next_cursor"],
        items={"type": "array", "items": _ref("Payment")},
        next_cursor=_CURSOR,
    ),
    "PaymentStarted": _object(
        ["payment", "appointment", "client_secret", "next_step", "due_at_clinic"],
        payment=_ref("Payment"),
        appointment={"oneOf": [_ref("Appointment"), {"type": "null"}]},
        client_secret={
            "type": ["string", "null"],
            "description": "Confirm the card with it (Stripe.js) when next_step is confirm_card.",
        },
        next_step={"enum": ["confirm_card", "pay_at_clinic", "none"]},
        due_at_clinic={"oneOf": [_ref("Money"), {"type": "null"}]},
    ),
    "WalletEntry": _object(
        ["reference", "kind", "amount", "recorded_at", "payment_id"],
        reference=_STRING,
        kind={"enum": wire_values(WalletEntryKind)},
        amount={**_ref("Money"), "description": "Credits positive, debits negative."},
        recorded_at=_DATETIME,
        payment_id={"type": ["string", "null"]},
    ),
    "Wallet": _object(
        ["patient_id", "currency", "balance", "entries"],
        patient_id=_STRING,
        currency=_STRING,
        balance=_ref("Money"),
        entries={"type": "array", "items": _ref("WalletEntry")},
    ),
    "ProviderEvent": {
        "type": "object",
        "description": "The payment provider's event (a Stripe Event object). Its signature "
        "is checked over the exact bytes received, before anything parses them.",
    },
    "WebhookResult": _object(
        ["outcome", "event_id"],
        outcome={"enum": wire_values(WebhookOutcome)},
        event_id=_STRING,
    ),
    # -- identity: no input names a role, a status, an id or a verified flag --
    "Tokens": _object(
        ["access_token", "refresh_token", "token_type", "expires_in"],
        access_token={"type": "string", "description": "A JWT; send as Authorization: Bearer."},
        refresh_token={
            "type": "string",
            "description": "Exchange once at /auth/refresh; a second use ends the session.",
        },
        token_type={"const": "Bearer"},
        expires_in={"type": "integer", "description": "Seconds the access token lives."},
    ),
    "Accepted": _object(
        ["status", "message"],
        status={"const": "accepted"},
        message={
            "type": "string",
            "description": "The same whether or not the address has an account.",
        },
    ),
    "Account": _object(
        ["id", "email", "role", "status", "patient_id", "doctor_id", "two_factor_enabled"],
        id=_STRING,
        email=_STRING,
        role={"enum": wire_values(Role)},
        status={"enum": wire_values(AccountStatus)},
        patient_id={"type": ["string", "null"]},
        doctor_id={"type": ["string", "null"]},
        two_factor_enabled={"type": "boolean"},
    ),
    "TwoFactorEnrollment": _object(
        ["secret", "provisioning_uri"],
        secret={"type": "string", "description": "Base32 TOTP secret."},
        provisioning_uri={"type": "string", "description": "otpauth:// URI for a QR code."},
    ),
    "PasswordSet": _object(
        ["account", "two_factor"],
        account=_ref("Account"),
        two_factor={
            "oneOf": [_ref("TwoFactorEnrollment"), {"type": "null"}],
            "description": "Present when the role must use two-factor sign-in: put it in an "
            "authenticator app and sign in with a code from it.",
        },
    ),
    "Status": _object(["status"], status=_STRING),
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail", "instance"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": _STRING,
            "status": {"type": "integer"},
            "detail": _STRING,
            "instance": _STRING,
            "request_id": _STRING,
            "errors": {
                "type": "array",
                "items": _object(["field", "message"], field=_STRING, message=_STRING),
            },
        },
        "additionalProperties": False,
    },
}

# -- routes ---------------------------------------------------------------------------------


@define(frozen=True)
class Param:
    name: str
    where: str  # path, query, header
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


@define(frozen=True)
class Operation:
    summary: str
    # "public", "bearer" (a token is required), and who may call it, for the docs.
    auth: str
    who: str
    ok: int = 200
    response: str | None = None  # schema name of the success body
    response_type: str = JSON
    # The request body: its attrs class (two for either of two bodies), or the name of a
    # hand-written schema for a body read raw.
    body: Body | None = None
    params: tuple[Param, ...] = ()
    problems: tuple[str, ...] = ()  # problem slugs this operation may answer besides common
    headers: tuple[str, ...] = ()  # response headers on success
    tag: str = "scheduling"


@define(frozen=True)
class Route:
    path: str
    resource: str  # key into the resources create_app builds
    operations: dict[str, Operation] = field(factory=dict)
    suffix: str | None = None


def _path(name: str, description: str) -> Param:
    return Param(name, "path", {"type": "string"}, description, required=True)


def _query(name: str, schema: dict[str, Any], description: str = "") -> Param:
    return Param(name, "query", schema, description)


_LIMIT_DOCTORS = _query("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20})
_CURSOR_PARAM = _query("cursor", {"type": "string"}, "next_cursor of the previous page")
_DOCTOR = _path("doctor_id", "A doctor's id.")
_APPOINTMENT = _path("appointment_id", "An appointment's id (yours, or it is not found).")
_ACTION_PROBLEMS = ("not-found", "illegal-transition", "access-denied", "concurrent-update")
_BODY_PROBLEMS = (
    "malformed-body",
    "payload-too-large",
    "unsupported-media-type",
    "validation-error",
)
API = "/api/v1"


def _identity(
    path: str,
    resource: str,
    summary: str,
    *,
    who: str = "anyone",
    auth: str = "public",
    ok: int = 200,
    response: str | None = None,
    body: Body | None = None,
    problems: tuple[str, ...] = (),
    method: str = "post",
) -> Route:
    body_problems = _BODY_PROBLEMS if body else ()
    return Route(
        f"{API}/{path}",
        resource,
        {
            method: Operation(
                summary,
                auth,
                who,
                ok=ok,
                response=response,
                body=body,
                problems=(*problems, *body_problems),
                tag="identity",
            )
        },
    )


IDENTITY_ROUTES: tuple[Route, ...] = (
    _identity(
        "auth/register",
        "register",
        "Register as a patient; a verification code is e-mailed (202 whether or not the "
        "address already has an account)",
        ok=202,
        response="Accepted",
        body=RegisterBody,
        problems=("weak-password", "invalid-value"),
    ),
    _identity(
        "auth/verify",
        "verify",
        "Verify the e-mail address with the code; the account becomes active",
        ok=204,
        body=VerifyBody,
        problems=("invalid-one-time-secret",),
    ),
    _identity(
        "auth/verify/resend",
        "verify_resend",
        "Send a new verification code (at most one a minute; 202 either way)",
        ok=202,
        response="Accepted",
        body=EmailBody,
    ),
    _identity(
        "auth/login",
        "login",
        "Sign in: an access token (15 minutes) and a refresh token",
        response="Tokens",
        body=LoginBody,
        problems=(
            "authentication-failed",
            "second-factor-required",
            "email-not-verified",
            "second-factor-enrollment-required",
            "too-many-requests",
            "concurrent-update",
        ),
    ),
    _identity(
        "auth/refresh",
        "refresh",
        "Exchange a refresh token for new tokens; reusing one ends its whole session",
        who="the refresh token's holder",
        response="Tokens",
        body=RefreshBody,
        problems=("authentication-failed", "refresh-token-reused", "concurrent-update"),
    ),
    _identity(
        "auth/logout",
        "logout",
        "End the session the refresh token belongs to",
        who="the refresh token's holder",
        ok=204,
        body=RefreshBody,
    ),
    _identity(
        "auth/password/forgot",
        "password_forgot",
        "E-mail a password-reset link (202 whether or not the address has an account)",
        ok=202,
        response="Accepted",
        body=EmailBody,
    ),
    _identity(
        "auth/password/reset",
        "password_reset",
        "Set a password from a reset or invitation link; ends every session of the account",
        who="the link's holder",
        response="PasswordSet",
        body=ResetBody,
        problems=("invalid-one-time-secret", "weak-password", "invalid-value"),
    ),
    _identity(
        "auth/two-factor",
        "two_factor",
        "Start two-factor sign-in: a TOTP secret for an authenticator app",
        who="any signed-in account",
        auth="bearer",
        response="TwoFactorEnrollment",
        problems=("already-exists", "concurrent-update"),
    ),
    _identity(
        "auth/two-factor/confirm",
        "two_factor_confirm",
        "Switch two-factor sign-in on with a code from the authenticator app",
        who="any signed-in account",
        auth="bearer",
        ok=204,
        body=CodeBody,
        problems=("invalid-one-time-secret", "concurrent-update"),
    ),
    _identity(
        "me",
        "me",
        "Your account",
        who="any signed-in account",
        auth="bearer",
        response="Account",
        method="get",
    ),
)

PAYMENT_ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/appointments/{{appointment_id}}/payments",
        "appointment_payments",
        {
            "post": Operation(
                "Pay for a held appointment (the amount is its price): card gives a client "
                "secret, wallet books at once, hybrid debits the wallet and gives a client "
                "secret for the rest, offline books it with the fee due at the clinic. "
                "Asking again with the same method resumes the payment.",
                "bearer",
                "its patient",
                response="PaymentStarted",
                body=PaymentBody,
                params=(_APPOINTMENT,),
                problems=(
                    "not-found",
                    "access-denied",
                    "payment-not-allowed",
                    "payment-already-started",
                    "hold-expired",
                    "insufficient-funds",
                    "invalid-value",
                    "concurrent-update",
                    *_BODY_PROBLEMS,
                ),
                tag="payments",
            )
        },
    ),
    Route(
        f"{API}/wallet",
        "wallet",
        {
            "get": Operation(
                "Your wallet: balance and ledger, oldest entry first",
                "bearer",
                "patient (own)",
                response="Wallet",
                params=(
                    _query(
                        "currency",
                        {"type": "string", "pattern": "^[A-Za-z]{3}$"},
                        "One of the clinic's currencies; default the first.",
                    ),
                ),
                problems=("access-denied", "validation-error"),
                tag="payments",
            )
        },
    ),
    Route(
        f"{API}/wallet/top-ups",
        "top_ups",
        {
            "post": Operation(
                "Load your wallet by card: a client secret; the wallet is credited once the "
                "card payment succeeds",
                "bearer",
                "patient (own)",
                ok=201,
                response="PaymentStarted",
                body=TopUpBody,
                problems=(
                    "access-denied",
                    "payment-not-allowed",
                    "invalid-value",
                    *_BODY_PROBLEMS,
                ),
                tag="payments",
            )
        },
    ),
    Route(
        f"{API}/payments",
        "payments",
        {
            "get": Operation(
                "Payments, newest first: a patient's own; an admin's view of all",
                "bearer",
                "patient (own), admin (all, filtered)",
                response="PaymentPage",
                params=(
                    _query("status", {"type": "string"}, "Comma-separated statuses."),
                    _query("purpose", {"enum": wire_values(PaymentPurpose)}),
                    _query("method", {"enum": wire_values(PaymentMethod)}),
                    _query("patient_id", {"type": "string"}, "Admins only."),
                    _CURSOR_PARAM,
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
                ),
                problems=("access-denied", "validation-error"),
                tag="payments",
            )
        },
    ),
    Route(
        f"{API}/webhooks/stripe",
        "stripe_webhook",
        {
            "post": Operation(
                "The payment provider's events, verified by their signature over the raw "
                "body (Stripe-Signature); a duplicate or ignored event is 200 too",
                "public",
                "the payment provider (signed)",
                response="WebhookResult",
                body="ProviderEvent",
                params=(
                    Param(
                        "Stripe-Signature",
                        "header",
                        {"type": "string"},
                        "The provider's signature of the raw body.",
                    ),
                ),
                problems=("webhook-rejected", "payload-too-large"),
                tag="payments",
            )
        },
    ),
)

ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/doctors",
        "doctors",
        {
            "get": Operation(
                "Find doctors",
                "public",
                "anyone",
                response="DoctorPage",
                params=(
                    _query("specialty", {"type": "string"}, "Exact, case-insensitive."),
                    _query("language", {"type": "string"}, "One of the doctor's languages."),
                    _query("text", {"type": "string"}, "Part of the name or specialty."),
                    _query("accepting", {"type": "boolean"}, "Only doctors taking bookings."),
                    _CURSOR_PARAM,
                    _LIMIT_DOCTORS,
                ),
                problems=("validation-error",),
            ),
            "post": Operation(
                "Add a doctor (they are e-mailed a link to set their password)",
                "bearer",
                "admin",
                ok=201,
                response="Doctor",
                body=DoctorInviteBody,
                problems=("access-denied", "already-exists", "invalid-value", *_BODY_PROBLEMS),
                headers=("Location",),
            ),
        },
    ),
    Route(
        f"{API}/doctors/{{doctor_id}}",
        "doctor",
        {
            "get": Operation(
                "A doctor's profile",
                "public",
                "anyone",
                response="Doctor",
                params=(_DOCTOR,),
                problems=("not-found",),
            )
        },
    ),
    Route(
        f"{API}/doctors/{{doctor_id}}/availability",
        "availability",
        {
            "get": Operation(
                "A doctor's working hours and booking rules",
                "public",
                "anyone",
                response="Availability",
                params=(_DOCTOR,),
                problems=("not-found",),
                headers=("ETag",),
            ),
            "put": Operation(
                "Set (replace) a doctor's working hours and booking rules",
                "bearer",
                "that doctor, admin",
                response="Availability",
                body=AvailabilityBody,
                params=(
                    _DOCTOR,
                    Param(
                        "If-Match",
                        "header",
                        {"type": "string"},
                        'The ETag last read ("3"); refused with 412 if it changed since.',
                    ),
                ),
                problems=(
                    "access-denied",
                    "not-found",
                    "precondition-failed",
                    "invalid-value",
                    "concurrent-update",
                    *_BODY_PROBLEMS,
                ),
                headers=("ETag",),
            ),
        },
    ),
    Route(
        f"{API}/doctors/{{doctor_id}}/slots",
        "slots",
        {
            "get": Operation(
                "Free slots of a doctor",
                "public",
                "anyone",
                response="SlotList",
                params=(
                    _DOCTOR,
                    _query("from", {"type": "string", "format": "date-time"}, "Default: now."),
                    _query(
                        "to",
                        {"type": "string", "format": "date-time"},
                        "Default: from + 7 days; at most 31 days after from.",
                    ),
                    _query("tz", {"type": "string"}, "IANA zone for local times."),
                    _query(
                        "length_minutes",
                        {"type": "integer", "minimum": 1},
                        "Visit length (whole slots); default one slot.",
                    ),
                ),
                problems=("not-found", "validation-error", "invalid-duration"),
            )
        },
    ),
    Route(
        f"{API}/appointments",
        "appointments",
        {
            "get": Operation(
                "List appointments",
                "bearer",
                "patient (own), doctor (own calendar), admin (all)",
                response="AppointmentPage",
                params=(
                    _query("status", {"type": "string"}, "Comma-separated statuses."),
                    _query("from", {"type": "string", "format": "date-time"}, "Starts at/after."),
                    _query("to", {"type": "string", "format": "date-time"}, "Starts before."),
                    _query("doctor_id", {"type": "string"}),
                    _query("patient_id", {"type": "string"}),
                    _CURSOR_PARAM,
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
                ),
                problems=("validation-error",),
            ),
            "post": Operation(
                "Book an appointment",
                "bearer",
                "patient (for themself), doctor (own calendar), admin",
                ok=201,
                response="Appointment",
                body=(BookingBody, StaffBookingBody),
                params=(
                    Param(
                        "Idempotency-Key",
                        "header",
                        {"type": "string", "maxLength": 200},
                        "Retrying with the same key returns the first result.",
                    ),
                ),
                problems=(
                    "slot-unavailable",
                    "not-found",
                    "access-denied",
                    "in-the-past",
                    "too-short-notice",
                    "beyond-horizon",
                    "outside-availability",
                    "off-grid",
                    "invalid-duration",
                    "not-accepting-bookings",
                    "invalid-value",
                    "idempotency-key-reused",
                    *_BODY_PROBLEMS,
                ),
                headers=("Location",),
            ),
        },
    ),
    Route(
        f"{API}/appointments/{{appointment_id}}",
        "appointment",
        {
            "get": Operation(
                "One appointment",
                "bearer",
                "its patient, its doctor, admin",
                response="Appointment",
                params=(_APPOINTMENT,),
                problems=("not-found",),
            )
        },
    ),
    Route(
        f"{API}/appointments/{{appointment_id}}/cancel",
        "cancel",
        {
            "post": Operation(
                "Cancel (refund by the cancellation policy)",
                "bearer",
                "its patient, its doctor, admin",
                response="Appointment",
                body=CancelBody,
                params=(_APPOINTMENT,),
                problems=(*_ACTION_PROBLEMS, "cancellation-not-allowed", *_BODY_PROBLEMS),
            )
        },
    ),
    Route(
        f"{API}/appointments/{{appointment_id}}/reschedule",
        "reschedule",
        {
            "post": Operation(
                "Move to another start (same length), atomically",
                "bearer",
                "its patient, its doctor, admin",
                response="Appointment",
                body=RescheduleBody,
                params=(_APPOINTMENT,),
                problems=(
                    *_ACTION_PROBLEMS,
                    "slot-unavailable",
                    "hold-expired",
                    "in-the-past",
                    "too-short-notice",
                    "beyond-horizon",
                    "outside-availability",
                    "off-grid",
                    "not-accepting-bookings",
                    *_BODY_PROBLEMS,
                ),
            )
        },
    ),
    Route(
        f"{API}/appointments/{{appointment_id}}/complete",
        "complete",
        {
            "post": Operation(
                "Record that the visit happened",
                "bearer",
                "its doctor, admin",
                response="Appointment",
                body=EmptyBody,
                params=(_APPOINTMENT,),
                problems=(*_ACTION_PROBLEMS, *_BODY_PROBLEMS),
            )
        },
    ),
    Route(
        f"{API}/appointments/{{appointment_id}}/no-show",
        "no_show",
        {
            "post": Operation(
                "Record that the patient did not come",
                "bearer",
                "its doctor, admin",
                response="Appointment",
                body=EmptyBody,
                params=(_APPOINTMENT,),
                problems=(*_ACTION_PROBLEMS, *_BODY_PROBLEMS),
            )
        },
    ),
    *IDENTITY_ROUTES,
    *PAYMENT_ROUTES,
    Route(
        "/healthz",
        "health",
        {"get": Operation("Liveness", "public", "anyone", response="Status", tag="operations")},
    ),
    Route(
        "/readyz",
        "ready",
        {
            "get": Operation(
                "Readiness: the database answers",
                "public",
                "anyone",
                response="Status",
                problems=("backend-unavailable",),
                tag="operations",
            )
        },
    ),
    Route(
        "/metrics",
        "metrics",
        {
            "get": Operation(
                "Prometheus metrics",
                "public",
                "anyone (restrict at the proxy)",
                response_type="text/plain",
                tag="operations",
            )
        },
    ),
    Route(
        "/openapi.json",
        "openapi",
        {
            "get": Operation(
                "This document", "public", "anyone", response_type=JSON, tag="operations"
            )
        },
    ),
    Route(
        "/api-docs",
        "docs",
        {
            "get": Operation(
                "Swagger UI", "public", "anyone", response_type="text/html", tag="operations"
            )
        },
    ),
    Route(
        "/api-docs/{name}",
        "docs",
        {
            "get": Operation(
                "Swagger UI's files",
                "public",
                "anyone",
                response_type="*/*",
                params=(_path("name", "A file of Swagger UI."),),
                problems=("not-found",),
                tag="operations",
            )
        },
        suffix="file",
    ),
)
