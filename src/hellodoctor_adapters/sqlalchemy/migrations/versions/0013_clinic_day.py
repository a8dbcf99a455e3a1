"""The clinic's day (issue 17): patients' preferences.

Revision ID: 0013_clinic_day
Revises: 0012_clinical_records
Create Date: 2026-12-01

* ``patients.language`` (a BCP 47 tag) and ``patients.time_zone`` (IANA): what ``PATCH /me``
  sets beside the name, phone and date of birth the table already holds;
* ``appointments.arrived_at``, ``consultation_started_at``, ``completed_at``: the clinic's
  day of a booked visit (its status stays ``booked`` until completed, so the no-overlap
  constraints, which name the active statuses, are unchanged).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013_clinic_day"
down_revision = "0012_clinical_records"
branch_labels = None
depends_on = None


_STAMPS = ("arrived_at", "consultation_started_at", "completed_at")


def _instant() -> sa.types.TypeEngine[Any]:
    # As schema.UtcDateTime stores it: timestamptz, or fixed-width UTC text on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.CHAR(26), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("language", sa.String(35)))
        batch.add_column(sa.Column("time_zone", sa.String(64)))
    with op.batch_alter_table("appointments") as batch:
        for stamp in _STAMPS:
            batch.add_column(sa.Column(stamp, _instant()))


def downgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        for stamp in reversed(_STAMPS):
            batch.drop_column(stamp)
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("time_zone")
        batch.drop_column("language")
