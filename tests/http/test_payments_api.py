"""The payment endpoints through Falcon's test client, every response checked against
/openapi.json. The offline gateway plays the card provider: a test pays (or declines) an
intent with it and delivers the signed webhook it returns to POST /api/v1/webhooks/stripe.

It runs on the in-memory and SQLite storages (PostgreSQL and MongoDB pass the same storage
contract and payment state machine in tests/contract and tests/property).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import falcon.testing
import pytest

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory, ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway, WebhookDelivery
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.testing import migrated_sqlite_file
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.billing import Billing
from hellodoctor_domain.use_cases.scheduling import Scheduling
from hellodoctor_http.app import create_app
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.testing import FEE_DOCTOR, FREE_DOCTOR, NOW, Headers, ValidatingClient, at
from hellodoctor_http.worker import WorkerPass, run_once

API = "/api/v1"
PRICE = 8000  # FEE_DOCTOR's fee, GBP


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UnitOfWorkFactory]:
    if request.param == "memory":
        yield InMemoryUnitOfWorkFactory()
        return
    factory = SqlUnitOfWorkFactory(migrated_sqlite_file(tmp_path))
    yield factory
    factory.dispose()


# -- helpers --------------------------------------------------------------------------------


def hold(client: ValidatingClient, headers: dict[str, str], start: str) -> dict[str, Any]:
    result = client.simulate_post(
        f"{API}/appointments", json={"doctor_id": FEE_DOCTOR, "start": start}, headers=headers
    )
    assert result.status_code == 201, result.json
    assert result.json["status"] == "held"
    return dict(result.json)


def pay(
    client: ValidatingClient,
    headers: dict[str, str],
    appointment_id: str,
    method: str,
    **extra: Any,
) -> falcon.testing.Result:
    return client.simulate_post(
        f"{API}/appointments/{appointment_id}/payments",
        json={"method": method, **extra},
        headers=headers,
    )


def deliver(client: ValidatingClient, delivery: WebhookDelivery) -> falcon.testing.Result:
    """A webhook as the provider sends it: the exact bytes it signed, and the signature."""
    return client.simulate_post(
        f"{API}/webhooks/stripe",
        body=delivery.body,
        headers={"Stripe-Signature": delivery.signature, "Content-Type": "application/json"},
    )


def intent_of(gateway: OfflinePaymentGateway, payment_id: str) -> str:
    return next(
        reference
        for reference, known in gateway.intents.items()
        if known.metadata["payment_id"] == payment_id
    )


def top_up(
    client: ValidatingClient,
    gateway: OfflinePaymentGateway,
    headers: dict[str, str],
    minor_units: int,
) -> None:
    started = client.simulate_post(
        f"{API}/wallet/top-ups",
        json={"amount": {"minor_units": minor_units, "currency": "GBP"}},
        headers=headers,
    )
    assert started.status_code == 201, started.json
    reference = intent_of(gateway, started.json["payment"]["id"])
    assert deliver(client, gateway.complete(reference)).json["outcome"] == "applied"


def balance(client: ValidatingClient, headers: dict[str, str]) -> int:
    wallet = client.simulate_get(f"{API}/wallet", headers=headers)
    assert wallet.status_code == 200
    return int(wallet.json["balance"]["minor_units"])


def status_of(client: ValidatingClient, headers: dict[str, str], appointment_id: str) -> str:
    return str(
        client.simulate_get(f"{API}/appointments/{appointment_id}", headers=headers).json["status"]
    )


def problem(result: falcon.testing.Result) -> str:
    return str(result.json["type"]).rsplit("/", 1)[1]


# -- paying ---------------------------------------------------------------------------------


def test_card_payment_gives_a_client_secret_and_the_signed_success_books(
    client: ValidatingClient, gateway: OfflinePaymentGateway, as_patient: Headers
) -> None:
    held = hold(client, as_patient(), at(10))
    started = pay(client, as_patient(), held["id"], "card")
    assert started.status_code == 200
    body = started.json
    assert body["next_step"] == "confirm_card"
    assert body["appointment"]["status"] == "held"
    assert body["payment"]["amount"]["minor_units"] == PRICE
    assert body["payment"]["card_part"]["minor_units"] == PRICE
    reference = intent_of(gateway, body["payment"]["id"])
    assert body["client_secret"] == gateway.intents[reference].intent.client_secret
    assert gateway.intents[reference].amount.minor_units == PRICE

    # A retried request resumes the same payment and intent.
    again = pay(client, as_patient(), held["id"], "card")
    assert again.json["payment"]["id"] == body["payment"]["id"]
    assert again.json["client_secret"] == body["client_secret"]
    other_method = pay(client, as_patient(), held["id"], "offline")
    assert other_method.status_code == 409
    assert problem(other_method) == "payment-already-started"

    delivery = gateway.complete(reference)
    applied = deliver(client, delivery)
    assert applied.status_code == 200
    assert applied.json["outcome"] == "applied"
    assert status_of(client, as_patient(), held["id"]) == "booked"
    duplicate = deliver(client, delivery)
    assert duplicate.status_code == 200
    assert duplicate.json["outcome"] == "duplicate"


def test_a_declined_card_leaves_the_hold_and_can_be_retried(
    client: ValidatingClient, gateway: OfflinePaymentGateway, as_patient: Headers
) -> None:
    held = hold(client, as_patient(), at(10))
    started = pay(client, as_patient(), held["id"], "card").json
    reference = intent_of(gateway, started["payment"]["id"])
    assert deliver(client, gateway.decline(reference)).json["outcome"] == "applied"
    assert status_of(client, as_patient(), held["id"]) == "held"
    assert deliver(client, gateway.complete(reference)).json["outcome"] == "applied"
    assert status_of(client, as_patient(), held["id"]) == "booked"


def test_the_client_cannot_choose_the_amount(
    client: ValidatingClient, gateway: OfflinePaymentGateway, as_patient: Headers
) -> None:
    held = hold(client, as_patient(), at(10))
    for extra in (
        {"amount": {"minor_units": 1, "currency": "GBP"}},
        {"price": 1},
        {"wallet_part": 0},
    ):
        refused = pay(client, as_patient(), held["id"], "card", **extra)
        assert refused.status_code == 422
        assert problem(refused) == "validation-error"
        assert [e["field"] for e in refused.json["errors"]] == list(extra)
    assert gateway.intents == {}
    started = pay(client, as_patient(), held["id"], "card").json
    assert started["payment"]["amount"]["minor_units"] == held["price"]["minor_units"] == PRICE


def test_nobody_pays_someone_elses_appointment(
    client: ValidatingClient,
    as_patient: Headers,
    as_doctor: Headers,
    as_admin: Headers,
) -> None:
    held = hold(client, as_patient("pat-1"), at(10))
    stranger = pay(client, as_patient("pat-2"), held["id"], "offline")
    assert stranger.status_code == 404
    assert problem(stranger) == "not-found"
    unknown = pay(client, as_patient("pat-1"), "no-such-appointment", "offline")
    assert unknown.status_code == 404
    for staff in (as_doctor(), as_admin()):
        refused = pay(client, staff, held["id"], "offline")
        assert refused.status_code == 403
        assert problem(refused) == "access-denied"
    anonymous = client.simulate_post(
        f"{API}/appointments/{held['id']}/payments", json={"method": "offline"}
    )
    assert anonymous.status_code == 401
    assert status_of(client, as_patient("pat-1"), held["id"]) == "held"


def test_a_cancelled_booked_or_lapsed_appointment_cannot_be_paid(
    client: ValidatingClient, as_patient: Headers, clock: ManualClock
) -> None:
    cancelled = hold(client, as_patient(), at(10))
    client.simulate_post(f"{API}/appointments/{cancelled['id']}/cancel", headers=as_patient())
    refused = pay(client, as_patient(), cancelled["id"], "card")
    assert refused.status_code == 409
    assert problem(refused) == "payment-not-allowed"

    free = client.simulate_post(
        f"{API}/appointments",
        json={"doctor_id": FREE_DOCTOR, "start": at(15)},
        headers=as_patient(),
    ).json
    assert free["status"] == "booked"
    assert problem(pay(client, as_patient(), free["id"], "offline")) == "payment-not-allowed"

    lapsed = hold(client, as_patient(), at(11))
    clock.advance(timedelta(minutes=16))
    late = pay(client, as_patient(), lapsed["id"], "card")
    assert late.status_code == 409
    assert problem(late) == "hold-expired"


def test_an_unknown_method_is_refused(client: ValidatingClient, as_patient: Headers) -> None:
    held = hold(client, as_patient(), at(10))
    refused = pay(client, as_patient(), held["id"], "bitcoin")
    assert refused.status_code == 422
    missing = client.simulate_post(
        f"{API}/appointments/{held['id']}/payments", json={}, headers=as_patient()
    )
    assert missing.status_code == 422


def test_wallet_payment_books_at_once_and_an_empty_wallet_changes_nothing(
    client: ValidatingClient, gateway: OfflinePaymentGateway, as_patient: Headers
) -> None:
    held = hold(client, as_patient(), at(10))
    short = pay(client, as_patient(), held["id"], "wallet")
    assert short.status_code == 409
    assert problem(short) == "insufficient-funds"
    assert status_of(client, as_patient(), held["id"]) == "held"

    top_up(client, gateway, as_patient(), 10_000)
    paid = pay(client, as_patient(), held["id"], "wallet")
    assert paid.status_code == 200
    assert paid.json["next_step"] == "none"
    assert paid.json["client_secret"] is None
    assert paid.json["appointment"]["status"] == "booked"
    assert paid.json["payment"]["status"] == "succeeded"
    wallet = client.simulate_get(f"{API}/wallet", headers=as_patient()).json
    assert wallet["balance"]["minor_units"] == 10_000 - PRICE
    assert [(e["kind"], e["amount"]["minor_units"]) for e in wallet["entries"]] == [
        ("top_up", 10_000),
        ("payment", -PRICE),
    ]


def test_hybrid_debits_the_wallet_and_asks_the_card_for_the_rest(
    client: ValidatingClient, gateway: OfflinePaymentGateway, as_patient: Headers
) -> None:
    top_up(client, gateway, as_patient(), 5_000)
    held = hold(client, as_patient(), at(10))
    started = pay(client, as_patient(), held["id"], "hybrid").json
    assert started["payment"]["wallet_part"]["minor_units"] == 5_000
    assert started["payment"]["card_part"]["minor_units"] == PRICE - 5_000
    assert started["next_step"] == "confirm_card"
    assert balance(client, as_patient()) == 0
    reference = intent_of(gateway, started["payment"]["id"])
    assert gateway.intents[reference].amount.minor_units == PRICE - 5_000
    assert deliver(client, gateway.complete(reference)).json["outcome"] == "applied"
    assert status_of(client, as_patient(), held["id"]) == "booked"


def test_offline_payment_books_with_the_fee_due_at_the_clinic(
    client: ValidatingClient, gateway: OfflinePaymentGateway, as_patient: Headers
) -> None:
    held = hold(client, as_patient(), at(10))
    started = pay(client, as_patient(), held["id"], "offline").json
    assert started["next_step"] == "pay_at_clinic"
    assert started["due_at_clinic"]["minor_units"] == PRICE
    assert started["appointment"]["status"] == "booked"
    assert gateway.intents == {}


def test_without_online_cards_only_wallet_and_clinic_payments_are_offered(
    components: Components, gateway: OfflinePaymentGateway, as_patient: Headers
) -> None:
    client = ValidatingClient(create_app(attrs.evolve(components, cards_accepted=False)))
    held = hold(client, as_patient(), at(10))
    for method in ("card", "hybrid"):
        refused = pay(client, as_patient(), held["id"], method)
        assert refused.status_code == 409
        assert problem(refused) == "payment-not-allowed"
    top = client.simulate_post(
        f"{API}/wallet/top-ups",
        json={"amount": {"minor_units": 1000, "currency": "GBP"}},
        headers=as_patient(),
    )
    assert problem(top) == "payment-not-allowed"
    assert gateway.intents == {}
    assert pay(client, as_patient(), held["id"], "offline").status_code == 200


# -- webhooks -------------------------------------------------------------------------------


def test_a_webhook_with_a_bad_or_missing_signature_is_400_and_changes_nothing(
    client: ValidatingClient, gateway: OfflinePaymentGateway, as_patient: Headers
) -> None:
    held = hold(client, as_patient(), at(10))
    started = pay(client, as_patient(), held["id"], "card").json
    delivery = gateway.complete(intent_of(gateway, started["payment"]["id"]))
    forged = OfflinePaymentGateway(webhook_secret="not-the-secret").sign(delivery.body)
    tampered = delivery.body.replace(b"succeeded", b"processing")
    for headers, body in (
        ({"Stripe-Signature": forged}, delivery.body),
        ({}, delivery.body),
        ({"Stripe-Signature": ""}, delivery.body),
        ({"Stripe-Signature": delivery.signature}, tampered),
        ({"Stripe-Signature": delivery.signature}, delivery.body + b" "),
    ):
        refused = client.simulate_post(
            f"{API}/webhooks/stripe",
            body=body,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert refused.status_code == 400
        assert problem(refused) == "webhook-rejected"
    assert status_of(client, as_patient(), held["id"]) == "held"
    # A signed body that is not an event is refused too, never a 500.
    junk = b"not json at all"
    not_an_event = deliver(client, WebhookDelivery(junk, gateway.sign(junk)))
    assert not_an_event.status_code == 400
    assert deliver(client, delivery).json["outcome"] == "applied"


def test_an_event_for_an_unknown_payment_is_200_and_ignored(
    client: ValidatingClient, gateway: OfflinePaymentGateway
) -> None:
    body = b'{"id": "evt_elsewhere", "kind": "succeeded", "intent": "pi_x", "payment_id": "nobody"}'
    result = deliver(client, WebhookDelivery(body, gateway.sign(body)))
    assert result.status_code == 200
    assert result.json == {"outcome": "ignored", "event_id": "evt_elsewhere"}


def test_the_same_webhook_fifty_times_at_once_has_one_effect(
    client: ValidatingClient, gateway: OfflinePaymentGateway, as_patient: Headers
) -> None:
    started = client.simulate_post(
        f"{API}/wallet/top-ups",
        json={"amount": {"minor_units": 2_500, "currency": "GBP"}},
        headers=as_patient(),
    ).json
    delivery = gateway.complete(intent_of(gateway, started["payment"]["id"]))
    copies = 50
    start_together = threading.Barrier(copies)

    def send(_: int) -> tuple[int, str]:
        start_together.wait()
        result = deliver(client, delivery)
        return result.status_code, result.json["outcome"]

    with ThreadPoolExecutor(copies) as pool:
        answers = list(pool.map(send, range(copies)))
    assert {status for status, _ in answers} == {200}
    outcomes = [outcome for _, outcome in answers]
    assert outcomes.count("applied") == 1
    assert outcomes.count("duplicate") == copies - 1
    wallet = client.simulate_get(f"{API}/wallet", headers=as_patient()).json
    assert wallet["balance"]["minor_units"] == 2_500
    assert len(wallet["entries"]) == 1


def test_a_success_after_the_hold_lapsed_is_refunded_not_kept(
    client: ValidatingClient,
    gateway: OfflinePaymentGateway,
    as_patient: Headers,
    clock: ManualClock,
) -> None:
    held = hold(client, as_patient(), at(10))
    started = pay(client, as_patient(), held["id"], "card").json
    reference = intent_of(gateway, started["payment"]["id"])
    clock.advance(timedelta(minutes=20))
    assert deliver(client, gateway.complete(reference)).json["outcome"] == "applied"
    assert status_of(client, as_patient(), held["id"]) == "expired"
    assert gateway.captured() is not None
    assert gateway.captured().minor_units == 0  # type: ignore[union-attr]


# -- cancelling refunds by policy -------------------------------------------------------------


def _booked_by_card(
    client: ValidatingClient, gateway: OfflinePaymentGateway, headers: dict[str, str], start: str
) -> tuple[str, str]:
    held = hold(client, headers, start)
    started = pay(client, headers, held["id"], "card").json
    reference = intent_of(gateway, started["payment"]["id"])
    deliver(client, gateway.complete(reference))
    return held["id"], reference


def test_cancel_refunds_by_the_policy_to_the_card_once(
    client: ValidatingClient, gateway: OfflinePaymentGateway, as_patient: Headers
) -> None:
    early, early_intent = _booked_by_card(client, gateway, as_patient(), at(10, day=2))
    cancelled = client.simulate_post(f"{API}/appointments/{early}/cancel", headers=as_patient())
    assert cancelled.status_code == 200
    assert cancelled.json["cancellation"]["refund"]["minor_units"] == PRICE  # > 24 h ahead
    again = client.simulate_post(f"{API}/appointments/{early}/cancel", headers=as_patient())
    assert again.status_code == 409
    late, late_intent = _booked_by_card(client, gateway, as_patient(), at(10))
    cancelled_late = client.simulate_post(f"{API}/appointments/{late}/cancel", headers=as_patient())
    assert cancelled_late.json["cancellation"]["refund"]["minor_units"] == PRICE // 2  # < 24 h
    refunded = {reference: amount.minor_units for reference, amount in gateway.refunds.values()}
    assert refunded == {early_intent: PRICE, late_intent: PRICE // 2}
    payments = client.simulate_get(f"{API}/payments", headers=as_patient()).json["items"]
    assert sorted(p["status"] for p in payments) == ["partially_refunded", "refunded"]


def test_a_doctors_cancellation_refunds_a_wallet_payment_in_full_to_the_wallet(
    client: ValidatingClient,
    gateway: OfflinePaymentGateway,
    as_patient: Headers,
    as_doctor: Headers,
) -> None:
    top_up(client, gateway, as_patient(), PRICE)
    held = hold(client, as_patient(), at(10))
    pay(client, as_patient(), held["id"], "wallet")
    assert balance(client, as_patient()) == 0
    cancelled = client.simulate_post(
        f"{API}/appointments/{held['id']}/cancel", json={"reason": "ill"}, headers=as_doctor()
    )
    assert cancelled.json["cancellation"]["refund"]["minor_units"] == PRICE
    assert balance(client, as_patient()) == PRICE


def test_cancelling_a_hold_with_an_open_payment_releases_its_wallet_part(
    client: ValidatingClient, gateway: OfflinePaymentGateway, as_patient: Headers
) -> None:
    top_up(client, gateway, as_patient(), 3_000)
    held = hold(client, as_patient(), at(10))
    started = pay(client, as_patient(), held["id"], "hybrid").json
    assert balance(client, as_patient()) == 0
    client.simulate_post(f"{API}/appointments/{held['id']}/cancel", headers=as_patient())
    assert balance(client, as_patient()) == 3_000
    reference = intent_of(gateway, started["payment"]["id"])
    assert gateway.intents[reference].status == "cancelled"


# -- the wallet, top-ups, history ----------------------------------------------------------------


def test_the_wallet_is_the_patients_own(
    client: ValidatingClient,
    gateway: OfflinePaymentGateway,
    as_patient: Headers,
    as_doctor: Headers,
) -> None:
    top_up(client, gateway, as_patient("pat-1"), 1_000)
    assert balance(client, as_patient("pat-1")) == 1_000
    assert balance(client, as_patient("pat-2")) == 0
    assert client.simulate_get(f"{API}/wallet", headers=as_doctor()).status_code == 403
    assert client.simulate_get(f"{API}/wallet").status_code == 401
    other_currency = client.simulate_get(
        f"{API}/wallet", params={"currency": "EUR"}, headers=as_patient()
    )
    assert other_currency.status_code == 422
    assert other_currency.json["errors"][0]["field"] == "currency"


@pytest.mark.parametrize(
    ("amount", "field"),
    [
        ({"minor_units": 0, "currency": "GBP"}, "amount.minor_units"),
        ({"minor_units": -500, "currency": "GBP"}, "amount.minor_units"),
        ({"minor_units": 1_000_001, "currency": "GBP"}, "amount.minor_units"),
        ({"minor_units": 10.5, "currency": "GBP"}, "amount.minor_units"),
        ({"minor_units": "1000", "currency": "GBP"}, "amount.minor_units"),
        ({"minor_units": 1000, "currency": "EUR"}, "amount.currency"),
        ({"minor_units": 1000, "currency": "XXX"}, "amount.currency"),
        ({"minor_units": 1000}, "amount.currency"),
        ({"minor_units": 1000, "currency": "GBP", "bonus": 5}, "amount.bonus"),
    ],
)
def test_a_top_up_is_a_bounded_positive_amount_in_a_clinic_currency(
    client: ValidatingClient,
    gateway: OfflinePaymentGateway,
    as_patient: Headers,
    amount: dict[str, Any],
    field: str,
) -> None:
    refused = client.simulate_post(
        f"{API}/wallet/top-ups", json={"amount": amount}, headers=as_patient()
    )
    assert refused.status_code == 422
    assert field in [e["field"] for e in refused.json["errors"]]
    assert gateway.intents == {}


def test_only_patients_top_up(
    client: ValidatingClient, as_doctor: Headers, as_admin: Headers
) -> None:
    for headers in (as_doctor(), as_admin()):
        refused = client.simulate_post(
            f"{API}/wallet/top-ups",
            json={"amount": {"minor_units": 1000, "currency": "GBP"}},
            headers=headers,
        )
        assert refused.status_code == 403


def test_payment_history_for_the_patient_and_the_admin(
    client: ValidatingClient,
    gateway: OfflinePaymentGateway,
    as_patient: Headers,
    as_doctor: Headers,
    as_admin: Headers,
) -> None:
    top_up(client, gateway, as_patient("pat-1"), 1_000)
    mine = hold(client, as_patient("pat-1"), at(10))
    pay(client, as_patient("pat-1"), mine["id"], "offline")
    theirs = hold(client, as_patient("pat-2"), at(11))
    pay(client, as_patient("pat-2"), theirs["id"], "card")

    own = client.simulate_get(f"{API}/payments", headers=as_patient("pat-1")).json
    assert {p["patient_id"] for p in own["items"]} == {"pat-1"}
    assert sorted(p["purpose"] for p in own["items"]) == ["appointment", "wallet_top_up"]
    nosy = client.simulate_get(
        f"{API}/payments", params={"patient_id": "pat-2"}, headers=as_patient("pat-1")
    )
    assert nosy.status_code == 422
    assert client.simulate_get(f"{API}/payments", headers=as_doctor()).status_code == 403

    everyone = client.simulate_get(f"{API}/payments", headers=as_admin()).json
    assert len(everyone["items"]) == 3
    by_card = client.simulate_get(
        f"{API}/payments", params={"method": "card", "purpose": "appointment"}, headers=as_admin()
    ).json
    assert [p["appointment_id"] for p in by_card["items"]] == [theirs["id"]]
    of_pat_2 = client.simulate_get(
        f"{API}/payments", params={"patient_id": "pat-2"}, headers=as_admin()
    ).json
    assert [p["patient_id"] for p in of_pat_2["items"]] == ["pat-2"]
    succeeded = client.simulate_get(
        f"{API}/payments", params={"status": "succeeded"}, headers=as_admin()
    ).json
    assert [p["purpose"] for p in succeeded["items"]] == ["wallet_top_up"]
    bad = client.simulate_get(
        f"{API}/payments",
        params={"status": "stolen", "method": "gold", "purpose": "fun", "cursor": "e30"},
        headers=as_admin(),
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json["errors"]} == {"status", "method", "purpose", "cursor"}

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        page = client.simulate_get(f"{API}/payments", params=params, headers=as_admin()).json
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [p["id"] for p in everyone["items"]]
    assert len(set(seen)) == 3


# -- the worker --------------------------------------------------------------------------------


def test_two_workers_at_once_expire_each_lapsed_hold_once(
    client: ValidatingClient,
    gateway: OfflinePaymentGateway,
    storage: UnitOfWorkFactory,
    clock: ManualClock,
    as_patient: Headers,
) -> None:
    """Two workers' passes race over the same store: every lapsed hold is expired by exactly
    one of them, every wallet part is released once and every intent cancelled."""
    holds = []
    for patient in ("pat-1", "pat-2"):
        top_up(client, gateway, as_patient(patient), 3_000)
        for hour in (9, 10, 11):
            held = hold(client, as_patient(patient), at(hour, 30 if patient == "pat-2" else 0))
            started = pay(client, as_patient(patient), held["id"], "hybrid").json
            holds.append((patient, held["id"], started["payment"]["id"]))
        assert balance(client, as_patient(patient)) == 0
    clock.advance(timedelta(minutes=16))

    workers = [
        (
            Scheduling(storage, clock, SequentialIds(f"w{n}"), gateway),
            Billing(storage, clock, SequentialIds(f"w{n}"), gateway),
        )
        for n in (1, 2)
    ]
    start_together = threading.Barrier(len(workers))

    def one_pass(worker: tuple[Scheduling, Billing]) -> WorkerPass:
        start_together.wait()
        return run_once(*worker)

    with ThreadPoolExecutor(len(workers)) as pool:
        passes = list(pool.map(one_pass, workers))
    assert sum(done.expired for done in passes) == len(holds)
    for patient, appointment_id, payment_id in holds:
        assert status_of(client, as_patient(patient), appointment_id) == "expired"
        assert gateway.intents[intent_of(gateway, payment_id)].status == "cancelled"
    for patient in ("pat-1", "pat-2"):
        # Each hold's wallet part (all of the 3000: the first hold took it) came back once.
        assert balance(client, as_patient(patient)) == 3_000
    # A later pass finds nothing left to do.
    assert run_once(*workers[0]) == WorkerPass(0, 0)


def test_the_worker_expires_a_lapsed_hold_so_its_time_is_free_again(
    client: ValidatingClient,
    scheduling: Scheduling,
    billing: Billing,
    clock: ManualClock,
    as_patient: Headers,
) -> None:
    held = hold(client, as_patient("pat-1"), at(10))
    pay(client, as_patient("pat-1"), held["id"], "card")
    clock.set(NOW + timedelta(minutes=20))
    assert run_once(scheduling, billing).expired == 1
    assert status_of(client, as_patient("pat-1"), held["id"]) == "expired"
    hold(client, as_patient("pat-2"), at(10))
