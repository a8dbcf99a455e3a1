"""The offline payment gateway: pay at the clinic, no network. The default when Stripe is not
configured, and the gateway tests play the customer and the provider with."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading

from attrs import define

from hellodoctor_domain.errors import InvalidValue, NotFound, RefundExceedsPayment, WebhookRejected
from hellodoctor_domain.model.payments import PaymentId
from hellodoctor_domain.model.values import Money
from hellodoctor_domain.ports.gateway import GatewayEvent, GatewayEventKind, PaymentIntent


@define(frozen=True)
class WebhookDelivery:
    """A webhook as it would arrive over HTTP: the raw body and the signature header."""

    body: bytes
    signature: str


@define
class _OfflineIntent:
    intent: PaymentIntent
    amount: Money
    metadata: dict[str, str]
    status: str = "requires_payment"
    refunded: int = 0


class OfflinePaymentGateway:
    """Pay at the clinic: records what is owed and refunded, moves no money. The embedded
    default, so a demo runs with no network. Idempotency keys are honoured like Stripe's.

    Tests play the customer and the provider with ``complete``, ``decline`` and ``processing``:
    each changes the intent like the provider would and returns the signed webhook it would
    send, which the test delivers (or duplicates, reorders, delays) to ``Billing``. Signatures
    are HMAC-SHA256 of the raw body under ``webhook_secret``.
    """

    name = "offline"

    def __init__(self, webhook_secret: str = "offline-webhook-secret") -> None:
        self._secret = webhook_secret.encode()
        self._lock = threading.Lock()
        self._by_key: dict[str, str] = {}
        self.intents: dict[str, _OfflineIntent] = {}
        self.refunds: dict[str, tuple[str, Money]] = {}
        self._events = 0

    # -- the port --------------------------------------------------------------------------

    def create_intent(
        self, *, amount: Money, idempotency_key: str, metadata: dict[str, str]
    ) -> PaymentIntent:
        with self._lock:
            if idempotency_key not in self._by_key:
                reference = f"offline_pi_{len(self.intents) + 1}"
                intent = PaymentIntent(reference, "requires_payment", f"{reference}_secret")
                self.intents[reference] = _OfflineIntent(intent, amount, dict(metadata))
                self._by_key[idempotency_key] = reference
            return self.intents[self._by_key[idempotency_key]].intent

    def refund(self, *, provider_reference: str, amount: Money, idempotency_key: str) -> str:
        with self._lock:
            known = self.intents.get(provider_reference)
            if known is None:
                raise NotFound(f"no payment {provider_reference}")
            if idempotency_key not in self.refunds:
                if known.status != "succeeded":
                    raise InvalidValue(f"{provider_reference} has not been paid")
                if known.refunded + amount.minor_units > known.amount.minor_units:
                    raise RefundExceedsPayment(f"{provider_reference} was not paid that much")
                known.refunded += amount.minor_units
                self.refunds[idempotency_key] = (provider_reference, amount)
            return f"offline_re_{idempotency_key}"

    def cancel_intent(self, *, provider_reference: str) -> bool:
        with self._lock:
            known = self.intents.get(provider_reference)
            if known is None:
                raise NotFound(f"no payment {provider_reference}")
            if known.status == "succeeded":
                return False
            known.status = "cancelled"
            return True

    def parse_event(self, *, body: bytes, signature: str | None) -> GatewayEvent:
        if not signature or not hmac.compare_digest(signature, self._sign(body)):
            raise WebhookRejected("missing or wrong webhook signature")
        try:
            data = json.loads(body)
            amount = data.get("amount")
            return GatewayEvent(
                id=str(data["id"]),
                kind=GatewayEventKind(data["kind"]),
                provider_reference=str(data["intent"]),
                payment_id=PaymentId(data["payment_id"]) if data.get("payment_id") else None,
                amount=None if amount is None else Money(amount[0], amount[1]),
                failure=str(data.get("failure", "")),
            )
        except (ValueError, KeyError, TypeError, IndexError) as error:
            raise WebhookRejected(f"not an event: {error}") from None

    # -- playing the customer and the provider (tests, demos) --------------------------------

    def complete(self, provider_reference: str) -> WebhookDelivery:
        """The customer paid: the intent succeeds (money captured)."""
        return self._change(provider_reference, "succeeded", GatewayEventKind.SUCCEEDED)

    def decline(self, provider_reference: str, failure: str = "card_declined") -> WebhookDelivery:
        return self._change(
            provider_reference, "requires_payment", GatewayEventKind.FAILED, failure
        )

    def processing(self, provider_reference: str) -> WebhookDelivery:
        return self._change(provider_reference, "processing", GatewayEventKind.PROCESSING)

    def sign(self, body: bytes) -> str:
        return self._sign(body)

    def captured(self) -> Money | None:
        """Money captured minus refunded over every intent (``None`` when nothing happened)."""
        with self._lock:
            total: Money | None = None
            for known in self.intents.values():
                if known.status == "succeeded":
                    net = Money(known.amount.minor_units - known.refunded, known.amount.currency)
                    total = net if total is None else total + net
            return total

    def _change(
        self, provider_reference: str, status: str, kind: GatewayEventKind, failure: str = ""
    ) -> WebhookDelivery:
        with self._lock:
            known = self.intents.get(provider_reference)
            if known is None:
                raise NotFound(f"no payment {provider_reference}")
            if known.status in ("succeeded", "cancelled"):
                raise InvalidValue(f"{provider_reference} is {known.status}")
            known.status = status
            self._events += 1
            body = json.dumps(
                {
                    "id": f"offline_evt_{self._events}",
                    "kind": kind.value,
                    "intent": provider_reference,
                    "payment_id": known.metadata.get("payment_id"),
                    "amount": [known.amount.minor_units, known.amount.currency],
                    "failure": failure,
                }
            ).encode()
        return WebhookDelivery(body, self._sign(body))

    def _sign(self, body: bytes) -> str:
        return hmac.new(self._secret, body, hashlib.sha256).hexdigest()


__all__ = ["OfflinePaymentGateway", "WebhookDelivery"]
