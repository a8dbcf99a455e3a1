"""Getting the outbox's events to people: the relay, the consumer, and their loops.

Two set-ups, chosen by ``HELLODOCTOR_BROKER_URL``:

* with a broker (RabbitMQ), ``hellodoctor worker`` relays the outbox to it on every pass and
  ``hellodoctor consume`` (any number of processes) turns its messages into notifications;
* without one (the embedded default), the relay hands each entry straight to the consumer:
  ``hellodoctor worker`` delivers, and in development ``hellodoctor serve`` runs that loop in a
  process of its own beside gunicorn's workers, so the demo's mails arrive with nothing but
  SQLite.

Either way the consumer's inbox gives each (recipient, event) one effect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Protocol

from attrs import define

from hellodoctor_adapters.outbox import event_of
from hellodoctor_adapters.relay import DirectTransport
from hellodoctor_domain.errors import PortError
from hellodoctor_domain.ports.notifications import AppointmentMessenger, SmsSender
from hellodoctor_domain.ports.outbox import Inbox, OutboxDelivery, OutboxEntry, Transport
from hellodoctor_domain.ports.runtime import Clock
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.delivery import Relay, RetryPolicy
from hellodoctor_domain.use_cases.emergency_mail import EmergencyMailer
from hellodoctor_domain.use_cases.identity_mail import IdentityMailer
from hellodoctor_domain.use_cases.notifying import DEFAULT_REMINDERS, NotificationConsumer
from hellodoctor_domain.use_cases.search import FreeSlotsRefresher
from hellodoctor_domain.use_cases.waitlist import WaitlistOfferer

_log = logging.getLogger("hellodoctor.delivery")


class Stopping(Protocol):
    """A threading or multiprocessing event."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


@define(frozen=True)
class Delivery:
    """The relay (over the configured transport) and the consumer it or the broker feeds."""

    relay: Relay
    consumer: NotificationConsumer
    transport: Transport
    broker_url: str | None = None
    identity_mail: IdentityMailer | None = None
    emergency_mail: EmergencyMailer | None = None
    # Offers time freed by cancellations, expiries and moves to the waitlist (issue 17).
    waitlist: WaitlistOfferer | None = None
    # Refreshes the search's next free slot of the doctor each booking or hours change touches.
    free_slots: FreeSlotsRefresher | None = None

    def consume(self, idle_seconds: float | None = None) -> int:
        """Consume the broker's queue (``hellodoctor consume``) until idle for
        ``idle_seconds`` (None: for ever); how many messages were handled."""
        if self.broker_url is None:
            raise PortError("no broker configured (HELLODOCTOR_BROKER_URL): nothing to consume")
        from hellodoctor_adapters.rabbitmq import RabbitConsumer

        consumer = RabbitConsumer(
            self.broker_url,
            handler_for(
                self.consumer,
                self.identity_mail,
                self.emergency_mail,
                self.waitlist,
                self.free_slots,
            ),
        )
        try:
            return consumer.run(idle_seconds)
        finally:
            consumer.close()

    def close(self) -> None:
        close = getattr(self.transport, "close", None)
        if close is not None:
            close()


def handler_for(
    consumer: NotificationConsumer,
    identity_mail: IdentityMailer | None = None,
    emergency_mail: EmergencyMailer | None = None,
    waitlist: WaitlistOfferer | None = None,
    free_slots: FreeSlotsRefresher | None = None,
) -> Callable[[OutboxEntry], None]:
    """How an entry reaches the consumers: its event back from the stored payload, to the
    appointment notifications and (accounts' events) the identity mails."""

    def handle(entry: OutboxEntry) -> None:
        event = event_of(entry.event_type, dict(entry.payload))
        if identity_mail is not None and entry.aggregate_type == "account":
            identity_mail.handle(entry.id, event)
        elif emergency_mail is not None and entry.aggregate_type == "emergency_grant":
            emergency_mail.handle(entry.id, event)
        else:
            # The waitlist first: an offer is written before the notices of what freed it,
            # and a failed offer fails the entry, which is retried (offering is idempotent).
            if waitlist is not None and entry.aggregate_type == "appointment":
                waitlist.handle(entry.id, event)
            consumer.handle(entry.id, event)
            # Last: the notices do not wait for it; a failure retries the entry, and the
            # notices' inbox and the refresh's recomputation make the retry harmless.
            if free_slots is not None:
                free_slots.handle(entry.id, event)

    return handle


def build_delivery(
    delivery_and_inbox: tuple[OutboxDelivery, Inbox],
    messenger: AppointmentMessenger,
    storage: UnitOfWorkFactory,
    clock: Clock,
    *,
    broker_url: str | None,
    policy: RetryPolicy,
    reminders: tuple[timedelta, ...] = DEFAULT_REMINDERS,
    sms: SmsSender | None = None,
    identity_mail: Callable[[Inbox], IdentityMailer] | None = None,
    emergency_mail: Callable[[Inbox], EmergencyMailer] | None = None,
    waitlist: WaitlistOfferer | None = None,
    free_slots: FreeSlotsRefresher | None = None,
) -> Delivery:
    outbox, inbox = delivery_and_inbox
    consumer = NotificationConsumer(
        storage, inbox, messenger, clock, outbox=outbox, reminders=reminders, sms=sms
    )
    mailer = identity_mail(inbox) if identity_mail is not None else None
    emergency = emergency_mail(inbox) if emergency_mail is not None else None
    transport: Transport
    if broker_url:
        from hellodoctor_adapters.rabbitmq import RabbitTransport

        transport = RabbitTransport(broker_url)
    else:
        transport = DirectTransport(handler_for(consumer, mailer, emergency, waitlist, free_slots))
    relay = Relay(outbox, transport, clock, policy=policy)
    return Delivery(relay, consumer, transport, broker_url, mailer, emergency, waitlist, free_slots)


def deliver_until(stop: Stopping, deliver: Callable[[], int], *, interval: float = 1.0) -> None:
    """``deliver`` every ``interval`` seconds until ``stop`` is set (a threading or
    multiprocessing event); a failed pass is logged and the next one tries again."""
    while not stop.is_set():
        try:
            deliver()
        except PortError as error:
            _log.warning("background delivery failed (%s); retrying", error)
        except Exception:
            _log.exception("background delivery failed")
        stop.wait(interval)
