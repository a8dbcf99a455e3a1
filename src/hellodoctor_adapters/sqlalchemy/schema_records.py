"""Tables of clinical records, consents, the audit log and emergency access (revision
0012_clinical_records), on the shared metadata; ``schema.py`` gathers them."""

from __future__ import annotations

import sqlalchemy as sa

from hellodoctor_adapters.sqlalchemy.metadata import UtcDateTime, json_type, metadata

# Clinical records (``sqlalchemy/records.py``): one row per revision, the primary key
# (id, revision) refusing a second revision with the same number; read and written whole.
medical_records = sa.Table(
    "medical_records",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("revision", sa.Integer, primary_key=True),
    sa.Column(
        "patient_id",
        sa.String(64),
        sa.ForeignKey("patients.id", name="fk_medical_records_patient"),
        nullable=False,
    ),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("body", sa.Text, nullable=False),  # sealed JSON (0014_phi)
)

consents = sa.Table(
    "consents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "patient_id",
        sa.String(64),
        sa.ForeignKey("patients.id", name="fk_consents_patient"),
        nullable=False,
    ),
    sa.Column("record", json_type(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

# Append-only: triggers refuse UPDATE and DELETE (migration 0012); each row is sealed into
# a hash chain (``model/audit.py``). ``patient_id`` has no foreign key: a refused attempt on
# an id that names nobody is audited too.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column(
        "sequence",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("patient_id", sa.Text, nullable=False),  # any id asked for (refusals too)
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("request_id", sa.Text),
    sa.Column("client_address", sa.Text),
    sa.Column("previous_hash", sa.CHAR(64), nullable=False),
    sa.Column("hash", sa.CHAR(64), nullable=False),
)

# Break-glass grants: read and written whole; ``reviewed_at`` and ``granted_at`` beside the
# record for the admins' review queue.
emergency_grants = sa.Table(
    "emergency_grants",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "patient_id",
        sa.String(64),
        sa.ForeignKey("patients.id", name="fk_emergency_grants_patient"),
        nullable=False,
    ),
    sa.Column("granted_at", UtcDateTime, nullable=False),
    sa.Column("reviewed_at", UtcDateTime),
    sa.Column("record", json_type(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

# Emergency cards: only the token's SHA-256 is kept (unique: one card per token).
emergency_cards = sa.Table(
    "emergency_cards",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "patient_id",
        sa.String(64),
        sa.ForeignKey("patients.id", name="fk_emergency_cards_patient"),
        nullable=False,
    ),
    sa.Column("token_digest", sa.CHAR(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("record", json_type(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)
