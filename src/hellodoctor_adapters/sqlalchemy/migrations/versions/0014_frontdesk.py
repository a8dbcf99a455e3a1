"""The front desk (issue 17, item 4): receptionists and payments collected at the clinic.

Revision ID: 0014_frontdesk
Revises: 0014_series
Create Date: 2026-12-02

* ``ck_accounts_role`` admits ``receptionist`` (the hospital's profile, a JSON column, lists
  its receptionists: no column for them);
* ``payments.collected_via`` (``cash``, ``card_terminal``) and ``payments.collected_by`` (the
  account that took the money; when is ``succeeded_at``): an offline payment collected at
  the desk.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_frontdesk"
down_revision = "0014_series"
branch_labels = None
depends_on = None


def _account_roles(roles: str) -> None:
    # Batch mode: SQLite cannot change a CHECK in place, so it copies the table.
    with op.batch_alter_table("accounts") as batch:
        batch.drop_constraint("ck_accounts_role", type_="check")
        batch.create_check_constraint("ck_accounts_role", f"role IN ({roles})")


def upgrade() -> None:
    _account_roles("'patient', 'doctor', 'admin', 'hospital_admin', 'insurer', 'receptionist'")
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("collected_via", sa.String(16)))
        batch.add_column(sa.Column("collected_by", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("collected_by")
        batch.drop_column("collected_via")
    # Receptionists' accounts cannot be kept by the older schema.
    for table in (
        "refresh_tokens",
        "one_time_secrets",
        "notification_preferences",
        "calendar_feeds",
    ):
        op.execute(
            sa.text(
                f"DELETE FROM {table} WHERE account_id IN "
                "(SELECT id FROM accounts WHERE role = 'receptionist')"
            )
        )
    op.execute(sa.text("DELETE FROM accounts WHERE role = 'receptionist'"))
    _account_roles("'patient', 'doctor', 'admin', 'hospital_admin', 'insurer'")
