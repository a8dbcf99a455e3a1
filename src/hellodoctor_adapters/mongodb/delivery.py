"""Outbox delivery and the inbox on MongoDB (``ports/outbox.py``).

A commit leaves each event inside the document of the aggregate that recorded it (``_outbox``,
written by the same single-document write as the change), so a booking writes one document.
Before it claims (and before it counts what is pending), the relay moves the waiting events
into the ``outbox`` collection (``repair.relay_outbox``: copy, then ``$pull`` what was copied;
deterministic ids make a second copy a no-op), oldest first, until none wait or
``_PROMOTE_ROUNDS`` batches were moved. From there on nothing changes: each ``outbox`` document
keeps its delivery state in ``_delivery``; a claim is a conditional single-document update per
candidate (still due and unleased, or no change), so two relays that pick the same candidate
cannot both lease it; failures, retries and dead letters live there. An event is in its
aggregate's document, or in ``outbox``, or (between the copy and the pull) in both: never in
neither, so delivery stays at least once.

Inbox documents are ``{consumer}/{entry id}``; ``begin`` is one conditional upsert, refused by
the unique ``_id`` when someone holds it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from hellodoctor_adapters.mongodb.documents import CONVERTER, event_to_document
from hellodoctor_adapters.mongodb.repair import relay_outbox
from hellodoctor_adapters.mongodb.store import MongoStore, translated
from hellodoctor_adapters.outbox import OutboxMessage, event_class
from hellodoctor_domain.model.events import DomainEvent
from hellodoctor_domain.ports.outbox import DeadLetter, Inbox, OutboxDelivery, OutboxEntry

_META = ("_id", "type", "aggregate_type", "aggregate_id", "_delivery")
# Documents whose events one promotion round moves, and the most rounds before a claim: far
# more than a relay polling every few seconds ever finds waiting.
_PROMOTE_BATCH = 500
_PROMOTE_ROUNDS = 20


def _entry(document: dict[str, Any]) -> OutboxEntry:
    facts = {key: value for key, value in document.items() if key not in _META}
    # Through the event class, so the payload is the same JSON-ready shape every storage gives.
    event = CONVERTER.structure(facts, event_class(document["type"]))
    message = OutboxMessage.of(event)
    return OutboxEntry(
        id=document["_id"],
        event_type=message.event_type,
        aggregate_type=message.aggregate_type,
        aggregate_id=message.aggregate_id,
        occurred_at=message.occurred_at,
        payload=message.payload,
        attempts=document.get("_delivery", {}).get("attempts", 0),
    )


def _due(now: datetime) -> dict[str, Any]:
    return {
        "_delivery.sent_at": None,
        "_delivery.dead_at": None,
        "$and": [
            {"$or": [{"_delivery.leased_until": None}, {"_delivery.leased_until": {"$lte": now}}]},
            {"$or": [{"_delivery.retry_at": None}, {"_delivery.retry_at": {"$lte": now}}]},
        ],
    }


class MongoDelivery(OutboxDelivery):
    def __init__(self, store: MongoStore) -> None:
        self._store = store
        self._outbox = store.collection("outbox")

    def _promote(self) -> None:
        """Move the events waiting in aggregates' documents into ``outbox``."""
        for _ in range(_PROMOTE_ROUNDS):
            if relay_outbox(self._store, _PROMOTE_BATCH) < _PROMOTE_BATCH:
                return  # fewer events than a batch holds documents: none left waiting

    @translated
    def claim(self, now: datetime, lease: timedelta, limit: int) -> Sequence[OutboxEntry]:
        self._promote()
        candidates = self._outbox.find(_due(now), {"_id": 1}).sort([("occurred_at", 1), ("_id", 1)])
        claimed: list[OutboxEntry] = []
        for candidate in candidates.limit(limit):
            document = self._outbox.find_one_and_update(
                {"_id": candidate["_id"], **_due(now)},
                {"$set": {"_delivery.leased_until": now + lease}},
                return_document=ReturnDocument.AFTER,
            )
            if document is not None:  # None: another relay leased it first
                claimed.append(_entry(document))
        return claimed

    @translated
    def mark_sent(self, entry_ids: Sequence[str], now: datetime) -> None:
        if entry_ids:
            self._outbox.update_many(
                {"_id": {"$in": list(entry_ids)}},
                {"$set": {"_delivery.sent_at": now, "_delivery.leased_until": None}},
            )

    @translated
    def mark_failed(
        self, entry_id: str, now: datetime, error: str, retry_at: datetime | None
    ) -> None:
        self._outbox.update_one(
            {"_id": entry_id},
            {
                "$inc": {"_delivery.attempts": 1},
                "$set": {
                    "_delivery.leased_until": None,
                    "_delivery.retry_at": retry_at,
                    "_delivery.dead_at": now if retry_at is None else None,
                    "_delivery.error": error[:2000],
                },
            },
        )

    @translated
    def dead_letters(self, limit: int) -> Sequence[DeadLetter]:
        found = (
            self._outbox.find({"_delivery.dead_at": {"$ne": None}, "_delivery.sent_at": None})
            .sort([("_delivery.dead_at", 1), ("_id", 1)])
            .limit(limit)
        )
        return [
            DeadLetter(_entry(d), d["_delivery"]["dead_at"], d["_delivery"].get("error", ""))
            for d in found
        ]

    @translated
    def retry(self, entry_id: str, now: datetime) -> bool:
        changed = self._outbox.update_one(
            {"_id": entry_id, "_delivery.dead_at": {"$ne": None}},
            {
                "$set": {
                    "_delivery.attempts": 0,
                    "_delivery.dead_at": None,
                    "_delivery.retry_at": now,
                    "_delivery.leased_until": None,
                }
            },
        )
        return changed.modified_count == 1

    @translated
    def schedule(self, event: DomainEvent, due_at: datetime, key: str) -> None:
        document = event_to_document(event, f"scheduled/{key}")
        document["_delivery"] = {"retry_at": due_at}
        with contextlib.suppress(DuplicateKeyError):  # scheduled already: the key is its _id
            self._outbox.insert_one(document)

    @translated
    def pending(self) -> int:
        self._promote()
        return self._outbox.count_documents({"_delivery.sent_at": None, "_delivery.dead_at": None})


class MongoInbox(Inbox):
    def __init__(self, store: MongoStore) -> None:
        self._inbox = store.collection("inbox")

    @translated
    def begin(self, consumer: str, entry_id: str, now: datetime, lease: timedelta) -> bool:
        try:
            self._inbox.update_one(
                {
                    "_id": f"{consumer}/{entry_id}",
                    "finished_at": None,
                    "leased_until": {"$lte": now},
                },
                {"$set": {"leased_until": now + lease}},
                upsert=True,
            )
        except DuplicateKeyError:  # held by another within its lease, or finished
            return False
        return True

    @translated
    def finish(self, consumer: str, entry_id: str, now: datetime) -> None:
        self._inbox.update_one({"_id": f"{consumer}/{entry_id}"}, {"$set": {"finished_at": now}})

    @translated
    def forget(self, consumer: str, entry_id: str) -> None:
        self._inbox.delete_one({"_id": f"{consumer}/{entry_id}", "finished_at": None})
