"""Claiming a walk-in's profile (issue 17, item 4): the front desk issues a one-time code for
a profile it registered without an account; the patient, once signed in to an account of
their own, submits it and the profile becomes theirs (docs/clinic_day.md).

The code is answered once, to the desk, to hand over on paper or read out; only its digest is
kept. Both steps are audited.
"""

from __future__ import annotations

from typing import Any

import falcon

from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.values import HospitalId, PatientId
from hellodoctor_domain.use_cases.walk_in_claims import IssuedClaimCode
from hellodoctor_http.api import Resource
from hellodoctor_http.api.profiles import me_json
from hellodoctor_http.api.records import request_context
from hellodoctor_http.api.values import iso
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import request_body, text
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    STRING,
    Operation,
    Route,
    answer,
    path_param,
)
from hellodoctor_http.problems import unauthorized


@request_body
class WalkInClaimBody:
    code: str = text(300, minLength=1, description="The code the front desk handed over.")


def claim_code_json(issued: IssuedClaimCode) -> dict[str, Any]:
    return {
        "patient_id": issued.patient_id.value,
        "code": issued.code,
        "expires_at": iso(issued.expires_at),
    }


SCHEMAS: dict[str, Any] = {
    "WalkInClaimCode": answer(
        patient_id=STRING,
        code={**STRING, "description": "Shown once: hand it to the patient."},
        expires_at={"type": "string", "format": "date-time"},
    ),
}


class WalkInClaimCode(Resource):
    def on_post(
        self, req: falcon.Request, resp: falcon.Response, hospital_id: str, patient_id: str
    ) -> None:
        actor = require_actor(req)
        issued = self.components.walk_in_claims.issue(
            actor, HospitalId(hospital_id), PatientId(patient_id), request_context(self, req)
        )
        resp.cache_control = ["no-store"]
        write_json(resp, claim_code_json(issued), status=201)


class WalkInClaim(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        body = self.body(req, WalkInClaimBody)
        context = request_context(self, req)
        try:
            self.components.walk_in_claims.claim(actor, body.code, context)
            mine = self.components.profiles.me(actor, context)
        except NotFound:
            # Only the token's account can be missing: an unknown profile is a wrong code.
            raise unauthorized("the token's account is gone", invalid_token=True) from None
        write_json(resp, me_json(mine))


ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/hospitals/{{hospital_id}}/walk-ins/{{patient_id}}/claim-code",
        WalkInClaimCode,
        {
            "post": Operation(
                "Issue a one-time code (24 hours) with which a walk-in claims their profile "
                "from an account of their own; a new code replaces the last",
                "bearer",
                "that hospital's receptionists and administrators, admin",
                ok=201,
                response="WalkInClaimCode",
                params=(
                    path_param("hospital_id", "A hospital's id."),
                    path_param("patient_id", "A walk-in's patient id (a profile without account)."),
                ),
                problems=(
                    "access-denied",
                    "not-found",
                    "walk-in-claim-refused",
                    "concurrent-update",
                ),
                tag="hospitals",
            )
        },
    ),
    Route(
        f"{API}/me/walk-in-claim",
        WalkInClaim,
        {
            "post": Operation(
                "Claim the profile the front desk made for you at a walk-in visit: it becomes "
                "your account's (refresh your token to act as it)",
                "bearer",
                "a patient, for itself (its own profile still unused)",
                response="Me",
                body=WalkInClaimBody,
                problems=(
                    "access-denied",
                    "invalid-one-time-secret",
                    "walk-in-claim-refused",
                    "concurrent-update",
                    *BODY_PROBLEMS,
                ),
                tag="identity",
            )
        },
    ),
)
