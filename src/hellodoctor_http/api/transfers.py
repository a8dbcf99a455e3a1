"""Transfers of patients between hospitals: the sending hospital's administrators request one;
the receiving hospital's accept it (a bed is reserved, 409 when none is free), decline it or
complete it; either side may cancel it. Both hospitals' administrators see it; anyone else is
told it does not exist (404)."""

from __future__ import annotations

from typing import Any

import falcon

from hellodoctor_domain.model.audit import RequestContext
from hellodoctor_domain.model.hospitals import BedType
from hellodoctor_domain.model.transfers import Transfer, TransferStatus
from hellodoctor_domain.model.values import Actor, HospitalId, PatientId, TransferId
from hellodoctor_http.api import Resource
from hellodoctor_http.api.appointments import EmptyBody
from hellodoctor_http.api.hospitals import MAX_CODE, parse_bed_type
from hellodoctor_http.api.records import request_context
from hellodoctor_http.api.values import iso
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import MAX_TEXT, choice, request_body, text, wire_values
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    DATETIME,
    STRING,
    Operation,
    Route,
    answer,
    path_param,
    ref,
)

# -- requests -------------------------------------------------------------------------------


@request_body
class TransferBody:
    patient_id: str = text(MAX_CODE)
    from_hospital_id: str = text(MAX_CODE)
    to_hospital_id: str = text(MAX_CODE)
    bed_type: str = choice(BedType)
    reason: str = text(MAX_TEXT)


@request_body
class AcceptBody:
    ward_code: str = text(MAX_CODE, description="The receiving ward; a bed there is reserved.")


@request_body
class ReasonBody:
    reason: str = text(MAX_TEXT)


# -- answers --------------------------------------------------------------------------------


def transfer_json(transfer: Transfer) -> dict[str, Any]:
    return {
        "id": transfer.id.value,
        "patient_id": transfer.patient_id.value,
        "from_hospital_id": transfer.from_hospital_id.value,
        "to_hospital_id": transfer.to_hospital_id.value,
        "bed_type": transfer.bed_type.value,
        "reason": transfer.reason,
        "status": transfer.status.value,
        "ward_code": transfer.ward_code,
        "history": [
            {"status": s.status.value, "at": iso(s.at), "by": s.by.value, "note": s.note}
            for s in transfer.history
        ],
    }


SCHEMAS: dict[str, Any] = {
    "TransferStep": answer(
        status={"enum": wire_values(TransferStatus)}, at=DATETIME, by=STRING, note=STRING
    ),
    "Transfer": answer(
        id=STRING,
        patient_id=STRING,
        from_hospital_id=STRING,
        to_hospital_id=STRING,
        bed_type={"enum": wire_values(BedType)},
        reason=STRING,
        status={"enum": wire_values(TransferStatus)},
        ward_code={"type": ["string", "null"]},
        history={"type": "array", "items": ref("TransferStep")},
    ),
    "TransferList": answer(items={"type": "array", "items": ref("Transfer")}),
}

# -- resources ------------------------------------------------------------------------------


