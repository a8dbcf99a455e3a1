"""A doctor's working hours and booking rules: the request bodies (weekly hours naming the
hospital they are at, breaks, time off, extra hours, slot and notice rules), their JSON, and
``/doctors/{id}/availability`` (read by anyone; replaced by the doctor or an admin, with
``If-Match`` against lost updates)."""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Any

import falcon

from hellodoctor_domain import (
    Availability,
    Doctor,
    DoctorId,
    ExtraHours,
    LocalWindow,
    TimeOff,
    Weekday,
    WorkingDay,
)
from hellodoctor_domain.errors import ConcurrencyError, InvalidValue
from hellodoctor_domain.model.values import HospitalId
from hellodoctor_http.api import Resource
from hellodoctor_http.api.doctors import MAX_DAYS_LISTED, MAX_WINDOWS, ZONE_PATTERN
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import (
    MAX_TEXT,
    check,
    choice,
    identifier,
    integer,
    items,
    quote,
    request_body,
    text,
)
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    IF_MATCH,
    STRING,
    Operation,
    Param,
    Route,
    answer,
    path_param,
    ref,
)
from hellodoctor_http.problems import FieldError, Problem, validation_problem

# -- requests -------------------------------------------------------------------------------


@request_body
class WindowBody:
    start: time
    end: time


@request_body
class WorkingDayBody:
    weekday: str = choice(Weekday)
    hours: tuple[WindowBody, ...] = items(MAX_WINDOWS)
    breaks: tuple[WindowBody, ...] = items(MAX_WINDOWS, default=())
    hospital_id: str | None = identifier(
        default=None, description="The hospital these hours are at (one the doctor works at)."
    )


@request_body
class TimeOffBody:
    first_day: date
    last_day: date
    window: WindowBody | None = None
    reason: str = text(MAX_TEXT, default="")


@request_body
class ExtraHoursBody:
    day: date
    window: WindowBody
    hospital_id: str | None = identifier(
        default=None, description="The hospital these hours are at (one the doctor works at)."
    )


@request_body
class AvailabilityBody:
    # One working day per weekday and hospital: two hospitals a day make fourteen.
    weekly: tuple[WorkingDayBody, ...] = items(14)
    time_zone: str | None = text(
        64, default=None, pattern=ZONE_PATTERN, description="Defaults to the doctor's."
    )
    slot_minutes: int = integer(1, 24 * 60, default=30)
    buffer_minutes: int = integer(0, 24 * 60, default=0)
    minimum_notice_minutes: int = integer(0, 366 * 24 * 60, default=120)
    booking_horizon_days: int = integer(1, 3 * 366, default=90)
    max_slots_per_visit: int = integer(1, 48, default=4)
    time_off: tuple[TimeOffBody, ...] = items(MAX_DAYS_LISTED, default=())
    extra_hours: tuple[ExtraHoursBody, ...] = items(MAX_DAYS_LISTED, default=())

    def to_domain(self, doctor: Doctor) -> Availability:
        def window(body: WindowBody) -> LocalWindow:
            return LocalWindow(body.start, body.end)

        return Availability(
            doctor.id,
            self.time_zone or doctor.time_zone,
            [
                WorkingDay(
                    _weekday(day.weekday),
                    [window(w) for w in day.hours],
                    breaks=[window(w) for w in day.breaks],
                    hospital_id=_hospital(day.hospital_id),
                )
                for day in self.weekly
            ],
            slot_length=timedelta(minutes=self.slot_minutes),
            buffer=timedelta(minutes=self.buffer_minutes),
            minimum_notice=timedelta(minutes=self.minimum_notice_minutes),
            booking_horizon=timedelta(days=self.booking_horizon_days),
            max_slots_per_visit=self.max_slots_per_visit,
            time_off=[
                TimeOff(
                    off.first_day,
                    off.last_day,
                    window(off.window) if off.window else None,
                    off.reason,
                )
                for off in self.time_off
            ],
            extra_hours=[
                ExtraHours(extra.day, window(extra.window), _hospital(extra.hospital_id))
                for extra in self.extra_hours
            ],
        )


def _hospital(value: str | None) -> HospitalId | None:
    return None if value is None else HospitalId(value)


def _weekday(name: str) -> Weekday:
    try:
        return Weekday[name.strip().upper()]
    except KeyError:
        raise InvalidValue(f"{quote(name)} is not a weekday (monday ... sunday)") from None


