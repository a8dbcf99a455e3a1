"""Doctors: finding them, an admin adding one, their working hours and booking rules (ETag and
If-Match guard concurrent edits), and their free slots."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import falcon

from hellodoctor_domain import (
    Doctor,
    DoctorId,
    FreeSlot,
    Role,
    TimeRange,
)
from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.reviews import DoctorRating
from hellodoctor_domain.model.values import EmailAddress, utc
from hellodoctor_http.api import Resource
from hellodoctor_http.api.doctor_search import SEARCH_PARAMS, find_doctors
from hellodoctor_http.api.values import MoneyBody, iso, money
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import (
    MAX_TEXT,
    items,
    request_body,
    text,
)
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    DATETIME,
    NULLABLE_DATETIME,
    STRING,
    Link,
    Operation,
    Route,
    answer,
    day_or_moment_query,
    integer_query,
    page,
    path_param,
    query_param,
    ref,
)
from hellodoctor_http.params import QueryReader
from hellodoctor_http.problems import Problem

# -- requests -------------------------------------------------------------------------------


# How many of each a doctor's week may list: far more than any real timetable.
MAX_WINDOWS = 24
MAX_DAYS_LISTED = 366
# A time zone name as the IANA database writes them (America/Argentina/ComodRivadavia).
ZONE_PATTERN = "^[A-Za-z0-9_+/-]{1,64}$"
TIME_ZONE = {"maxLength": 64, "pattern": ZONE_PATTERN}


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


def slot_json(slot: FreeSlot) -> dict[str, Any]:
    return {
        "start": iso(slot.time.start),
        "end": iso(slot.time.end),
        "local_start": slot.local_start.isoformat(),
        "local_end": slot.local_end.isoformat(),
    }


# The working hours answer in the shape they are put (the *Input schemas).
_DOCTOR_FIELDS: dict[str, Any] = {
    "id": STRING,
    "name": STRING,
    "specialty": STRING,
    "registration_number": STRING,
    "qualifications": {"type": "array", "items": STRING},
    "languages": {"type": "array", "items": STRING},
    "time_zone": {"type": "string", "description": "IANA zone the doctor works in."},
    "consultation_fee": ref("Money"),
    "accepting_bookings": {"type": "boolean"},
    "rating": ref("Rating"),
}
SCHEMAS: dict[str, Any] = {
    "Doctor": answer(**_DOCTOR_FIELDS),
    "DoctorPage": page("Doctor"),
    "DoctorHit": answer(**_DOCTOR_FIELDS, next_free_slot=NULLABLE_DATETIME),
    "DoctorHitPage": page("DoctorHit"),
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
        """The doctor search (api/doctor_search.py): one use-case call per page."""
        find_doctors(self.components, req, resp)

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
                response="DoctorHitPage",
                params=SEARCH_PARAMS,
                problems=("validation-error", "invalid-value", "not-found"),
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
