"""Outbox relay throughput to RabbitMQ, beside raw ``pika`` publishing with publisher confirms
of the same messages, in one run.

Not a test: it prints figures and ratios, and asserts nothing about speed.

    .venv/bin/python benchmarks/bench_relay.py          # the broker at 127.0.0.1:5672
    HELLODOCTOR_BENCH_AMQP_URL=amqp://... .venv/bin/python benchmarks/bench_relay.py

The relay's work per message: claim it from the outbox (a SQLite file here, in batches of 100,
leased in one transaction), publish it (persistent, mandatory, confirmed), mark the batch sent.
The baseline publishes the same bodies the same way (one blocking channel, confirms,
persistent, mandatory) straight from memory. Both go to an exchange and queue of their own,
deleted afterwards. ``--smoke`` relays a few dozen messages to prove the script still works.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pika
import sqlalchemy as sa

from hellodoctor_adapters.outbox import OutboxMessage
from hellodoctor_adapters.rabbitmq import RabbitTransport
from hellodoctor_adapters.relay import encode
from hellodoctor_adapters.runtime import SystemClock
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.delivery import SqlDelivery
from hellodoctor_adapters.sqlalchemy.migrate import upgrade
from hellodoctor_adapters.sqlalchemy.schema import outbox
from hellodoctor_domain.model.events import AppointmentBooked
from hellodoctor_domain.model.values import AppointmentId, DoctorId, Money, PatientId, TimeRange
from hellodoctor_domain.ports.outbox import OutboxEntry
from hellodoctor_domain.use_cases.delivery import Relay

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
START = datetime(2030, 1, 7, 9, tzinfo=UTC)


def _messages(count: int) -> list[OutboxMessage]:
    return [
        OutboxMessage.of(
            AppointmentBooked(
                occurred_at=START,
                appointment_id=AppointmentId(f"apt-{n}"),
                doctor_id=DoctorId("d1"),
                patient_id=PatientId(f"p{n}"),
                time=TimeRange.starting_at(START + timedelta(hours=n), timedelta(minutes=30)),
                price=Money(5000, "EUR"),
            )
        )
        for n in range(count)
    ]


def _declare(url: str, exchange: str, queue: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, exchange, routing_key="#")
    connection.close()


def _drop(url: str, exchange: str, queue: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.queue_delete(queue)
    channel.exchange_delete(exchange)
    connection.close()


def raw_publish(url: str, exchange: str, messages: list[OutboxMessage]) -> float:
    """Messages per second: confirmed, persistent, mandatory publishes from memory."""
    bodies = [
        encode(
            OutboxEntry(
                str(n), m.event_type, m.aggregate_type, m.aggregate_id, m.occurred_at, m.payload
            )
        )
        for n, m in enumerate(messages)
    ]
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    properties = pika.BasicProperties(
        content_type="application/json", delivery_mode=pika.DeliveryMode.Persistent
    )
    began = time.perf_counter()
    for body in bodies:
        channel.basic_publish(
            exchange, "appointment.AppointmentBooked", body, properties, mandatory=True
        )
    elapsed = time.perf_counter() - began
    connection.close()
    return len(bodies) / elapsed


def relay(url: str, exchange: str, messages: list[OutboxMessage], folder: Path) -> float:
    """Messages per second through the relay, from a SQLite outbox."""
    database = f"sqlite:///{folder / 'relay.db'}"
    storage = SqlUnitOfWorkFactory(database, check_schema=False)
    upgrade(storage.engine)
    with storage.engine.begin() as connection:
        connection.execute(
            sa.insert(outbox),
            [
                {
                    "event_type": m.event_type,
                    "aggregate_type": m.aggregate_type,
                    "aggregate_id": m.aggregate_id,
                    "occurred_at": m.occurred_at,
                    "payload": m.payload,
                }
                for m in messages
            ],
        )
    transport = RabbitTransport(url, exchange)
    relaying = Relay(SqlDelivery(storage.engine), transport, SystemClock())
    began = time.perf_counter()
    sent = relaying.drain(limit=100)
    elapsed = time.perf_counter() - began
    transport.close()
    storage.dispose()
    if sent != len(messages):
        raise SystemExit(f"the relay sent {sent} of {len(messages)} messages")
    return sent / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--smoke", action="store_true", help="a few dozen messages")
    args = parser.parse_args()
    count = 40 if args.smoke else args.messages
    url = os.environ.get("HELLODOCTOR_BENCH_AMQP_URL", DEFAULT_URL)
    tag = uuid.uuid4().hex[:10]
    exchange, queue = f"hellodoctor.bench.{tag}", f"hellodoctor.bench.{tag}.q"
    messages = _messages(count)
    _declare(url, exchange, queue)
    try:
        with tempfile.TemporaryDirectory(prefix="hellodoctor-bench-relay-") as folder:
            raw = raw_publish(url, exchange, messages)
            relayed = relay(url, exchange, messages, Path(folder))
    finally:
        _drop(url, exchange, queue)
    print(f"{count} messages, RabbitMQ at {pika.URLParameters(url).host}")
    print(f"raw pika publish with confirms: {raw:,.0f} msg/s")
    print(f"outbox relay (claim, publish confirmed, mark sent): {relayed:,.0f} msg/s")
    print(f"relay msg/s / raw pika confirmed msg/s: {relayed / raw:.0%}")


if __name__ == "__main__":
    main()
