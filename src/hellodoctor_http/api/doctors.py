"""Doctors: finding them, an admin adding one, their working hours and booking rules (ETag and
If-Match guard concurrent edits), and their free slots."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

import falcon

from hellodoctor_domain import (
    Availability,
    Doctor,
    DoctorId,
    ExtraHours,
    FreeSlot,
    LocalWindow,
    Role,
    TimeOff,
    TimeRange,
    Weekday,
    WorkingDay,
)
from hellodoctor_domain.errors import ConcurrencyError, InvalidValue, NotFound
from hellodoctor_domain.model.reviews import DoctorRating
from hellodoctor_domain.model.values import EmailAddress, HospitalId, utc
from hellodoctor_domain.ports.scheduling import DoctorQuery
from hellodoctor_http.api import Resource
from hellodoctor_http.api.values import MoneyBody, iso, money
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
    CURSOR_PARAM,
    DATETIME,
    IF_MATCH,
    STRING,
    Link,
    Operation,
    Param,
    Route,
    answer,
    day_or_moment_query,
    id_query,
    integer_query,
    page,
    path_param,
    query_param,
    ref,
    text_query,
)
from hellodoctor_http.params import QueryReader, encode_cursor
from hellodoctor_http.problems import FieldError, Problem, validation_problem

# -- requests -------------------------------------------------------------------------------


# How many of each a doctor's week may list: far more than any real timetable.
MAX_WINDOWS = 24
MAX_DAYS_LISTED = 366
# A time zone name as the IANA database writes them (America/Argentina/ComodRivadavia).
ZONE_PATTERN = "^[A-Za-z0-9_+/-]{1,64}$"
TIME_ZONE = {"maxLength": 64, "pattern": ZONE_PATTERN}


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


@request_body
class DoctorInviteBody:
    """An admin adds a doctor; the id is made by the server, the fee is whole minor units."""

    email: EmailAddress
    name: str = text(MAX_TEXT)
    specialty: str = text(MAX_TEXT)
    registration_number: str = text(MAX_TEXT)
    consultation_fee: MoneyBody
    time_zone: str = text(64, pattern=ZONE_PATTERN, description="IANA zone the doctor works in.")
    qualifications: tuple[str, ...] = items(20, default=(), each={"maxLength": 200})
    languages: tuple[str, ...] = items(20, default=(), each={"maxLength": 35})

    def to_domain(self, key: DoctorId) -> Doctor:
        return Doctor(
            key,
            self.name,
            self.specialty,
            self.registration_number,
            self.consultation_fee.to_domain(),
            self.time_zone,
            qualifications=self.qualifications,
            languages=self.languages,
            email=self.email,
        )


# -- answers --------------------------------------------------------------------------------


def doctor_json(doctor: Doctor, rating: DoctorRating | None = None) -> dict[str, Any]:
    """The public profile, with the rating from the doctor's visible reviews."""
    shown = rating or DoctorRating(doctor.id)
    return {
        "id": doctor.id.value,
        "name": doctor.name,
        "specialty": doctor.specialty,
        "registration_number": doctor.registration_number,
        "qualifications": list(doctor.qualifications),
        "languages": list(doctor.languages),
        "time_zone": doctor.time_zone,
        "consultation_fee": money(doctor.consultation_fee),
        "accepting_bookings": doctor.accepting_bookings,
        "rating": {"average": shown.average, "count": shown.count},
    }


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


def slot_json(slot: FreeSlot) -> dict[str, Any]:
    return {
        "start": iso(slot.time.start),
        "end": iso(slot.time.end),
        "local_start": slot.local_start.isoformat(),
        "local_end": slot.local_end.isoformat(),
    }


# The working hours answer in the shape they are put (the *Input schemas).
SCHEMAS: dict[str, Any] = {
    "Doctor": answer(
        id=STRING,
        name=STRING,
        specialty=STRING,
        registration_number=STRING,
        qualifications={"type": "array", "items": STRING},
        languages={"type": "array", "items": STRING},
        time_zone={"type": "string", "description": "IANA zone the doctor works in."},
        consultation_fee=ref("Money"),
        accepting_bookings={"type": "boolean"},
        rating=ref("Rating"),
    ),
    "DoctorPage": page("Doctor"),
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
    "Slot": answer(
        start=DATETIME,
        end=DATETIME,
        local_start={**DATETIME, "description": "In the requested zone (tz)."},
        local_end=DATETIME,
    ),
    "SlotList": answer(
        doctor_id=STRING,
        **{"from": DATETIME},
        to=DATETIME,
        time_zone={"type": ["string", "null"]},
        slots={"type": "array", "items": ref("Slot")},
    ),
}

# -- query parameters: the resources read them through these declarations ------------------

_FIND_PARAMS = (
    text_query("specialty", "Exact, case-insensitive."),
    text_query("language", "One of the doctor's languages."),
    text_query("text", "Part of the name or specialty."),
    query_param("accepting", {"type": "boolean"}, "Only doctors taking bookings."),
    id_query("hospital_id", "Only that hospital's doctors."),
    text_query("city", "Only doctors of the city's hospitals."),
    CURSOR_PARAM,
    integer_query("limit", 1, 100, 20),
)
_SLOT_PARAMS = (
    day_or_moment_query("from", "A date: its start in tz, or the doctor's zone. Default: now."),
    day_or_moment_query(
        "to",
        "A date is the end of that day in tz (or the doctor's zone). Default: from + 7 days; at"
        " most 31 days after from.",
    ),
    query_param("tz", {"type": "string", **TIME_ZONE}, "IANA zone for local times."),
    integer_query(
        "length_minutes", 1, 24 * 60, description="Visit length (whole slots); default one slot."
    ),
)

# -- resources ------------------------------------------------------------------------------