class Transfers(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        body = self.body(req, TransferBody)
        transfer = self.components.transfers.request(
            actor,
            PatientId(body.patient_id),
            HospitalId(body.from_hospital_id),
            HospitalId(body.to_hospital_id),
            parse_bed_type(body.bed_type),
            body.reason,
            request_context(self, req),
        )
        resp.location = f"{API}/transfers/{transfer.id.value}"
        write_json(resp, transfer_json(transfer), status=201)


class TransferItem(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, transfer_id: str) -> None:
        transfer = self.components.transfers.get(
            require_actor(req), TransferId(transfer_id), request_context(self, req)
        )
        write_json(resp, transfer_json(transfer))


class HospitalTransfers(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        found = self.components.transfers.of_hospital(
            require_actor(req), HospitalId(hospital_id), request_context(self, req)
        )
        write_json(resp, {"items": [transfer_json(t) for t in found]})


class TransferAction(Resource):
    """``POST /transfers/{id}/<action>``: the action's body (``takes``), then ``act``."""

    takes: type[Any] = EmptyBody

    def on_post(self, req: falcon.Request, resp: falcon.Response, transfer_id: str) -> None:
        actor = require_actor(req)
        body = self.takes() if self.takes is EmptyBody and not req.content_length else None
        if body is None:
            body = self.body(req, self.takes)
        context = request_context(self, req)
        write_json(resp, transfer_json(self.act(actor, TransferId(transfer_id), body, context)))

    def act(self, actor: Actor, key: TransferId, body: Any, context: RequestContext) -> Transfer:
        raise NotImplementedError


class AcceptTransfer(TransferAction):
    takes = AcceptBody

    def act(
        self, actor: Actor, key: TransferId, body: AcceptBody, context: RequestContext
    ) -> Transfer:
        return self.components.transfers.accept(actor, key, body.ward_code, context)


class DeclineTransfer(TransferAction):
    takes = ReasonBody

    def act(
        self, actor: Actor, key: TransferId, body: ReasonBody, context: RequestContext
    ) -> Transfer:
        return self.components.transfers.decline(actor, key, body.reason, context)


class CompleteTransfer(TransferAction):
    def act(
        self, actor: Actor, key: TransferId, _body: EmptyBody, context: RequestContext
    ) -> Transfer:
        return self.components.transfers.complete(actor, key, context)


class CancelTransfer(TransferAction):
    takes = ReasonBody

    def act(
        self, actor: Actor, key: TransferId, body: ReasonBody, context: RequestContext
    ) -> Transfer:
        return self.components.transfers.cancel(actor, key, body.reason, context)


# -- routes ---------------------------------------------------------------------------------

_TRANSFER = path_param("transfer_id", "A transfer's id (of your hospitals, or it is not found).")
_ACTION_PROBLEMS = ("not-found", "illegal-transition", "concurrent-update", "invalid-value")


def _action(path: str, resource: type[TransferAction], summary: str, who: str) -> Route:
    problems = ("no-bed-available",) if resource is AcceptTransfer else ()
    return Route(
        f"{API}/transfers/{{transfer_id}}/{path}",
        resource,
        {
            "post": Operation(
                summary,
                "bearer",
                who,
                response="Transfer",
                body=resource.takes,
                params=(_TRANSFER,),
                problems=(*_ACTION_PROBLEMS, *problems, *BODY_PROBLEMS),
                tag="hospitals",
            )
        },
    )


_RECEIVER = "the receiving hospital's administrators, admin"
ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/transfers",
        Transfers,
        {
            "post": Operation(
                "Request a patient's transfer to another hospital",
                "bearer",
                "the sending hospital's administrators, admin",
                ok=201,
                response="Transfer",
                body=TransferBody,
                problems=("not-found", "invalid-value", *BODY_PROBLEMS),
                headers=("Location",),
                tag="hospitals",
            )
        },
    ),
    Route(
        f"{API}/transfers/{{transfer_id}}",
        TransferItem,
        {
            "get": Operation(
                "A transfer and its history",
                "bearer",
                "both hospitals' administrators, admin",
                response="Transfer",
                params=(_TRANSFER,),
                problems=("not-found",),
                tag="hospitals",
            )
        },
    ),
    Route(
        f"{API}/hospitals/{{hospital_id}}/transfers",
        HospitalTransfers,
        {
            "get": Operation(
                "Transfers into and out of a hospital, oldest first",
                "bearer",
                "that hospital's administrators, admin",
                response="TransferList",
                params=(path_param("hospital_id", "A hospital's id."),),
                problems=("not-found",),
                tag="hospitals",
            )
        },
    ),
    _action(
        "accept",
        AcceptTransfer,
        "Accept: reserve a bed in the ward (409 when none is free)",
        _RECEIVER,
    ),
    _action("decline", DeclineTransfer, "Decline, saying why", _RECEIVER),
    _action(
        "complete", CompleteTransfer, "The patient arrived: the reserved bed is theirs", _RECEIVER
    ),
    _action(
        "cancel",
        CancelTransfer,
        "Call it off, saying why (a reserved bed is freed)",
        "both hospitals' administrators, admin",
    ),
)
