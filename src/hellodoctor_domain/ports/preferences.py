"""Storage ports of notification preferences and calendar feeds."""

from __future__ import annotations

import abc

from hellodoctor_domain.model.notifications import CalendarFeed, NotificationPreferences
from hellodoctor_domain.model.values import UserId


class NotificationPreferencesRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, account_id: UserId) -> NotificationPreferences | None:
        """The stored preferences, or None (the defaults apply)."""

    @abc.abstractmethod
    def save(self, preferences: NotificationPreferences) -> None:
        """Store them, compare-and-set on ``version`` (0: none stored yet, inserted under the
        account's unique key), then bump the caller's version. ``ConcurrencyError`` when
        someone saved since they were read (two first saves: one wins)."""


class CalendarFeedRepository(abc.ABC):
    @abc.abstractmethod
    def put(self, feed: CalendarFeed) -> None:
        """The account's feed becomes ``feed``, replacing any earlier one in one atomic write
        (an upsert on the account): the old digest stops matching at once."""

    @abc.abstractmethod
    def by_digest(self, digest: str) -> CalendarFeed | None:
        """The live feed with this digest (unique), if any."""

    @abc.abstractmethod
    def of(self, account_id: UserId) -> CalendarFeed | None: ...

    @abc.abstractmethod
    def remove(self, account_id: UserId) -> bool:
        """Revoke the account's feed; False if it had none."""
