"""``Retention.run`` looks at lapsed holds and unverified accounts at most once per
``scan_every``, unless it left a backlog; the outbox kinds every pass; a dry run always."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hellodoctor_domain.model.retention import RetentionKind, RetentionPolicy
from hellodoctor_domain.ports.retention import RetentionStore
from hellodoctor_domain.use_cases.retention import Retention


class _Store(RetentionStore):
    def __init__(self, backlog: dict[RetentionKind, int]) -> None:
        self.backlog = backlog
        self.asked: list[RetentionKind] = []

    def count(self, kind: RetentionKind, before: datetime) -> int:
        return self.backlog.get(kind, 0)

    def purge(self, kind: RetentionKind, before: datetime, limit: int) -> int:
        self.asked.append(kind)
        done = min(limit, self.backlog.get(kind, 0))
        self.backlog[kind] = self.backlog.get(kind, 0) - done
        return done


class _Clock:
    def __init__(self) -> None:
        self.moment = datetime(2030, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


def test_scanned_kinds_wait_for_their_interval_unless_a_backlog_is_left() -> None:
    store = _Store({RetentionKind.LAPSED_HOLDS: 5})
    clock = _Clock()
    policy = RetentionPolicy(
        {kind: timedelta(days=1) for kind in RetentionKind},
    )
    retention = Retention(store, clock, policy, batch=2, max_batches=2)
    first = retention.run()
    assert first.counts[RetentionKind.LAPSED_HOLDS] == 4  # stopped at max_batches
    store.asked.clear()
    second = retention.run()  # a backlog was left: looked at again at once
    assert second.counts[RetentionKind.LAPSED_HOLDS] == 1
    store.asked.clear()
    store.backlog[RetentionKind.LAPSED_HOLDS] = 3
    third = retention.run()  # nothing left last time: not asked within the hour
    assert set(third.counts) == {RetentionKind.DELIVERED_EVENTS, RetentionKind.DEAD_LETTERS}
    assert RetentionKind.UNVERIFIED_ACCOUNTS not in store.asked
    assert retention.run(dry_run=True).counts[RetentionKind.LAPSED_HOLDS] == 3
    clock.moment += timedelta(hours=1)
    assert retention.run().counts[RetentionKind.LAPSED_HOLDS] == 3
