"""The storage port of retention: count and delete, in bounded batches, what a retention kind
holds older than a cut-off (``model/retention.py`` defines each kind's moment)."""

from __future__ import annotations

import abc
from datetime import datetime

from hellodoctor_domain.model.retention import RetentionKind


class RetentionStore(abc.ABC):
    """Offered by a storage factory as ``retention()`` (``hellodoctor_adapters.registry``).

    ``purge`` deletes at most ``limit`` items of ``kind`` strictly older than ``before`` — one
    bounded statement (or a bounded set of them), never a scan of the whole table in one
    transaction — and answers how many it deleted; it touches nothing else. Safe to run in
    several processes at once: an item another purge took first is simply not counted."""

    @abc.abstractmethod
    def count(self, kind: RetentionKind, before: datetime) -> int:
        """How many items of ``kind`` are strictly older than ``before``."""

    @abc.abstractmethod
    def purge(self, kind: RetentionKind, before: datetime, limit: int) -> int: ...
