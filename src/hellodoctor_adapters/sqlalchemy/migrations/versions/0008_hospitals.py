"""Hospitals, their bed counts and transfers; insurance schemes, policies and claims.

Revision ID: 0008_hospitals
Revises: 0007_notifications
Create Date: 2026-12-01

* ``ck_accounts_role`` admits ``hospital_admin`` and ``insurer``;
* ``uq_claims_appointment_id``: one claim per appointment;
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
down_revision = "0007_notifications"
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
    _account_roles("'patient', 'doctor', 'admin', 'hospital_admin', 'insurer'")
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

    op.create_table(
        "schemes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("record", _json(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "policies",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "patient_id",
            sa.String(64),
            sa.ForeignKey("patients.id", name="fk_policies_patient"),
            nullable=False,
        ),
        sa.Column(
            "scheme_id",
            sa.String(64),
            sa.ForeignKey("schemes.id", name="fk_policies_scheme"),
            nullable=False,
        ),
        sa.Column("record", _json(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_policies_patient", "policies", ["patient_id", "id"])
    op.create_table(
        "claims",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "policy_id",
            sa.String(64),
            sa.ForeignKey("policies.id", name="fk_claims_policy"),
            nullable=False,
        ),
        sa.Column("scheme_id", sa.String(64), nullable=False),
        sa.Column(
            "appointment_id",
            sa.String(64),
            sa.ForeignKey("appointments.id", name="fk_claims_appointment"),
        ),
        sa.Column("submitted_at", _instant(), nullable=False),
        sa.Column("record", _json(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        # THE claim rule: never two claims for one appointment, whatever the race.
        sa.UniqueConstraint("appointment_id", name="uq_claims_appointment_id"),
    )
    op.create_index("ix_claims_policy", "claims", ["policy_id", "submitted_at"])
    op.create_index("ix_claims_scheme", "claims", ["scheme_id", "submitted_at"])


def downgrade() -> None:
    op.drop_index("ix_claims_scheme", table_name="claims")
    op.drop_index("ix_claims_policy", table_name="claims")
    op.drop_table("claims")
    op.drop_index("ix_policies_patient", table_name="policies")
    op.drop_table("policies")
    op.drop_table("schemes")
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
            "(SELECT id FROM accounts WHERE role IN ('hospital_admin', 'insurer'))"
        )
    )
    op.execute(
        sa.text(
            "DELETE FROM one_time_secrets WHERE account_id IN "
            "(SELECT id FROM accounts WHERE role IN ('hospital_admin', 'insurer'))"
        )
    )
    op.execute(sa.text("DELETE FROM accounts WHERE role IN ('hospital_admin', 'insurer')"))
    _account_roles("'patient', 'doctor', 'admin'")
