"""Notifications' operations: the events the relay gave up on (dead letters) and the admin's
retry once the cause is fixed (docs/notifications.md says what an operator does)."""

from __future__ import annotations

from typing import Any

import falcon

from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.ports.outbox import DeadLetter
from hellodoctor_domain.use_cases.delivery import Relay
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

SCHEMAS: dict[str, Any] = {
    "DeadLetter": answer(
        id=STRING,
        event_type=STRING,
        aggregate_type=STRING,
        aggregate_id=STRING,
        occurred_at=DATETIME,
        attempts={"type": "integer"},
        failed_at=DATETIME,
        error=STRING,
        payload={"type": "object"},
    ),
    "DeadLetters": answer(items={"type": "array", "items": ref("DeadLetter")}),
}


def dead_letter_json(letter: DeadLetter) -> dict[str, Any]:
    entry = letter.entry
    return {
        "id": entry.id,
        "event_type": entry.event_type,
        "aggregate_type": entry.aggregate_type,
        "aggregate_id": entry.aggregate_id,
        "occurred_at": iso(entry.occurred_at),
        "attempts": entry.attempts,
        "failed_at": iso(letter.failed_at),
        "error": letter.error,
        "payload": dict(entry.payload),
    }


class _Relayed(Resource):
    def relay(self) -> Relay:
        if self.components.delivery is None:
            raise NotFound("this storage keeps no outbox delivery")
        return self.components.delivery.relay


class DeadLetters(_Relayed):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        letters = self.relay().dead_letters(require_actor(req), limit=500)
        write_json(resp, {"items": [dead_letter_json(letter) for letter in letters]})


class DeadLetterRetry(_Relayed):
    def on_post(self, req: falcon.Request, resp: falcon.Response, entry_id: str) -> None:
        self.relay().retry(require_actor(req), entry_id)
        resp.status = falcon.HTTP_204


ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/admin/dead-letters",
        DeadLetters,
        {
            "get": Operation(
                "Events the relay gave up on after its retries, oldest failure first (up to 500)",
                "bearer",
                "admin",
                response="DeadLetters",
                problems=("access-denied",),
                tag="notifications",
            )
        },
    ),
    Route(
        f"{API}/admin/dead-letters/{{entry_id}}/retry",
        DeadLetterRetry,
        {
            "post": Operation(
                "Send a dead-lettered event again (after fixing its cause): it is due at once",
                "bearer",
                "admin",
                ok=204,
                params=(path_param("entry_id", "The dead letter's id"),),
                problems=("access-denied", "not-found"),
                tag="notifications",
            )
        },
    ),
)