# -- answers --------------------------------------------------------------------------------


def _window(window: LocalWindow) -> dict[str, str]:
    return {"start": window.start.strftime("%H:%M"), "end": window.end.strftime("%H:%M")}


def _minutes(duration: timedelta) -> int:
    return int(duration.total_seconds() // 60)


def _hospital_json(value: HospitalId | None) -> str | None:
    return None if value is None else value.value


def availability_json(availability: Availability) -> dict[str, Any]:
    return {
        "doctor_id": availability.doctor_id.value,
        "time_zone": availability.time_zone,
        "weekly": [
            {
                "weekday": day.weekday.name.lower(),
                "hours": [_window(w) for w in day.hours],
                "breaks": [_window(w) for w in day.breaks],
                "hospital_id": _hospital_json(day.hospital_id),
            }
            for day in availability.weekly
        ],
        "slot_minutes": _minutes(availability.slot_length),
        "buffer_minutes": _minutes(availability.buffer),
        "minimum_notice_minutes": _minutes(availability.minimum_notice),
        "booking_horizon_days": availability.booking_horizon.days,
        "max_slots_per_visit": availability.max_slots_per_visit,
        "time_off": [
            {
                "first_day": off.first_day.isoformat(),
                "last_day": off.last_day.isoformat(),
                "window": _window(off.window) if off.window else None,
                "reason": off.reason,
            }
            for off in availability.time_off
        ],
        "extra_hours": [
            {
                "day": extra.day.isoformat(),
                "window": _window(extra.window),
                "hospital_id": _hospital_json(extra.hospital_id),
            }
            for extra in availability.extra_hours
        ],
        "version": availability.version,
    }


SCHEMAS: dict[str, Any] = {
    "Availability": answer(
        doctor_id=STRING,
        time_zone=STRING,
        weekly={"type": "array", "items": ref("WorkingDayInput")},
        slot_minutes={"type": "integer"},
        buffer_minutes={"type": "integer"},
        minimum_notice_minutes={"type": "integer"},
        booking_horizon_days={"type": "integer"},
        max_slots_per_visit={"type": "integer"},
        time_off={"type": "array", "items": ref("TimeOffInput")},
        extra_hours={"type": "array", "items": ref("ExtraHoursInput")},
        version={"type": "integer", "description": "Also the ETag; send it as If-Match."},
    ),
}

# -- resources ------------------------------------------------------------------------------


class DoctorAvailability(Resource):
    def on_get(self, _req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        availability = self.components.scheduling.availability(DoctorId(doctor_id))
        resp.etag = _etag(availability.version)
        write_json(resp, availability_json(availability))

    def on_put(self, req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        actor = require_actor(req)
        if_version = _if_match(req)
        body = self.body(req, AvailabilityBody)
        scheduling = self.components.scheduling
        doctor = scheduling.doctor(DoctorId(doctor_id))
        availability = body.to_domain(doctor)
        try:
            stored = scheduling.define_availability(actor, availability, if_version=if_version)
        except ConcurrencyError:
            if if_version is None:
                raise
            raise Problem(
                "precondition-failed", f"the availability is no longer at version {if_version}"
            ) from None
        resp.etag = _etag(stored.version)
        write_json(resp, availability_json(stored))


def _etag(version: int) -> str:
    return f'"{version}"'


def _if_match(req: falcon.Request) -> int | None:
    header = req.get_header("If-Match")
    if header is None or header.strip() == "*":
        return None
    if check(IF_MATCH, header.strip()) is not None:
        raise validation_problem([FieldError("If-Match", 'the ETag this API gave out, e.g. "3"')])
    return int(header.strip().strip('"'))


# -- routes ---------------------------------------------------------------------------------

_DOCTOR = path_param("doctor_id", "A doctor's id.")
ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/doctors/{{doctor_id}}/availability",
        DoctorAvailability,
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
                        IF_MATCH,
                        'The ETag last read ("3"); refused with 412 if it changed since.',
                    ),
                ),
                problems=(
                    "access-denied",
                    "not-found",
                    "precondition-failed",
                    "invalid-value",
                    "concurrent-update",
                    *BODY_PROBLEMS,
                ),
                headers=("ETag",),
            ),
        },
    ),
)
