"""Recurring series of appointments (issue 17): ``/appointment-series``.

* ``POST /appointment-series`` books every occurrence or none: a weekly rule (``weekday``,
  ``count``) or an RFC 5545 ``rrule`` subset (``model/recurrence.py``), from ``first_day`` at
  ``time``, both local to the doctor. A refusal is 409 ``series-conflict`` whose ``errors``
  list every occurrence that cannot be had (``occurrences/N``: start and reason).
* ``GET /appointment-series/{id}``: the occurrences, by start (cancelled ones too).
* ``POST /appointment-series/{id}/cancel``: this occurrence and the following
  (``from_appointment_id``), or every one still to come.
* One occurrence is cancelled or rescheduled at ``/appointments/{id}/cancel|reschedule``; it
  keeps its ``series_id``.
"""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

import falcon

from hellodoctor_domain import AppointmentId, DoctorId, PatientId
from hellodoctor_domain.errors import AccessDenied, InvalidValue, SeriesConflict
from hellodoctor_domain.model.availability import Weekday
from hellodoctor_domain.model.recurrence import MAX_OCCURRENCES, Recurrence
from hellodoctor_domain.model.values import AppointmentType, Role, SeriesId, VisitKind
from hellodoctor_domain.use_cases.series import Series, SeriesRequest
from hellodoctor_http.api import Resource
from hellodoctor_http.api.appointments import IDEMPOTENCY_PARAM, appointment_json, idempotency_key
from hellodoctor_http.api.values import iso
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import parse_enum, read_json, structure, write_json
from hellodoctor_http.json_schema import (
    MAX_TEXT,
    choice,
    identifier,
    integer,
    may_be_omitted,
    request_body,
    text,
    wire,
    wire_values,
)
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    STRING,
    Operation,
    Route,
    answer,
    path_param,
    ref,
)
from hellodoctor_http.problems import FieldError, Problem


@request_body
class SeriesBookingBody:
    """A patient's series: for themself, so no patient field at all."""

    doctor_id: str = identifier()
    first_day: date = wire(description="The first local date (doctor's zone) it may fall on.")
    time: time = wire(description="The local wall-clock start of every visit (doctor's zone).")
    rrule: str | None = text(
        200,
        default=None,
        description="RFC 5545 subset: FREQ=DAILY|WEEKLY, INTERVAL, BYDAY, COUNT or UNTIL "
        "(at most 52 occurrences). Or give weekday and count.",
    )
    weekday: str | None = wire(default=None, enum=[*wire_values(Weekday), None])
    count: int | None = integer(1, MAX_OCCURRENCES, default=None)
    type: str = choice(AppointmentType, default=AppointmentType.IN_PERSON)
    reason: str = text(MAX_TEXT, default="")
    length_minutes: int | None = integer(
        1, 24 * 60, default=None, description="A whole number of the doctor's slots."
    )
    visit_kind: str = choice(VisitKind, default=VisitKind.REGULAR)


@request_body
class SeriesStaffBookingBody(SeriesBookingBody):
    """A doctor (into their own calendar) or an admin books a series for a named patient."""

    patient_id: str = identifier(kw_only=True, description="The patient booked for.")


@request_body
class SeriesCancelBody:
    from_appointment_id: str | None = identifier(
        default=None,
        description="Cancel this occurrence and the following; default: all still to come.",
    )
    reason: str = text(MAX_TEXT, default="")


def series_json(series: Series) -> dict[str, Any]:
    return {
        "id": series.id.value,
        "doctor_id": series.doctor_id.value,
        "patient_id": series.patient_id.value,
        "occurrences": [appointment_json(a) for a in series.occurrences],
    }


_APPOINTMENTS = {"type": "array", "items": ref("Appointment")}
SCHEMAS: dict[str, Any] = {
    "AppointmentSeries": answer(
        id=STRING, doctor_id=STRING, patient_id=STRING, occurrences=_APPOINTMENTS
    ),
    "SeriesCancelled": answer(cancelled=_APPOINTMENTS),
}


def _recurrence(body: SeriesBookingBody, zone: str) -> Recurrence:
    if body.rrule is not None:
        if body.weekday is not None or body.count is not None:
            raise InvalidValue("give either rrule, or weekday and count")
        return Recurrence.parse(body.rrule, zone)
    if body.weekday is None or body.count is None:
        raise InvalidValue("give either rrule, or weekday and count")
    return Recurrence.weekly(Weekday[body.weekday.upper()].value, body.count)


