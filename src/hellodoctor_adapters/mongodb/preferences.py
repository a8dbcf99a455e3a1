"""Notification preferences and calendar feeds on MongoDB, one document per account
(``_id``: the account id), written at commit like everything else.

Preferences: the first save is an insert under ``_id`` (a second first save meets the
duplicate key: ``ConcurrencyError``), later ones a compare-and-set ``update_one`` filtered on
``version``. A feed is one upsert on the account's document (the digest under a unique index),
so the old digest stops matching in the same single-document write that stores the new one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo.errors import DuplicateKeyError

from hellodoctor_adapters.crypto import FieldCipher
from hellodoctor_adapters.mongodb.documents import Document, floor_ms
from hellodoctor_adapters.mongodb.store import MongoStore, Undo, translated
from hellodoctor_adapters.phi import NOTIFICATION_PREFERENCES, open_fields, seal_fields
from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError
from hellodoctor_domain.model.notifications import (
    CalendarFeed,
    Channel,
    NotificationPreferences,
    PhoneNumber,
)
from hellodoctor_domain.model.values import UserId
from hellodoctor_domain.ports.preferences import (
    CalendarFeedRepository,
    NotificationPreferencesRepository,
)


def _preferences_from(cipher: FieldCipher, sealed: Document) -> NotificationPreferences:
    document = open_fields(cipher, NOTIFICATION_PREFERENCES, str(sealed["_id"]), sealed)
    return NotificationPreferences(
        UserId(document["_id"]),
        frozenset(Channel(each) for each in document["channels"]),
        document["reminders"],
        document["language"],
        document["time_zone"],
        None if document["phone"] is None else PhoneNumber(document["phone"]),
        document["version"],
    )


class MongoNotificationPreferences(NotificationPreferencesRepository):
    def __init__(self, store: MongoStore) -> None:
        self._collection = store.collection("notification_preferences")
        self._cipher = store.cipher  # the SMS number is sealed (phi.NOTIFICATION_PREFERENCES)
        self.pending: list[NotificationPreferences] = []

    @translated
    def get(self, account_id: UserId) -> NotificationPreferences | None:
        document = self._collection.find_one({"_id": account_id.value})
        return None if document is None else _preferences_from(self._cipher, document)

    def save(self, preferences: NotificationPreferences) -> None:
        self.pending.append(NotificationPreferences(**_fields(preferences)))
        preferences.version += 1

    @translated
    def flush(self, undo: list[Undo]) -> None:
        collection = self._collection
        for preferences in self.pending:
            key = preferences.account_id.value
            plain: dict[str, Any] = {
                "channels": sorted(preferences.channels),
                "reminders": preferences.reminders,
                "language": preferences.language,
                "time_zone": preferences.time_zone,
                "phone": None if preferences.phone is None else preferences.phone.value,
                "version": preferences.version + 1,
            }
            document = seal_fields(self._cipher, NOTIFICATION_PREFERENCES, key, plain)
            if preferences.version == 0:
                try:
                    collection.insert_one({"_id": key, **document})
                except DuplicateKeyError:
                    raise ConcurrencyError("the preferences were saved meanwhile") from None
                undo.append(_delete(collection, key, preferences.version + 1))
            else:
                previous = collection.find_one_and_update(
                    {"_id": key, "version": preferences.version}, {"$set": document}
                )
                if previous is None:
                    raise ConcurrencyError("the preferences changed since they were read")
                undo.append(_restore(collection, key, preferences.version + 1, previous))


def _fields(preferences: NotificationPreferences) -> dict[str, Any]:
    return {
        "account_id": preferences.account_id,
        "channels": preferences.channels,
        "reminders": preferences.reminders,
        "language": preferences.language,
        "time_zone": preferences.time_zone,
        "phone": preferences.phone,
        "version": preferences.version,
    }


def _delete(collection: Any, key: str, version: int) -> Undo:
    return lambda: collection.delete_one({"_id": key, "version": version})


def _restore(collection: Any, key: str, version: int, previous: Document) -> Undo:
    return lambda: collection.replace_one({"_id": key, "version": version}, previous)


class MongoCalendarFeeds(CalendarFeedRepository):
    def __init__(self, store: MongoStore) -> None:
        self._collection = store.collection("calendar_feeds")
        self.pending: list[Callable[[list[Undo]], None]] = []

    def put(self, feed: CalendarFeed) -> None:
        collection = self._collection

        def write(undo: list[Undo]) -> None:
            try:
                previous = collection.find_one_and_update(
                    {"_id": feed.account_id.value},
                    {"$set": {"digest": feed.digest, "created_at": floor_ms(feed.created_at)}},
                    upsert=True,
                )
            except DuplicateKeyError:
                raise AlreadyExists("that feed digest is taken") from None
            key = feed.account_id.value

            def back() -> None:
                if previous is None:
                    collection.delete_one({"_id": key, "digest": feed.digest})
                else:
                    collection.replace_one({"_id": key, "digest": feed.digest}, previous)

            undo.append(back)

        self.pending.append(write)

    @translated
    def by_digest(self, digest: str) -> CalendarFeed | None:
        document = self._collection.find_one({"digest": digest})
        return None if document is None else _feed_from(document)

    @translated
    def of(self, account_id: UserId) -> CalendarFeed | None:
        document = self._collection.find_one({"_id": account_id.value})
        return None if document is None else _feed_from(document)

    @translated
    def remove(self, account_id: UserId) -> bool:
        if self._collection.find_one({"_id": account_id.value}) is None:
            return False
        collection = self._collection

        def write(undo: list[Undo]) -> None:
            previous = collection.find_one_and_delete({"_id": account_id.value})
            if previous is not None:
                kept: Document = previous

                def back() -> None:
                    collection.insert_one(kept)

                undo.append(back)

        self.pending.append(write)
        return True

    @translated
    def flush(self, undo: list[Undo]) -> None:
        for write in self.pending:
            write(undo)


def _feed_from(document: Document) -> CalendarFeed:
    return CalendarFeed(UserId(document["_id"]), document["digest"], document["created_at"])
