"""A walk-in's claim code: the front desk's one-time code for a profile made without an
account (issue 17, item 4).

Revision ID: 0016_clinicday
Revises: 0015_desk_indexes
Create Date: 2026-12-02

One nullable column on ``patients``: the code's SHA-256 (never the code), when it was issued
and by whom, when it lapses, and which account claimed the profile (JSON; docs/clinic_day.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_clinicday"
down_revision = "0015_desk_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("walk_in_claim", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("walk_in_claim")
