"""Notification preferences and calendar feeds on SQLAlchemy Core.

Preferences: the first save is an INSERT under the account's primary key (two first saves:
the database lets one in, the other is a ``ConcurrencyError``), later ones a compare-and-set
``UPDATE ... WHERE version = :read``. A feed is replaced by one upsert on the account
(``INSERT ... ON CONFLICT (account_id) DO UPDATE``), so the old digest stops matching in the
same statement that stores the new one.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, RowMapping

from hellodoctor_adapters.crypto import FieldCipher
from hellodoctor_adapters.phi import NOTIFICATION_PREFERENCES, open_fields, seal_fields
from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.rows import first_row
from hellodoctor_adapters.sqlalchemy.schema_notifications import (
    calendar_feeds,
    notification_preferences,
)
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


def _preferences_from(cipher: FieldCipher, sealed: RowMapping) -> NotificationPreferences:
    row = open_fields(cipher, NOTIFICATION_PREFERENCES, str(sealed["account_id"]), sealed)
    return NotificationPreferences(
        UserId(row["account_id"]),
        frozenset(Channel(each) for each in row["channels"].split(",") if each),
        bool(row["reminders"]),
        row["language"],
        row["time_zone"],
        None if row["phone"] is None else PhoneNumber(row["phone"]),
        row["version"],
    )


class SqlNotificationPreferences(NotificationPreferencesRepository):
    """The SMS number is sealed (``phi.NOTIFICATION_PREFERENCES``, row id: the account)."""

    def __init__(self, connection: Connection, cipher: FieldCipher) -> None:
        self._connection = connection
        self._cipher = cipher

    def get(self, account_id: UserId) -> NotificationPreferences | None:
        row = first_row(
            self._connection,
            sa.select(notification_preferences).where(
                notification_preferences.c.account_id == account_id.value
            ),
        )
        return None if row is None else _preferences_from(self._cipher, row)

    def save(self, preferences: NotificationPreferences) -> None:
        plain = {
            "channels": ",".join(sorted(preferences.channels)),
            "reminders": preferences.reminders,
            "language": preferences.language,
            "time_zone": preferences.time_zone,
            "phone": None if preferences.phone is None else preferences.phone.value,
            "version": preferences.version + 1,
        }
        key = preferences.account_id.value
        values = seal_fields(self._cipher, NOTIFICATION_PREFERENCES, key, plain)
        table = notification_preferences
        if preferences.version == 0:
            try:
                with translated_errors():
                    self._connection.execute(
                        sa.insert(table).values(account_id=preferences.account_id.value, **values)
                    )
            except AlreadyExists:
                raise ConcurrencyError("the preferences were saved meanwhile") from None
        else:
            with translated_errors():
                changed = self._connection.execute(
                    sa.update(table)
                    .where(
                        table.c.account_id == preferences.account_id.value,
                        table.c.version == preferences.version,
                    )
                    .values(**values)
                )
            if changed.rowcount != 1:
                raise ConcurrencyError("the preferences changed since they were read")
        preferences.version += 1


def _feed_from(row: RowMapping) -> CalendarFeed:
    return CalendarFeed(UserId(row["account_id"]), row["digest"], row["created_at"])


class SqlCalendarFeeds(CalendarFeedRepository):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def put(self, feed: CalendarFeed) -> None:
        dialect = postgresql if self._connection.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(calendar_feeds).values(
            account_id=feed.account_id.value, digest=feed.digest, created_at=feed.created_at
        )
        statement = statement.on_conflict_do_update(
            index_elements=[calendar_feeds.c.account_id],
            set_={"digest": feed.digest, "created_at": feed.created_at},
        )
        with translated_errors():
            self._connection.execute(statement)

    def by_digest(self, digest: str) -> CalendarFeed | None:
        row = first_row(
            self._connection, sa.select(calendar_feeds).where(calendar_feeds.c.digest == digest)
        )
        return None if row is None else _feed_from(row)

    def of(self, account_id: UserId) -> CalendarFeed | None:
        row = first_row(
            self._connection,
            sa.select(calendar_feeds).where(calendar_feeds.c.account_id == account_id.value),
        )
        return None if row is None else _feed_from(row)

    def remove(self, account_id: UserId) -> bool:
        with translated_errors():
            gone = self._connection.execute(
                sa.delete(calendar_feeds).where(calendar_feeds.c.account_id == account_id.value)
            )
        return gone.rowcount == 1
