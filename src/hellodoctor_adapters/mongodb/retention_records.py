"""Retention of lapsed holds and unverified accounts on MongoDB (``ports/retention.py``; the
kinds: ``model/retention.py``, docs/retention.md).

No transactions: candidates are read in ``_id`` order, those another collection names are
left (every collection is asked for an ``appointment_id`` / ``patient_id`` / ``account_id``
field holding one of them, and documents for a patient owner, so a collection added later is
covered), then each goes by one conditional delete that repeats the condition. An account is
deleted *before* what it owns (codes, refresh tokens, settings, calendar feed) and its
profile: a crash in between leaves rows naming nobody, which nothing reads, never a live
account without its codes. A document still carrying unrelayed events (``_outbox``) is kept
until the relay has moved them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from hellodoctor_adapters.mongodb.store import MongoStore

_NO_EVENTS = {"_outbox.0": {"$exists": False}}
_HOLD_OWNED = ("idempotency",)
_ACCOUNT_OWNED = ("one_time_secrets", "refresh_tokens")  # by account_id
_ACCOUNT_KEYED = ("notification_preferences", "calendar_feeds")  # _id is the account id
_PAGE = 200


def hold_older(before: datetime) -> dict[str, Any]:
    """A hold that never became a booking, ended before ``before`` (``model/retention.py``)."""
    return {
        "hold_expires_at": {"$ne": None},
        "$or": [
            {"status": "expired", "hold_expires_at": {"$lt": before}},
            {
                "status": "cancelled",
                "price.minor_units": {"$gt": 0},
                "cancellation.at": {"$lt": before},
            },
        ],
        **_NO_EVENTS,
    }


def account_older(before: datetime) -> dict[str, Any]:
    return {
        "role": "patient",
        "status": "pending",
        "password_hash": {"$ne": None},
        "created_at": {"$lt": before},
        **_NO_EVENTS,
    }


class MongoRecordRetention:
    def __init__(self, store: MongoStore) -> None:
        self._store = store
        self._database = store.database

    def _named(self, field: str, values: list[Any], skip: tuple[str, ...]) -> set[Any]:
        found: set[Any] = set()
        for name in self._database.list_collection_names():
            if name in skip:
                continue
            for document in self._database[name].find({field: {"$in": values}}, {field: 1}):
                found.add(document.get(field))
        if field == "patient_id":
            owned = {"owner.role": "patient", "owner.profile_id": {"$in": values}}
            for document in self._database["documents"].find(owned, {"owner": 1}):
                found.add(document["owner"]["profile_id"])
        return found

    def _candidates(
        self, collection: str, query: dict[str, Any], fields: dict[str, int]
    ) -> Iterator[list[dict[str, Any]]]:
        last: Any = None
        while True:
            page_query = query if last is None else {**query, "_id": {"$gt": last}}
            page = list(
                self._database[collection].find(page_query, fields).sort("_id", 1).limit(_PAGE)
            )
            if not page:
                return
            yield page
            last = page[-1]["_id"]

    # -- holds -------------------------------------------------------------------------------

    def _holds(self, before: datetime, limit: int | None) -> list[Any]:
        chosen: list[Any] = []
        skip = ("appointments", "outbox", "claims", *_HOLD_OWNED)
        for page in self._candidates("appointments", hold_older(before), {"_id": 1}):
            ids = [d["_id"] for d in page]
            named = self._named("appointment_id", ids, skip)
            chosen.extend(i for i in ids if i not in named)
            if limit is not None and len(chosen) >= limit:
                return chosen[:limit]
        return chosen

    def count_holds(self, before: datetime) -> int:
        return len(self._holds(before, None))

    def purge_holds(self, before: datetime, limit: int) -> int:
        ids = self._holds(before, limit)
        if not ids:
            return 0
        # Terminal statuses: a chosen hold stays chosen, so its keys may go first.
        for name in _HOLD_OWNED:
            self._database[name].delete_many({"appointment_id": {"$in": ids}})
        deleted = self._database["appointments"].delete_many(
            {"_id": {"$in": ids}, **hold_older(before)}
        )
        return int(deleted.deleted_count)

    # -- accounts ----------------------------------------------------------------------------

    def _accounts(self, before: datetime, limit: int | None) -> list[dict[str, Any]]:
        chosen: list[dict[str, Any]] = []
        fields = {"_id": 1, "patient_id": 1}
        for page in self._candidates("accounts", account_older(before), fields):
            ids = [d["_id"] for d in page]
            busy = self._named("account_id", ids, ("accounts", *_ACCOUNT_OWNED))
            profiles = [d["patient_id"] for d in page if d.get("patient_id")]
            used = (
                self._named("patient_id", profiles, ("accounts", "patients")) if profiles else set()
            )
            chosen.extend(
                d for d in page if d["_id"] not in busy and d.get("patient_id") not in used
            )
            if limit is not None and len(chosen) >= limit:
                return chosen[:limit]
        return chosen

    def count_accounts(self, before: datetime) -> int:
        return len(self._accounts(before, None))

    def purge_accounts(self, before: datetime, limit: int) -> int:
        deleted = 0
        for account in self._accounts(before, limit):
            gone = self._database["accounts"].delete_one(
                {"_id": account["_id"], **account_older(before)}
            )
            if not gone.deleted_count:
                continue  # verified (or purged by another worker) meanwhile
            deleted += 1
            for name in _ACCOUNT_OWNED:
                self._database[name].delete_many({"account_id": account["_id"]})
            for name in _ACCOUNT_KEYED:
                self._database[name].delete_one({"_id": account["_id"]})
            profile = account.get("patient_id")
            if profile and not self._named("patient_id", [profile], ("patients",)):
                self._database["patients"].delete_one({"_id": profile, **_NO_EVENTS})
        return deleted
