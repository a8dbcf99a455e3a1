"""Applying the retention policy: ``Retention.run`` deletes, kind by kind and in batches of
``batch``, what the policy says has been kept long enough (``model/retention.py``), or with
``dry_run`` only counts it. ``hellodoctor worker`` runs it every pass; ``hellodoctor retention
run`` once."""

from __future__ import annotations

from attrs import define

from hellodoctor_domain.model.retention import RetentionKind, RetentionPolicy
from hellodoctor_domain.ports.retention import RetentionStore
from hellodoctor_domain.ports.runtime import Clock


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
    ) -> None:
        if batch < 1 or max_batches < 1:
            raise ValueError("a retention pass deletes at least one item per batch")
        self._store = store
        self._clock = clock
        self._policy = policy
        self._batch = batch
        self._max_batches = max_batches

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
            deleted = 0
            for _ in range(self._max_batches):
                done = self._store.purge(kind, before, self._batch)
                deleted += done
                if done < self._batch:
                    break
            counts[kind] = deleted
        return RetentionPass(counts, dry_run)
