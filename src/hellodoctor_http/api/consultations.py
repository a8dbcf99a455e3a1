"""Video consultations: a single-use ticket to an appointment's room (with the WebSocket URL
and the ICE servers to use), and the room's attendance. The signalling itself is served by
``hellodoctor_http.signalling`` (``hellodoctor signal``); docs/telemedicine.md has the protocol.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import falcon

from hellodoctor_domain import AppointmentId
from hellodoctor_http.api import Resource
from hellodoctor_http.api.values import iso
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.openapi import (
    API,
    DATETIME,
    STRING,
    Operation,
    Route,
    answer,
    path_param,
    ref,
)

SEAT = {"type": "string", "enum": ["doctor", "patient"]}
ICE_SERVER = {
    "type": "object",
    "required": ["urls"],
    "properties": {
        "urls": {"type": "array", "items": STRING},
        "username": STRING,
        "credential": STRING,
    },
    "additionalProperties": False,
}
SCHEMAS: dict[str, Any] = {
    "RoomTicket": answer(
        ticket={"type": "string", "description": "Single-use; present it within expires_at."},
        url={"type": "string", "description": "The WebSocket to open, ticket included."},
        expires_at=DATETIME,
        seat=SEAT,
        room_opens_at=DATETIME,
        room_closes_at=DATETIME,
        ice_servers={"type": "array", "items": ICE_SERVER},
    ),
    "RoomPresence": answer(
        user_id=STRING,
        seat=SEAT,
        presence={"type": "string", "enum": ["joined", "left"]},
        at=DATETIME,
    ),
    "RoomAttendance": answer(items={"type": "array", "items": ref("RoomPresence")}),
}


def room_path(appointment_id: str) -> str:
    return f"/ws/rooms/{quote(appointment_id, safe='')}"


class RoomTicketResource(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, appointment_id: str) -> None:
        actor = require_actor(req)
        issued = self.components.consultations.issue_ticket(actor, AppointmentId(appointment_id))
        url = f"{self.settings.signalling_url}{room_path(appointment_id)}?ticket={issued.ticket}"
        ice_servers = self.components.ice_servers.for_user(
            actor.user_id.value, self.components.clock.now()
        )
        write_json(
            resp,
            {
                "ticket": issued.ticket,
                "url": url,
                "expires_at": iso(issued.expires_at),
                "seat": issued.seat.value,
                "room_opens_at": iso(issued.window.start),
                "room_closes_at": iso(issued.window.end),
                "ice_servers": ice_servers,
            },
            status=201,
        )
        resp.set_header("Cache-Control", "no-store")


class RoomAttendanceResource(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, appointment_id: str) -> None:
        actor = require_actor(req)
        lines = self.components.consultations.attendance(actor, AppointmentId(appointment_id))
        write_json(
            resp,
            {
                "items": [
                    {
                        "user_id": line.user_id.value,
                        "seat": line.seat.value,
                        "presence": line.presence.value,
                        "at": iso(line.at),
                    }
                    for line in lines
                ]
            },
        )


APPOINTMENT = path_param("appointment_id", "A telemedicine appointment's id (yours).")

ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/appointments/{{appointment_id}}/room-ticket",
        RoomTicketResource,
        {
            "post": Operation(
                "A single-use ticket to the video consultation room",
                "bearer",
                "its doctor, its patient",
                ok=201,
                response="RoomTicket",
                params=(APPOINTMENT,),
                problems=("not-found", "not-telemedicine", "room-not-open", "room-closed"),
                tag="telemedicine",
            )
        },
    ),
    Route(
        f"{API}/appointments/{{appointment_id}}/attendance",
        RoomAttendanceResource,
        {
            "get": Operation(
                "Who joined and left the consultation room, and when",
                "bearer",
                "its patient, its doctor, admin",
                response="RoomAttendance",
                params=(APPOINTMENT,),
                problems=("not-found",),
                tag="telemedicine",
            )
        },
    ),
)
