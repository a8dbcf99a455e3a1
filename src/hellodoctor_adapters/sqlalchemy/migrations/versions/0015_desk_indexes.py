"""The front desk's look-ups of sealed patient fields: blind indexes of phone, e-mail, birth.

Revision ID: 0015_desk_indexes
Revises: 0014_analytics
Create Date: 2026-12-02

The front desk (0014_frontdesk) searches patients by phone, e-mail and date of birth; health
data sealed at rest (0014_phi) made those columns ciphertext, so equality is asked of keyed
HMACs beside them (``hellodoctor_adapters/phi.py``). Rows written before this revision get
theirs from ``hellodoctor keys rewrap``, which writes every blind index with the value it
seals (docs/encryption.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_desk_indexes"
down_revision = "0014_analytics"
branch_labels = None
depends_on = None

_COLUMNS = ("phone_index", "email_index", "birth_index")


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        for column in _COLUMNS:
            batch.add_column(sa.Column(column, sa.CHAR(64)))
    for column in _COLUMNS:
        op.create_index(f"ix_patients_{column}", "patients", [column])


def downgrade() -> None:
    for column in _COLUMNS:
        op.drop_index(f"ix_patients_{column}", table_name="patients")
    with op.batch_alter_table("patients") as batch:
        for column in _COLUMNS:
            batch.drop_column(column)
