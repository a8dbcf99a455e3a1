"""Payments, their refunds, the wallet ledger with its balances, processed webhook events.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

Portable across both dialects: every rule is a plain constraint both enforce in the writing
statement --

* ``ck_wallet_balances_not_negative``: a wallet's balance row is changed by one upsert
  (``balance = balance + :delta``) in the transaction that inserts the entry; the database
  refuses the one that would overdraw it, whatever the number of writers;
* the primary key of ``wallet_entries`` (the reference): an operation is applied once;
* ``uq_payments_appointment_id``: one payment per appointment;
* the primary key of ``processed_webhook_events``: an event has one effect.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _instant() -> sa.types.TypeEngine[Any]:
    # timestamptz on PostgreSQL; fixed-width UTC text on SQLite (compares like the instant).
    return sa.DateTime(timezone=True).with_variant(sa.CHAR(26), "sqlite")


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column(
            "patient_id",
            sa.String(64),
            sa.ForeignKey("patients.id", name="fk_payments_patient"),
            nullable=False,
        ),
        sa.Column(
            "appointment_id",
            sa.String(64),
            sa.ForeignKey("appointments.id", name="fk_payments_appointment"),
        ),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("amount_minor_units", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("wallet_part_minor_units", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("updated_at", _instant(), nullable=False),
        sa.Column("provider_reference", sa.Text),
        sa.Column("succeeded_at", _instant()),
        sa.Column("failure", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        # One payment per appointment; NULL (a top-up) may repeat on both dialects.
        sa.UniqueConstraint("appointment_id", name="uq_payments_appointment_id"),
        sa.CheckConstraint("amount_minor_units > 0", name="ck_payments_amount_positive"),
        sa.CheckConstraint(
            "wallet_part_minor_units >= 0 AND wallet_part_minor_units <= amount_minor_units",
            name="ck_payments_wallet_part",
        ),
    )
    # A patient's history and the admin listing, newest first, keyset pages.
    op.create_index("ix_payments_patient_created", "payments", ["patient_id", "created_at", "id"])
    op.create_index("ix_payments_created", "payments", ["created_at", "id"])
    op.create_table(
        "payment_refunds",
        sa.Column(
            "payment_id",
            sa.String(64),
            sa.ForeignKey("payments.id", name="fk_payment_refunds_payment"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("card_minor_units", sa.BigInteger, nullable=False),
        sa.Column("wallet_minor_units", sa.BigInteger, nullable=False),
        sa.Column("recorded_at", _instant(), nullable=False),
        sa.Column("provider_reference", sa.Text),
        sa.UniqueConstraint("payment_id", "key", name="uq_payment_refunds_payment_key"),
        sa.CheckConstraint(
            "card_minor_units >= 0 AND wallet_minor_units >= 0", name="ck_payment_refunds_parts"
        ),
    )
    # The refund worker: only refunds whose card part the gateway has not accepted yet.
    op.create_index(
        "ix_payment_refunds_unsettled",
        "payment_refunds",
        ["payment_id"],
        postgresql_where=sa.text("card_minor_units > 0 AND provider_reference IS NULL"),
        sqlite_where=sa.text("card_minor_units > 0 AND provider_reference IS NULL"),
    )
    op.create_table(
        "wallet_balances",
        sa.Column(
            "patient_id",
            sa.String(64),
            sa.ForeignKey("patients.id", name="fk_wallet_balances_patient"),
            primary_key=True,
        ),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("balance", sa.BigInteger, nullable=False),
        # THE ledger rule, decided by the database on every change of the balance.
        sa.CheckConstraint("balance >= 0", name="ck_wallet_balances_not_negative"),
    )
    op.create_table(
        "wallet_entries",
        sa.Column("reference", sa.Text, primary_key=True),
        sa.Column(
            "patient_id",
            sa.String(64),
            sa.ForeignKey("patients.id", name="fk_wallet_entries_patient"),
            nullable=False,
        ),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount_minor_units", sa.BigInteger, nullable=False),
        sa.Column("recorded_at", _instant(), nullable=False),
        sa.Column(
            "payment_id",
            sa.String(64),
            sa.ForeignKey("payments.id", name="fk_wallet_entries_payment"),
        ),
        sa.CheckConstraint("amount_minor_units <> 0", name="ck_wallet_entries_moves_money"),
    )
    # A wallet's ledger, oldest first.
    op.create_index(
        "ix_wallet_entries_wallet",
        "wallet_entries",
        ["patient_id", "currency", "recorded_at", "reference"],
    )
    op.create_table(
        "processed_webhook_events",
        # The primary key is the rule: a replayed event cannot be recorded twice.
        sa.Column("provider", sa.String(32), primary_key=True),
        sa.Column("event_id", sa.Text, primary_key=True),
        sa.Column("processed_at", _instant(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("processed_webhook_events")
    op.drop_table("wallet_entries")
    op.drop_table("wallet_balances")
    op.drop_table("payment_refunds")
    op.drop_table("payments")
