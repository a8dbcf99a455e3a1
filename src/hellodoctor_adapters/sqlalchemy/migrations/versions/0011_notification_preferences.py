"""Per-account notification preferences and private calendar feeds.

Revision ID: 0011_notification_preferences
Revises: 0010_hospital_sites
Create Date: 2026-12-01

* ``notification_preferences``: one row per account that changed the defaults (channels,
  reminders, language, own time zone, SMS number), compare-and-set on ``version``;
* ``calendar_feeds``: one feed per account (primary key), only the token's SHA-256 digest,
  unique (the feed URL's lookup).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011_notification_preferences"
down_revision = "0010_hospital_sites"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # timestamptz on PostgreSQL; fixed-width UTC text on SQLite (compares like the instant).
    return sa.DateTime(timezone=True).with_variant(sa.CHAR(26), "sqlite")


def upgrade() -> None:
    op.create_table(
        "notification_preferences",
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
        sa.Column("phone", sa.String(16)),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "calendar_feeds",
        sa.Column(
            "account_id",
            sa.String(64),
            sa.ForeignKey("accounts.id", name="fk_calendar_feeds_account"),
            primary_key=True,
        ),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.UniqueConstraint("digest", name="uq_calendar_feeds_digest"),
    )


def downgrade() -> None:
    op.drop_table("calendar_feeds")
    op.drop_table("notification_preferences")
