"""Documents: the records of uploaded files (their bytes are in blob storage).

Revision ID: 0005_documents
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005_documents"
down_revision = "0004"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # Frozen copy of schema._instant()'s storage: timestamptz, or fixed-width UTC text.
    return sa.DateTime(timezone=True).with_variant(sa.CHAR(26), "sqlite")


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner_role", sa.String(16), nullable=False),
        sa.Column("owner_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("original_name", sa.Text, nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("blob_key", sa.Text, nullable=False),
        sa.Column("uploaded_by", sa.String(64), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column(
            "appointment_id",
            sa.String(64),
            sa.ForeignKey("appointments.id", name="fk_documents_appointment"),
        ),
        sa.Column("record_id", sa.String(64)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.UniqueConstraint("blob_key", name="uq_documents_blob_key"),
    )
    op.create_index(
        "ix_documents_owner_newest", "documents", ["owner_role", "owner_id", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_documents_owner_newest", table_name="documents")
    op.drop_table("documents")
