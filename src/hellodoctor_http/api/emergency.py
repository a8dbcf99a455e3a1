"""Emergency access: a doctor's break-glass (health ID + reason -> one hour of the critical
view), the admins' review queue, and the patient's emergency card (a QR code of a URL with a
revocable token that shows the critical view to whoever holds it)."""

from __future__ import annotations

import io
from typing import Any

import falcon

from hellodoctor_domain.model.emergency import (
    BLOOD_GROUPS,
    CriticalView,
    EmergencyGrant,
    EmergencyGrantId,
)
from hellodoctor_domain.model.profiles import EmergencyContact
from hellodoctor_domain.use_cases.emergency import EmergencyProfile
from hellodoctor_http.api import Resource
from hellodoctor_http.api.records import diagnosis_json, prescription_json, request_context
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import MAX_TEXT, items, request_body, text, wire
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    DATETIME,
    NULLABLE_DATETIME,
    STRING,
    Operation,
    Param,
    Route,
    answer,
    integer_query,
    path_param,
    ref,
)
from hellodoctor_http.params import QueryReader

TOKEN_PATTERN = "^[0-9a-f]{64}$"
MAX_SHORT = 200

# -- requests -------------------------------------------------------------------------------


@request_body
class BreakGlassBody:
    health_id: str = text(128, description="The patient's health ID (national or insurer).")
    reason: str = text(MAX_TEXT, description="Why: it is shown to the patient and the admins.")


@request_body
class ContactBody:
    name: str = text(MAX_SHORT)
    phone: str = text(64)
    relationship: str = text(MAX_SHORT, default="")


@request_body
class EmergencyProfileBody:
    """The whole emergency profile (what is left out is cleared)."""

    health_id: str | None = text(128, default=None)
    blood_group: str | None = wire(default=None, enum=[*BLOOD_GROUPS, None])
    allergies: tuple[str, ...] = items(50, default=(), each={"maxLength": MAX_SHORT})
    emergency_contacts: tuple[ContactBody, ...] = items(5, default=())

    def to_domain(self) -> EmergencyProfile:
        return EmergencyProfile(
            self.health_id or None,
            self.blood_group,
            self.allergies,
            tuple(
                EmergencyContact(c.name, c.phone, c.relationship) for c in self.emergency_contacts
            ),
        )


@request_body
class GrantReviewBody:
    note: str = text(MAX_TEXT, default="")


# -- answers --------------------------------------------------------------------------------


def critical_json(view: CriticalView) -> dict[str, Any]:
    return {
        "patient_id": view.patient_id.value,
        "name": view.name,
        "blood_group": view.blood_group,
        "allergies": list(view.allergies),
        "chronic_conditions": [diagnosis_json(d) for d in view.chronic_conditions],
        "current_medications": [prescription_json(p) for p in view.current_medications],
        "emergency_contacts": [
            {"name": c.name, "phone": c.phone, "relationship": c.relationship}
            for c in view.emergency_contacts
        ],
    }


def grant_json(grant: EmergencyGrant) -> dict[str, Any]:
    return {
        "id": grant.id.value,
        "patient_id": grant.patient_id.value,
        "doctor_id": grant.doctor_id.value,
        "reason": grant.reason,
        "granted_at": grant.granted_at.isoformat(),
        "expires_at": grant.expires_at.isoformat(),
        "reviewed_at": None if grant.reviewed_at is None else grant.reviewed_at.isoformat(),
        "reviewed_by": None if grant.reviewed_by is None else grant.reviewed_by.value,
        "review_note": grant.review_note,
    }


def qr_svg(url: str) -> str:
    import segno  # the server extra; imported on use, not at import time

    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=4, xmldecl=False)
    return buffer.getvalue().decode()


_N = {"type": ["string", "null"]}
SCHEMAS: dict[str, Any] = {
    "EmergencyContact": answer(name=STRING, phone=STRING, relationship=STRING),
    "CriticalView": answer(
        patient_id=STRING,
        name=STRING,
        blood_group=_N,
        allergies={"type": "array", "items": STRING},
        chronic_conditions={"type": "array", "items": ref("Diagnosis")},
        current_medications={"type": "array", "items": ref("PrescriptionItem")},
        emergency_contacts={"type": "array", "items": ref("EmergencyContact")},
    ),
    "EmergencyGrant": answer(
        id=STRING,
        patient_id=STRING,
        doctor_id=STRING,
        reason=STRING,
        granted_at=DATETIME,
        expires_at=DATETIME,
        reviewed_at=NULLABLE_DATETIME,
        reviewed_by=_N,
        review_note=_N,
    ),
    "EmergencyAccess": answer(grant=ref("EmergencyGrant"), critical_view=ref("CriticalView")),
    "EmergencyGrantList": answer(items={"type": "array", "items": ref("EmergencyGrant")}),
    "EmergencyCard": answer(
        id=STRING,
        url=STRING,
        created_at=DATETIME,
        qr_svg={"type": "string", "description": "The URL as a QR code (SVG)."},
    ),
    "EmergencyCardsRevoked": answer(revoked={"type": "integer"}),
}

# -- resources ------------------------------------------------------------------------------


