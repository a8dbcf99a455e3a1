"""The waitlist (issue 17 item 1): a patient joins a doctor's waitlist for a range of days and
a part of the day (or a window of local times, the doctor's zone), sees and leaves their
entries, and accepts or declines a freed time offered to them (held for them meanwhile).
Doctors see their own waitlist, admins any. An entry not the caller's is 404, like an unknown
one.
"""

from __future__ import annotations

from datetime import date, time
from typing import Any

import falcon

from hellodoctor_domain import DoctorId
from hellodoctor_domain.errors import AccessDenied, InvalidValue
from hellodoctor_domain.model.values import Role
from hellodoctor_domain.model.waitlist import (
    DAY_MINUTES,
    DayPart,
    WaitlistEntry,
    WaitlistEntryId,
    WaitlistStatus,
)
from hellodoctor_domain.use_cases.waitlist import JoinRequest, Waitlist
from hellodoctor_http.api import Resource
from hellodoctor_http.api.appointments import EmptyBody, appointment_json
from hellodoctor_http.api.availability import WindowBody
from hellodoctor_http.api.values import iso
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import choice, identifier, request_body, wire_values
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    DATETIME,
    NULLABLE_DATETIME,
    STRING,
    Operation,
    Route,
    answer,
    integer_query,
    path_param,
    query_param,
    ref,
)
from hellodoctor_http.params import QueryReader

# -- requests -------------------------------------------------------------------------------


@request_body
class WaitlistJoinBody:
    doctor_id: str = identifier()
    first_day: date
    last_day: date
    part_of_day: str = choice(
        DayPart,
        default=DayPart.ANY,
        description="morning 06-12, afternoon 12-17, evening 17-22, any (the default); "
        "or give window instead.",
    )
    window: WindowBody | None = None


# -- answers --------------------------------------------------------------------------------


def _clock(minutes: int) -> str:
    return "24:00" if minutes == DAY_MINUTES else f"{minutes // 60:02d}:{minutes % 60:02d}"


def entry_json(entry: WaitlistEntry) -> dict[str, Any]:
    offer = None
    if entry.offered_appointment_id is not None and entry.offered_time is not None:
        offer = {
            "appointment_id": entry.offered_appointment_id.value,
            "start": iso(entry.offered_time.start),
            "end": iso(entry.offered_time.end),
            "expires_at": iso(entry.offer_expires_at),
        }
    return {
        "id": entry.id.value,
        "doctor_id": entry.doctor_id.value,
        "patient_id": entry.patient_id.value,
        "first_day": entry.first_day.isoformat(),
        "last_day": entry.last_day.isoformat(),
        "window": {"start": _clock(entry.window_start), "end": _clock(entry.window_end)},
        "status": entry.status.value,
        "joined_at": iso(entry.joined_at),
        "offer": offer,
        "closed_at": iso(entry.closed_at),
    }


_DAY = {"type": "string", "format": "date"}
SCHEMAS: dict[str, Any] = {
    "WaitlistOffer": answer(
        appointment_id=STRING, start=DATETIME, end=DATETIME, expires_at=DATETIME
    ),
    "WaitlistEntry": answer(
        id=STRING,
        doctor_id=STRING,
        patient_id=STRING,
        first_day=_DAY,
        last_day=_DAY,
        window=answer(
            start={**STRING, "description": "HH:MM, the doctor's zone"},
            end={**STRING, "description": "HH:MM (24:00: the end of the day)"},
        ),
        status={"enum": wire_values(WaitlistStatus)},
        joined_at=DATETIME,
        offer={"oneOf": [{"type": "null"}, ref("WaitlistOffer")]},
        closed_at=NULLABLE_DATETIME,
    ),
    "WaitlistEntries": answer(items={"type": "array", "items": ref("WaitlistEntry")}),
}


def _minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute


def _window(body: WaitlistJoinBody) -> tuple[int, int]:
    if body.window is not None and body.part_of_day != DayPart.ANY.value:
        raise InvalidValue("give part_of_day or window, not both")
    if body.window is not None:
        start, end = _minutes(body.window.start), _minutes(body.window.end)
        # 00:00 as the end is midnight ending the day.
        return start, DAY_MINUTES if end == 0 else end
    return DayPart(body.part_of_day).minutes


# -- resources ------------------------------------------------------------------------------

_STATUS = query_param(
    "status",
    {"type": "string", "maxLength": 16, "enum": wire_values(WaitlistStatus)},
    "Only entries in this state.",
)
_LIST_PARAMS = (_STATUS, integer_query("limit", 1, 200, 50))


def _read_list(req: falcon.Request) -> tuple[frozenset[WaitlistStatus] | None, int]:
    params = QueryReader(req, _LIST_PARAMS)
    raw = params.text("status")
    limit = params.count("limit")
    statuses = None
    if raw is not None:
        if raw in wire_values(WaitlistStatus):
            statuses = frozenset({WaitlistStatus(raw)})
        else:
            params.fail("status", "not a waitlist state")
    params.done()
    return statuses, limit


class _WaitlistResource(Resource):
    @property
    def _waitlist(self) -> Waitlist:
        assert self.components.waitlist is not None
        return self.components.waitlist


