"""Clinical records, consents, the audit log of protected health information, and emergency
access (break-glass grants, emergency cards, the patients' blood group and health-ID index).

Revision ID: 0012_clinical_records
Revises: 0011_notification_preferences
Create Date: 2026-12-01

* ``medical_records``: one row per revision; the primary key ``(id, revision)`` refuses a
  second revision with the same number, so of two racing corrections one is kept;
* ``audit_log``: append-only. PostgreSQL: a row trigger raises on every UPDATE and DELETE
  (whatever the role: the application's role cannot change history; TRUNCATE needs the
  table's owner, which the application's role should not be, docs/records.md). SQLite:
  ``BEFORE UPDATE`` / ``BEFORE DELETE`` triggers that ``RAISE(ABORT)``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012_clinical_records"
down_revision = "0011_notification_preferences"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _instant() -> sa.types.TypeEngine[Any]:
    # As schema.UtcDateTime stores it: timestamptz, or fixed-width UTC text on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.CHAR(26), "sqlite")


_PG_FUNCTION = """
CREATE FUNCTION audit_log_is_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""

_PG_TRIGGER = """
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only()
"""

_SQLITE_TRIGGERS = (
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: UPDATE refused'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: DELETE refused'); END",
)


def upgrade() -> None:
    with op.batch_alter_table("patients") as batch:
        batch.add_column(sa.Column("blood_group", sa.String(3)))
    op.create_index("ix_patients_health_id", "patients", ["health_id"])
    op.create_table(
        "emergency_grants",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "patient_id",
            sa.String(64),
            sa.ForeignKey("patients.id", name="fk_emergency_grants_patient"),
            nullable=False,
        ),
        sa.Column("granted_at", _instant(), nullable=False),
        sa.Column("reviewed_at", _instant()),
        sa.Column("record", _json(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_emergency_grants_queue", "emergency_grants", ["reviewed_at", "granted_at", "id"]
    )
    op.create_table(
        "emergency_cards",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "patient_id",
            sa.String(64),
            sa.ForeignKey("patients.id", name="fk_emergency_cards_patient"),
            nullable=False,
        ),
        sa.Column("token_digest", sa.CHAR(64), nullable=False, unique=True),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("record", _json(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_emergency_cards_patient", "emergency_cards", ["patient_id", "created_at"])
    op.create_table(
        "medical_records",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True),
        sa.Column(
            "patient_id",
            sa.String(64),
            sa.ForeignKey("patients.id", name="fk_medical_records_patient"),
            nullable=False,
        ),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("body", _json(), nullable=False),
    )
    op.create_index(
        "ix_medical_records_patient", "medical_records", ["patient_id", "created_at", "id"]
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "patient_id",
            sa.String(64),
            sa.ForeignKey("patients.id", name="fk_consents_patient"),
            nullable=False,
        ),
        sa.Column("record", _json(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_consents_patient", "consents", ["patient_id", "id"])
    op.create_table(
        "audit_log",
        sa.Column(
            "sequence",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("at", _instant(), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("request_id", sa.Text),
        sa.Column("client_address", sa.Text),
        sa.Column("previous_hash", sa.CHAR(64), nullable=False),
        sa.Column("hash", sa.CHAR(64), nullable=False),
    )
    op.create_index("ix_audit_log_patient", "audit_log", ["patient_id", "sequence"])
    op.create_index("ix_audit_log_user", "audit_log", ["user_id", "sequence"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text(_PG_FUNCTION))
        op.execute(sa.text(_PG_TRIGGER))
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(sa.text(statement))


def downgrade() -> None:
    op.drop_index("ix_emergency_cards_patient", table_name="emergency_cards")
    op.drop_table("emergency_cards")
    op.drop_index("ix_emergency_grants_queue", table_name="emergency_grants")
    op.drop_table("emergency_grants")
    op.drop_index("ix_patients_health_id", table_name="patients")
    with op.batch_alter_table("patients") as batch:
        batch.drop_column("blood_group")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(sa.text("DROP TRIGGER audit_log_append_only ON audit_log"))
        op.execute(sa.text("DROP FUNCTION audit_log_is_append_only()"))
    op.drop_index("ix_audit_log_user", table_name="audit_log")
    op.drop_index("ix_audit_log_patient", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_consents_patient", table_name="consents")
    op.drop_table("consents")
    op.drop_index("ix_medical_records_patient", table_name="medical_records")
    op.drop_table("medical_records")
