"""Recurring series of appointments (issue 17).

Revision ID: 0014_series
Revises: 0013_clinic_day
Create Date: 2026-12-02

* ``appointments.series_id``: the series an appointment was booked in, or NULL. A series is
  the set of appointments carrying its id (no table of its own); the index lists them in
  order. The no-overlap constraints (PostgreSQL's exclusion constraints, SQLite's triggers)
  are unchanged: a series' occurrences are inserted in one transaction, so they all commit
  or, when any one is refused, none does.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_series"
down_revision = "0013_clinic_day"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.add_column(sa.Column("series_id", sa.String(64)))
    op.create_index(
        "ix_appointments_series_id_starts_at", "appointments", ["series_id", "starts_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_appointments_series_id_starts_at", "appointments")
    with op.batch_alter_table("appointments") as batch:
        batch.drop_column("series_id")
