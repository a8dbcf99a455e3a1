"""Video consultations: room tickets (kept by digest, redeemed by one conditional UPDATE) and
the rooms' attendance.

Revision ID: 0006_telemedicine
Revises: 0005_documents
Create Date: 2026-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006_telemedicine"
down_revision = "0005_documents"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # timestamptz on PostgreSQL; fixed-width UTC text on SQLite (compares like the instant).
    return sa.DateTime(timezone=True).with_variant(sa.CHAR(26), "sqlite")


def upgrade() -> None:
    op.create_table(
        "room_tickets",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column(
            "appointment_id",
            sa.String(64),
            sa.ForeignKey("appointments.id", name="fk_room_tickets_appointment"),
            nullable=False,
        ),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("seat", sa.String(16), nullable=False),
        sa.Column("issued_at", _instant(), nullable=False),
        sa.Column("expires_at", _instant(), nullable=False),
        sa.Column("used_at", _instant()),
    )
    op.create_table(
        "room_attendance",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column(
            "appointment_id",
            sa.String(64),
            sa.ForeignKey("appointments.id", name="fk_room_attendance_appointment"),
            nullable=False,
        ),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("seat", sa.String(16), nullable=False),
        sa.Column("presence", sa.String(16), nullable=False),
        sa.Column("at", _instant(), nullable=False),
    )
    op.create_index("ix_room_attendance_appointment_id", "room_attendance", ["appointment_id"])


def downgrade() -> None:
    op.drop_index("ix_room_attendance_appointment_id", table_name="room_attendance")
    op.drop_table("room_attendance")
    op.drop_table("room_tickets")
