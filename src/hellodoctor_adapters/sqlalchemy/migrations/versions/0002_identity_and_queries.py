"""Accounts, one-time secrets, refresh tokens, idempotency keys; search keys and keyset indexes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-16

Portable across both dialects. Doctors gain case-folded search keys and a ``doctor_languages``
table (filled here from the JSON column) because neither SQL's ``lower()`` (ASCII-only on
SQLite) nor JSON containment (case-sensitive) filters the way ``str.casefold`` does.

On a large live PostgreSQL table the three appointment indexes are built inside the migration's
transaction, which blocks writes to ``appointments`` meanwhile; build them first with
``CREATE INDEX CONCURRENTLY`` under the same names if that matters (``IF NOT EXISTS`` below).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # timestamptz on PostgreSQL; fixed-width UTC text on SQLite (compares like the instant).
    return sa.DateTime(timezone=True).with_variant(sa.CHAR(26), "sqlite")


def _keyset_indexes() -> None:
    # Keyset pages in (starts_at, id) order: "my appointments", a doctor's, and the admin list.
    # The patient index replaces 0001's (patient_id, starts_at), of which it is an extension.
    op.drop_index("ix_appointments_patient_starts_at", "appointments")
    for name, columns in (
        ("ix_appointments_patient_starts_at_id", ["patient_id", "starts_at", "id"]),
        ("ix_appointments_doctor_starts_at_id", ["doctor_id", "starts_at", "id"]),
        ("ix_appointments_starts_at_id", ["starts_at", "id"]),
    ):
        op.create_index(name, "appointments", columns, if_not_exists=True)


def _doctor_search_keys() -> None:
    # Server default only so existing rows can take the NOT NULL column; filled just below,
    # and always written by the adapter.
    op.add_column("doctors", sa.Column("name_key", sa.Text, nullable=False, server_default=""))
    op.add_column("doctors", sa.Column("specialty_key", sa.Text, nullable=False, server_default=""))
    op.create_table(
        "doctor_languages",
        sa.Column(
            "doctor_id",
            sa.String(64),
            sa.ForeignKey("doctors.id", name="fk_doctor_languages_doctor"),
            primary_key=True,
        ),
        sa.Column("language_key", sa.Text, primary_key=True),
    )
    # "Doctors who speak X, by id": an index-only range on both dialects.
    op.create_index(
        "ix_doctor_languages_language", "doctor_languages", ["language_key", "doctor_id"]
    )
    json = sa.JSON()
    doctors = sa.table(
        "doctors",
        sa.column("id", sa.String),
        sa.column("name", sa.Text),
        sa.column("specialty", sa.Text),
        sa.column("languages", json),
        sa.column("name_key", sa.Text),
        sa.column("specialty_key", sa.Text),
    )
    languages = sa.table(
        "doctor_languages", sa.column("doctor_id", sa.String), sa.column("language_key", sa.Text)
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(doctors.c.id, doctors.c.name, doctors.c.specialty, doctors.c.languages)
    ).all()
    for doctor_id, name, specialty, spoken in rows:
        connection.execute(
            sa.update(doctors)
            .where(doctors.c.id == doctor_id)
            .values(name_key=name.casefold(), specialty_key=specialty.casefold())
        )
        keys = sorted({language.casefold() for language in spoken})
        if keys:
            connection.execute(
                sa.insert(languages), [{"doctor_id": doctor_id, "language_key": k} for k in keys]
            )


def upgrade() -> None:
    _keyset_indexes()
    _doctor_search_keys()
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("email_key", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("password_hash", sa.Text),
        sa.Column(
            "patient_id", sa.String(64), sa.ForeignKey("patients.id", name="fk_accounts_patient")
        ),
        sa.Column(
            "doctor_id", sa.String(64), sa.ForeignKey("doctors.id", name="fk_accounts_doctor")
        ),
        sa.Column("totp_secret", sa.Text),
        sa.Column("totp_enabled", sa.Boolean, nullable=False),
        sa.Column("totp_last_step", sa.BigInteger, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
        # The adapter stores EmailAddress.lookup_key here: one account per address in any case,
        # decided by the database, identically on both dialects.
        sa.UniqueConstraint("email_key", name="uq_accounts_email_key"),
        sa.CheckConstraint("role IN ('patient', 'doctor', 'admin')", name="ck_accounts_role"),
    )
    op.create_table(
        "one_time_secrets",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "account_id",
            sa.String(64),
            sa.ForeignKey("accounts.id", name="fk_one_time_secrets_account"),
            nullable=False,
        ),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("expires_at", _instant(), nullable=False),
        sa.Column("attempts_left", sa.Integer, nullable=False),
        sa.Column("used_at", _instant()),
        sa.Column("version", sa.Integer, nullable=False),
    )
    # The latest secret of a purpose for an account.
    op.create_index(
        "ix_one_time_secrets_latest",
        "one_time_secrets",
        ["account_id", "purpose", "created_at", "id"],
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("family_id", sa.String(64), nullable=False),
        sa.Column(
            "account_id",
            sa.String(64),
            sa.ForeignKey("accounts.id", name="fk_refresh_tokens_account"),
            nullable=False,
        ),
        sa.Column("digest", sa.String(128), nullable=False),
        sa.Column("issued_at", _instant(), nullable=False),
        sa.Column("expires_at", _instant(), nullable=False),
        sa.Column("replaced_at", _instant()),
        sa.Column("revoked_at", _instant()),
        sa.Column("version", sa.Integer, nullable=False),
    )
    # Revoking a family or an account touches only tokens not yet revoked; revoked ones leave
    # these indexes, so they stay small as tokens pile up.
    for name, column in (
        ("ix_refresh_tokens_live_by_family", "family_id"),
        ("ix_refresh_tokens_live_by_account", "account_id"),
    ):
        op.create_index(
            name,
            "refresh_tokens",
            [column],
            postgresql_where=sa.text("revoked_at IS NULL"),
            sqlite_where=sa.text("revoked_at IS NULL"),
        )
    op.create_table(
        "idempotency_keys",
        # The primary key is the uniqueness rule: one request per (scope, key), decided by the
        # database, so two concurrent requests with one key cannot both take effect.
        sa.Column("scope", sa.Text, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column(
            "appointment_id",
            sa.String(64),
            sa.ForeignKey("appointments.id", name="fk_idempotency_keys_appointment"),
            nullable=False,
        ),
        sa.Column("created_at", _instant(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("refresh_tokens")
    op.drop_table("one_time_secrets")
    op.drop_table("accounts")
    op.drop_table("doctor_languages")
    op.drop_column("doctors", "specialty_key")
    op.drop_column("doctors", "name_key")
    op.drop_index("ix_appointments_starts_at_id", "appointments")
    op.drop_index("ix_appointments_doctor_starts_at_id", "appointments")
    op.drop_index("ix_appointments_patient_starts_at_id", "appointments")
    op.create_index(
        "ix_appointments_patient_starts_at", "appointments", ["patient_id", "starts_at"]
    )
