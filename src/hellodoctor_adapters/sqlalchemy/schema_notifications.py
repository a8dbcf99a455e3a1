"""Tables of notification preferences and calendar feeds (revision
0011_notification_preferences), on the shared metadata; ``schema.py`` gathers them."""

from __future__ import annotations

import sqlalchemy as sa

from hellodoctor_adapters.sqlalchemy.metadata import UtcDateTime, metadata

# One row per account that changed the defaults; ``channels`` is a comma-separated set.
notification_preferences = sa.Table(
    "notification_preferences",
    metadata,
    sa.Column(
        "account_id",
        sa.String(64),
        sa.ForeignKey("accounts.id", name="fk_notification_preferences_account"),
        primary_key=True,
    ),
    sa.Column("channels", sa.String(32), nullable=False),
    sa.Column("reminders", sa.Boolean, nullable=False),
    sa.Column("language", sa.String(16), nullable=False),
    sa.Column("time_zone", sa.String(64)),
    sa.Column("phone", sa.Text),  # sealed (docs/encryption.md), revision 0018_phigaps
    sa.Column("version", sa.Integer, nullable=False),
)

# One private feed per account (the primary key); only the token's digest, unique.
calendar_feeds = sa.Table(
    "calendar_feeds",
    metadata,
    sa.Column(
        "account_id",
        sa.String(64),
        sa.ForeignKey("accounts.id", name="fk_calendar_feeds_account"),
        primary_key=True,
    ),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.UniqueConstraint("digest", name="uq_calendar_feeds_digest"),
)
