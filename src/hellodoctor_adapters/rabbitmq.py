"""RabbitMQ through ``pika``: the relay's transport and the consumer's loop.

Publishing: one connection per process (``RabbitTransport`` is made once by ``bootstrap``),
a topic exchange (durable), persistent messages (``delivery_mode=2``), ``mandatory`` (a message
no queue takes comes back as a failure instead of vanishing) and publisher confirms (a message
counts as sent only once the broker has it). The routing key is ``{aggregate}.{event}``, the
message id the outbox entry's id, which is what the consumer's inbox deduplicates on.

Consuming: ``RabbitConsumer`` binds a durable queue to every key and acknowledges a message
only after its handler returned; a handler that raises has the message requeued.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence

import pika
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection
from pika.exceptions import AMQPError, NackError, UnroutableError

from hellodoctor_adapters.relay import Handler, decode, encode
from hellodoctor_domain.errors import BackendUnavailable
from hellodoctor_domain.ports.outbox import OutboxEntry

_log = logging.getLogger(__name__)

DEFAULT_EXCHANGE = "hellodoctor.events"
DEFAULT_QUEUE = "hellodoctor.notifications"


class _Link:
    """One connection and channel, opened on first use and again after it broke; ``setup``
    runs on each new channel (declarations, confirms)."""

    def __init__(self, url: str, setup: Callable[[BlockingChannel], None]) -> None:
        self._parameters = pika.URLParameters(url)
        self._setup = setup
        self._connection: BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def channel(self) -> BlockingChannel:
        if self._channel is None or not self._channel.is_open:
            self.close()
            try:
                self._connection = pika.BlockingConnection(self._parameters)
                channel = self._connection.channel()
                self._setup(channel)
            except AMQPError as error:
                self.close()
                raise BackendUnavailable(f"cannot reach RabbitMQ: {error!r}") from error
            self._channel = channel
        return self._channel

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            try:
                connection.close()
            except AMQPError:
                _log.debug("closing a broken RabbitMQ connection", exc_info=True)


class RabbitTransport:
    """The relay's transport to RabbitMQ (thread-safe: one channel, used under a lock)."""

    def __init__(self, url: str, exchange: str = DEFAULT_EXCHANGE) -> None:
        self.exchange = exchange
        self._link = _Link(url, self._setup)
        self._lock = threading.Lock()

    def _setup(self, channel: BlockingChannel) -> None:
        channel.confirm_delivery()
        channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)

    def send(self, entries: Sequence[OutboxEntry]) -> Mapping[str, str]:
        failures: dict[str, str] = {}
        with self._lock:
            channel = self._link.channel()
            for index, entry in enumerate(entries):
                try:
                    channel.basic_publish(
                        self.exchange,
                        routing_key=f"{entry.aggregate_type}.{entry.event_type}",
                        body=encode(entry),
                        properties=pika.BasicProperties(
                            content_type="application/json",
                            delivery_mode=pika.DeliveryMode.Persistent,
                            message_id=entry.id,
                            type=entry.event_type,
                        ),
                        mandatory=True,
                    )
                except UnroutableError:
                    failures[entry.id] = "unroutable: no queue is bound for it"
                except NackError:
                    failures[entry.id] = "the broker refused it (nack)"
                except AMQPError as error:  # the connection broke: this and the rest wait
                    self._link.close()
                    for left in entries[index:]:
                        failures[left.id] = f"RabbitMQ connection lost: {error!r}"
                    break
        return failures

    def close(self) -> None:
        with self._lock:
            self._link.close()


class RabbitConsumer:
    """Consumes ``queue`` (declared durable, bound to all of ``exchange``) with ``handler``."""

    def __init__(
        self,
        url: str,
        handler: Handler,
        *,
        exchange: str = DEFAULT_EXCHANGE,
        queue: str = DEFAULT_QUEUE,
        prefetch: int = 50,
    ) -> None:
        self._link = _Link(url, self._setup)
        self._handler = handler
        self.exchange, self.queue, self._prefetch = exchange, queue, prefetch

    def _setup(self, channel: BlockingChannel) -> None:
        channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)
        channel.queue_declare(self.queue, durable=True)
        channel.queue_bind(self.queue, self.exchange, routing_key="#")
        channel.basic_qos(prefetch_count=self._prefetch)

    def declare(self) -> BlockingChannel:
        """Connects and declares the exchange, the queue and its binding."""
        return self._link.channel()

    def run(self, idle_seconds: float | None = None, limit: int | None = None) -> int:
        """Handle messages until none came for ``idle_seconds`` (None: for ever) or ``limit``
        were acknowledged; returns how many were."""
        channel = self.declare()
        handled = 0
        try:
            for method, _properties, body in channel.consume(
                self.queue, inactivity_timeout=idle_seconds
            ):
                if method is None:  # idle for idle_seconds
                    break
                try:
                    self._handler(decode(body))
                except Exception:
                    _log.warning("handling a message failed; requeued", exc_info=True)
                    channel.basic_nack(method.delivery_tag, requeue=True)
                    continue
                channel.basic_ack(method.delivery_tag)
                handled += 1
                if limit is not None and handled >= limit:
                    break
        except AMQPError as error:
            self._link.close()
            raise BackendUnavailable(f"RabbitMQ consumer stopped: {error!r}") from error
        finally:
            if channel.is_open:
                channel.cancel()
        return handled

    def close(self) -> None:
        self._link.close()
