"""The outbox holds events of any aggregate: ``appointment_id`` becomes ``aggregate_type`` plus
``aggregate_id``; the rows already there are appointments' events.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Batch operations, so SQLite (which cannot rename or re-default a column in place) copies the
table; the partial index over pending rows is dropped first and created again after, so it
does not depend on how the copy reflects it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _drop_pending_index() -> None:
    op.drop_index("ix_outbox_pending", table_name="outbox")


def _create_pending_index() -> None:
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )


def upgrade() -> None:
    _drop_pending_index()
    with op.batch_alter_table("outbox") as batch:
        # The default labels the existing rows; it is dropped below, so that every new row
        # names its aggregate.
        batch.add_column(
            sa.Column("aggregate_type", sa.String(32), nullable=False, server_default="appointment")
        )
        batch.alter_column(
            "appointment_id",
            new_column_name="aggregate_id",
            existing_type=sa.String(64),
            existing_nullable=False,
        )
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column(
            "aggregate_type",
            server_default=None,
            existing_type=sa.String(32),
            existing_nullable=False,
        )
    _create_pending_index()


def downgrade() -> None:
    # The old outbox holds appointments' events only: the others cannot be kept.
    op.execute(sa.text("DELETE FROM outbox WHERE aggregate_type <> 'appointment'"))
    _drop_pending_index()
    with op.batch_alter_table("outbox") as batch:
        batch.alter_column(
            "aggregate_id",
            new_column_name="appointment_id",
            existing_type=sa.String(64),
            existing_nullable=False,
        )
        batch.drop_column("aggregate_type")
    _create_pending_index()