class SeriesCollection(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        key = idempotency_key(req)
        body: SeriesBookingBody
        document = read_json(req, self.settings.max_body_bytes)
        named = isinstance(document, dict) and "patient_id" in document
        if actor.role is Role.PATIENT:
            assert actor.patient_id is not None
            patient_id = actor.patient_id
            if named:
                # The staff's form, schema-valid for anyone: a patient may name themself only.
                staff = structure(document, SeriesStaffBookingBody)
                if PatientId(staff.patient_id) != patient_id:
                    raise AccessDenied("patients book series for themselves")
                body = staff
            else:
                body = structure(document, SeriesBookingBody)
        else:
            if not named and isinstance(document, dict):
                # The patient's form, valid as such: staff must say for whom (a business
                # refusal of schema-valid data, not a shape error).
                structure(document, SeriesBookingBody)
                raise InvalidValue("staff book a series for a patient: give patient_id")
            staff = structure(document, SeriesStaffBookingBody)
            body, patient_id = staff, PatientId(staff.patient_id)
        doctor = self.components.scheduling.doctor(DoctorId(body.doctor_id))
        request = SeriesRequest(
            doctor_id=doctor.id,
            patient_id=patient_id,
            first_day=body.first_day,
            at=body.time,
            recurrence=_recurrence(body, doctor.time_zone),
            length=timedelta(minutes=body.length_minutes) if body.length_minutes else None,
            appointment_type=parse_enum(AppointmentType, body.type, "type"),
            visit_kind=parse_enum(VisitKind, body.visit_kind, "visit_kind"),
            reason=body.reason,
            idempotency_key=key,
        )
        try:
            series = self.components.series.book(actor, request)
        except SeriesConflict as error:
            listed = tuple(
                FieldError(f"occurrences/{i}", f"{iso(start)} {reason}")
                for i, (start, reason) in enumerate(error.refusals)
            )
            raise Problem("series-conflict", str(error), errors=listed) from None
        resp.location = f"{API}/appointment-series/{series.id.value}"
        write_json(resp, series_json(series), status=201)


class SeriesItem(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, series_id: str) -> None:
        actor = require_actor(req)
        write_json(resp, series_json(self.components.series.series(actor, SeriesId(series_id))))


class SeriesCancel(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, series_id: str) -> None:
        actor = require_actor(req)
        if may_be_omitted(SeriesCancelBody) and not req.content_length:
            body = SeriesCancelBody()
        else:
            body = self.body(req, SeriesCancelBody)
        start = (
            None if body.from_appointment_id is None else AppointmentId(body.from_appointment_id)
        )
        cancelled = self.components.series.cancel_from(
            actor, SeriesId(series_id), start, body.reason
        )
        write_json(resp, {"cancelled": [appointment_json(a) for a in cancelled]})


_SERIES = path_param("series_id", "A recurring series' id.")

ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/appointment-series",
        SeriesCollection,
        {
            "post": Operation(
                "Book a recurring series (all occurrences or none)",
                "bearer",
                "patient (for themself), doctor (own calendar), the front desk (its hospitals' "
                "doctors), admin",
                ok=201,
                response="AppointmentSeries",
                body=(SeriesBookingBody, SeriesStaffBookingBody),
                params=(IDEMPOTENCY_PARAM,),
                problems=(
                    "series-conflict",
                    "idempotency-key-reused",
                    "slot-unavailable",
                    "not-found",
                    "access-denied",
                    "invalid-value",
                    "not-accepting-bookings",
                    "invalid-duration",
                    "validation-error",
                    *BODY_PROBLEMS,
                ),
            )
        },
    ),
    Route(
        f"{API}/appointment-series/{{series_id}}",
        SeriesItem,
        {
            "get": Operation(
                "Read a recurring series",
                "bearer",
                "its patient, its doctor, the front desk of its doctor's hospitals, admin",
                response="AppointmentSeries",
                params=(_SERIES,),
                problems=("not-found",),
            )
        },
    ),
    Route(
        f"{API}/appointment-series/{{series_id}}/cancel",
        SeriesCancel,
        {
            "post": Operation(
                "Cancel an occurrence and the rest of its series",
                "bearer",
                "its patient, its doctor, the front desk of its doctor's hospitals, admin",
                response="SeriesCancelled",
                body=SeriesCancelBody,
                params=(_SERIES,),
                problems=(
                    "not-found",
                    "access-denied",
                    "cancellation-not-allowed",
                    "concurrent-update",
                    "validation-error",
                    *BODY_PROBLEMS,
                ),
            )
        },
    ),
)
