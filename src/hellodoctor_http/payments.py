"""Payment resources: paying for a held appointment, the wallet, top-ups, payment history and
the payment provider's webhook. Amounts, owners and statuses come from the use cases
(``Billing``); the only amount a client ever names is a wallet top-up, checked here first so a
client sees which field is wrong."""

from __future__ import annotations

from datetime import datetime

import falcon
from attrs import define

from hellodoctor_domain import Actor, Role
from hellodoctor_domain.errors import DomainError
from hellodoctor_domain.model.payments import (
    PaymentId,
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
)
from hellodoctor_domain.model.values import AppointmentId, Money, PatientId
from hellodoctor_domain.ports.payments import PaymentQuery
from hellodoctor_domain.use_cases.billing import Billing
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import read_body, read_raw, write_json
from hellodoctor_http.params import QueryReader, encode_cursor
from hellodoctor_http.problems import FieldError, Problem, validation_problem
from hellodoctor_http.schemas import (
    PaymentBody,
    TopUpBody,
    parse_enum,
    payment_json,
    payment_started_json,
    wallet_json,
)

# Stripe's events are a few kilobytes; a body past this is not one of theirs.
WEBHOOK_MAX_BYTES = 256 * 1024
_CARD_METHODS = frozenset({PaymentMethod.CARD, PaymentMethod.HYBRID})


@define(frozen=True)
class PaymentsApi:
    """What the payment resources share. ``cards_accepted`` only when a real card gateway
    (Stripe) is configured."""

    billing: Billing
    cards_accepted: bool
    currencies: tuple[str, ...]
    smallest_top_up: int
    largest_top_up: int
    max_body_bytes: int

    def require_cards(self, what: str) -> None:
        if not self.cards_accepted:
            raise Problem(
                "payment-not-allowed",
                f"{what} needs card payments, which this clinic does not take online",
            )


def _patient(actor: Actor) -> PatientId:
    if actor.role is not Role.PATIENT or actor.patient_id is None:
        raise Problem("access-denied", "only patients have a wallet and pay for appointments")
    return actor.patient_id


class AppointmentPayments:
    """``POST /appointments/{id}/payments {method}``: start (or resume) paying a hold."""

    def __init__(self, api: PaymentsApi) -> None:
        self._api = api

    def on_post(self, req: falcon.Request, resp: falcon.Response, appointment_id: str) -> None:
        actor = require_actor(req)
        billing = self._api.billing
        body = read_body(req, PaymentBody, self._api.max_body_bytes)
        method = parse_enum(PaymentMethod, body.method, "method")
        if method in _CARD_METHODS:
            self._api.require_cards(f"paying by {method}")
        started = billing.start_payment(actor, AppointmentId(appointment_id), method)
        write_json(resp, payment_started_json(started))


class WalletResource:
    """``GET /wallet``: the caller's balance and ledger in one currency."""

    def __init__(self, api: PaymentsApi) -> None:
        self._api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        billing = self._api.billing
        params = QueryReader(req, {"currency"})
        currency = (params.text("currency", 3) or self._api.currencies[0]).upper()
        if currency not in self._api.currencies:
            params.fail("currency", f"one of {', '.join(self._api.currencies)}")
        params.done()
        patient_id = _patient(actor)
        write_json(resp, wallet_json(billing.wallet(actor, patient_id, currency)))


class TopUps:
    """``POST /wallet/top-ups {amount}``: a card payment that credits the wallet once paid."""

    def __init__(self, api: PaymentsApi) -> None:
        self._api = api

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        billing = self._api.billing
        _patient(actor)
        body = read_body(req, TopUpBody, self._api.max_body_bytes)
        api = self._api
        errors = []
        if body.amount.currency not in api.currencies:
            errors.append(FieldError("amount.currency", f"one of {', '.join(api.currencies)}"))
        if not api.smallest_top_up <= body.amount.minor_units <= api.largest_top_up:
            errors.append(
                FieldError(
                    "amount.minor_units",
                    f"from {api.smallest_top_up} to {api.largest_top_up} (minor units)",
                )
            )
        if errors:
            raise validation_problem(errors)
        api.require_cards("a top-up")
        started = billing.top_up(actor, Money(body.amount.minor_units, body.amount.currency))
        write_json(resp, payment_started_json(started), status=201)


