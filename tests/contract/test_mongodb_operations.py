"""The operations one booking costs on MongoDB, counted by the driver's command monitoring, so
the path cannot silently grow (benchmarks/bench_mongodb.py prints the same count)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

import pytest
from pymongo import MongoClient, monitoring

from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb.testing import fresh_database_name, server_url
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.testing.fixtures import MONDAY, at, every_day, seed
from hellodoctor_domain import Actor, AppointmentStatus, DoctorId, PatientId
from hellodoctor_domain.errors import SlotUnavailable
from hellodoctor_domain.use_cases.booking_request import BookingRequest
from hellodoctor_domain.use_cases.scheduling import Scheduling


class _Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.counting = False
        self.sent: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.counting:
            self.sent[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def counted() -> Iterator[tuple[Scheduling, _Commands, MongoUnitOfWorkFactory]]:
    commands = _Commands()
    client: MongoClient[Any] = MongoClient(
        server_url(), tz_aware=True, tzinfo=UTC, event_listeners=[commands]
    )
    factory = MongoUnitOfWorkFactory(server_url(), client=client, database=fresh_database_name())
    seed(factory, doctors=1, patients=3)
    with factory() as uow:
        uow.availability.save(every_day(DoctorId("d1"), minimum_notice=timedelta(0)))
        uow.commit()
    clock = ManualClock(MONDAY - timedelta(days=1))
    scheduling = Scheduling(factory, clock, SequentialIds("apt"), OfflinePaymentGateway())
    try:
        yield scheduling, commands, factory
    finally:
        client.drop_database(factory.store.database.name)
        factory.close()


def _book(scheduling: Scheduling, patient: str, hour: int, key: str | None = None) -> Any:
    return scheduling.book(
        Actor.patient(PatientId(patient)),
        BookingRequest(
            doctor_id=DoctorId("d1"),
            patient_id=PatientId(patient),
            start=at(hour),
            idempotency_key=key,
        ),
    )


def test_a_booking_is_four_commands(
    counted: tuple[Scheduling, _Commands, MongoUnitOfWorkFactory],
) -> None:
    scheduling, commands, factory = counted
    _book(scheduling, "p1", 9)  # the doctor's day cell exists from here on; p2's does not yet
    commands.counting = True
    booked = _book(scheduling, "p2", 10)
    commands.counting = False
    # The doctor with its availability ($lookup), the patient's existence, both claims (one
    # bulk of conditional upserts), the appointment with its event.
    assert commands.sent == Counter({"aggregate": 1, "find": 1, "update": 1, "insert": 1})
    assert booked.status is AppointmentStatus.BOOKED
    stored = factory.store.collection("appointments").find_one({"_id": booked.id.value})
    assert [event["type"] for event in stored["_outbox"]] == ["AppointmentBooked"]


def test_an_idempotency_key_adds_its_look_up_and_its_record(
    counted: tuple[Scheduling, _Commands, MongoUnitOfWorkFactory],
) -> None:
    scheduling, commands, _ = counted
    _book(scheduling, "p1", 9)
    commands.counting = True
    first = _book(scheduling, "p2", 10, key="k1")
    commands.counting = False
    assert commands.sent == Counter({"aggregate": 1, "find": 2, "update": 1, "insert": 2})
    assert _book(scheduling, "p2", 10, key="k1").id == first.id  # the replay still answers


def test_a_refused_booking_is_refused_and_leaves_no_claim_behind(
    counted: tuple[Scheduling, _Commands, MongoUnitOfWorkFactory],
) -> None:
    scheduling, _, factory = counted
    _book(scheduling, "p1", 9)
    with pytest.raises(SlotUnavailable):
        _book(scheduling, "p2", 9)  # the doctor's time is taken; p2's cell was new
    entries = [
        entry["a"] for cell in factory.store.collection("claims").find() for entry in cell["c"]
    ]
    assert entries == ["apt-1", "apt-1"]


def test_one_patient_clicking_twice_for_one_slot_gets_it_once(
    counted: tuple[Scheduling, _Commands, MongoUnitOfWorkFactory],
) -> None:
    """Both claims of a booking go in one bulk command; two of the same patient's requests for
    the same doctor want the same two cells. Taken in one order by both (the doctor's first),
    one wins; were each to hold the cell the other wants, both would wait and both be refused."""
    scheduling, _, factory = counted

    def click(hour: int, start: threading.Barrier, outcomes: list[str]) -> None:
        start.wait()
        try:
            _book(scheduling, "p1", hour)
            outcomes.append("won")
        except SlotUnavailable:
            outcomes.append("refused")

    for hour in range(9, 13):
        start = threading.Barrier(2)
        outcomes: list[str] = []
        clicks = [threading.Thread(target=click, args=(hour, start, outcomes)) for _ in range(2)]
        for thread in clicks:
            thread.start()
        for thread in clicks:
            thread.join()
        assert sorted(outcomes) == ["refused", "won"], hour
    assert factory.store.collection("appointments").count_documents({}) == 4
