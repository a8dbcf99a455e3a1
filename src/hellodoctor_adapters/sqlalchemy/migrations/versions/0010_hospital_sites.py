"""Where an appointment happens, and patients' stays in hospital beds.

Revision ID: 0010_hospital_sites
Revises: 0009_reviews
Create Date: 2026-12-01

* ``appointments.hospital_id``: the hospital of the doctor's window the visit falls in (taken
  from the availability at booking and rescheduling, never from the client); NULL for a window
  naming no hospital and for telemedicine. No foreign key: like the doctor's windows, which
  are a JSON document, it names a hospital the doctor was affiliated with when booked.
* ``admissions``: one row per stay (admitted, then discharged), the record whole as JSON; its
  hospital and patient beside it for the two lists (a hospital's, a patient's).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010_hospital_sites"
down_revision = "0009_reviews"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _instant() -> sa.types.TypeEngine[Any]:
    # As schema.UtcDateTime stores it: timestamptz, or fixed-width UTC text on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.CHAR(26), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.add_column(sa.Column("hospital_id", sa.String(64), nullable=True))
    op.create_table(
        "admissions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "hospital_id",
            sa.String(64),
            sa.ForeignKey("hospitals.id", name="fk_admissions_hospital"),
            nullable=False,
        ),
        sa.Column(
            "patient_id",
            sa.String(64),
            sa.ForeignKey("patients.id", name="fk_admissions_patient"),
            nullable=False,
        ),
        sa.Column("admitted_at", _instant(), nullable=False),
        sa.Column("record", _json(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_admissions_hospital", "admissions", ["hospital_id", "admitted_at"])
    op.create_index("ix_admissions_patient", "admissions", ["patient_id", "admitted_at"])


def downgrade() -> None:
    op.drop_index("ix_admissions_patient", table_name="admissions")
    op.drop_index("ix_admissions_hospital", table_name="admissions")
    op.drop_table("admissions")
    with op.batch_alter_table("appointments") as batch:
        batch.drop_column("hospital_id")