class Payments:
    """``GET /payments``: a patient's own history; an admin's view of all, with filters."""

    def __init__(self, api: PaymentsApi) -> None:
        self._api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        billing = self._api.billing
        if actor.role is Role.DOCTOR:
            raise Problem("access-denied", "payments are the patient's and the admins' to see")
        params = QueryReader(req, {"status", "purpose", "method", "patient_id", "cursor", "limit"})
        statuses: frozenset[PaymentStatus] | None = None
        purpose: PaymentPurpose | None = None
        method: PaymentMethod | None = None
        raw_status = params.text("status")
        try:
            if raw_status is not None:
                statuses = frozenset(
                    parse_enum(PaymentStatus, part.strip(), "status")
                    for part in raw_status.split(",")
                )
        except DomainError as error:
            params.fail("status", str(error))
        for name, kind in (("purpose", PaymentPurpose), ("method", PaymentMethod)):
            raw = params.text(name)
            if raw is None:
                continue
            try:
                if kind is PaymentPurpose:
                    purpose = parse_enum(PaymentPurpose, raw, name)
                else:
                    method = parse_enum(PaymentMethod, raw, name)
            except DomainError as error:
                params.fail(name, str(error))
        patient = params.text("patient_id")
        if patient is not None and actor.role is not Role.ADMIN:
            params.fail("patient_id", "only an admin chooses whose payments to see")
        limit = params.integer("limit", 50, 1, 200)
        cursor = params.cursor()
        before = None
        if cursor is not None:
            try:
                moment, key = cursor["before"]
                before = (datetime.fromisoformat(moment), PaymentId(key))
            except (TypeError, KeyError, ValueError, DomainError):
                params.fail("cursor", "not a cursor this API gave out")
        params.done()
        query = PaymentQuery(
            patient_id=PatientId(patient) if patient else None,
            statuses=statuses,
            purpose=purpose,
            method=method,
            before=before,
            limit=limit + 1,  # one more than asked: whether there is a next page
        )
        if actor.role is Role.ADMIN:
            found = billing.all_payments(actor, query)
        else:
            found = billing.payment_history(actor, _patient(actor), query)
        page = found[:limit]
        last = page[-1] if page else None
        write_json(
            resp,
            {
                "items": [payment_json(payment) for payment in page],
                "next_cursor": encode_cursor(
                    {"before": [last.created_at.isoformat(), last.id.value]}
                )
                if last is not None and len(found) > limit
                else None,
            },
        )


class StripeWebhook:
    """``POST /webhooks/stripe``: the raw body (the signature covers its exact bytes, so it is
    never parsed before verification) and ``Stripe-Signature`` go to the gateway through
    ``Billing.handle_webhook``. A bad or missing signature is 400 (``webhook-rejected``); an
    applied, duplicate or ignored event is 200, so the provider stops resending it."""

    def __init__(self, api: PaymentsApi) -> None:
        self._api = api

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        billing = self._api.billing
        body = read_raw(req, WEBHOOK_MAX_BYTES)
        result = billing.handle_webhook(body, req.get_header("Stripe-Signature"))
        write_json(resp, {"outcome": result.outcome.value, "event_id": result.event_id})


def payment_resources(api: PaymentsApi) -> dict[str, object]:
    """Resources by the names the route table uses."""
    return {
        "appointment_payments": AppointmentPayments(api),
        "wallet": WalletResource(api),
        "top_ups": TopUps(api),
        "payments": Payments(api),
        "stripe_webhook": StripeWebhook(api),
    }
