"""A claim's attachments: its patient (or an admin) sends one of the patient's documents with
it; whoever may see the claim (its scheme's insurers included) lists them. Anyone else, and a
document not the patient's, is answered 404."""

from __future__ import annotations

import falcon

from hellodoctor_domain.model.documents import DocumentId
from hellodoctor_domain.model.values import ClaimId
from hellodoctor_http.api import Resource
from hellodoctor_http.api.documents import document_json
from hellodoctor_http.api.insurance import claim_json
from hellodoctor_http.api.records import request_context
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import identifier, request_body
from hellodoctor_http.openapi import API, BODY_PROBLEMS, Operation, Route, path_param


@request_body
class AttachmentBody:
    document_id: str = identifier(description="One of the claim's patient's documents.")


class ClaimAttachments(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, claim_id: str) -> None:
        found = self.components.insurance.attachments(
            require_actor(req), ClaimId(claim_id), request_context(self, req)
        )
        write_json(resp, {"items": [document_json(document) for document in found]})

    def on_post(self, req: falcon.Request, resp: falcon.Response, claim_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, AttachmentBody)
        claim = self.components.insurance.attach(
            actor, ClaimId(claim_id), DocumentId(body.document_id)
        )
        write_json(resp, claim_json(claim))


_CLAIM = path_param("claim_id", "A claim's id.")

ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/insurance/claims/{{claim_id}}/attachments",
        ClaimAttachments,
        {
            "get": Operation(
                "The documents sent with a claim",
                "bearer",
                "its patient, its hospital's administrators, the scheme's insurers, admin",
                response="DocumentList",
                params=(_CLAIM,),
                problems=("not-found",),
                tag="insurance",
            ),
            "post": Operation(
                "Send one of the patient's documents with the claim (until it is decided; "
                "sending one again changes nothing)",
                "bearer",
                "its patient, admin",
                response="Claim",
                body=AttachmentBody,
                params=(_CLAIM,),
                problems=("not-found", "illegal-transition", "invalid-value", *BODY_PROBLEMS),
                tag="insurance",
            ),
        },
    ),
)