class WaitlistCollection(_WaitlistResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        body = self.body(req, WaitlistJoinBody)
        if actor.role is not Role.PATIENT or actor.patient_id is None:
            raise AccessDenied("patients join waitlists")
        start, end = _window(body)
        entry = self._waitlist.join(
            actor,
            JoinRequest(
                patient_id=actor.patient_id,
                doctor_id=DoctorId(body.doctor_id),
                first_day=body.first_day,
                last_day=body.last_day,
                window_start=start,
                window_end=end,
            ),
        )
        resp.location = f"{API}/waitlist/{entry.id.value}"
        write_json(resp, entry_json(entry), status=201)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        statuses, limit = _read_list(req)
        found = self._waitlist.entries(actor, statuses=statuses, limit=limit)
        write_json(resp, {"items": [entry_json(entry) for entry in found]})


class WaitlistItem(_WaitlistResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, entry_id: str) -> None:
        actor = require_actor(req)
        write_json(resp, entry_json(self._waitlist.entry(actor, WaitlistEntryId(entry_id))))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, entry_id: str) -> None:
        actor = require_actor(req)
        write_json(resp, entry_json(self._waitlist.leave(actor, WaitlistEntryId(entry_id))))


class WaitlistAccept(_WaitlistResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, entry_id: str) -> None:
        actor = require_actor(req)
        if req.content_length:
            self.body(req, EmptyBody)
        appointment = self._waitlist.accept(actor, WaitlistEntryId(entry_id))
        write_json(resp, appointment_json(appointment))


class WaitlistDecline(_WaitlistResource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, entry_id: str) -> None:
        actor = require_actor(req)
        if req.content_length:
            self.body(req, EmptyBody)
        write_json(resp, entry_json(self._waitlist.decline(actor, WaitlistEntryId(entry_id))))


class DoctorWaitlist(_WaitlistResource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        actor = require_actor(req)
        statuses, limit = _read_list(req)
        if actor.role is Role.PATIENT:
            raise AccessDenied("only the doctor and admins see a doctor's waitlist")
        found = self._waitlist.entries(
            actor, doctor_id=DoctorId(doctor_id), statuses=statuses, limit=limit
        )
        write_json(resp, {"items": [entry_json(entry) for entry in found]})


# -- routes ---------------------------------------------------------------------------------

_ENTRY = path_param("entry_id", "A waitlist entry's id.")
_MOVE_PROBLEMS = ("not-found", "illegal-transition", "concurrent-update", *BODY_PROBLEMS)
ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/waitlist",
        WaitlistCollection,
        {
            "post": Operation(
                "Join a doctor's waitlist for a range of days and a part of the day",
                "bearer",
                "patient (for themselves)",
                ok=201,
                response="WaitlistEntry",
                body=WaitlistJoinBody,
                problems=("access-denied", "not-found", "invalid-value", *BODY_PROBLEMS),
                headers=("Location",),
            ),
            "get": Operation(
                "Waitlist entries: a patient's own, a doctor's waitlist, or (admin) all",
                "bearer",
                "patient, doctor, admin",
                response="WaitlistEntries",
                params=_LIST_PARAMS,
                problems=("access-denied", "validation-error"),
            ),
        },
    ),
    Route(
        f"{API}/waitlist/{{entry_id}}",
        WaitlistItem,
        {
            "get": Operation(
                "A waitlist entry",
                "bearer",
                "its patient, its doctor, admin; anyone else gets 404",
                response="WaitlistEntry",
                params=(_ENTRY,),
                problems=("not-found",),
            ),
            "delete": Operation(
                "Leave the waitlist (an offer not accepted yet is given up)",
                "bearer",
                "its patient, admin; anyone else gets 404",
                response="WaitlistEntry",
                params=(_ENTRY,),
                problems=("not-found", "illegal-transition", "concurrent-update"),
            ),
        },
    ),
    Route(
        f"{API}/waitlist/{{entry_id}}/accept",
        WaitlistAccept,
        {
            "post": Operation(
                "Accept the offered time: booked (free visit) or held for payment",
                "bearer",
                "its patient, admin; anyone else gets 404",
                response="Appointment",
                body=EmptyBody,
                params=(_ENTRY,),
                problems=("hold-expired", *_MOVE_PROBLEMS),
            )
        },
    ),
    Route(
        f"{API}/waitlist/{{entry_id}}/decline",
        WaitlistDecline,
        {
            "post": Operation(
                "Decline the offered time (it is offered to the next patient waiting)",
                "bearer",
                "its patient, admin; anyone else gets 404",
                response="WaitlistEntry",
                body=EmptyBody,
                params=(_ENTRY,),
                problems=_MOVE_PROBLEMS,
            )
        },
    ),
    Route(
        f"{API}/doctors/{{doctor_id}}/waitlist",
        DoctorWaitlist,
        {
            "get": Operation(
                "A doctor's waitlist, in join order",
                "bearer",
                "that doctor, admin",
                response="WaitlistEntries",
                params=(path_param("doctor_id", "A doctor's id."), *_LIST_PARAMS),
                problems=("access-denied", "not-found", "validation-error"),
            )
        },
    ),
)
