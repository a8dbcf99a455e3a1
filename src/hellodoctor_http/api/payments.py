"""Payments: paying for a held appointment, the wallet, top-ups, payment history and the payment
provider's webhook. Amounts, owners and statuses come from the use cases (``Billing``); the
only amount a client ever names is a wallet top-up, checked here first so a client sees which
field is wrong. Card payments (and so top-ups and hybrid) are taken only with a real card
gateway (Stripe)."""

from __future__ import annotations

from typing import Any

import falcon

from hellodoctor_domain import Actor, Role
from hellodoctor_domain.errors import DomainError
from hellodoctor_domain.model.payments import (
    Collection,
    Payment,
    PaymentId,
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
    Refund,
    RefundReason,
    Wallet,
    WalletEntryKind,
)
from hellodoctor_domain.model.values import AppointmentId, PatientId
from hellodoctor_domain.ports.payments import PaymentQuery
from hellodoctor_domain.use_cases.billing import PaymentStarted, WebhookOutcome
from hellodoctor_http.api import Resource
from hellodoctor_http.api.appointments import APPOINTMENT, appointment_json
from hellodoctor_http.api.values import MoneyBody, iso, money
from hellodoctor_http.auth import require_actor
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.converters import parse_enum, read_raw, write_json
from hellodoctor_http.json_schema import choice, request_body, wire, wire_values
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    CURSOR_PARAM,
    DATETIME,
    NULLABLE_DATETIME,
    STRING,
    Operation,
    Param,
    Route,
    answer,
    id_query,
    integer_query,
    nullable,
    page,
    query_param,
    ref,
    text_query,
    to_appointment,
)
from hellodoctor_http.params import QueryReader, encode_cursor
from hellodoctor_http.problems import FieldError, Problem

# -- requests: no body names a price -------------------------------------------------------


@request_body
class PaymentBody:
    """How the patient pays; never how much (the price is the appointment's)."""

    method: str = choice(
        PaymentMethod, description="How to pay; the amount is always the appointment's price."
    )


@request_body
class TopUpBody:
    """The one amount a client names: what to load into the wallet (bounds are checked)."""

    amount: MoneyBody = wire(
        description="Within the clinic's top-up bounds, in one of its currencies."
    )


# -- answers --------------------------------------------------------------------------------


def refund_json(refund: Refund) -> dict[str, Any]:
    return {
        "reason": refund.reason.value,
        "amount": money(refund.amount),
        "card": money(refund.card),
        "wallet": money(refund.wallet),
        "recorded_at": iso(refund.recorded_at),
        "settled": refund.settled,
    }


def payment_json(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id.value,
        "purpose": payment.purpose.value,
        "patient_id": payment.patient_id.value,
        "appointment_id": None if payment.appointment_id is None else payment.appointment_id.value,
        "method": payment.method.value,
        "status": payment.status.value,
        "amount": money(payment.amount),
        "wallet_part": money(payment.wallet_part),
        "card_part": money(payment.card_part),
        "refunded": money(payment.refunded),
        "failure": payment.failure,
        "refunds": [refund_json(refund) for refund in payment.refunds],
        "created_at": iso(payment.created_at),
        "updated_at": iso(payment.updated_at),
        "succeeded_at": iso(payment.succeeded_at),
        # Taken at the front desk (issue 17): how and by whom; when is succeeded_at.
        "collected_via": None if payment.collected_via is None else payment.collected_via.value,
        "collected_by": None if payment.collected_by is None else payment.collected_by.value,
    }


def payment_started_json(started: PaymentStarted) -> dict[str, Any]:
    payment = started.payment
    if started.client_secret is not None:
        next_step = "confirm_card"  # the client confirms with Stripe.js and the secret
    elif payment.method is PaymentMethod.OFFLINE:
        next_step = "pay_at_clinic"
    else:
        next_step = "none"  # paid (wallet), or waiting for the card's result
    return {
        "payment": payment_json(payment),
        "appointment": None
        if started.appointment is None
        else appointment_json(started.appointment),
        "client_secret": started.client_secret,
        "next_step": next_step,
        "due_at_clinic": money(payment.amount) if payment.method is PaymentMethod.OFFLINE else None,
    }


def wallet_json(wallet: Wallet) -> dict[str, Any]:
    return {
        "patient_id": wallet.patient_id.value,
        "currency": wallet.currency,
        "balance": money(wallet.balance),
        "entries": [
            {
                "reference": entry.reference,
                "kind": entry.kind.value,
                "amount": money(entry.amount),
                "recorded_at": iso(entry.recorded_at),
                "payment_id": None if entry.payment_id is None else entry.payment_id.value,
            }
            for entry in wallet.entries
        ],
    }


