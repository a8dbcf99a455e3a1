"""Insurance: schemes (admins create them and appoint their insurers), patients' policies, the
eligibility of an appointment (shown before payment), and claims, which their scheme's
insurers review, adjudicate item by item and pay."""

from __future__ import annotations

from datetime import date
from typing import Any

import falcon

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.audit import RequestContext
from hellodoctor_domain.model.insurance import (
    Claim,
    ClaimItem,
    ClaimStatus,
    Decision,
    Eligibility,
    Policy,
    Scheme,
)
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    ClaimId,
    HospitalId,
    PatientId,
    PolicyId,
    SchemeId,
    UserId,
    VisitKind,
)
from hellodoctor_http.api import Resource
from hellodoctor_http.api.appointments import EmptyBody
from hellodoctor_http.api.hospitals import MAX_CODE
from hellodoctor_http.api.records import request_context
from hellodoctor_http.api.values import MoneyBody, iso, money
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import MAX_TEXT, request_body, text, wire, wire_values
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    DATETIME,
    STRING,
    Operation,
    Route,
    answer,
    id_query,
    path_param,
    ref,
)
from hellodoctor_http.params import QueryReader

INSURANCE = f"{API}/insurance"

# -- requests -------------------------------------------------------------------------------


@request_body
class SchemeBody:
    payer: str = text(MAX_TEXT)
    name: str = text(MAX_TEXT)
    covered_kinds: tuple[str, ...] = wire(maxItems=10, items={"enum": wire_values(VisitKind)})
    copay_percent: int = wire(minimum=0, maximum=100)
    yearly_limit: MoneyBody

    def to_domain(self, key: SchemeId) -> Scheme:
        kinds = []
        for kind in self.covered_kinds:
            try:
                kinds.append(VisitKind(kind))
            except ValueError:
                raise InvalidValue(f"{kind!r} is not a visit kind") from None
        return Scheme(
            key,
            self.payer,
            self.name,
            tuple(kinds),
            self.copay_percent,
            self.yearly_limit.to_domain(),
        )


@request_body
class InsurerBody:
    user_id: str = text(MAX_CODE, description="An account whose role is insurer.")


@request_body
class PolicyBody:
    scheme_id: str = text(MAX_CODE)
    policy_number: str = text(MAX_CODE)
    valid_from: date
    valid_until: date
    patient_id: str | None = text(MAX_CODE, default=None, description="Yours when omitted.")


@request_body
class ClaimItemBody:
    service: str = text(MAX_TEXT)
    claimed: MoneyBody
    diagnosis_codes: tuple[str, ...] = wire(default=(), maxItems=20, items={"maxLength": MAX_CODE})

    def to_domain(self) -> ClaimItem:
        return ClaimItem(self.service, self.diagnosis_codes, self.claimed.to_domain())


@request_body
class ClaimBody:
    """For a completed appointment (its patient), or for a stay (the hospital's
    administrators): name exactly one of ``appointment_id`` and ``hospital_id``."""

    policy_id: str = text(MAX_CODE)
    items: tuple[ClaimItemBody, ...] = wire(maxItems=100)
    appointment_id: str | None = text(MAX_CODE, default=None)
    hospital_id: str | None = text(MAX_CODE, default=None)


@request_body
class DecisionBody:
    approved: MoneyBody
    reason: str = text(MAX_TEXT, default="")


@request_body
class AdjudicationBody:
    decisions: tuple[DecisionBody, ...] = wire(maxItems=100)
    reason: str = text(MAX_TEXT, default="", description="Required when nothing is approved.")


# -- answers --------------------------------------------------------------------------------


def scheme_json(scheme: Scheme) -> dict[str, Any]:
    return {
        "id": scheme.id.value,
        "payer": scheme.payer,
        "name": scheme.name,
        "covered_kinds": [kind.value for kind in scheme.covered_kinds],
        "copay_percent": scheme.copay_percent,
        "yearly_limit": money(scheme.yearly_limit),
    }


def policy_json(policy: Policy) -> dict[str, Any]:
    return {
        "id": policy.id.value,
        "patient_id": policy.patient_id.value,
        "scheme_id": policy.scheme_id.value,
        "policy_number": policy.policy_number,
        "valid_from": policy.valid_from.isoformat(),
        "valid_until": policy.valid_until.isoformat(),
    }


