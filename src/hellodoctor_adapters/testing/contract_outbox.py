"""The outbox delivery contract: what a relay claims, leases, marks and dead-letters, and the
consumer's inbox (``ports/outbox.py``). Any storage whose factory offers ``delivery()``.

Override ``uow_factory`` (a clean storage); the suite books appointments to fill the outbox.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from hellodoctor_adapters.outbox import event_of
from hellodoctor_adapters.testing.fixtures import MONDAY, appointment, at, seed
from hellodoctor_domain.model.events import AppointmentBooked, AppointmentReminderDue
from hellodoctor_domain.ports.outbox import Inbox, OutboxDelivery
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory

NOW = MONDAY - timedelta(days=2)
LEASE = timedelta(minutes=1)


def book(uow_factory: UnitOfWorkFactory, count: int) -> list[AppointmentBooked]:
    """``count`` bookings (an hour apart), each with its ``AppointmentBooked`` in the outbox."""
    events = []
    with uow_factory() as uow:
        for index in range(count):
            visit = appointment(f"a{index}", at(8 + index % 10, day=index // 10))
            event = AppointmentBooked(
                occurred_at=NOW - timedelta(seconds=count - index),
                appointment_id=visit.id,
                doctor_id=visit.doctor_id,
                patient_id=visit.patient_id,
                time=visit.time,
                price=visit.price,
            )
            visit.record(event)
            uow.appointments.add(visit)
            events.append(event)
        uow.commit()
    return events


class OutboxDeliveryContract:
    @pytest.fixture
    def uow_factory(self) -> UnitOfWorkFactory:
        raise NotImplementedError("override the uow_factory fixture with a clean storage")

    @pytest.fixture
    def delivery(self, uow_factory: UnitOfWorkFactory) -> OutboxDelivery:
        seed(uow_factory)
        delivery, _ = uow_factory.delivery()  # type: ignore[attr-defined]
        return delivery  # type: ignore[no-any-return]

    @pytest.fixture
    def inbox(self, uow_factory: UnitOfWorkFactory) -> Inbox:
        _, inbox = uow_factory.delivery()  # type: ignore[attr-defined]
        return inbox  # type: ignore[no-any-return]

    def test_a_claim_hands_out_each_committed_event_with_its_facts(
        self, uow_factory: UnitOfWorkFactory, delivery: OutboxDelivery
    ) -> None:
        booked = book(uow_factory, 3)
        claimed = delivery.claim(NOW, LEASE, 10)
        assert [entry.aggregate_id for entry in claimed] == ["a0", "a1", "a2"]
        assert len({entry.id for entry in claimed}) == 3
        assert [event_of(e.event_type, dict(e.payload)) for e in claimed] == booked
        assert delivery.pending() == 3

    def test_a_leased_entry_is_not_claimed_again_until_its_lease_lapses(
        self, uow_factory: UnitOfWorkFactory, delivery: OutboxDelivery
    ) -> None:
        book(uow_factory, 2)
        first = delivery.claim(NOW, LEASE, 1)
        second = delivery.claim(NOW, LEASE, 10)
        assert [e.aggregate_id for e in [*first, *second]] == ["a0", "a1"]
        assert delivery.claim(NOW + LEASE / 2, LEASE, 10) == []
        # A relay that died mid-batch: its entries come back, nothing is lost.
        again = delivery.claim(NOW + LEASE, LEASE, 10)
        assert [e.aggregate_id for e in again] == ["a0", "a1"]

    def test_a_sent_entry_is_never_claimed_again(
        self, uow_factory: UnitOfWorkFactory, delivery: OutboxDelivery
    ) -> None:
        book(uow_factory, 2)
        claimed = delivery.claim(NOW, LEASE, 10)
        delivery.mark_sent([claimed[0].id], NOW)
        later = delivery.claim(NOW + LEASE, LEASE, 10)
        assert [e.aggregate_id for e in later] == ["a1"]
        assert delivery.pending() == 1

    def test_a_failed_entry_is_retried_when_due_and_counts_its_attempts(
        self, uow_factory: UnitOfWorkFactory, delivery: OutboxDelivery
    ) -> None:
        book(uow_factory, 1)
        (entry,) = delivery.claim(NOW, LEASE, 10)
        delivery.mark_failed(entry.id, NOW, "broker away", NOW + timedelta(seconds=30))
        assert delivery.claim(NOW + timedelta(seconds=29), LEASE, 10) == []
        (again,) = delivery.claim(NOW + timedelta(seconds=30), LEASE, 10)
        assert (again.id, again.attempts) == (entry.id, 1)

    def test_a_dead_letter_is_listed_and_a_retry_brings_it_back(
        self, uow_factory: UnitOfWorkFactory, delivery: OutboxDelivery
    ) -> None:
        book(uow_factory, 2)
        first, _ = delivery.claim(NOW, LEASE, 10)
        delivery.mark_failed(first.id, NOW, "template broken", None)
        (letter,) = delivery.dead_letters(10)
        assert (letter.entry.id, letter.failed_at, letter.error) == (
            first.id,
            NOW,
            "template broken",
        )
        assert letter.entry.attempts == 1
        assert delivery.pending() == 1
        assert [e.aggregate_id for e in delivery.claim(NOW + LEASE, LEASE, 10)] == ["a1"]

        assert delivery.retry(first.id, NOW + LEASE)
        assert not delivery.retry(first.id, NOW + LEASE)  # not dead any more
        assert delivery.dead_letters(10) == []
        (back,) = delivery.claim(NOW + LEASE, LEASE, 10)
        assert (back.id, back.attempts) == (first.id, 0)

    def test_concurrent_relays_never_hold_the_same_entry(
        self, uow_factory: UnitOfWorkFactory, delivery: OutboxDelivery
    ) -> None:
        book(uow_factory, 30)
        relays = [uow_factory.delivery()[0] for _ in range(3)]  # type: ignore[attr-defined]
        start = threading.Barrier(len(relays))
        taken: list[list[str]] = [[] for _ in relays]

        def run(index: int) -> None:
            start.wait()
            while batch := relays[index].claim(NOW, LEASE, 4):
                taken[index].extend(entry.id for entry in batch)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(relays))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        every = [entry_id for ids in taken for entry_id in ids]
        assert len(every) == len(set(every)) == 30

    def test_a_scheduled_entry_is_claimed_from_its_due_time_and_stored_once(
        self, delivery: OutboxDelivery
    ) -> None:
        visit = appointment("a9", at(9))
        reminder = AppointmentReminderDue(
            occurred_at=NOW + timedelta(hours=5),
            appointment_id=visit.id,
            doctor_id=visit.doctor_id,
            patient_id=visit.patient_id,
            time=visit.time,
            version=3,
            before=timedelta(hours=24),
        )
        delivery.schedule(reminder, NOW + timedelta(hours=5), "a9/3/24h")
        delivery.schedule(reminder, NOW + timedelta(hours=5), "a9/3/24h")  # a retry: no copy
        assert delivery.pending() == 1
        assert delivery.claim(NOW + timedelta(hours=4), LEASE, 10) == []
        (entry,) = delivery.claim(NOW + timedelta(hours=5), LEASE, 10)
        assert event_of(entry.event_type, dict(entry.payload)) == reminder

    def test_the_inbox_lets_one_handler_take_an_entry_once(self, inbox: Inbox) -> None:
        assert inbox.begin("mail", "e1", NOW, LEASE)
        assert not inbox.begin("mail", "e1", NOW, LEASE)  # a redelivery while it is handled
        assert inbox.begin("sms", "e1", NOW, LEASE)  # another consumer has its own
        inbox.finish("mail", "e1", NOW)
        assert not inbox.begin("mail", "e1", NOW + LEASE * 10, LEASE)

    def test_the_inbox_hands_back_an_entry_whose_handler_failed_or_died(self, inbox: Inbox) -> None:
        assert inbox.begin("mail", "e1", NOW, LEASE)
        inbox.forget("mail", "e1")
        assert inbox.begin("mail", "e1", NOW, LEASE)
        assert not inbox.begin("mail", "e1", NOW + LEASE / 2, LEASE)
        assert inbox.begin("mail", "e1", NOW + LEASE, LEASE)  # the first handler died
