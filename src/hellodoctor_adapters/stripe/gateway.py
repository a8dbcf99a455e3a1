"""``PaymentGateway`` on Stripe, through the official SDK.

Each gateway has its own ``stripe.StripeClient`` (never the module-global ``stripe.api_key``),
so two gateways with different keys can live in one process and nothing is configured at import
time. Money-moving calls carry the domain's idempotency key as Stripe's ``Idempotency-Key``:
Stripe replays the first answer for a repeated key (for 24 hours), so a retried request never
charges or refunds twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import stripe

from hellodoctor_domain.errors import (
    BackendUnavailable,
    Conflict,
    InvalidValue,
    NotFound,
    RefundExceedsPayment,
    WebhookRejected,
)
from hellodoctor_domain.model.payments import PaymentId
from hellodoctor_domain.model.values import MINOR_UNIT_EXPONENTS, Money
from hellodoctor_domain.ports.gateway import GatewayEvent, GatewayEventKind, PaymentIntent

_log = logging.getLogger(__name__)

# Stripe's "smallest currency unit" differs from ISO 4217's minor unit for a few currencies
# (https://docs.stripe.com/currencies#zero-decimal): these are whole units at Stripe...
STRIPE_ZERO_DECIMAL = frozenset(
    "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split()
)
# ...and ISK, zero-decimal in ISO 4217, is sent with two decimals for backwards compatibility.
STRIPE_TWO_DECIMAL_OVERRIDES = frozenset({"ISK"})

WEBHOOK_TOLERANCE_SECONDS = 300

_EVENT_KINDS = {
    "payment_intent.processing": GatewayEventKind.PROCESSING,
    "payment_intent.succeeded": GatewayEventKind.SUCCEEDED,
    "payment_intent.payment_failed": GatewayEventKind.FAILED,
    "payment_intent.canceled": GatewayEventKind.CANCELLED,
}

# Refunding more than is left on the charge.
_OVER_REFUND_CODES = frozenset({"amount_too_large", "charge_already_refunded"})


def _stripe_exponent(currency: str) -> int:
    if currency in STRIPE_ZERO_DECIMAL:
        return 0
    if currency in STRIPE_TWO_DECIMAL_OVERRIDES:
        return 2
    return MINOR_UNIT_EXPONENTS[currency]


def to_stripe_amount(money: Money) -> int:
    """``money`` in Stripe's smallest unit of its currency; ``InvalidValue`` if Stripe cannot
    express it (e.g. 10.50 MGA: Stripe counts ariary in whole units)."""
    shift = _stripe_exponent(money.currency) - MINOR_UNIT_EXPONENTS[money.currency]
    scale: int = 10 ** abs(shift)
    if shift >= 0:
        return money.minor_units * scale
    whole, rest = divmod(money.minor_units, scale)
    if rest:
        raise InvalidValue(
            f"Stripe cannot charge {money}: it counts {money.currency} in whole units"
        )
    return whole


def from_stripe_amount(amount: int, currency: str) -> Money:
    """An amount in Stripe's smallest unit of ``currency`` (any case) as ``Money``."""
    code = currency.upper()
    shift = MINOR_UNIT_EXPONENTS[code] - _stripe_exponent(code)
    scale: int = 10 ** abs(shift)
    if shift >= 0:
        return Money(amount * scale, code)
    whole, rest = divmod(amount, scale)
    if rest:
        raise InvalidValue(f"{amount} in Stripe's {code} units is not a whole ISO minor unit")
    return Money(whole, code)


@contextmanager
def _translated_errors() -> Iterator[None]:
    """Stripe's exceptions as the port's: nothing from the SDK reaches a use case."""
    try:
        yield
    except stripe.InvalidRequestError as error:
        if error.code == "resource_missing" or error.http_status == 404:
            raise NotFound(str(error.user_message or error)) from error
        if error.code in _OVER_REFUND_CODES:
            raise RefundExceedsPayment(str(error.user_message or error)) from error
        raise InvalidValue(f"Stripe refused the request: {error.user_message or error}") from error
    except stripe.IdempotencyError as error:
        # The key was used before with other parameters: a bug, never a reason to charge again.
        raise Conflict(f"Stripe idempotency key reused differently: {error}") from error
    except stripe.CardError as error:
        raise InvalidValue(f"card refused: {error.user_message or error}") from error
    except (stripe.AuthenticationError, stripe.PermissionError) as error:
        _log.error("Stripe refused our credentials: %s", error)
        raise BackendUnavailable(f"Stripe refused our credentials: {error}") from error
    except stripe.StripeError as error:
        # Connection errors, timeouts, rate limits, Stripe's own 5xx: try again later.
        raise BackendUnavailable(f"Stripe is unavailable: {error}") from error


def _is_intent_reference(provider_reference: str) -> bool:
    # Every PaymentIntent id starts with "pi_"; anything else names no intent of ours.
    return provider_reference.startswith("pi_") and len(provider_reference) > 3


