"""The relay and the consumer through the machine's RabbitMQ (``HELLODOCTOR_TEST_AMQP_URL``,
default ``amqp://guest:guest@127.0.0.1:5672/%2F``). Each test uses its own exchange and queue
and deletes them. The broker going away is a TCP proxy in front of it being stopped."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pika
import pytest

from hellodoctor_adapters.memory import SequentialIds
from hellodoctor_adapters.notify import SmtpNotifier
from hellodoctor_adapters.rabbitmq import RabbitConsumer, RabbitTransport
from hellodoctor_adapters.relay import decode
from hellodoctor_adapters.security import BcryptPasswordHasher, PyOtpTotp
from hellodoctor_adapters.testing.services import unavailable
from hellodoctor_adapters.throttle import InMemoryLoginThrottle
from hellodoctor_domain.model.profiles import Patient
from hellodoctor_domain.model.values import EmailAddress, PatientId
from hellodoctor_domain.use_cases.delivery import Relay, RetryPolicy
from hellodoctor_domain.use_cases.identity import Identity
from hellodoctor_domain.use_cases.identity_mail import IdentityMailer
from hellodoctor_http.delivery import handler_for
from hellodoctor_http.delivery_testing import DST_DAY, SmtpInbox, World, smtp_server

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
VISIT = DST_DAY + timedelta(days=1, hours=8)


@pytest.fixture(scope="module")
def broker_url() -> str:
    url = os.environ.get("HELLODOCTOR_TEST_AMQP_URL", DEFAULT_URL)
    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
    except pika.exceptions.AMQPError as error:
        unavailable(f"the RabbitMQ tests need a broker at {url} ({error!r})")
    return url


class Names:
    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:12]
        self.exchange = f"hellodoctor.test.{tag}"
        self.queue = f"hellodoctor.test.{tag}.notifications"


@pytest.fixture
def names(broker_url: str) -> Iterator[Names]:
    made = Names()
    yield made
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    channel = connection.channel()
    channel.queue_delete(made.queue)
    channel.exchange_delete(made.exchange)
    connection.close()


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpInbox, int]]:
    with smtp_server() as running:
        yield running


@pytest.fixture
def world(tmp_path: Path, smtp: tuple[SmtpInbox, int]) -> Iterator[World]:
    built = World(tmp_path, smtp[1])
    yield built
    built.close()


def _queued(broker_url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        found = connection.channel().queue_declare(queue, passive=True)
        return int(found.method.message_count)
    finally:
        connection.close()


class Pipeline:
    def __init__(self, world: World, url: str, names: Names) -> None:
        self.transport = RabbitTransport(url, names.exchange)
        outbox, _ = world.storage.delivery()
        self.relay = Relay(outbox, self.transport, world.clock, policy=RetryPolicy())
        self.consumer = RabbitConsumer(
            url, handler_for(world.delivery.consumer), exchange=names.exchange, queue=names.queue
        )
        self.consumer.declare()  # the queue exists before anything is published

    def close(self) -> None:
        self.transport.close()
        self.consumer.close()


@pytest.fixture
def pipeline(world: World, broker_url: str, names: Names) -> Iterator[Pipeline]:
    built = Pipeline(world, broker_url, names)
    yield built
    built.close()


def test_a_booking_goes_through_the_broker_to_one_mail_each(
    world: World, pipeline: Pipeline, smtp: tuple[SmtpInbox, int], broker_url: str, names: Names
) -> None:
    inbox, _ = smtp
    world.book(VISIT)
    done = pipeline.relay.run_once()
    assert (done.claimed, done.sent) == (1, 1)
    assert _queued(broker_url, names.queue) == 1  # confirmed: the broker holds it

    assert pipeline.consumer.run(idle_seconds=5, limit=1) == 1
    assert sorted(m["To"] for m in inbox.received) == ["dr@example.org", "p1@example.org"]
    assert _queued(broker_url, names.queue) == 0  # acknowledged after the mails went out


def test_fifty_redeliveries_send_one_mail_each(
    world: World, pipeline: Pipeline, smtp: tuple[SmtpInbox, int]
) -> None:
    inbox, _ = smtp
    world.book(VISIT)
    outbox, _ = world.storage.delivery()
    (entry,) = outbox.claim(world.clock.now(), timedelta(minutes=1), 10)
    assert pipeline.transport.send([entry] * 50) == {}

    assert pipeline.consumer.run(idle_seconds=5, limit=50) == 50
    assert len(inbox.received) == 2


def test_a_relay_killed_between_publishing_and_marking_still_has_one_effect(
    world: World, pipeline: Pipeline, smtp: tuple[SmtpInbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox, _ = smtp
    world.book(VISIT)
    outbox, _ = world.storage.delivery()

    class Killed(BaseException):
        pass

    def die(*_: object) -> None:
        raise Killed

    dying = Relay(outbox, pipeline.transport, world.clock)
    with monkeypatch.context() as patched:
        patched.setattr(outbox, "mark_sent", die)
        with pytest.raises(Killed):
            dying.run_once()
    world.clock.advance(timedelta(minutes=10))  # its lease lapses
    assert pipeline.relay.run_once().sent == 1  # published a second time

    assert pipeline.consumer.run(idle_seconds=5, limit=2) == 2
    assert len(inbox.received) == 2


def test_a_message_no_queue_takes_is_a_failure_retried_not_lost(
    world: World, broker_url: str, smtp: tuple[SmtpInbox, int]
) -> None:
    names = Names()
    transport = RabbitTransport(broker_url, names.exchange)
    outbox, _ = world.storage.delivery()
    relay = Relay(outbox, transport, world.clock)
    try:
        world.book(VISIT)
        assert relay.run_once().failed == 1  # mandatory: unroutable comes back
        assert outbox.pending() == 1
    finally:
        transport.close()
        connection = pika.BlockingConnection(pika.URLParameters(broker_url))
        connection.channel().exchange_delete(names.exchange)
        connection.close()


class Proxy:
    """A TCP relay to the broker that can be stopped (every connection cut) and restarted
    on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for each in (source, sink):
                with contextlib.suppress(OSError):
                    each.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        for each in self._sockets:
            with contextlib.suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)
            each.close()
        self._sockets.clear()


