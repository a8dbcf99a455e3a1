"""The card flow end to end over HTTP with the Stripe gateway and localstripe: the app is served
on a loopback port, localstripe POSTs its signed webhooks to the app's
/api/v1/webhooks/stripe, and the test plays the patient's browser (confirming the intent with
a test card, as Stripe.js would with the client secret).

The storage is memory: what this shows is the gateway and the HTTP layer
(test_payments_api.py runs the same endpoints on SQLite too).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import stripe

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory
from hellodoctor_adapters.stripe import StripeGateway
from hellodoctor_adapters.stripe.testing import LocalStripe, localstripe
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_http.app import create_app
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.testing import FEE_DOCTOR, Headers, ValidatingClient, at

API = "/api/v1"
WEBHOOK_SECRET = "whsec_http_end_to_end"
# localstripe waits a second before each delivery; allow for a slow machine on top.
DELIVERY_SECONDS = 30.0


@pytest.fixture(scope="module")
def local_stripe() -> Iterator[LocalStripe]:
    with localstripe() as server:
        yield server


@pytest.fixture
def secret_key(local_stripe: LocalStripe) -> str:
    return local_stripe.new_secret_key()


@pytest.fixture
def storage() -> UnitOfWorkFactory:
    return InMemoryUnitOfWorkFactory()


@pytest.fixture
def gateway(local_stripe: LocalStripe, secret_key: str) -> StripeGateway:
    """The conftest's Billing is built over this gateway instead of the offline one."""
    return local_stripe.gateway(secret_key, WEBHOOK_SECRET)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def served_app(components: Components, local_stripe: LocalStripe) -> Iterator[str]:
    """The app on a loopback port, registered as localstripe's webhook endpoint."""
    server = make_server(
        "127.0.0.1",
        0,
        create_app(components),
        server_class=_ThreadingServer,
        handler_class=_QuietHandler,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    local_stripe.register_webhook(
        f"{base}{API}/webhooks/stripe", WEBHOOK_SECRET, name=f"app-{uuid.uuid4().hex[:8]}"
    )
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def stripe_api(local_stripe: LocalStripe, secret_key: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        secret_key, base_addresses={"api": local_stripe.api_base}, max_network_retries=0
    )


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    """Wait for localstripe's delivery (it sends after a delay) -- a deadline, not a timing
    assertion."""
    deadline = time.monotonic() + DELIVERY_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {DELIVERY_SECONDS}s")
        time.sleep(0.1)


def test_card_flow_book_intent_confirm_signed_webhook_booked_then_refunded(
    served_app: str,
    client: ValidatingClient,
    stripe_api: stripe.StripeClient,
    as_patient: Headers,
) -> None:
    held = client.simulate_post(
        f"{API}/appointments",
        json={"doctor_id": FEE_DOCTOR, "start": at(10, day=2)},
        headers=as_patient(),
    ).json
    assert held["status"] == "held"
    started = client.simulate_post(
        f"{API}/appointments/{held['id']}/payments", json={"method": "card"}, headers=as_patient()
    )
    assert started.status_code == 200
    secret = started.json["client_secret"]
    intent_id = secret.split("_secret_")[0]
    intent = stripe_api.v1.payment_intents.retrieve(intent_id)
    assert (intent.amount, intent.currency) == (8000, "gbp")
    assert intent.metadata["appointment_id"] == held["id"]

    # The patient's browser confirms with a test card; localstripe signs and POSTs the event.
    stripe_api.v1.payment_intents.update(intent_id, {"payment_method": "pm_card_visa"})
    stripe_api.v1.payment_intents.confirm(intent_id)

    def booked() -> bool:
        path = f"{API}/appointments/{held['id']}"
        return bool(client.simulate_get(path, headers=as_patient()).json["status"] == "booked")

    _wait_until(booked, "booking by the signed webhook")
    payments = client.simulate_get(f"{API}/payments", headers=as_patient()).json["items"]
    assert [p["status"] for p in payments] == ["succeeded"]

    cancelled = client.simulate_post(
        f"{API}/appointments/{held['id']}/cancel", headers=as_patient()
    )
    assert cancelled.json["cancellation"]["refund"]["minor_units"] == 8000  # > 24 h ahead
    refunds = stripe_api.v1.refunds.list({"payment_intent": intent_id})
    assert sum(refund.amount for refund in refunds.data) == 8000


def test_a_webhook_not_signed_by_stripe_is_400(
    client: ValidatingClient, gateway: StripeGateway
) -> None:
    body = b'{"id": "evt_forged", "type": "payment_intent.succeeded", "data": {"object": {}}}'
    timestamp = int(time.time())
    forged = f"t={timestamp},v1={'0' * 64}"
    for signature in (forged, None):
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        refused = client.simulate_post(f"{API}/webhooks/stripe", body=body, headers=headers)
        assert refused.status_code == 400
        assert refused.json["type"].endswith("/webhook-rejected")
