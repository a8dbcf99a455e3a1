"""Erasure on request over HTTP: an admin erases a patient's personal data, saying on which of
the patient's requests (``use_cases/erasure.py``; what stays and why: docs/retention.md)."""

from __future__ import annotations

from typing import Any

import falcon

from hellodoctor_domain.model.values import PatientId
from hellodoctor_http.api import Resource
from hellodoctor_http.api.records import request_context
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import request_body, text
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    DATETIME,
    STRING,
    Operation,
    Route,
    answer,
    path_param,
)


@request_body
class ErasureBody:
    reason: str = text(200, description="The patient's request this erasure answers.")


SCHEMAS: dict[str, Any] = {
    "Erasure": answer(
        patient_id=STRING,
        pseudonym=STRING,
        erased_at=DATETIME,
        account_erased={"type": "boolean"},
    )
}


class PatientErasure(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, patient_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, ErasureBody)
        done = self.components.erasure.erase(
            actor, PatientId(patient_id), body.reason, request_context(self, req)
        )
        write_json(
            resp,
            {
                "patient_id": done.patient_id.value,
                "pseudonym": done.pseudonym,
                "erased_at": done.erased_at.isoformat(),
                "account_erased": done.account_erased,
            },
        )


ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/patients/{{patient_id}}/erasure",
        PatientErasure,
        {
            "post": Operation(
                "Erase a patient's personal data on their request (audit trail, money ledger and "
                "clinical records kept under the pseudonymous id)",
                "bearer",
                "admin; anyone else gets 404",
                response="Erasure",
                body=ErasureBody,
                params=(path_param("patient_id", "A patient's id."),),
                problems=("not-found", "invalid-value", *BODY_PROBLEMS),
                tag="records",
            )
        },
    ),
)