SCHEMAS: dict[str, Any] = {
    "Refund": answer(
        reason={"enum": wire_values(RefundReason)},
        amount=ref("Money"),
        card={**ref("Money"), "description": "Back to the card."},
        wallet={**ref("Money"), "description": "Back to the wallet."},
        recorded_at=DATETIME,
        settled={"type": "boolean", "description": "The card part reached the provider."},
    ),
    "Payment": answer(
        id=STRING,
        purpose={"enum": wire_values(PaymentPurpose)},
        patient_id=STRING,
        appointment_id={"type": ["string", "null"]},
        method={"enum": wire_values(PaymentMethod)},
        status={"enum": wire_values(PaymentStatus)},
        amount=ref("Money"),
        wallet_part=ref("Money"),
        card_part=ref("Money"),
        refunded=ref("Money"),
        failure=STRING,
        refunds={"type": "array", "items": ref("Refund")},
        created_at=DATETIME,
        updated_at=DATETIME,
        succeeded_at=NULLABLE_DATETIME,
        collected_via={"enum": [*wire_values(Collection), None]},
        collected_by={"type": ["string", "null"], "description": "The desk's account."},
    ),
    "PaymentPage": page("Payment"),
    "PaymentStarted": answer(
        payment=ref("Payment"),
        appointment=nullable("Appointment"),
        client_secret={
            "type": ["string", "null"],
            "description": "Confirm the card with it (Stripe.js) when next_step is confirm_card.",
        },
        next_step={"enum": ["confirm_card", "pay_at_clinic", "none"]},
        due_at_clinic=nullable("Money"),
    ),
    "WalletEntry": answer(
        reference=STRING,
        kind={"enum": wire_values(WalletEntryKind)},
        amount={**ref("Money"), "description": "Credits positive, debits negative."},
        recorded_at=DATETIME,
        payment_id={"type": ["string", "null"]},
    ),
    "Wallet": answer(
        patient_id=STRING,
        currency=STRING,
        balance=ref("Money"),
        entries={"type": "array", "items": ref("WalletEntry")},
    ),
    "ProviderEvent": {
        "type": "object",
        "description": "The payment provider's event (a Stripe Event object). Its signature "
        "is checked over the exact bytes received, before anything parses them.",
    },
    "WebhookResult": answer(
        outcome={"enum": wire_values(WebhookOutcome)},
        event_id=STRING,
    ),
}

# -- query parameters: the resources read them through these declarations ------------------

_WALLET_PARAMS = (
    query_param(
        "currency",
        {"type": "string", "maxLength": 3, "pattern": "^[A-Za-z]{3}$"},
        "One of the clinic's currencies; default the first.",
    ),
)
_LIST_PARAMS = (
    text_query("status", "Comma-separated statuses."),
    query_param("purpose", {"enum": wire_values(PaymentPurpose), "maxLength": 20}),
    query_param("method", {"enum": wire_values(PaymentMethod), "maxLength": 20}),
    id_query("patient_id", "Admins only."),
    CURSOR_PARAM,
    integer_query("limit", 1, 200, 50),
)

# -- resources ------------------------------------------------------------------------------

# Stripe's events are a few kilobytes; a body past this is not one of theirs.
WEBHOOK_MAX_BYTES = 256 * 1024
_CARD_METHODS = frozenset({PaymentMethod.CARD, PaymentMethod.HYBRID})


def _require_cards(components: Components, what: str) -> None:
    if not components.cards_accepted:
        raise Problem(
            "payment-not-allowed",
            f"{what} needs card payments, which this clinic does not take online",
        )


def _patient(actor: Actor) -> PatientId:
    if actor.role is not Role.PATIENT or actor.patient_id is None:
        raise Problem("access-denied", "only patients have a wallet and pay for appointments")
    return actor.patient_id


class AppointmentPayments(Resource):
    """``POST /appointments/{id}/payments {method}``: start (or resume) paying a hold."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, appointment_id: str) -> None:
        actor = require_actor(req)
        billing = self.components.billing
        body = self.body(req, PaymentBody)
        method = parse_enum(PaymentMethod, body.method, "method")
        if method in _CARD_METHODS:
            _require_cards(self.components, f"paying by {method}")
        started = billing.start_payment(actor, AppointmentId(appointment_id), method)
        write_json(resp, payment_started_json(started))


class WalletResource(Resource):
    """``GET /wallet``: the caller's balance and ledger in one currency."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        billing = self.components.billing
        params = QueryReader(req, _WALLET_PARAMS)
        currency = (params.text("currency") or self.settings.currencies[0]).upper()
        params.done()
        if currency not in self.settings.currencies:
            # The clinic's configuration, not the request's shape, refuses it.
            raise Problem(
                "invalid-value",
                f"currency is one of {', '.join(self.settings.currencies)}",
                errors=(FieldError("currency", f"one of {', '.join(self.settings.currencies)}"),),
            )
        patient_id = _patient(actor)
        write_json(resp, wallet_json(billing.wallet(actor, patient_id, currency)))


