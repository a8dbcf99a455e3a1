"""Hospitals and their bed counts.

Revision ID: 0008_hospitals
Revises: 0004
Create Date: 2026-12-01

* ``ck_accounts_role`` admits ``hospital_admin``;
* ``ck_ward_beds_within_capacity``: each admission or discharge changes its count row by one
  ``UPDATE ... SET occupied = occupied +/- 1`` in its transaction; the database refuses the one
  that would leave ``0 <= occupied <= capacity``, whatever the number of writers.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008_hospitals"
down_revision = "0004"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _instant() -> sa.types.TypeEngine[Any]:
    # As schema.UtcDateTime stores it: timestamptz, or fixed-width UTC text on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.CHAR(26), "sqlite")


def _account_roles(roles: str) -> None:
    # Batch mode: SQLite cannot change a CHECK in place, so it copies the table.
    with op.batch_alter_table("accounts") as batch:
        batch.drop_constraint("ck_accounts_role", type_="check")
        batch.create_check_constraint("ck_accounts_role", f"role IN ({roles})")


def upgrade() -> None:
    _account_roles("'patient', 'doctor', 'admin', 'hospital_admin'")
    op.create_table(
        "hospitals",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("registration_number", sa.String(64), nullable=False, unique=True),
        sa.Column("city_key", sa.Text, nullable=False),
        sa.Column("profile", _json(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_hospitals_city_key", "hospitals", ["city_key", "id"])
    op.create_table(
        "ward_beds",
        sa.Column(
            "hospital_id",
            sa.String(64),
            sa.ForeignKey("hospitals.id", name="fk_ward_beds_hospital"),
            primary_key=True,
        ),
        sa.Column("ward_code", sa.String(64), primary_key=True),
        sa.Column("bed_type", sa.String(16), primary_key=True),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("occupied", sa.Integer, nullable=False),
        # THE bed rule, decided by the database on every change of a count.
        sa.CheckConstraint(
            "occupied >= 0 AND occupied <= capacity", name="ck_ward_beds_within_capacity"
        ),
    )

    op.create_table(
        "transfers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "from_hospital_id",
            sa.String(64),
            sa.ForeignKey("hospitals.id", name="fk_transfers_from_hospital"),
            nullable=False,
        ),
        sa.Column(
            "to_hospital_id",
            sa.String(64),
            sa.ForeignKey("hospitals.id", name="fk_transfers_to_hospital"),
            nullable=False,
        ),
        sa.Column("requested_at", _instant(), nullable=False),
        sa.Column("record", _json(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_transfers_from", "transfers", ["from_hospital_id", "requested_at"])
    op.create_index("ix_transfers_to", "transfers", ["to_hospital_id", "requested_at"])


def downgrade() -> None:
    op.drop_index("ix_transfers_to", table_name="transfers")
    op.drop_index("ix_transfers_from", table_name="transfers")
    op.drop_table("transfers")
    op.drop_table("ward_beds")
    op.drop_index("ix_hospitals_city_key", table_name="hospitals")
    op.drop_table("hospitals")
    # Hospital administrators' accounts cannot be kept by the older schema.
    op.execute(
        sa.text(
            "DELETE FROM refresh_tokens WHERE account_id IN "
            "(SELECT id FROM accounts WHERE role = 'hospital_admin')"
        )
    )
    op.execute(
        sa.text(
            "DELETE FROM one_time_secrets WHERE account_id IN "
            "(SELECT id FROM accounts WHERE role = 'hospital_admin')"
        )
    )
    op.execute(sa.text("DELETE FROM accounts WHERE role = 'hospital_admin'"))
    _account_roles("'patient', 'doctor', 'admin'")
