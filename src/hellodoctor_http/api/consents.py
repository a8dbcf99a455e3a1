"""Consents and the audit log over HTTP: the patient grants, lists and revokes consents
(admins may, on their behalf); the patient sees who accessed their records; admins search the
audit log and verify its hash chain. Decisions are the use case's (``use_cases/records.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import falcon

from hellodoctor_domain.model.audit import AuditOutcome, SealedEntry
from hellodoctor_domain.model.consent import Consent, ConsentId, ConsentScope
from hellodoctor_domain.model.values import DoctorId, HospitalId, PatientId, UserId
from hellodoctor_domain.ports.records import AuditQuery
from hellodoctor_domain.use_cases.records import ConsentGrant
from hellodoctor_http.api import Resource
from hellodoctor_http.api.records import _INT, _N, _NULL_INT, _array, _parse, request_context
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import choice, identifier, request_body, text
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    DATETIME,
    NULLABLE_DATETIME,
    STRING,
    Operation,
    Route,
    answer,
    id_query,
    integer_query,
    moment_query,
    path_param,
    text_query,
)
from hellodoctor_http.params import QueryReader

# -- requests -------------------------------------------------------------------------------


@request_body
class ConsentBody:
    """Name exactly one of ``doctor_id`` and ``hospital_id``."""

    scope: str = choice(ConsentScope)
    until: datetime
    purpose: str = text(500)
    doctor_id: str | None = identifier(default=None)
    hospital_id: str | None = identifier(default=None)

    def to_domain(self) -> ConsentGrant:
        return ConsentGrant(
            _parse(ConsentScope, self.scope),
            self.until,
            self.purpose,
            DoctorId(self.doctor_id) if self.doctor_id else None,
            HospitalId(self.hospital_id) if self.hospital_id else None,
        )


# -- answers --------------------------------------------------------------------------------


def consent_json(consent: Consent) -> dict[str, Any]:
    return {
        "id": consent.id.value,
        "patient_id": consent.patient_id.value,
        "scope": consent.scope.value,
        "purpose": consent.purpose,
        "granted_at": consent.granted_at.isoformat(),
        "until": consent.until.isoformat(),
        "doctor_id": None if consent.doctor_id is None else consent.doctor_id.value,
        "hospital_id": None if consent.hospital_id is None else consent.hospital_id.value,
        "revoked_at": None if consent.revoked_at is None else consent.revoked_at.isoformat(),
    }


def audit_json(sealed: SealedEntry) -> dict[str, Any]:
    e = sealed.entry
    return {
        "sequence": sealed.sequence,
        "at": e.at.isoformat(),
        "user_id": e.user_id.value,
        "role": e.role.value,
        "patient_id": e.patient_id.value,
        "subject": e.subject,
        "action": e.action.value,
        "outcome": e.outcome.value,
        "purpose": e.purpose,
        "request_id": e.request_id,
        "client_address": e.client_address,
        "hash": sealed.hash,
    }


def audit_page(entries: list[SealedEntry], limit: int) -> dict[str, Any]:
    full = len(entries) == limit and entries
    return {
        "items": [audit_json(s) for s in entries],
        "next_before": entries[-1].sequence if full else None,
    }


SCHEMAS: dict[str, Any] = {
    "Consent": answer(
        id=STRING,
        patient_id=STRING,
        scope=STRING,
        purpose=STRING,
        granted_at=DATETIME,
        until=DATETIME,
        doctor_id=_N,
        hospital_id=_N,
        revoked_at=NULLABLE_DATETIME,
    ),
    "ConsentList": answer(items=_array("Consent")),
    "AuditEntry": answer(
        sequence=_INT,
        at=DATETIME,
        user_id=STRING,
        role=STRING,
        patient_id=STRING,
        subject=STRING,
        action=STRING,
        outcome=STRING,
        purpose=STRING,
        request_id=_N,
        client_address=_N,
        hash=STRING,
    ),
    "AuditPage": answer(items=_array("AuditEntry"), next_before=_NULL_INT),
    "AuditVerification": answer(checked=_INT, intact={"type": "boolean"}, first_broken=_NULL_INT),
}

# -- resources ------------------------------------------------------------------------------


class PatientConsents(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, patient_id: str) -> None:
        actor = require_actor(req)
        found = self.components.records.consents(actor, PatientId(patient_id))
        write_json(resp, {"items": [consent_json(c) for c in found]})

    def on_post(self, req: falcon.Request, resp: falcon.Response, patient_id: str) -> None:
        actor = require_actor(req)
        grant = self.body(req, ConsentBody).to_domain()
        consent = self.components.records.grant(
            actor, PatientId(patient_id), grant, request_context(self, req)
        )
        resp.location = f"{API}/patients/{patient_id}/consents/{consent.id.value}"
        write_json(resp, consent_json(consent), status=201)


class PatientConsent(Resource):
    def on_delete(
        self, req: falcon.Request, resp: falcon.Response, patient_id: str, consent_id: str
    ) -> None:
        actor = require_actor(req)
        consent = self.components.records.revoke(
            actor, PatientId(patient_id), ConsentId(consent_id), request_context(self, req)
        )
        write_json(resp, consent_json(consent))


_LIMIT = integer_query("limit", 1, 200, 50, "At most this many entries.")
_BEFORE = integer_query("before", 1, 2**62, description="next_before of the previous page.")
_ACCESS_LOG_PARAMS = (_BEFORE, _LIMIT)
_AUDIT_PARAMS = (
    id_query("patient_id"),
    id_query("user_id"),
    text_query("outcome", "allowed or denied", 16),
    moment_query("from", "At or after this instant."),
    moment_query("to", "Before this instant."),
    _BEFORE,
    _LIMIT,
)


class MyAccessLog(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        params = QueryReader(req, _ACCESS_LOG_PARAMS)
        before, limit = params.integer("before"), params.integer("limit") or 50
        params.done()
        found = self.components.records.access_log(actor, before, limit)
        write_json(resp, audit_page(found, limit))


class AuditLog(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        params = QueryReader(req, _AUDIT_PARAMS)
        patient, user = params.text("patient_id"), params.text("user_id")
        outcome = params.text("outcome")
        query = AuditQuery(
            patient_id=PatientId(patient) if patient else None,
            user_id=UserId(user) if user else None,
            outcome=_parse(AuditOutcome, outcome) if outcome else None,
            since=params.moment("from"),
            until=params.moment("to"),
            before_sequence=params.integer("before"),
            limit=params.integer("limit") or 50,
        )
        params.done()
        found = self.components.records.search_audit(actor, query)
        write_json(resp, audit_page(found, query.limit))


class AuditVerification(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        checked, broken = self.components.records.verify_audit(actor)
        write_json(resp, {"checked": checked, "intact": broken is None, "first_broken": broken})


# -- routes ---------------------------------------------------------------------------------

_PATIENT = path_param("patient_id", "A patient's id.")
_CONSENT = path_param("consent_id", "A consent's id.")
_READ_PROBLEMS = ("not-found",)
_CONSENT_PROBLEMS = ("not-found", "invalid-value", *BODY_PROBLEMS)
_PATIENTS = f"{API}/patients/{{patient_id}}"


def _op(summary: str, who: str, **options: Any) -> Operation:
    return Operation(summary, "bearer", who, tag="records", **options)


ROUTES: tuple[Route, ...] = (
    Route(
        f"{_PATIENTS}/consents",
        PatientConsents,
        {
            "get": _op(
                "The patient's consents (revoked and expired included)",
                "the patient, admin",
                response="ConsentList",
                params=(_PATIENT,),
                problems=_READ_PROBLEMS,
            ),
            "post": _op(
                "Grant a consent to a doctor or a hospital (scope, until, purpose)",
                "the patient, admin",
                ok=201,
                response="Consent",
                body=ConsentBody,
                params=(_PATIENT,),
                problems=_CONSENT_PROBLEMS,
                headers=("Location",),
            ),
        },
    ),
    Route(
        f"{_PATIENTS}/consents/{{consent_id}}",
        PatientConsent,
        {
            "delete": _op(
                "Revoke a consent (kept, marked revoked)",
                "the patient, admin",
                response="Consent",
                params=(_PATIENT, _CONSENT),
                problems=("not-found", "illegal-transition", "concurrent-update"),
            )
        },
    ),
    Route(
        f"{API}/me/access-log",
        MyAccessLog,
        {
            "get": _op(
                "Who accessed my records, and who was refused (newest first)",
                "patient (own)",
                response="AuditPage",
                params=_ACCESS_LOG_PARAMS,
                problems=("access-denied", "validation-error"),
            )
        },
    ),
    Route(
        f"{API}/audit-log",
        AuditLog,
        {
            "get": _op(
                "Search the audit log of protected health information (newest first)",
                "admin",
                response="AuditPage",
                params=_AUDIT_PARAMS,
                problems=("access-denied", "validation-error", "invalid-value"),
            )
        },
    ),
    Route(
        f"{API}/audit-log/verification",
        AuditVerification,
        {
            "get": _op(
                "Walk the audit log's hash chain: intact, or the first entry that was changed",
                "admin",
                response="AuditVerification",
                problems=("access-denied",),
            )
        },
    ),
)