class StripeGateway:
    """Card payments through Stripe PaymentIntents (automatic capture).

    ``api_base`` points the client elsewhere (localstripe in tests); ``max_network_retries``
    lets the SDK retry connection errors itself (safe: every POST carries an idempotency key);
    ``timeout_seconds`` bounds each HTTP call so a request handler never hangs on Stripe.
    """

    name = "stripe"

    def __init__(
        self,
        api_key: str,
        webhook_secret: str,
        *,
        api_base: str | None = None,
        max_network_retries: int = 2,
        timeout_seconds: float = 20.0,
    ) -> None:
        if not api_key:
            raise InvalidValue("a Stripe secret key is required")
        if not webhook_secret:
            raise InvalidValue("a Stripe webhook signing secret is required")
        self._webhook_secret = webhook_secret
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout_seconds),
        )

    # -- the port --------------------------------------------------------------------------

    def create_intent(
        self, *, amount: Money, idempotency_key: str, metadata: dict[str, str]
    ) -> PaymentIntent:
        params: Any = {
            "amount": to_stripe_amount(amount),
            "currency": amount.currency.lower(),
            "metadata": dict(metadata),
        }
        with _translated_errors():
            intent = self._client.v1.payment_intents.create(
                params, options={"idempotency_key": idempotency_key}
            )
        return PaymentIntent(intent.id, intent.status, intent.client_secret)

    def refund(self, *, provider_reference: str, amount: Money, idempotency_key: str) -> str:
        if not _is_intent_reference(provider_reference):
            raise NotFound(f"no payment intent {provider_reference!r}")
        params: Any = {
            "payment_intent": provider_reference,
            "amount": to_stripe_amount(amount),
            "metadata": {"idempotency_key": idempotency_key},
        }
        with _translated_errors():
            refund = self._client.v1.refunds.create(
                params, options={"idempotency_key": idempotency_key}
            )
        return refund.id

    def cancel_intent(self, *, provider_reference: str) -> bool:
        if not _is_intent_reference(provider_reference):
            raise NotFound(f"no payment intent {provider_reference!r}")
        try:
            with _translated_errors():
                self._client.v1.payment_intents.cancel(provider_reference)
            return True
        except InvalidValue:
            pass  # not cancellable in its state (payment_intent_unexpected_state): which?
        with _translated_errors():
            status = self._client.v1.payment_intents.retrieve(provider_reference).status
        if status == "canceled":
            return True  # cancelled before: cancelling twice is fine
        if status in ("succeeded", "processing"):
            # Paid (or being paid): its success event comes and the use case refunds it.
            return False
        raise InvalidValue(f"payment intent {provider_reference} cannot be cancelled ({status})")

    def parse_event(self, *, body: bytes, signature: str | None) -> GatewayEvent:
        try:
            event = self._client.construct_event(
                body, signature, self._webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as error:
            raise WebhookRejected(f"bad Stripe-Signature: {error}") from None
        # Signed but not an event (not JSON, not UTF-8, a list, a thin event...): the SDK
        # raises whatever its parsing hits.
        except (ValueError, TypeError, AttributeError, KeyError) as error:
            raise WebhookRejected(f"not a Stripe event: {error!r}") from None
        try:
            return _translate(event.to_dict())
        except (ValueError, TypeError, AttributeError, KeyError) as error:
            raise WebhookRejected(f"not a Stripe event: {error!r}") from None


def _translate(event: Mapping[str, Any]) -> GatewayEvent:
    event_type = str(event["type"])
    event_id = str(event["id"])
    if not event_id:
        raise ValueError("the event has no id")
    subject = event["data"]["object"]
    kind = _EVENT_KINDS.get(event_type, GatewayEventKind.OTHER)
    if not event_type.startswith("payment_intent."):
        # Not about an intent (charge.*, refund.*...): recorded and ignored by the domain.
        return GatewayEvent(id=event_id, kind=kind, provider_reference="", payment_id=None)
    metadata = subject.get("metadata") or {}
    payment_id = metadata.get("payment_id")
    amount: Money | None = None
    collected = subject.get("amount_received") or subject.get("amount")
    if kind is GatewayEventKind.SUCCEEDED and isinstance(collected, int):
        try:
            amount = from_stripe_amount(collected, str(subject["currency"]))
        except (InvalidValue, KeyError):
            amount = None  # an amount we cannot express is reported without one
    failure = ""
    if kind is GatewayEventKind.FAILED:
        error = subject.get("last_payment_error") or {}
        failure = str(error.get("code") or error.get("message") or "payment_failed")
    return GatewayEvent(
        id=event_id,
        kind=kind,
        provider_reference=str(subject["id"]),
        payment_id=PaymentId(str(payment_id)) if payment_id else None,
        amount=amount,
        failure=failure,
    )
