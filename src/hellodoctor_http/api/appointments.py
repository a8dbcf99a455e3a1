"""Appointments: booking (idempotent with Idempotency-Key), listing, reading, and the actions
that move one along (cancel, reschedule, complete, no-show)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import falcon

from hellodoctor_domain import (
    Actor,
    Appointment,
    AppointmentId,
    AppointmentStatus,
    AppointmentType,
    BookingRequest,
    DoctorId,
    PatientId,
    Role,
    VisitKind,
)
from hellodoctor_domain.errors import DomainError, NotFound, PortError
from hellodoctor_domain.ports.scheduling import AppointmentQuery
from hellodoctor_domain.use_cases.scheduling import Scheduling
from hellodoctor_http.api import Resource
from hellodoctor_http.api.doctors import TIME_ZONE
from hellodoctor_http.api.values import iso, money
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import parse_enum, write_json
from hellodoctor_http.json_schema import (
    MAX_TEXT,
    check,
    choice,
    identifier,
    integer,
    may_be_omitted,
    request_body,
    text,
    wire_values,
)
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    CURSOR_PARAM,
    DATETIME,
    IDEMPOTENCY_KEY,
    NULLABLE_DATETIME,
    STRING,
    Operation,
    Param,
    Route,
    answer,
    day_or_moment_query,
    id_query,
    integer_query,
    nullable,
    page,
    path_param,
    query_param,
    ref,
    text_query,
    to_appointment,
)
from hellodoctor_http.params import QueryReader, encode_cursor
from hellodoctor_http.problems import ERROR_PROBLEMS, FieldError, validation_problem

# -- requests: a price, a status or (for patients) the patient never comes from the client ---


@request_body
class BookingBody:
    """A patient's booking: for themself, so no patient field at all."""

    doctor_id: str = identifier()
    start: datetime
    type: str = choice(AppointmentType, default=AppointmentType.IN_PERSON)
    reason: str = text(MAX_TEXT, default="")
    length_minutes: int | None = integer(
        1,
        24 * 60,
        default=None,
        description="A whole number of the doctor's slots; default one slot.",
    )
    visit_kind: str = choice(VisitKind, default=VisitKind.REGULAR)


@request_body
class StaffBookingBody(BookingBody):
    """A doctor (into their own calendar) or an admin books for a named patient."""

    patient_id: str = identifier(
        kw_only=True, description="The patient booked for (a patient books for themself)."
    )


@request_body
class CancelBody:
    reason: str = text(MAX_TEXT, default="")


@request_body
class RescheduleBody:
    start: datetime


@request_body
class EmptyBody:
    """Actions that take no input still refuse input they do not understand."""


# -- answers --------------------------------------------------------------------------------


def appointment_json(appointment: Appointment) -> dict[str, Any]:
    cancellation = appointment.cancellation
    return {
        "id": appointment.id.value,
        "doctor_id": appointment.doctor_id.value,
        "patient_id": appointment.patient_id.value,
        "start": iso(appointment.time.start),
        "end": iso(appointment.time.end),
        "status": appointment.status.value,
        "type": appointment.appointment_type.value,
        "visit_kind": appointment.visit_kind.value,
        "hospital_id": None if appointment.hospital_id is None else appointment.hospital_id.value,
        "reason": appointment.reason,
        "price": money(appointment.price),
        "hold_expires_at": iso(appointment.hold_expires_at),
        "created_at": iso(appointment.created_at),
        "cancellation": None
        if cancellation is None
        else {
            "by": cancellation.by.value,
            "reason": cancellation.reason,
            "at": iso(cancellation.at),
            "refund": money(cancellation.refund),
        },
        "version": appointment.version,
        "series_id": None if appointment.series_id is None else appointment.series_id.value,
    }


SCHEMAS: dict[str, Any] = {
    "Cancellation": answer(
        by={"enum": wire_values(Role)},
        reason=STRING,
        at=DATETIME,
        refund=ref("Money"),
    ),
    "Appointment": answer(
        id=STRING,
        doctor_id=STRING,
        patient_id=STRING,
        start=DATETIME,
        end=DATETIME,
        status={"enum": wire_values(AppointmentStatus)},
        type={"enum": wire_values(AppointmentType)},
        visit_kind={"enum": wire_values(VisitKind)},
        hospital_id={
            "type": ["string", "null"],
            "description": "The hospital of the doctor's hours the visit falls in; "
            "none for telemedicine.",
        },
        reason=STRING,
        price=ref("Money"),
        hold_expires_at={**NULLABLE_DATETIME, "description": "Set while held (fee due)."},
        created_at=DATETIME,
        cancellation=nullable("Cancellation"),
        version={"type": "integer"},
        series_id={
            "type": ["string", "null"],
            "description": "The recurring series it was booked in (appointment-series).",
        },
    ),
    "AppointmentPage": page("Appointment"),
}

# -- query parameters: the resources read them through these declarations ------------------

