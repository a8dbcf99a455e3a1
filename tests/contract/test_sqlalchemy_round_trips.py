"""A booking on PostgreSQL costs at most three round trips (issue 20), counted on the wire.

libpq traces every protocol message of the connection; a round trip is the client waiting for
the server's ReadyForQuery, so counting ReadyForQuery messages counts round trips, including
the BEGIN psycopg would send on its own (SQLAlchemy's events never see that one). The pool holds
one connection, warmed up past psycopg's prepare threshold, so the count is the steady state.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import pytest
import sqlalchemy as sa

from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory, create_engine
from hellodoctor_adapters.sqlalchemy.schema import appointments, idempotency_keys, outbox
from hellodoctor_adapters.sqlalchemy.testing import migrated_postgres_schema
from hellodoctor_adapters.testing.fixtures import doctor, patient
from hellodoctor_domain import (
    Actor,
    Availability,
    BookingRequest,
    DoctorId,
    LocalWindow,
    PatientId,
    Scheduling,
    Weekday,
    WorkingDay,
)
from hellodoctor_domain.errors import SlotUnavailable

NOW = datetime(2030, 1, 6, 12, tzinfo=UTC)
MONDAY = datetime(2030, 1, 7, tzinfo=UTC)
MOST_ROUND_TRIPS = 3


@pytest.fixture(scope="module")
def factory() -> Iterator[SqlUnitOfWorkFactory]:
    with migrated_postgres_schema() as url:
        built = SqlUnitOfWorkFactory(create_engine(url, poolclass=sa.pool.StaticPool))
        anytime = [
            WorkingDay(day, [LocalWindow(clock_time(0), clock_time(23, 59))]) for day in Weekday
        ]
        with built() as uow:
            uow.doctors.add(doctor("d1"))
            uow.patients.add(patient("p1"))
            uow.patients.add(patient("p2"))
            uow.availability.save(
                Availability(
                    DoctorId("d1"),
                    "UTC",
                    anytime,
                    slot_length=timedelta(minutes=30),
                    minimum_notice=timedelta(0),
                    booking_horizon=timedelta(days=3650),
                )
            )
            uow.commit()
        yield built
        built.engine.dispose()


@pytest.fixture
def round_trips(factory: SqlUnitOfWorkFactory) -> Callable[[Callable[[], Any]], int]:
    from psycopg import pq

    driver: Any = factory.engine.raw_connection().driver_connection  # the pool's only one

    def count(work: Callable[[], Any]) -> int:
        with tempfile.TemporaryFile("w+") as trace:
            driver.pgconn.trace(trace.fileno())
            driver.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
            try:
                work()
            finally:
                driver.pgconn.untrace()
            trace.seek(0)
            return sum("ReadyForQuery" in line for line in trace if line.startswith("B"))

    return count


def _booking(patient_key: str, slot: int, key: str | None = None) -> tuple[Actor, BookingRequest]:
    who = PatientId(patient_key)
    start = MONDAY + timedelta(minutes=30 * slot)
    request = BookingRequest(doctor_id=DoctorId("d1"), patient_id=who, start=start)
    if key is not None:
        request = BookingRequest(
            doctor_id=DoctorId("d1"), patient_id=who, start=start, idempotency_key=key
        )
    return Actor.patient(who), request


def test_a_booking_takes_at_most_three_round_trips(
    factory: SqlUnitOfWorkFactory, round_trips: Callable[[Callable[[], Any]], int]
) -> None:
    scheduling = Scheduling(factory, ManualClock(NOW), SequentialIds("rt"), OfflinePaymentGateway())
    for slot in range(8):  # past psycopg's prepare threshold (5): the steady state
        scheduling.book(*_booking("p1", slot))
    counts = [
        round_trips(lambda slot=slot: scheduling.book(*_booking("p1", slot))) for slot in (8, 9)
    ]
    assert max(counts) <= MOST_ROUND_TRIPS, counts
    print("ROUNDTRIPS", counts)
    # ...and what they wrote is all there: the appointment and its outbox row.
    with factory.engine.connect() as connection:
        booked = connection.execute(sa.select(sa.func.count()).select_from(appointments)).scalar()
        events = connection.execute(sa.select(sa.func.count()).select_from(outbox)).scalar()
    assert (booked, events) == (10, 10)


def test_a_keyed_booking_also_takes_at_most_three_round_trips(
    factory: SqlUnitOfWorkFactory, round_trips: Callable[[Callable[[], Any]], int]
) -> None:
    scheduling = Scheduling(factory, ManualClock(NOW), SequentialIds("rk"), OfflinePaymentGateway())
    for slot in range(20, 28):
        scheduling.book(*_booking("p1", slot, key=f"warm-{slot}"))
    # The look-up of an earlier booking with that key is one read before the booking's two.
    counts = round_trips(lambda: scheduling.book(*_booking("p1", 28, key="k")))
    assert counts <= MOST_ROUND_TRIPS, counts
    print("KEYED", counts)
    with factory.engine.connect() as connection:
        kept = connection.execute(
            sa.select(idempotency_keys.c.appointment_id).where(idempotency_keys.c.key == "k")
        ).scalar()
    assert kept is not None


def test_a_refused_booking_leaves_no_row_no_outbox_entry_no_record(
    factory: SqlUnitOfWorkFactory,
) -> None:
    scheduling = Scheduling(factory, ManualClock(NOW), SequentialIds("rf"), OfflinePaymentGateway())
    won = scheduling.book(*_booking("p1", 40))

    def rows() -> tuple[int, int, int]:
        with factory.engine.connect() as connection:
            return tuple(  # type: ignore[return-value]
                connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()
                for table in (appointments, outbox, idempotency_keys)
            )

    before = rows()
    with pytest.raises(SlotUnavailable):
        scheduling.book(*_booking("p2", 40, key="refused"))
    assert rows() == before
    with factory() as uow:
        assert uow.appointments.get(won.id).patient_id == PatientId("p1")
