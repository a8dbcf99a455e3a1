"""In-memory clock, ids, payments, blobs, notifications and event publishing."""

from __future__ import annotations

import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.events import AppointmentEvent
from hellodoctor_domain.ports import Notification, PaymentIntent
from hellodoctor_domain.values import Money, utc


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to; for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        self._now = utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, by: timedelta) -> datetime:
        with self._lock:
            self._now += by
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = utc(moment)


class UuidIds:
    def new_id(self) -> str:
        return str(uuid.uuid4())


class SequentialIds:
    """Readable, predictable ids (``apt-1``, ``apt-2``...) for tests and demos."""

    def __init__(self, prefix: str = "id") -> None:
        self._prefix = prefix
        self._next = 0
        self._lock = threading.Lock()

    def new_id(self) -> str:
        with self._lock:
            self._next += 1
            return f"{self._prefix}-{self._next}"


class InMemoryEventPublisher:
    """Delivers committed events to subscribers in the publishing thread, and keeps them."""

    def __init__(self) -> None:
        self.published: list[AppointmentEvent] = []
        self._handlers: defaultdict[type, list[Callable[[AppointmentEvent], None]]] = defaultdict(
            list
        )
        self._lock = threading.Lock()

    def subscribe(
        self, event_type: type[AppointmentEvent], handler: Callable[[AppointmentEvent], None]
    ) -> None:
        with self._lock:
            self._handlers[event_type].append(handler)

    def publish(self, events: Sequence[AppointmentEvent]) -> None:
        with self._lock:
            self.published.extend(events)
            handlers = {kind: list(found) for kind, found in self._handlers.items()}
        for event in events:
            for kind, subscribed in handlers.items():
                if isinstance(event, kind):
                    for handler in subscribed:
                        handler(event)


class OfflinePaymentGateway:
    """Pay at the clinic: records what is owed and refunded, moves no money. The embedded
    default, so a demo runs with no network. Idempotency keys are honoured like Stripe's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.intents: dict[str, tuple[PaymentIntent, Money]] = {}
        self.refunds: dict[str, tuple[str, Money]] = {}
        self.cancelled: set[str] = set()

    def create_intent(
        self, *, amount: Money, idempotency_key: str, metadata: dict[str, str]
    ) -> PaymentIntent:
        with self._lock:
            if idempotency_key not in self.intents:
                intent = PaymentIntent(
                    provider_reference=f"offline_{idempotency_key}", status="requires_payment"
                )
                self.intents[idempotency_key] = (intent, amount)
            return self.intents[idempotency_key][0]

    def refund(self, *, provider_reference: str, amount: Money, idempotency_key: str) -> str:
        with self._lock:
            known = {intent.provider_reference for intent, _ in self.intents.values()}
            if provider_reference not in known:
                raise NotFound(f"no payment {provider_reference}")
            self.refunds.setdefault(idempotency_key, (provider_reference, amount))
            return f"offline_refund_{idempotency_key}"

    def cancel(self, *, provider_reference: str) -> None:
        with self._lock:
            self.cancelled.add(provider_reference)


class InMemoryBlobStorage:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blobs: dict[str, tuple[bytes, str]] = {}

    def put(self, key: str, data: bytes, content_type: str) -> None:
        with self._lock:
            self._blobs[key] = (bytes(data), content_type)

    def get(self, key: str) -> bytes:
        with self._lock:
            try:
                return self._blobs[key][0]
            except KeyError:
                raise NotFound(f"no blob {key!r}") from None

    def delete(self, key: str) -> None:
        with self._lock:
            self._blobs.pop(key, None)


class InMemoryNotifier:
    """Keeps every notification instead of sending it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        with self._lock:
            self.sent.append(notification)
