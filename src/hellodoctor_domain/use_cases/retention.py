"""Applying the retention policy: ``Retention.run`` deletes, kind by kind and in batches of
``batch``, what the policy says has been kept long enough (``model/retention.py``), or with
``dry_run`` only counts it. ``hellodoctor worker`` runs it every pass; ``hellodoctor retention
run`` once.

Lapsed holds and unverified accounts are found by wider queries (every table that could name a
hold or a profile is asked) and age by days, so one ``Retention`` looks at them at most once per
``scan_every`` (an hour), unless its last look stopped at ``max_batches`` with more to do: a
worker passing every 30 seconds does not ask the database 120 times an hour for nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

from attrs import define

from hellodoctor_domain.model.retention import RetentionKind, RetentionPolicy
from hellodoctor_domain.ports.retention import RetentionStore
from hellodoctor_domain.ports.runtime import Clock

SCANNED_KINDS = frozenset({RetentionKind.LAPSED_HOLDS, RetentionKind.UNVERIFIED_ACCOUNTS})


@define(frozen=True)
class RetentionPass:
    """Per kind: how many items were deleted (or, in a dry run, would be)."""

    counts: dict[RetentionKind, int]
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class Retention:
    def __init__(
        self,
        store: RetentionStore,
        clock: Clock,
        policy: RetentionPolicy,
        *,
        batch: int = 500,
        max_batches: int = 20,
        scan_every: timedelta = timedelta(hours=1),
    ) -> None:
        if batch < 1 or max_batches < 1:
            raise ValueError("a retention pass deletes at least one item per batch")
        self._store = store
        self._clock = clock
        self._policy = policy
        self._batch = batch
        self._max_batches = max_batches
        self._scan_every = scan_every
        self._next_scan: dict[RetentionKind, datetime] = {}

    def run(self, *, dry_run: bool = False) -> RetentionPass:
        """One pass: at most ``batch * max_batches`` deletions per kind, so a backlog is worked
        off over several passes and no pass holds the database for long."""
        now = self._clock.now()
        counts: dict[RetentionKind, int] = {}
        for kind in RetentionKind:
            before = self._policy.cutoff(kind, now)
            if before is None:
                continue
            if dry_run:
                counts[kind] = self._store.count(kind, before)
                continue
            if kind in SCANNED_KINDS and now < self._next_scan.get(kind, now):
                continue  # looked a moment ago and nothing was left
            deleted = 0
            for _ in range(self._max_batches):
                done = self._store.purge(kind, before, self._batch)
                deleted += done
                if done < self._batch:
                    break
            counts[kind] = deleted
            if kind in SCANNED_KINDS and deleted < self._batch * self._max_batches:
                self._next_scan[kind] = now + self._scan_every
        return RetentionPass(counts, dry_run)