class Doctors(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = QueryReader(req, _FIND_PARAMS)
        hospital, city = params.text("hospital_id"), params.text("city")
        specialty, language, words = (
            params.text("specialty"),
            params.text("language"),
            params.text("text"),
        )
        accepting = params.boolean("accepting")
        limit = params.count("limit")
        cursor = params.cursor()
        after = None
        if cursor is not None:
            if isinstance(cursor, dict) and isinstance(cursor.get("after"), str):
                after = DoctorId(cursor["after"])  # a cursor's strings are clean (params)
            else:
                params.fail("cursor", "not a cursor this API gave out")
        params.done()
        among = None
        if hospital is not None or city is not None:
            hospital_id = None if hospital is None else HospitalId(hospital)
            among = self.components.hospitals.doctors_at(hospital_id, city)
        query = DoctorQuery(
            among=among,
            specialty=specialty,
            language=language,
            text=words,
            accepting_bookings=accepting,
            after=after,
            limit=limit + 1,  # one more than asked: whether there is a next page
        )
        found = self.components.scheduling.find_doctors(query)
        shown = found[:limit]
        ratings = self.components.reviews.ratings([doctor.id for doctor in shown])
        write_json(
            resp,
            {
                "items": [doctor_json(doctor, ratings[doctor.id]) for doctor in shown],
                "next_cursor": encode_cursor({"after": shown[-1].id.value})
                if len(found) > limit
                else None,
            },
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """An admin adds a doctor; the doctor gets an e-mailed link to set a password."""
        actor = require_actor(req)
        if actor.role is not Role.ADMIN:  # before reading the body: no hints to others
            raise Problem("access-denied", "only an admin may add doctors")
        body = self.body(req, DoctorInviteBody)
        doctor = body.to_domain(DoctorId(f"dr-{self.components.ids.new_id()}"))
        created = self.components.identity.invite_doctor(actor, doctor, body.email)
        resp.location = f"{API}/doctors/{created.id.value}"
        write_json(resp, doctor_json(created), status=201)


class DoctorItem(Resource):
    def on_get(self, _req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        doctor = self.components.scheduling.doctor(DoctorId(doctor_id))
        rating = self.components.reviews.ratings([doctor.id])[doctor.id]
        write_json(resp, doctor_json(doctor, rating))


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


class DoctorSlots(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        scheduling = self.components.scheduling
        params = QueryReader(req, _SLOT_PARAMS)
        zone = params.zone("tz")
        days_in = zone or _plain_date_zone(req, lambda: scheduling.doctor(DoctorId(doctor_id)))
        start = params.day_or_moment("from", days_in) or self.components.clock.now()
        end = params.day_or_moment("to", days_in, end=True) or start + timedelta(days=7)
        length = params.integer("length_minutes")
        longest = scheduling.settings.longest_slot_listing
        if end <= start:
            params.fail("to", "must be after from")
        elif end - start > longest:
            params.fail("to", f"at most {longest.days} days after from")
        params.done()
        slots = scheduling.free_slots(
            DoctorId(doctor_id),
            TimeRange(start, end),
            display_zone=zone,
            length=timedelta(minutes=length) if length else None,
        )
        write_json(
            resp,
            {
                "doctor_id": doctor_id,
                "from": _iso(start),
                "to": _iso(end),
                "time_zone": zone,
                "slots": [slot_json(slot) for slot in slots],
            },
        )


def _plain_date_zone(req: falcon.Request, doctor: Callable[[], Doctor]) -> str | None:
    """The doctor's zone when ``from`` or ``to`` is a plain date (looked up only then)."""
    plain = any(len(req.get_param(name) or "") == len("2030-01-07") for name in ("from", "to"))
    if not plain:
        return None
    try:
        return doctor().time_zone
    except NotFound:
        return None  # the listing answers 404 for an unknown doctor


def _iso(moment: datetime) -> str:
    return iso(utc(moment)) or ""


# -- routes ---------------------------------------------------------------------------------

_DOCTOR = path_param("doctor_id", "A doctor's id.")


def _to_doctor(key: str) -> tuple[Link, ...]:
    """From an answer naming a doctor (at ``key``) to the calls about that doctor."""
    names = (
        "get_doctor_item",
        "get_doctor_availability",
        "put_doctor_availability",
        "get_doctor_slots",
    )
    return tuple(Link(name, name, {"doctor_id": key}) for name in names)


ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/doctors",
        Doctors,
        {
            "get": Operation(
                "Find doctors",
                "public",
                "anyone",
                response="DoctorPage",
                params=_FIND_PARAMS,
                problems=("validation-error", "not-found"),
                links=_to_doctor("$response.body#/items/0/id"),
            ),
            "post": Operation(
                "Add a doctor (they are e-mailed a link to set their password)",
                "bearer",
                "admin",
                ok=201,
                response="Doctor",
                body=DoctorInviteBody,
                problems=("access-denied", "already-exists", "invalid-value", *BODY_PROBLEMS),
                headers=("Location",),
                links=_to_doctor("$response.body#/id"),
            ),
        },
    ),
    Route(
        f"{API}/doctors/{{doctor_id}}",
        DoctorItem,
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
    Route(
        f"{API}/doctors/{{doctor_id}}/slots",
        DoctorSlots,
        {
            "get": Operation(
                "Free slots of a doctor",
                "public",
                "anyone",
                response="SlotList",
                params=(_DOCTOR, *_SLOT_PARAMS),
                problems=("not-found", "validation-error", "invalid-duration"),
                links=(
                    Link(
                        "post_appointments",
                        "post_appointments",
                        request_body={
                            "doctor_id": "$request.path.doctor_id",
                            "start": "$response.body#/slots/0/start",
                        },
                    ),
                ),
            )
        },
    ),
)