class TopUps(Resource):
    """``POST /wallet/top-ups {amount}``: a card payment that credits the wallet once paid."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        billing = self.components.billing
        _patient(actor)
        body = self.body(req, TopUpBody)
        settings = self.settings
        errors = []
        if body.amount.currency not in settings.currencies:
            errors.append(FieldError("amount.currency", f"one of {', '.join(settings.currencies)}"))
        if not settings.smallest_top_up <= body.amount.minor_units <= settings.largest_top_up:
            errors.append(
                FieldError(
                    "amount.minor_units",
                    f"from {settings.smallest_top_up} to {settings.largest_top_up} (minor units)",
                )
            )
        if errors:  # the clinic's configured bounds, not the body's shape
            raise Problem("invalid-value", "; ".join(e.message for e in errors), errors=errors)
        _require_cards(self.components, "a top-up")
        started = billing.top_up(actor, body.amount.to_domain())
        write_json(resp, payment_started_json(started), status=201)


class Payments(Resource):
    """``GET /payments``: a patient's own history; an admin's view of all, with filters."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        billing = self.components.billing
        if actor.role is Role.DOCTOR:
            raise Problem("access-denied", "payments are the patient's and the admins' to see")
        params = QueryReader(req, _LIST_PARAMS)
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
        limit = params.count("limit")
        position = params.keyset("before")
        before = None if position is None else (position[0], PaymentId(position[1]))
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
        shown = found[:limit]
        last = shown[-1] if shown else None
        write_json(
            resp,
            {
                "items": [payment_json(payment) for payment in shown],
                "next_cursor": encode_cursor(
                    {"before": [last.created_at.isoformat(), last.id.value]}
                )
                if last is not None and len(found) > limit
                else None,
            },
        )


class StripeWebhook(Resource):
    """``POST /webhooks/stripe``: the raw body (the signature covers its exact bytes, so it is
    never parsed before verification) and ``Stripe-Signature`` go to the gateway through
    ``Billing.handle_webhook``. A bad or missing signature is 400 (``webhook-rejected``); an
    applied, duplicate or ignored event is 200, so the provider stops resending it."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        billing = self.components.billing
        body = read_raw(req, WEBHOOK_MAX_BYTES)
        result = billing.handle_webhook(body, req.get_header("Stripe-Signature"))
        write_json(resp, {"outcome": result.outcome.value, "event_id": result.event_id})


# -- routes ---------------------------------------------------------------------------------

ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/appointments/{{appointment_id}}/payments",
        AppointmentPayments,
        {
            "post": Operation(
                "Pay for a held appointment (the amount is its price): card gives a client "
                "secret, wallet books at once, hybrid debits the wallet and gives a client "
                "secret for the rest, offline books it with the fee due at the clinic. "
                "Asking again with the same method resumes the payment.",
                "bearer",
                "its patient",
                response="PaymentStarted",
                body=PaymentBody,
                params=(APPOINTMENT,),
                problems=(
                    "not-found",
                    "access-denied",
                    "payment-not-allowed",
                    "payment-already-started",
                    "hold-expired",
                    "insufficient-funds",
                    "invalid-value",
                    "concurrent-update",
                    *BODY_PROBLEMS,
                ),
                tag="payments",
                links=to_appointment(
                    "get_appointment_item", "post_cancel", key="$request.path.appointment_id"
                ),
            )
        },
    ),
    Route(
        f"{API}/wallet",
        WalletResource,
        {
            "get": Operation(
                "Your wallet: balance and ledger, oldest entry first",
                "bearer",
                "patient (own)",
                response="Wallet",
                params=_WALLET_PARAMS,
                problems=("access-denied", "validation-error"),
                tag="payments",
            )
        },
    ),
    Route(
        f"{API}/wallet/top-ups",
        TopUps,
        {
            "post": Operation(
                "Load your wallet by card: a client secret; the wallet is credited once the "
                "card payment succeeds",
                "bearer",
                "patient (own)",
                ok=201,
                response="PaymentStarted",
                body=TopUpBody,
                problems=(
                    "access-denied",
                    "payment-not-allowed",
                    "invalid-value",
                    *BODY_PROBLEMS,
                ),
                tag="payments",
            )
        },
    ),
    Route(
        f"{API}/payments",
        Payments,
        {
            "get": Operation(
                "Payments, newest first: a patient's own; an admin's view of all",
                "bearer",
                "patient (own), admin (all, filtered)",
                response="PaymentPage",
                params=_LIST_PARAMS,
                problems=("access-denied", "validation-error"),
                tag="payments",
            )
        },
    ),
    Route(
        f"{API}/webhooks/stripe",
        StripeWebhook,
        {
            "post": Operation(
                "The payment provider's events, verified by their signature over the raw "
                "body (Stripe-Signature); a duplicate or ignored event is 200 too",
                "public",
                "the payment provider (signed)",
                response="WebhookResult",
                body="ProviderEvent",
                params=(
                    Param(
                        "Stripe-Signature",
                        "header",
                        {"type": "string"},
                        "The provider's signature of the raw body.",
                    ),
                ),
                problems=("webhook-rejected", "payload-too-large"),
                tag="payments",
            )
        },
    ),
)
