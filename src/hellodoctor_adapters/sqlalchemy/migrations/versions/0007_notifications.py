"""Outbox delivery state and the consumers' inbox (which also names scheduled entries).

Revision ID: 0007_notifications
Revises: 0006_telemedicine
Create Date: 2026-12-01

Plain ``ADD COLUMN`` s (nullable, or with a default), which both dialects do in place.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007_notifications"
down_revision = "0006_telemedicine"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # timestamptz on PostgreSQL; fixed-width UTC text on SQLite (compares like the instant).
    return sa.DateTime(timezone=True).with_variant(sa.CHAR(26), "sqlite")


def upgrade() -> None:
    op.add_column(
        "outbox", sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0"))
    )
    op.add_column("outbox", sa.Column("leased_until", _instant()))
    op.add_column("outbox", sa.Column("retry_at", _instant()))
    op.add_column("outbox", sa.Column("dead_at", _instant()))
    op.add_column("outbox", sa.Column("last_error", sa.Text))
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("entry_id", sa.String(128), primary_key=True),
        sa.Column("leased_until", _instant(), nullable=False),
        sa.Column("finished_at", _instant()),
    )


def downgrade() -> None:
    op.drop_table("inbox")
    # SQLite copies the table to drop columns: the partial index is made again after, as 0004 does.
    op.drop_index("ix_outbox_pending", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        for column in (
            "last_error",
            "dead_at",
            "retry_at",
            "leased_until",
            "attempts",
        ):
            batch.drop_column(column)
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )
