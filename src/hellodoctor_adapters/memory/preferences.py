"""In-memory notification preferences and calendar feeds. The store's lock serialises units
of work, so each compare-and-set and upsert is one step here, as it is one statement
elsewhere."""

from __future__ import annotations

from attrs import evolve

from hellodoctor_adapters.memory.store import _Journalled
from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError
from hellodoctor_domain.model.notifications import CalendarFeed, NotificationPreferences
from hellodoctor_domain.model.values import UserId
from hellodoctor_domain.ports.preferences import (
    CalendarFeedRepository,
    NotificationPreferencesRepository,
)


class InMemoryNotificationPreferences(_Journalled, NotificationPreferencesRepository):
    def get(self, account_id: UserId) -> NotificationPreferences | None:
        stored = self._store.notification_preferences.get(account_id)
        return None if stored is None else evolve(stored)

    def save(self, preferences: NotificationPreferences) -> None:
        table = self._store.notification_preferences
        stored = table.get(preferences.account_id)
        if (stored.version if stored else 0) != preferences.version:
            raise ConcurrencyError("the preferences changed since they were read")
        self._put(
            table, preferences.account_id, evolve(preferences, version=preferences.version + 1)
        )
        preferences.version += 1


class InMemoryCalendarFeeds(_Journalled, CalendarFeedRepository):
    def put(self, feed: CalendarFeed) -> None:
        table = self._store.calendar_feeds
        if any(
            other.digest == feed.digest and other.account_id != feed.account_id
            for other in table.values()
        ):
            raise AlreadyExists("that feed digest is taken")
        self._put(table, feed.account_id, evolve(feed))

    def by_digest(self, digest: str) -> CalendarFeed | None:
        for feed in self._store.calendar_feeds.values():
            if feed.digest == digest:
                return evolve(feed)
        return None

    def of(self, account_id: UserId) -> CalendarFeed | None:
        stored = self._store.calendar_feeds.get(account_id)
        return None if stored is None else evolve(stored)

    def remove(self, account_id: UserId) -> bool:
        table = self._store.calendar_feeds
        if account_id not in table:
            return False
        previous = table.pop(account_id)
        self._journal.append(lambda: table.__setitem__(account_id, previous))
        return True