def eligibility_json(found: Eligibility) -> dict[str, Any]:
    return {
        "covered": found.covered,
        "reason": found.reason,
        "price": money(found.price),
        "copay": money(found.copay),
        "insurer_pays": money(found.insurer_pays),
        "remaining_limit": money(found.remaining_limit),
    }


def claim_json(claim: Claim) -> dict[str, Any]:
    return {
        "id": claim.id.value,
        "policy_id": claim.policy_id.value,
        "scheme_id": claim.scheme_id.value,
        "patient_id": claim.patient_id.value,
        "appointment_id": None if claim.appointment_id is None else claim.appointment_id.value,
        "hospital_id": None if claim.hospital_id is None else claim.hospital_id.value,
        "status": claim.status.value,
        "reason": claim.reason,
        "items": [
            {
                "service": item.service,
                "diagnosis_codes": list(item.diagnosis_codes),
                "claimed": money(item.claimed),
                "approved": None if item.approved is None else money(item.approved),
                "reason": item.reason,
            }
            for item in claim.items
        ],
        "claimed_total": money(claim.claimed_total),
        "approved_total": money(claim.approved_total),
        "submitted_at": iso(claim.submitted_at),
        "paid_at": iso(claim.paid_at),
        "attachments": [document.value for document in claim.attachments],
    }


_NULLABLE_STRING = {"type": ["string", "null"]}
_LIST = {"type": "array", "items": STRING}
SCHEMAS: dict[str, Any] = {
    "Scheme": answer(
        id=STRING,
        payer=STRING,
        name=STRING,
        covered_kinds={"type": "array", "items": {"enum": wire_values(VisitKind)}},
        copay_percent={"type": "integer"},
        yearly_limit=ref("Money"),
    ),
    "SchemeList": answer(items={"type": "array", "items": ref("Scheme")}),
    "Policy": answer(
        id=STRING,
        patient_id=STRING,
        scheme_id=STRING,
        policy_number=STRING,
        valid_from={"type": "string", "format": "date"},
        valid_until={"type": "string", "format": "date"},
    ),
    "PolicyList": answer(items={"type": "array", "items": ref("Policy")}),
    "Eligibility": answer(
        covered={"type": "boolean"},
        reason=STRING,
        price=ref("Money"),
        copay=ref("Money"),
        insurer_pays=ref("Money"),
        remaining_limit=ref("Money"),
    ),
    "ClaimItem": answer(
        service=STRING,
        diagnosis_codes=_LIST,
        claimed=ref("Money"),
        approved={"oneOf": [ref("Money"), {"type": "null"}]},
        reason=STRING,
    ),
    "Claim": answer(
        id=STRING,
        policy_id=STRING,
        scheme_id=STRING,
        patient_id=STRING,
        appointment_id=_NULLABLE_STRING,
        hospital_id=_NULLABLE_STRING,
        status={"enum": wire_values(ClaimStatus)},
        reason=STRING,
        items={"type": "array", "items": ref("ClaimItem")},
        claimed_total=ref("Money"),
        approved_total=ref("Money"),
        submitted_at=DATETIME,
        paid_at={"type": ["string", "null"], "format": "date-time"},
        attachments={**_LIST, "description": "Ids of the patient's documents sent with it."},
    ),
    "ClaimList": answer(items={"type": "array", "items": ref("Claim")}),
}

# -- resources ------------------------------------------------------------------------------


class Schemes(Resource):
    def on_get(self, _req: falcon.Request, resp: falcon.Response) -> None:
        found = self.components.insurance.schemes()
        write_json(resp, {"items": [scheme_json(s) for s in found]})

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        body = self.body(req, SchemeBody)
        scheme = body.to_domain(SchemeId(f"sch-{self.components.ids.new_id()}"))
        created = self.components.insurance.create_scheme(actor, scheme)
        resp.location = f"{INSURANCE}/schemes/{created.id.value}"
        write_json(resp, scheme_json(created), status=201)


class SchemeInsurers(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, scheme_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, InsurerBody)
        self.components.insurance.appoint_insurer(actor, SchemeId(scheme_id), UserId(body.user_id))
        resp.status = falcon.HTTP_204