_LIST_PARAMS = (
    text_query("status", "Comma-separated statuses."),
    day_or_moment_query("from", "Starts at/after (a date: its first moment in tz, else UTC)."),
    day_or_moment_query("to", "Starts before (a date: the end of that day in tz, else UTC)."),
    query_param("tz", {"type": "string", **TIME_ZONE}, "IANA zone plain dates are taken in."),
    id_query("doctor_id"),
    id_query("patient_id"),
    CURSOR_PARAM,
    integer_query("limit", 1, 200, 50),
)

# -- resources ------------------------------------------------------------------------------


def _doctor_zone(
    req: falcon.Request, scheduling: Scheduling, actor: Actor, doctor: str | None
) -> str | None:
    """Plain dates without ``tz`` are the doctor's days: the signed-in doctor's, or the one
    the list is filtered by (UTC otherwise). Looked up only when a plain date was sent."""
    if not any(len(req.get_param(name) or "") == len("2030-01-07") for name in ("from", "to")):
        return None
    doctor_id = actor.doctor_id if actor.role is Role.DOCTOR else None
    if doctor_id is None and doctor is not None:
        doctor_id = DoctorId(doctor)
    if doctor_id is None:
        return None
    try:
        return scheduling.doctor(doctor_id).time_zone
    except NotFound:
        return None  # an unknown doctor's list is simply empty


