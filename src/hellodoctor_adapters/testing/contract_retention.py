"""The retention contract (``ports/retention.py``): a purge removes exactly what is older than
the cut-off, of exactly its kind, in batches of at most ``limit``, and nothing else. Any
storage whose factory offers ``retention()`` and ``delivery()``.

Override ``uow_factory`` (a clean storage). The property test gives outbox entries random ages
around the cut-off (a second either side, the cut-off itself, days away) and random fates
(delivered, dead, still pending); the storage is not emptied between examples, so each
example's moments lie after every earlier one's, and the expectation covers what is left of
the earlier examples too (all of it older than the new cut-off).
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hellodoctor_adapters.outbox import event_of
from hellodoctor_adapters.testing.fixtures import MONDAY, appointment, at
from hellodoctor_domain.model.events import AppointmentReminderDue
from hellodoctor_domain.model.retention import RetentionKind, RetentionPolicy
from hellodoctor_domain.ports.outbox import OutboxDelivery
from hellodoctor_domain.ports.retention import RetentionStore
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.retention import Retention

START = MONDAY - timedelta(days=2)
LEASE = timedelta(seconds=1)
OFFSETS = st.sampled_from([timedelta(seconds=s) for s in (-86400 * 3, -2, -1, 0, 1, 2, 86400 * 2)])
FATES = st.sampled_from(["sent", "dead", "pending"])
# The kinds this contract fills; lapsed holds and unverified accounts have their own
# (``contract_retention_records.py``).
OUTBOX_KINDS = (RetentionKind.DELIVERED_EVENTS, RetentionKind.DEAD_LETTERS)


class _Clock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


class RetentionContract:
    examples = 25  # per storage; a service's adapter may run fewer

    @pytest.fixture
    def uow_factory(self) -> UnitOfWorkFactory:
        raise NotImplementedError("override the uow_factory fixture with a clean storage")

    @pytest.fixture
    def stores(self, uow_factory: UnitOfWorkFactory) -> tuple[OutboxDelivery, RetentionStore]:
        delivery, _ = uow_factory.delivery()  # type: ignore[attr-defined]
        return delivery, uow_factory.retention()  # type: ignore[attr-defined]

    @staticmethod
    def fill(
        delivery: OutboxDelivery, tag: str, base: datetime, fates: list[tuple[str, timedelta]]
    ) -> None:
        """One outbox entry per fate, due at ``base - 4 days``, then sent or dead-lettered at
        ``base + offset`` (pending ones left alone)."""
        visit = appointment(f"ret-{tag}", at(9))
        for index, _ in enumerate(fates):
            event = AppointmentReminderDue(
                occurred_at=base - timedelta(days=4),
                appointment_id=visit.id,
                doctor_id=visit.doctor_id,
                patient_id=visit.patient_id,
                time=visit.time,
                version=index,
                before=timedelta(hours=1),
            )
            delivery.schedule(event, base - timedelta(days=4), f"{tag}/{index}")
        claimed = delivery.claim(base - timedelta(days=4), LEASE, len(fates) + 1000)
        mine = sorted(
            (e for e in claimed if e.aggregate_id == visit.id.value),
            key=lambda e: event_of(e.event_type, dict(e.payload)).version,  # type: ignore[attr-defined]
        )
        for entry, (fate, offset) in zip(mine, fates, strict=True):
            if fate == "sent":
                delivery.mark_sent([entry.id], base + offset)
            elif fate == "dead":
                delivery.mark_failed(entry.id, base + offset, "gave up", None)

    def test_retention_removes_exactly_what_is_older_than_the_cutoff(
        self, stores: tuple[OutboxDelivery, RetentionStore]
    ) -> None:
        delivery, store = stores
        counter = itertools.count()
        pending_before = delivery.pending()
        pending = [pending_before]
        # Earlier examples' survivors: older than any later example's cut-off.
        left = dict.fromkeys(OUTBOX_KINDS, 0)

        @settings(
            max_examples=self.examples,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(
            fates=st.lists(st.tuples(FATES, OFFSETS), min_size=1, max_size=8),
            batch=st.integers(1, 4),
        )
        def check(fates: list[tuple[str, timedelta]], batch: int) -> None:
            number = next(counter)
            base = START + timedelta(days=10 * number)  # after every earlier example's moments
            self.fill(delivery, f"ex{number}", base, fates)
            expected = {
                kind: left[kind]
                + sum(1 for fate, offset in fates if fate == name and offset < timedelta(0))
                for kind, name in (
                    (RetentionKind.DELIVERED_EVENTS, "sent"),
                    (RetentionKind.DEAD_LETTERS, "dead"),
                )
            }
            survivors = {
                kind: sum(1 for fate, offset in fates if fate == name and offset >= timedelta(0))
                for kind, name in (
                    (RetentionKind.DELIVERED_EVENTS, "sent"),
                    (RetentionKind.DEAD_LETTERS, "dead"),
                )
            }
            everything = base + timedelta(days=9)
            for kind in OUTBOX_KINDS:
                assert store.count(kind, base) == expected[kind], kind

            policy = RetentionPolicy({kind: timedelta(days=1) for kind in OUTBOX_KINDS})
            retention = Retention(
                store, _Clock(base + timedelta(days=1)), policy, batch=batch, max_batches=100
            )
            assert retention.run(dry_run=True).counts == expected
            assert retention.run().counts == expected
            for kind in OUTBOX_KINDS:
                assert store.count(kind, base) == 0, kind
                # Only this example's younger ones are left: every earlier one was older.
                assert store.count(kind, everything) == survivors[kind], kind
            pending[0] += sum(1 for fate, _ in fates if fate == "pending")
            assert delivery.pending() == pending[0]  # nothing pending was touched
            dead = delivery.dead_letters(1000)
            assert len(dead) == survivors[RetentionKind.DEAD_LETTERS]
            left.update(survivors)

        check()

    def test_a_purge_is_bounded_by_its_limit(
        self, stores: tuple[OutboxDelivery, RetentionStore]
    ) -> None:
        delivery, store = stores
        self.fill(delivery, "bounded", START, [("sent", timedelta(0))] * 5)
        later = START + timedelta(seconds=1)
        assert store.purge(RetentionKind.DEAD_LETTERS, later, 10) == 0
        assert store.purge(RetentionKind.DELIVERED_EVENTS, later, 2) == 2
        assert store.count(RetentionKind.DELIVERED_EVENTS, later) == 3
        assert store.purge(RetentionKind.DELIVERED_EVENTS, later, 10) == 3
        assert store.purge(RetentionKind.DELIVERED_EVENTS, later, 10) == 0