class SchemeClaims(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, scheme_id: str) -> None:
        found = self.components.insurance.claims_of_scheme(
            require_actor(req), SchemeId(scheme_id), request_context(self, req)
        )
        write_json(resp, {"items": [claim_json(c) for c in found]})


_POLICY_PARAMS = (id_query("patient_id", "Admins: whose."),)
_ELIGIBILITY_PARAMS = (id_query("policy_id", "The patient's policy."),)


class Policies(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        params = QueryReader(req, _POLICY_PARAMS)
        patient = params.text("patient_id")
        params.done()
        key = PatientId(patient) if patient else actor.patient_id
        if key is None:
            write_json(resp, {"items": []})
            return
        found = self.components.insurance.policies(actor, key, request_context(self, req))
        write_json(resp, {"items": [policy_json(p) for p in found]})

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        body = self.body(req, PolicyBody)
        patient = PatientId(body.patient_id) if body.patient_id else actor.patient_id
        if patient is None:
            raise InvalidValue("name the patient whose policy it is")
        policy = Policy(
            PolicyId(f"pol-{self.components.ids.new_id()}"),
            patient,
            SchemeId(body.scheme_id),
            body.policy_number,
            body.valid_from,
            body.valid_until,
        )
        created = self.components.insurance.add_policy(actor, policy)
        write_json(resp, policy_json(created), status=201)


class AppointmentEligibility(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, appointment_id: str) -> None:
        actor = require_actor(req)
        params = QueryReader(req, _ELIGIBILITY_PARAMS)
        policy = params.text("policy_id")
        if policy is None:
            params.fail("policy_id", "required")
        params.done()
        assert policy is not None
        found = self.components.insurance.eligibility(
            actor, AppointmentId(appointment_id), PolicyId(policy)
        )
        write_json(resp, eligibility_json(found))


class Claims(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        body = self.body(req, ClaimBody)
        items = [item.to_domain() for item in body.items]
        policy = PolicyId(body.policy_id)
        if (body.appointment_id is None) == (body.hospital_id is None):
            raise InvalidValue("name exactly one of appointment_id and hospital_id")
        insurance, context = self.components.insurance, request_context(self, req)
        if body.appointment_id is not None:
            claim = insurance.claim_appointment(
                actor, policy, AppointmentId(body.appointment_id), items, context
            )
        else:
            assert body.hospital_id is not None
            claim = insurance.claim_stay(
                actor, HospitalId(body.hospital_id), policy, items, context
            )
        resp.location = f"{INSURANCE}/claims/{claim.id.value}"
        write_json(resp, claim_json(claim), status=201)


class ClaimItemResource(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, claim_id: str) -> None:
        claim = self.components.insurance.claim(
            require_actor(req), ClaimId(claim_id), request_context(self, req)
        )
        write_json(resp, claim_json(claim))


class ClaimAction(Resource):
    takes: type[Any] = EmptyBody

    def on_post(self, req: falcon.Request, resp: falcon.Response, claim_id: str) -> None:
        actor = require_actor(req)
        body = self.takes() if self.takes is EmptyBody and not req.content_length else None
        if body is None:
            body = self.body(req, self.takes)
        context = request_context(self, req)
        write_json(resp, claim_json(self.act(actor, ClaimId(claim_id), body, context)))

    def act(self, actor: Actor, key: ClaimId, body: Any, context: RequestContext) -> Claim:
        raise NotImplementedError


class ReviewClaim(ClaimAction):
    def act(self, actor: Actor, key: ClaimId, _body: EmptyBody, context: RequestContext) -> Claim:
        return self.components.insurance.review(actor, key, context)


class AdjudicateClaim(ClaimAction):
    takes = AdjudicationBody

    def act(
        self, actor: Actor, key: ClaimId, body: AdjudicationBody, context: RequestContext
    ) -> Claim:
        decisions = [Decision(d.approved.to_domain(), d.reason) for d in body.decisions]
        return self.components.insurance.adjudicate(actor, key, decisions, body.reason, context)


class PayClaim(ClaimAction):
    def act(self, actor: Actor, key: ClaimId, _body: EmptyBody, context: RequestContext) -> Claim:
        return self.components.insurance.pay(actor, key, context)


# -- routes ---------------------------------------------------------------------------------

_SCHEME = path_param("scheme_id", "A scheme's id.")
_CLAIM = path_param("claim_id", "A claim's id (one you may see, or it is not found).")
_INSURER = "the scheme's insurers, admin"


def _op(summary: str, who: str, **rest: Any) -> Operation:
    return Operation(summary, rest.pop("auth", "bearer"), who, tag="insurance", **rest)


def _action(path: str, resource: type[ClaimAction], summary: str) -> Route:
    problems = ("not-found", "illegal-transition", "concurrent-update", "invalid-value")
    return Route(
        f"{INSURANCE}/claims/{{claim_id}}/{path}",
        resource,
        {
            "post": _op(
                summary,
                _INSURER,
                response="Claim",
                body=resource.takes,
                params=(_CLAIM,),
                problems=(*problems, *BODY_PROBLEMS),
            )
        },
    )


ROUTES: tuple[Route, ...] = (
    Route(
        f"{INSURANCE}/schemes",
        Schemes,
        {
            "get": _op("Insurance schemes", "anyone", auth="public", response="SchemeList"),
            "post": _op(
                "Create a scheme",
                "admin",
                ok=201,
                response="Scheme",
                body=SchemeBody,
                problems=("access-denied", "invalid-value", *BODY_PROBLEMS),
                headers=("Location",),
            ),
        },
    ),
    Route(
        f"{INSURANCE}/schemes/{{scheme_id}}/insurers",
        SchemeInsurers,
        {
            "post": _op(
                "Appoint an insurer (an account with the insurer role) to review its claims",
                "admin",
                ok=204,
                body=InsurerBody,
                params=(_SCHEME,),
                problems=("access-denied", "not-found", "invalid-value", *BODY_PROBLEMS),
            )
        },
    ),
    Route(
        f"{INSURANCE}/schemes/{{scheme_id}}/claims",
        SchemeClaims,
        {
            "get": _op(
                "The scheme's claims, oldest first",
                _INSURER,
                response="ClaimList",
                params=(_SCHEME,),
                problems=("not-found",),
            )
        },
    ),
    Route(
        f"{INSURANCE}/policies",
        Policies,
        {
            "get": _op(
                "Policies of a patient",
                "patient (own), admin (patient_id)",
                response="PolicyList",
                params=_POLICY_PARAMS,
                problems=("not-found", "validation-error"),
            ),
            "post": _op(
                "Record a policy",
                "patient (own), admin",
                ok=201,
                response="Policy",
                body=PolicyBody,
                problems=("not-found", "already-exists", "invalid-value", *BODY_PROBLEMS),
            ),
        },
    ),
    Route(
        f"{API}/appointments/{{appointment_id}}/eligibility",
        AppointmentEligibility,
        {
            "get": _op(
                "What a policy would pay for the appointment (before payment)",
                "its patient, its doctor, admin",
                response="Eligibility",
                params=(
                    path_param("appointment_id", "An appointment's id."),
                    *_ELIGIBILITY_PARAMS,
                ),
                problems=("not-found", "validation-error"),
            )
        },
    ),
    Route(
        f"{INSURANCE}/claims",
        Claims,
        {
            "post": _op(
                "Submit a claim (once per appointment)",
                "the appointment's patient or the hospital's administrators, admin",
                ok=201,
                response="Claim",
                body=ClaimBody,
                problems=("not-found", "already-exists", "invalid-value", *BODY_PROBLEMS),
                headers=("Location",),
            )
        },
    ),
    Route(
        f"{INSURANCE}/claims/{{claim_id}}",
        ClaimItemResource,
        {
            "get": _op(
                "A claim",
                "its patient, its hospital's administrators, the scheme's insurers, admin",
                response="Claim",
                params=(_CLAIM,),
                problems=("not-found",),
            )
        },
    ),
    _action("review", ReviewClaim, "Start reviewing: submitted -> under review"),
    _action("adjudicate", AdjudicateClaim, "Decide every item: approved, partially or rejected"),
    _action("pay", PayClaim, "Pay an approved or partially approved claim"),
)