class Appointments(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        params = QueryReader(req, _LIST_PARAMS)
        statuses: frozenset[AppointmentStatus] | None = None
        raw_status = params.text("status")
        if raw_status is not None:
            try:
                statuses = frozenset(
                    parse_enum(AppointmentStatus, part.strip(), "status")
                    for part in raw_status.split(",")
                )
            except DomainError as error:
                params.fail("status", str(error))
        doctor, patient = params.text("doctor_id"), params.text("patient_id")
        zone = params.zone("tz") or _doctor_zone(req, self.components.scheduling, actor, doctor)
        starts_from = params.day_or_moment("from", zone)
        starts_before = params.day_or_moment("to", zone, end=True)
        limit = params.count("limit")
        position = params.keyset("after")
        after = None if position is None else (position[0], AppointmentId(position[1]))
        params.done()
        query = AppointmentQuery(
            patient_id=PatientId(patient) if patient else None,
            doctor_id=DoctorId(doctor) if doctor else None,
            statuses=statuses,
            starts_from=starts_from,
            starts_before=starts_before,
            after=after,
            limit=limit + 1,
        )
        found = self.components.scheduling.list_appointments(actor, query)
        shown = found[:limit]
        last = shown[-1] if shown else None
        write_json(
            resp,
            {
                "items": [appointment_json(a) for a in shown],
                "next_cursor": encode_cursor(
                    {"after": [last.time.start.isoformat(), last.id.value]}
                )
                if last is not None and len(found) > limit
                else None,
            },
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        request = self._booking_request(req, actor, idempotency_key(req))
        metrics = self.api.metrics
        try:
            appointment = self.components.scheduling.book(actor, request)
        except (DomainError, PortError) as error:
            outcome = next(
                (ERROR_PROBLEMS[k] for k in type(error).__mro__ if k in ERROR_PROBLEMS), "error"
            )
            metrics.booked(outcome)
            raise
        metrics.booked(appointment.status.value)
        resp.location = f"{API}/appointments/{appointment.id.value}"
        write_json(resp, appointment_json(appointment), status=201)

    def _booking_request(
        self, req: falcon.Request, actor: Actor, key: str | None
    ) -> BookingRequest:
        body: BookingBody
        if actor.role is Role.PATIENT:
            # For themself: the patient comes from the token, and the body cannot name one.
            body = self.body(req, BookingBody)
            assert actor.patient_id is not None
            patient_id = actor.patient_id
        else:
            staff = self.body(req, StaffBookingBody)
            body, patient_id = staff, PatientId(staff.patient_id)
        return BookingRequest(
            doctor_id=DoctorId(body.doctor_id),
            patient_id=patient_id,
            start=body.start,
            length=timedelta(minutes=body.length_minutes) if body.length_minutes else None,
            appointment_type=parse_enum(AppointmentType, body.type, "type"),
            visit_kind=parse_enum(VisitKind, body.visit_kind, "visit_kind"),
            reason=body.reason,
            idempotency_key=key,
        )


def idempotency_key(req: falcon.Request) -> str | None:
    """The request's ``Idempotency-Key`` header, if any (a malformed one is 422)."""
    key = req.get_header("Idempotency-Key")
    if key is not None and check(IDEMPOTENCY_KEY, key) is not None:
        raise validation_problem(
            [FieldError("Idempotency-Key", "1 to 200 visible ASCII characters")]
        )
    return key


IDEMPOTENCY_PARAM = Param(
    "Idempotency-Key",
    "header",
    IDEMPOTENCY_KEY,
    "Retrying with the same key returns the first result; the same key with another request "
    "is 422 idempotency-key-reused.",
)


class AppointmentItem(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, appointment_id: str) -> None:
        actor = require_actor(req)
        appointment = self.components.scheduling.appointment(actor, AppointmentId(appointment_id))
        write_json(resp, appointment_json(appointment))


class AppointmentAction(Resource):
    """``POST /appointments/{id}/<action>``: the action's body (``takes``), then ``act``."""

    takes: type[Any] = EmptyBody

    def on_post(self, req: falcon.Request, resp: falcon.Response, appointment_id: str) -> None:
        actor = require_actor(req)
        # An action whose input is all optional may come without a body at all.
        if may_be_omitted(self.takes) and not req.content_length:
            body = self.takes()
        else:
            body = self.body(req, self.takes)
        appointment = self.act(actor, AppointmentId(appointment_id), body)
        write_json(resp, appointment_json(appointment))

    def act(self, actor: Actor, key: AppointmentId, body: Any) -> Appointment:
        raise NotImplementedError


class Cancel(AppointmentAction):
    takes = CancelBody

    def act(self, actor: Actor, key: AppointmentId, body: CancelBody) -> Appointment:
        # Refunds follow the cancellation policy, to where the money came from, once.
        return self.components.scheduling.cancel(actor, key, body.reason)


class Reschedule(AppointmentAction):
    takes = RescheduleBody

    def act(self, actor: Actor, key: AppointmentId, body: RescheduleBody) -> Appointment:
        return self.components.scheduling.reschedule(actor, key, body.start)


class Complete(AppointmentAction):
    def act(self, actor: Actor, key: AppointmentId, _body: EmptyBody) -> Appointment:
        return self.components.scheduling.complete(actor, key)


class NoShow(AppointmentAction):
    def act(self, actor: Actor, key: AppointmentId, _body: EmptyBody) -> Appointment:
        return self.components.scheduling.mark_no_show(actor, key)


# -- routes ---------------------------------------------------------------------------------

APPOINTMENT = path_param("appointment_id", "An appointment's id (yours, or it is not found).")
_ACTION_PROBLEMS = ("not-found", "illegal-transition", "access-denied", "concurrent-update")
# The booking rules a requested time may break.
_RULE_PROBLEMS = (
    "in-the-past",
    "too-short-notice",
    "beyond-horizon",
    "outside-availability",
    "off-grid",
)


def _action(
    path: str,
    resource: type[AppointmentAction],
    summary: str,
    *,
    who: str,
    problems: tuple[str, ...] = (),
) -> Route:
    return Route(
        f"{API}/appointments/{{appointment_id}}/{path}",
        resource,
        {
            "post": Operation(
                summary,
                "bearer",
                who,
                response="Appointment",
                body=resource.takes,
                params=(APPOINTMENT,),
                problems=(*_ACTION_PROBLEMS, *problems, *BODY_PROBLEMS),
                links=to_appointment("get_appointment_item"),
            )
        },
    )


# What may follow a booking (operation ids, which double as the links' names).
_NEXT = (
    "get_appointment_item",
    "post_appointment_payments",
    "post_cancel",
    "post_reschedule",
    "post_complete",
    "post_no_show",
)

ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/appointments",
        Appointments,
        {
            "get": Operation(
                "List appointments",
                "bearer",
                "patient (own), doctor (own calendar), admin (all)",
                response="AppointmentPage",
                params=_LIST_PARAMS,
                problems=("validation-error",),
            ),
            "post": Operation(
                "Book an appointment",
                "bearer",
                "patient (for themself), doctor (own calendar), admin",
                ok=201,
                response="Appointment",
                body=(BookingBody, StaffBookingBody),
                params=(IDEMPOTENCY_PARAM,),
                problems=(
                    "slot-unavailable",
                    "not-found",
                    "access-denied",
                    *_RULE_PROBLEMS,
                    "invalid-duration",
                    "not-accepting-bookings",
                    "invalid-value",
                    "idempotency-key-reused",
                    *BODY_PROBLEMS,
                ),
                headers=("Location",),
                links=to_appointment(*_NEXT),
            ),
        },
    ),
    Route(
        f"{API}/appointments/{{appointment_id}}",
        AppointmentItem,
        {
            "get": Operation(
                "One appointment",
                "bearer",
                "its patient, its doctor, admin",
                response="Appointment",
                params=(APPOINTMENT,),
                problems=("not-found",),
            )
        },
    ),
    _action(
        "cancel",
        Cancel,
        "Cancel (refund by the cancellation policy)",
        who="its patient, its doctor, the front desk of its doctor's hospitals, admin",
        problems=("cancellation-not-allowed",),
    ),
    _action(
        "reschedule",
        Reschedule,
        "Move to another start (same length), atomically",
        who="its patient, its doctor, the front desk of its doctor's hospitals, admin",
        problems=(
            "slot-unavailable",
            "hold-expired",
            *_RULE_PROBLEMS,
            "not-accepting-bookings",
            "invalid-value",  # the desk: into the doctor's hours at another hospital
        ),
    ),
    _action("complete", Complete, "Record that the visit happened", who="its doctor, admin"),
    _action("no-show", NoShow, "Record that the patient did not come", who="its doctor, admin"),
)