def test_the_broker_stopped_and_restarted_loses_nothing(
    world: World, broker_url: str, names: Names, smtp: tuple[SmtpInbox, int]
) -> None:
    inbox, _ = smtp
    parsed = pika.URLParameters(broker_url)
    proxy = Proxy((parsed.host, parsed.port))
    proxy.start()
    through = broker_url.replace(f"{parsed.host}:{parsed.port}", f"127.0.0.1:{proxy.port}")
    assert through != broker_url
    pipeline = Pipeline(world, through, names)
    consumer = RabbitConsumer(
        broker_url, handler_for(world.delivery.consumer), exchange=names.exchange, queue=names.queue
    )
    try:
        world.book(VISIT)
        assert pipeline.relay.run_once().sent == 1

        proxy.stop()  # the broker goes away
        world.book(VISIT + timedelta(hours=2))
        world.book(VISIT + timedelta(hours=4))
        down = pipeline.relay.run_once()
        assert (down.claimed, down.sent, down.failed) == (2, 0, 2)

        proxy.start()  # and comes back
        world.clock.advance(timedelta(minutes=1))
        assert pipeline.relay.drain() == 2

        assert consumer.run(idle_seconds=5, limit=3) == 3
        assert len(inbox.to("p1@example.org")) == 3
    finally:
        consumer.close()
        pipeline.close()
        proxy.stop()


def test_an_identity_mail_goes_through_the_broker_with_no_secret_on_the_wire(
    world: World, smtp: tuple[SmtpInbox, int], broker_url: str, names: Names
) -> None:
    """Registration only writes the outbox; the event crosses RabbitMQ carrying the account's
    id alone, and the consumer issues the code as it mails it."""
    inbox, port = smtp
    ids = SequentialIds("acct")
    identity = Identity(
        world.storage,
        world.clock,
        ids,
        BcryptPasswordHasher(cost=4),
        PyOtpTotp(),
        InMemoryLoginThrottle(),
    )
    outbox, consumed = world.storage.delivery()
    mailer = IdentityMailer(
        world.storage,
        world.clock,
        ids,
        SmtpNotifier("127.0.0.1", port, "no-reply@hellodoctor.test", security="none"),
        consumed,
    )
    on_the_wire: list[bytes] = []
    transport = RabbitTransport(broker_url, names.exchange)
    consumer = RabbitConsumer(
        broker_url,
        handler_for(world.delivery.consumer, mailer),
        exchange=names.exchange,
        queue=names.queue,
    )
    try:
        consumer.declare()
        identity.register_patient(
            EmailAddress("new@example.org"),
            "correct horse battery staple",
            Patient(PatientId("p-new"), "New Patient"),
        )
        assert inbox.to("new@example.org") == []  # the request sent nothing
        relay = Relay(outbox, transport, world.clock, policy=RetryPolicy())
        assert relay.run_once().sent == 1
        connection = pika.BlockingConnection(pika.URLParameters(broker_url))
        try:
            _, _, body = connection.channel().basic_get(names.queue, auto_ack=False)
            assert body is not None
            on_the_wire.append(body)  # left unacknowledged: it goes back to the queue
        finally:
            connection.close()
        assert consumer.run(idle_seconds=5, limit=1) == 1
    finally:
        transport.close()
        consumer.close()
    (mail,) = inbox.to("new@example.org")
    code = re.search(r"Your code is (\d{6})", str(mail.get_body(("plain",)).get_content()))
    assert code is not None
    (sent,) = on_the_wire
    assert decode(sent).event_type == "VerificationRequested"
    assert code.group(1).encode() not in sent
