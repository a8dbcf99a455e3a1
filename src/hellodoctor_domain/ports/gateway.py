"""The card payment provider."""

from __future__ import annotations

import enum
from typing import Protocol

from attrs import define

from hellodoctor_domain.model.payments import (
    PaymentId,
)
from hellodoctor_domain.model.values import (
    Money,
)


@define(frozen=True)
class PaymentIntent:
    """What a payment provider answers when asked to collect money."""

    provider_reference: str
    status: str
    client_secret: str | None = None


class GatewayEventKind(enum.StrEnum):
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    OTHER = "other"  # an event type the domain does not act on (recorded and ignored)


@define(frozen=True, kw_only=True)
class GatewayEvent:
    """A verified webhook event, translated from the provider's vocabulary.

    ``payment_id`` comes from the metadata the intent was created with, so an event can be
    matched to its payment even if it arrives before the intent's reference was stored.
    """

    id: str
    kind: GatewayEventKind
    provider_reference: str
    payment_id: PaymentId | None
    amount: Money | None = None
    failure: str = ""


class PaymentGateway(Protocol):
    """A card payment provider (Stripe next; the offline gateway in memory).

    Every call that moves money takes an idempotency key: calling again with the same key
    (after a timeout, a crash, a replayed request) never charges or refunds twice. Adapters
    raise ``BackendUnavailable`` when the provider cannot be reached and ``NotFound`` for an
    unknown intent; no SDK exception leaks out.
    """

    name: str  # the provider's name, the namespace of its event ids (e.g. "stripe")

    def create_intent(
        self, *, amount: Money, idempotency_key: str, metadata: dict[str, str]
    ) -> PaymentIntent:
        """Ask the provider to collect ``amount`` (created on the server, never by the client);
        ``metadata`` carries at least ``payment_id`` (and ``appointment_id`` when there is
        one) and comes back on every event."""

    def refund(self, *, provider_reference: str, amount: Money, idempotency_key: str) -> str:
        """Give back ``amount`` of a collected payment; returns the refund's reference."""

    def cancel_intent(self, *, provider_reference: str) -> bool:
        """Abandon an intent that has not been paid (its hold lapsed, or the appointment was
        cancelled). Cancelling twice is fine. Returns ``False`` when the intent had already
        succeeded: its success event comes (or came) and the use case refunds it."""

    def parse_event(self, *, body: bytes, signature: str | None) -> GatewayEvent:
        """Verify ``signature`` (the provider's signature header) over the raw ``body`` and
        translate the event; ``WebhookRejected`` if the signature is missing, wrong or too
        old, or the body is not an event."""
