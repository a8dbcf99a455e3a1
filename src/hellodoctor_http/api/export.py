"""A patient's data export over HTTP: a FHIR R4 Bundle (``application/fhir+json``), streamed
entry by entry. The patient asks for their own (``/me/export``); an admin asks for a patient's
on that patient's request, saying so (``/patients/{id}/export?reason=``). Who may have it is the
use case's (``use_cases/export.py``), which writes the audit entry; the mapping is
``hellodoctor_http/fhir.py``."""

from __future__ import annotations

from typing import Any

import falcon
from attrs import evolve

from hellodoctor_domain.errors import AccessDenied
from hellodoctor_domain.model.values import PatientId
from hellodoctor_domain.use_cases.export import PatientData
from hellodoctor_http.api import Resource
from hellodoctor_http.api.records import request_context
from hellodoctor_http.auth import require_actor
from hellodoctor_http.fhir import MEDIA_TYPE, bundle_chunks
from hellodoctor_http.openapi import API, Operation, Route, path_param, text_query
from hellodoctor_http.params import QueryReader

_REASON_PARAM = evolve(
    text_query(
        "reason",
        "The patient's request this export answers (a ticket, a letter): written to the audit log.",
    ),
    required=True,
)


def _send(resp: falcon.Response, data: PatientData, base_url: str) -> None:
    resp.content_type = MEDIA_TYPE
    resp.downloadable_as = f"hellodoctor-export-{data.exported_at:%Y%m%dT%H%M%SZ}.json"
    resp.stream = bundle_chunks(data, base_url)


class MyExport(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        QueryReader(req, ()).done()
        if actor.patient_id is None:
            raise AccessDenied("only a patient has data of their own to export")
        data = self.components.export.export(actor, actor.patient_id, request_context(self, req))
        _send(resp, data, self.settings.public_url)


class PatientDataExport(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, patient_id: str) -> None:
        actor = require_actor(req)
        params = QueryReader(req, (_REASON_PARAM,))
        reason = params.text("reason")
        if reason is None:
            params.fail("reason", "say which request of the patient this export answers")
        params.done()
        data = self.components.export.export(
            actor, PatientId(patient_id), request_context(self, req), reason=reason
        )
        _send(resp, data, self.settings.public_url)


def _op(summary: str, who: str, **options: Any) -> Operation:
    return Operation(
        summary,
        "bearer",
        who,
        tag="records",
        response_type=MEDIA_TYPE,
        headers=("Content-Disposition",),
        **options,
    )


ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/me/export",
        MyExport,
        {
            "get": _op(
                "Your data as a FHIR R4 Bundle (GDPR Art. 15/20, HIPAA right of access), audited",
                "a patient, for themself (other roles: 403)",
                problems=("access-denied", "not-found"),
            )
        },
    ),
    Route(
        f"{API}/patients/{{patient_id}}/export",
        PatientDataExport,
        {
            "get": _op(
                "A patient's data as a FHIR R4 Bundle, on the patient's request (audited with "
                "the reason)",
                "admin; anyone else gets 404",
                params=(path_param("patient_id", "A patient's id."), _REASON_PARAM),
                problems=("not-found", "invalid-value"),
            )
        },
    ),
)
