"""Run localstripe for tests: ``python tests/support/localstripe_server.py``.

localstripe is GPL-3.0, so this launcher stays in the test tree and is not part of the
package.

Binds a free loopback port, prints it on the first line of stdout, then serves until killed.
localstripe (a stateful fake of Stripe's API) lacks three things real Stripe does and this
project relies on; they are added here, to the fake, so the adapter is tested against Stripe's
documented behaviour rather than against the fake's gaps:

* ``Idempotency-Key`` (https://docs.stripe.com/api/idempotent_requests): the first answer to
  a key is replayed for the same key from the same account (API key); the same key with other
  parameters is a 400 ``idempotency_error``. localstripe ignores the header.
* Refunds never exceed the charge: Stripe answers 400 ``amount_too_large`` (or
  ``charge_already_refunded``); localstripe accepts any amount. Refunding an intent without a
  successful charge is a 400 at Stripe; localstripe crashes (500).
* No state on disk: localstripe pickles its store to a fixed ``/tmp/localstripe.pickle`` that
  every instance on the machine would share.

Needs the ``dev`` extra (``localstripe``, which brings aiohttp).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any


def _patch_localstripe() -> Any:
    from aiohttp import web
    from localstripe import resources, server  # type: ignore[import-untyped]
    from localstripe.errors import UserError  # type: ignore[import-untyped]

    resources.Store.dump_to_disk = lambda self: None

    original_refund_init = resources.Refund.__init__

    def refund_within_the_charge(
        self: Any, charge: Any = None, payment_intent: Any = None, amount: Any = None, **kw: Any
    ) -> None:
        if isinstance(payment_intent, str) and payment_intent.startswith("pi_"):
            intent = resources.PaymentIntent._api_retrieve(payment_intent)  # 404 if unknown
            if intent.latest_charge is None or intent.status != "succeeded":
                raise UserError(
                    400,
                    f"This PaymentIntent ({payment_intent}) does not have a successful "
                    "charge to refund.",
                )
            charge = None
            charge_id = intent.latest_charge.id
        else:
            charge_id = charge
        if isinstance(charge_id, str) and charge_id.startswith("ch_"):
            charge_object = resources.Charge._api_retrieve(charge_id)
            refunded = sum(
                stored.amount
                for key, stored in list(resources.store.items())
                if key.startswith("refund:") and stored.charge == charge_id
            )
            left = charge_object.amount - refunded
            requested = resources.try_convert_to_int(amount) if amount is not None else left
            if left <= 0:
                raise UserError(
                    400,
                    f"Charge {charge_id} has already been refunded.",
                    {"code": "charge_already_refunded"},
                )
            if isinstance(requested, int) and requested > left:
                raise UserError(
                    400,
                    f"Refund amount ({requested}) is greater than unrefunded amount on charge "
                    f"({left})",
                    {"code": "amount_too_large", "param": "amount"},
                )
        original_refund_init(
            self, charge=charge, payment_intent=payment_intent, amount=amount, **kw
        )

    resources.Refund.__init__ = refund_within_the_charge

    replies: dict[tuple[str, str], tuple[str, int, bytes]] = {}
    locks: dict[tuple[str, str], asyncio.Lock] = {}

    @web.middleware
    async def idempotent_requests(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)
        scope = (request.headers.get("Authorization", ""), key)
        fingerprint = hashlib.sha256(
            request.path.encode() + b"\0" + await request.read()
        ).hexdigest()
        # One request per key at a time, so a concurrent copy waits and gets the replay.
        async with locks.setdefault(scope, asyncio.Lock()):
            if scope in replies:
                first_fingerprint, status, body = replies[scope]
                if first_fingerprint != fingerprint:
                    error = {
                        "type": "idempotency_error",
                        "message": "Keys for idempotent requests can only be used with the "
                        "same parameters they were first used with.",
                    }
                    return web.json_response({"error": error}, status=400)
                return web.Response(
                    body=body,
                    status=status,
                    content_type="application/json",
                    headers={"Idempotent-Replayed": "true"},
                )
            try:
                response = await handler(request)
            except UserError as error:  # Stripe replays refusals too
                response = error.to_response()
            answer = response.body if isinstance(response, web.Response) else None
            if isinstance(answer, bytes) and response.status < 500:
                replies[scope] = (fingerprint, response.status, answer)
            return response

    app = server.app
    # Inside localstripe's error middleware, so its errors (and ours) become JSON responses.
    app.middlewares.insert(1, idempotent_requests)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    arguments = parser.parse_args(argv)

    from aiohttp import web

    app = _patch_localstripe()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((arguments.host, 0))
    listener.listen(128)  # connections queue from now on, so the port is usable once printed
    print(listener.getsockname()[1], flush=True)
    web.run_app(app, sock=listener, print=None, access_log=None)


if __name__ == "__main__":
    main(sys.argv[1:])
