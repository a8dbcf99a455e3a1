"""Analytics (issue 16): indexes the revenue report reads by.

Revision ID: 0014_analytics
Revises: 0014_search
Create Date: 2026-12-02

(A doctor's or a hospital's revenue reaches payments from the doctors' appointments through
``uq_payments_appointment_id``, which 0003 already made.)

* ``ix_payments_succeeded``: the platform's revenue by the day payments succeeded;
* ``ix_payment_refunds_recorded``: refunds by the day they were recorded.
"""

from __future__ import annotations

from alembic import op

revision = "0014_analytics"
down_revision = "0014_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_payments_succeeded", "payments", ["succeeded_at"])
    op.create_index("ix_payment_refunds_recorded", "payment_refunds", ["recorded_at"])


def downgrade() -> None:
    op.drop_index("ix_payment_refunds_recorded", "payment_refunds")
    op.drop_index("ix_payments_succeeded", "payments")