class BreakGlass(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        body = self.body(req, BreakGlassBody)
        grant, view = self.components.emergency.break_glass(
            actor, body.health_id, body.reason, request_context(self, req)
        )
        resp.location = f"{API}/emergency-access/{grant.id.value}"
        write_json(resp, {"grant": grant_json(grant), "critical_view": critical_json(view)}, 201)


class BreakGlassView(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, grant_id: str) -> None:
        actor = require_actor(req)
        view = self.components.emergency.view(
            actor, EmergencyGrantId(grant_id), request_context(self, req)
        )
        write_json(resp, critical_json(view))


_QUEUE_PARAMS = (integer_query("limit", 1, 500, 100, "At most this many grants."),)


class ReviewQueue(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        params = QueryReader(req, _QUEUE_PARAMS)
        limit = params.integer("limit") or 100
        params.done()
        found = self.components.emergency.review_queue(actor, limit)
        write_json(resp, {"items": [grant_json(g) for g in found]})


class Review(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, grant_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, GrantReviewBody)
        grant = self.components.emergency.review(actor, EmergencyGrantId(grant_id), body.note)
        write_json(resp, grant_json(grant))


class MyEmergencyProfile(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        view = self.components.emergency.my_critical_view(actor, request_context(self, req))
        write_json(resp, critical_json(view))

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        changes = self.body(req, EmergencyProfileBody).to_domain()
        view = self.components.emergency.update_profile(actor, changes, request_context(self, req))
        write_json(resp, critical_json(view))


class MyEmergencyCard(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        card, token = self.components.emergency.issue_card(actor)
        url = f"{self.settings.public_url}{API}/emergency-card/{token}"
        answer_ = {
            "id": card.id.value,
            "url": url,
            "created_at": card.created_at.isoformat(),
            "qr_svg": qr_svg(url),
        }
        write_json(resp, answer_, status=201)

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        write_json(resp, {"revoked": self.components.emergency.revoke_cards(actor)})


class EmergencyCardView(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        view = self.components.emergency.card_view(token, request_context(self, req))
        write_json(resp, critical_json(view))


# -- routes ---------------------------------------------------------------------------------

_GRANT = path_param("grant_id", "An emergency access grant's id.")
_TOKEN = Param(
    "token",
    "path",
    {"type": "string", "minLength": 64, "maxLength": 64, "pattern": TOKEN_PATTERN},
    "The card's token, from its URL.",
    required=True,
)


def _op(summary: str, auth: str, who: str, **options: Any) -> Operation:
    return Operation(summary, auth, who, tag="records", **options)


ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/emergency-access",
        BreakGlass,
        {
            "post": _op(
                "Break-glass: one hour of a patient's critical view, by health ID and reason "
                "(audited as emergency; the patient and admins are told; queued for review)",
                "bearer",
                "doctor",
                ok=201,
                response="EmergencyAccess",
                body=BreakGlassBody,
                problems=("access-denied", "not-found", "invalid-value", *BODY_PROBLEMS),
                headers=("Location",),
            )
        },
    ),
    Route(
        f"{API}/emergency-access/{{grant_id}}",
        BreakGlassView,
        {
            "get": _op(
                "The critical view again, while the grant lasts",
                "bearer",
                "the doctor who holds the grant, for its hour",
                response="CriticalView",
                params=(_GRANT,),
                problems=("not-found",),
            )
        },
    ),
    Route(
        f"{API}/admin/emergency-access",
        ReviewQueue,
        {
            "get": _op(
                "Break-glass accesses no admin has reviewed yet, oldest first",
                "bearer",
                "admin",
                response="EmergencyGrantList",
                params=_QUEUE_PARAMS,
                problems=("access-denied", "validation-error"),
            )
        },
    ),
    Route(
        f"{API}/admin/emergency-access/{{grant_id}}/review",
        Review,
        {
            "post": _op(
                "Mark a break-glass access reviewed",
                "bearer",
                "admin",
                response="EmergencyGrant",
                body=GrantReviewBody,
                params=(_GRANT,),
                problems=(
                    "access-denied",
                    "not-found",
                    "illegal-transition",
                    "concurrent-update",
                    *BODY_PROBLEMS,
                ),
            )
        },
    ),
    Route(
        f"{API}/me/emergency-profile",
        MyEmergencyProfile,
        {
            "get": _op(
                "My critical view, as a card or a break-glass would show it",
                "bearer",
                "patient (own)",
                response="CriticalView",
                problems=("access-denied",),
            ),
            "put": _op(
                "Set my health ID, blood group, allergies and emergency contacts",
                "bearer",
                "patient (own)",
                response="CriticalView",
                body=EmergencyProfileBody,
                problems=("access-denied", "concurrent-update", *BODY_PROBLEMS),
            ),
        },
    ),
    Route(
        f"{API}/me/emergency-card",
        MyEmergencyCard,
        {
            "post": _op(
                "A new emergency card: a URL with a fresh token and its QR code (older cards "
                "stop working)",
                "bearer",
                "patient (own)",
                ok=201,
                response="EmergencyCard",
                problems=("access-denied", "not-found"),
            ),
            "delete": _op(
                "Revoke my emergency cards",
                "bearer",
                "patient (own)",
                response="EmergencyCardsRevoked",
                problems=("access-denied",),
            ),
        },
    ),
    Route(
        f"{API}/emergency-card/{{token}}",
        EmergencyCardView,
        {
            "get": _op(
                "The critical view of an emergency card's patient (audited)",
                "public",
                "the card's holder, until the patient revokes it",
                response="CriticalView",
                params=(_TOKEN,),
                problems=("not-found",),
            )
        },
    ),
)
