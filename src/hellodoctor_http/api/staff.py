"""Staff accounts: a platform admin adds a hospital's administrator or a scheme's insurer by
e-mail address. The account (its role fixed by the route, never the client's to choose) is
made pending, appointed there in the same unit of work, and sent a link to set its password."""

from __future__ import annotations

import falcon

from hellodoctor_domain.model.values import EmailAddress, HospitalId, SchemeId
from hellodoctor_domain.use_cases.staff import StaffPlace
from hellodoctor_http.api import Resource
from hellodoctor_http.api.accounts import account_json
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import request_body
from hellodoctor_http.openapi import API, BODY_PROBLEMS, Operation, Route, path_param


@request_body
class StaffInvitationBody:
    email: EmailAddress


class HospitalAdministratorInvitations(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        self._invite(req, resp, StaffPlace(hospital_id=HospitalId(hospital_id)))

    def _invite(self, req: falcon.Request, resp: falcon.Response, place: StaffPlace) -> None:
        actor = require_actor(req)
        body = self.body(req, StaffInvitationBody)
        account = self.components.identity.invite_staff(actor, body.email, place)
        write_json(resp, account_json(account), status=201)


class SchemeInsurerInvitations(HospitalAdministratorInvitations):
    def on_post(self, req: falcon.Request, resp: falcon.Response, scheme_id: str) -> None:
        self._invite(req, resp, StaffPlace(scheme_id=SchemeId(scheme_id)))


_PROBLEMS = ("access-denied", "not-found", "already-exists", *BODY_PROBLEMS)

ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/hospitals/{{hospital_id}}/administrator-invitations",
        HospitalAdministratorInvitations,
        {
            "post": Operation(
                "Add a hospital administrator: a new account appointed to this hospital, sent "
                "a link to set its password",
                "bearer",
                "admin",
                ok=201,
                response="Account",
                body=StaffInvitationBody,
                params=(path_param("hospital_id", "A hospital's id."),),
                problems=_PROBLEMS,
                tag="hospitals",
            )
        },
    ),
    Route(
        f"{API}/insurance/schemes/{{scheme_id}}/insurer-invitations",
        SchemeInsurerInvitations,
        {
            "post": Operation(
                "Add an insurer: a new account reviewing this scheme's claims, sent a link to "
                "set its password",
                "bearer",
                "admin",
                ok=201,
                response="Account",
                body=StaffInvitationBody,
                params=(path_param("scheme_id", "A scheme's id."),),
                problems=_PROBLEMS,
                tag="insurance",
            )
        },
    ),
)
