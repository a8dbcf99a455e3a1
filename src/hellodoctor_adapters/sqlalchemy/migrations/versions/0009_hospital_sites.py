"""Where an appointment happens.

Revision ID: 0009_hospital_sites
Revises: 0008_hospitals
Create Date: 2026-12-01

* ``appointments.hospital_id``: the hospital of the doctor's window the visit falls in (taken
  from the availability at booking and rescheduling, never from the client); NULL for a window
  naming no hospital and for telemedicine. No foreign key: like the doctor's windows, which
  are a JSON document, it names a hospital the doctor was affiliated with when booked.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_hospital_sites"
down_revision = "0008_hospitals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.add_column(sa.Column("hospital_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.drop_column("hospital_id")
