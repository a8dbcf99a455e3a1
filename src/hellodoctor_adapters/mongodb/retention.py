"""Retention on MongoDB (``ports/retention.py``): each purge reads at most ``limit`` ids by the
kind's moment, then deletes those whose moment still qualifies (one ``delete_many`` over an id
list, so a retry the relay made in between keeps its entry), and their inbox documents. Lapsed
holds and unverified accounts: ``mongodb/retention_records.py``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hellodoctor_adapters.mongodb.retention_records import MongoRecordRetention
from hellodoctor_adapters.mongodb.store import MongoStore, translated
from hellodoctor_domain.model.retention import RetentionKind
from hellodoctor_domain.ports.retention import RetentionStore


def _older(kind: RetentionKind, before: datetime) -> dict[str, Any]:
    if kind is RetentionKind.DELIVERED_EVENTS:
        return {"_delivery.sent_at": {"$ne": None, "$lt": before}}
    return {"_delivery.sent_at": None, "_delivery.dead_at": {"$ne": None, "$lt": before}}


class MongoRetention(RetentionStore):
    def __init__(self, store: MongoStore) -> None:
        self._outbox = store.collection("outbox")
        self._records = MongoRecordRetention(store)

    @translated
    def count(self, kind: RetentionKind, before: datetime) -> int:
        if kind is RetentionKind.LAPSED_HOLDS:
            return self._records.count_holds(before)
        if kind is RetentionKind.UNVERIFIED_ACCOUNTS:
            return self._records.count_accounts(before)
        return int(self._outbox.count_documents(_older(kind, before)))

    @translated
    def purge(self, kind: RetentionKind, before: datetime, limit: int) -> int:
        if kind is RetentionKind.LAPSED_HOLDS:
            return self._records.purge_holds(before, limit)
        if kind is RetentionKind.UNVERIFIED_ACCOUNTS:
            return self._records.purge_accounts(before, limit)
        ids = [d["_id"] for d in self._outbox.find(_older(kind, before), {"_id": 1}).limit(limit)]
        if not ids:
            return 0
        deleted = self._outbox.delete_many({"_id": {"$in": ids}, **_older(kind, before)})
        return int(deleted.deleted_count)
