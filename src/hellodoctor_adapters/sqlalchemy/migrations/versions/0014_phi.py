"""Health data encrypted at rest (issue 14): docs/encryption.md.

Revision ID: 0014_phi
Revises: 0014_frontdesk
Create Date: 2026-12-02

* ``patients``: ``date_of_birth``, ``phone``, ``email``, ``health_id``, ``blood_group``,
  ``emergency_contacts`` and ``allergies`` become text, to hold sealed values
  (``phi1.<base64>``); ``health_id_index`` (the health ID's keyed HMAC, 64 hex characters)
  is added and indexed, and replaces the index on the health ID itself;
* ``patients.email`` and ``accounts.email`` become text (sealed); ``accounts.email_key`` keeps
  its unique constraint and now holds the address's blind index (a keyed HMAC of the
  case-folded address) — rows written before hold the plain case-folded address until a
  rewrap, and sign-in looks for either;
* ``medical_records.body`` becomes text (a revision's sealed JSON body);
* ``documents.original_name`` is text already.

PostgreSQL converts the columns' types (``USING column::text``: a date becomes
``YYYY-MM-DD``, JSON its text). SQLite's declared types only suggest an affinity and never
refuse text, so only the column and the index change there.

Data: the migration holds no key, so it encrypts nothing. Values written before it stay
readable as they are (the adapters read a value that is not sealed as plain text or JSON)
until ``hellodoctor keys rewrap`` seals them and fills the blind index: run it right after
this upgrade, as the runbook says (break-glass finds such a patient by health ID only
after it).

Downgrade restores the types only while no value is sealed (a sealed value does not cast
to a date or JSON): it is for a database that was never rewrapped.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014_phi"
down_revision = "0014_frontdesk"
branch_labels = None
depends_on = None

_PATIENT_COLUMNS = (
    "date_of_birth",
    "phone",
    "email",
    "health_id",
    "blood_group",
    "emergency_contacts",
    "allergies",
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.drop_index("ix_patients_health_id", table_name="patients")
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("health_id_index", sa.CHAR(64)))
    op.create_index("ix_patients_health_id_index", "patients", ["health_id_index"])
    if not postgres:
        return
    for column in _PATIENT_COLUMNS:
        op.alter_column("patients", column, type_=sa.Text(), postgresql_using=f"{column}::text")
    op.alter_column("medical_records", "body", type_=sa.Text(), postgresql_using="body::text")
    op.alter_column("accounts", "email", type_=sa.Text())


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.alter_column(
            "medical_records", "body", type_=postgresql.JSONB(), postgresql_using="body::jsonb"
        )
        op.alter_column("accounts", "email", type_=sa.String(254))
        back: dict[str, tuple[sa.types.TypeEngine[Any], str]] = {
            "date_of_birth": (sa.Date(), "date_of_birth::date"),
            "phone": (sa.String(64), "phone"),
            "email": (sa.String(254), "email"),
            "health_id": (sa.String(128), "health_id"),
            "blood_group": (sa.String(3), "blood_group"),
            "emergency_contacts": (postgresql.JSONB(), "emergency_contacts::jsonb"),
            "allergies": (postgresql.JSONB(), "allergies::jsonb"),
        }
        for column, (kind, using) in back.items():
            op.alter_column("patients", column, type_=kind, postgresql_using=using)
    op.drop_index("ix_patients_health_id_index", table_name="patients")
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("health_id_index")
    op.create_index("ix_patients_health_id", "patients", ["health_id"])
