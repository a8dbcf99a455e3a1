"""The clinic's day (issue 17): check a patient in, call them in, and read a doctor's day and
waiting room (patient names, ages and reasons, in the doctor's time zone).

A visit's answer here is the appointment (``Appointment``) with its ``stage`` and the moments
of each step beside it (``VisitProgress``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

import falcon

from hellodoctor_domain import Actor, AppointmentId, DoctorId
from hellodoctor_domain.errors import TimeOffCollides
from hellodoctor_domain.model.appointment import Appointment, VisitStage
from hellodoctor_domain.model.availability import LocalWindow, TimeOff
from hellodoctor_domain.use_cases.clinic_day import DayEntry, DayView
from hellodoctor_domain.use_cases.time_off import TimeOffAdded
from hellodoctor_http.api import Resource
from hellodoctor_http.api.appointments import (
    APPOINTMENT,
    EmptyBody,
    appointment_json,
)
from hellodoctor_http.api.availability import WindowBody, availability_json
from hellodoctor_http.api.values import iso
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import (
    DATE_PATTERN,
    MAX_TEXT,
    request_body,
    text,
    wire,
    wire_values,
)
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    NULLABLE_DATETIME,
    STRING,
    Operation,
    Route,
    answer,
    path_param,
    query_param,
    ref,
    to_appointment,
)
from hellodoctor_http.params import QueryReader
from hellodoctor_http.problems import FieldError, Problem

_NULLABLE_INTEGER = {"type": ["integer", "null"]}


def progress_json(appointment: Appointment) -> dict[str, Any]:
    return {
        "appointment": appointment_json(appointment),
        "stage": appointment.stage.value,
        "arrived_at": iso(appointment.arrived_at),
        "consultation_started_at": iso(appointment.consultation_started_at),
        "completed_at": iso(appointment.completed_at),
    }


def _entry_json(entry: DayEntry) -> dict[str, Any]:
    return {
        **progress_json(entry.appointment),
        "patient_name": entry.patient_name,
        "patient_age": entry.age,
        "reason": entry.appointment.reason,
        "local_start": entry.local_start.isoformat(),
        "local_end": entry.local_end.isoformat(),
    }


def day_json(view: DayView) -> dict[str, Any]:
    return {
        "doctor_id": view.doctor.id.value,
        "doctor_name": view.doctor.name,
        "date": view.day.isoformat(),
        "time_zone": view.time_zone,
        "items": [_entry_json(entry) for entry in view.entries],
    }


_PROGRESS = {
    "appointment": ref("Appointment"),
    "stage": {"enum": wire_values(VisitStage)},
    "arrived_at": NULLABLE_DATETIME,
    "consultation_started_at": NULLABLE_DATETIME,
    "completed_at": NULLABLE_DATETIME,
}
SCHEMAS: dict[str, Any] = {
    "TimeOffAdded": answer(
        availability=ref("Availability"),
        cancelled={"type": "array", "items": ref("Appointment")},
        still_booked={
            "type": "array",
            "items": ref("Appointment"),
            "description": "Booked inside it by a request that raced the change.",
        },
    ),
    "VisitProgress": answer(**_PROGRESS),
    "DoctorDay": answer(
        doctor_id=STRING,
        doctor_name=STRING,
        date={"type": "string", "format": "date"},
        time_zone=STRING,
        items={
            "type": "array",
            "items": answer(
                **_PROGRESS,
                patient_name=STRING,
                patient_age={**_NULLABLE_INTEGER, "description": "Whole years on the day."},
                reason=STRING,
                local_start={**STRING, "description": "In the doctor's zone, with its offset."},
                local_end=STRING,
            ),
        },
    ),
}


class CheckIn(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, appointment_id: str) -> None:
        actor = require_actor(req)
        self.body_or_nothing(req)
        write_json(resp, progress_json(self.step(actor, AppointmentId(appointment_id))))

    def body_or_nothing(self, req: falcon.Request) -> None:
        if req.content_length:
            self.body(req, EmptyBody)

    def step(self, actor: Actor, key: AppointmentId) -> Appointment:
        return self.components.clinic_day.check_in(actor, key)


class CallIn(CheckIn):
    def step(self, actor: Actor, key: AppointmentId) -> Appointment:
        return self.components.clinic_day.start_consultation(actor, key)


_DAY_PARAMS = (
    query_param(
        "date",
        {"type": "string", "format": "date", "pattern": DATE_PATTERN, "maxLength": 10},
        "A date in the doctor's zone (YYYY-MM-DD). Default: today there.",
    ),
)


@request_body
class NewTimeOffBody:
    first_day: date
    last_day: date
    window: WindowBody | None = None
    reason: str = text(MAX_TEXT, default="")
    cancel_bookings: bool = wire(
        default=False,
        description="Cancel the appointments it covers (full refunds) instead of a 409.",
    )


def time_off_added_json(added: TimeOffAdded) -> dict[str, Any]:
    return {
        "availability": availability_json(added.availability),
        "cancelled": [appointment_json(a) for a in added.cancelled],
        "still_booked": [appointment_json(a) for a in added.still_booked],
    }


class DoctorTimeOff(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, NewTimeOffBody)
        window = None if body.window is None else LocalWindow(body.window.start, body.window.end)
        time_off = TimeOff(body.first_day, body.last_day, window, body.reason)
        try:
            added = self.components.time_off.add_time_off(
                actor, DoctorId(doctor_id), time_off, cancel_bookings=body.cancel_bookings
            )
        except TimeOffCollides as error:
            listed = tuple(
                FieldError(f"appointments/{i}", f"{key} at {iso(start)}")
                for i, (key, start) in enumerate(error.collisions)
            )
            raise Problem("time-off-collides", str(error), errors=listed) from None
        write_json(resp, time_off_added_json(added), status=201)


class DoctorDay(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        actor = require_actor(req)
        params = QueryReader(req, _DAY_PARAMS)
        raw = params.text("date")
        day = None
        if raw is not None:
            try:
                day = date.fromisoformat(raw)
            except ValueError:
                params.fail("date", "not a date (YYYY-MM-DD)")
        params.done()
        write_json(resp, day_json(self.components.clinic_day.day(actor, DoctorId(doctor_id), day)))


class WaitingRoom(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        actor = require_actor(req)
        QueryReader(req, ()).done()
        view = self.components.clinic_day.waiting_room(actor, DoctorId(doctor_id))
        write_json(resp, day_json(view))


_DOCTOR = path_param("doctor_id", "A doctor's id.")
_STEP_PROBLEMS = ("access-denied", "not-found", "illegal-transition", "concurrent-update")


def _step(path: str, resource: type[CheckIn], summary: str, who: str) -> Route:
    return Route(
        f"{API}/appointments/{{appointment_id}}/{path}",
        resource,
        {
            "post": Operation(
                summary,
                "bearer",
                who,
                response="VisitProgress",
                body=EmptyBody,
                params=(APPOINTMENT,),
                problems=(*_STEP_PROBLEMS, *BODY_PROBLEMS),
                links=to_appointment("get_appointment_item", key="$response.body#/appointment/id"),
            )
        },
    )


def _day(path: str, resource: type[Resource], summary: str, params: tuple[Any, ...]) -> Route:
    return Route(
        f"{API}/doctors/{{doctor_id}}/{path}",
        resource,
        {
            "get": Operation(
                summary,
                "bearer",
                "that doctor, the receptionists of their hospitals, admin",
                response="DoctorDay",
                params=(_DOCTOR, *params),
                problems=("access-denied", "not-found", "validation-error", "invalid-value"),
            )
        },
    )


ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/doctors/{{doctor_id}}/time-off",
        DoctorTimeOff,
        {
            "post": Operation(
                "Add time off; refused (409) while it covers appointments, unless "
                "cancel_bookings cancels them with full refunds",
                "bearer",
                "that doctor, admin",
                ok=201,
                response="TimeOffAdded",
                body=NewTimeOffBody,
                params=(_DOCTOR,),
                problems=(
                    "access-denied",
                    "not-found",
                    "time-off-collides",
                    "invalid-value",
                    "concurrent-update",
                    *BODY_PROBLEMS,
                ),
            )
        },
    ),
    _step(
        "check-in",
        CheckIn,
        "The patient arrived (booked -> arrived)",
        "its doctor, the receptionists of its doctor's hospitals, admin",
    ),
    _step(
        "call-in",
        CallIn,
        "The doctor calls the patient in (arrived -> in consultation)",
        "its doctor, the receptionists of its doctor's hospitals, admin",
    ),
    _day(
        "day",
        DoctorDay,
        "A doctor's day: every visit with patient names, ages and reasons",
        _DAY_PARAMS,
    ),
    _day("waiting-room", WaitingRoom, "Who is in today: arrived or with the doctor", ()),
)
