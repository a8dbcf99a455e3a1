"""The waitlist (issue 17 item 1): ``waitlist_entries``.

Revision ID: 0014_waitlist
Revises: 0014_phi
Create Date: 2026-12-02

One row per entry: who waits for which doctor, its state, the held appointment of its offer
and when that offer lapses; the days, window of the day and offered time in ``record``.
``version`` is the compare-and-set that lets exactly one of two racing offers land.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014_waitlist"
down_revision = "0014_phi"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # As schema.UtcDateTime stores it: timestamptz, or fixed-width UTC text on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.CHAR(26), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "patient_id",
            sa.String(64),
            sa.ForeignKey("patients.id", name="fk_waitlist_entries_patient"),
            nullable=False,
        ),
        sa.Column(
            "doctor_id",
            sa.String(64),
            sa.ForeignKey("doctors.id", name="fk_waitlist_entries_doctor"),
            nullable=False,
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("joined_at", _instant(), nullable=False),
        sa.Column("offered_appointment_id", sa.String(64)),
        sa.Column("offer_expires_at", _instant()),
        sa.Column("record", _json(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_waitlist_entries_doctor_status_joined",
        "waitlist_entries",
        ["doctor_id", "status", "joined_at", "id"],
    )
    op.create_index(
        "ix_waitlist_entries_patient_joined", "waitlist_entries", ["patient_id", "joined_at", "id"]
    )
    op.create_index(
        "ix_waitlist_entries_status_offer_expires",
        "waitlist_entries",
        ["status", "offer_expires_at"],
    )
    op.create_index(
        "ix_waitlist_entries_offered_appointment", "waitlist_entries", ["offered_appointment_id"]
    )


def downgrade() -> None:
    op.drop_table("waitlist_entries")
