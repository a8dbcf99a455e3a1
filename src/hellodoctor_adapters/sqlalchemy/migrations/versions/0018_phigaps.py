"""Gaps in health data sealed at rest, closed (docs/privacy.md, "Known gaps"; issue 14).

Revision ID: 0018_phigaps
Revises: 0017_discovery
Create Date: 2026-12-02

* ``notification_preferences.phone`` (where SMS go) becomes text, to hold a sealed value
  (``phi1.<base64>``, longer than the 16 characters of an E.164 number).

PostgreSQL converts the type (``USING phone::text``); SQLite's declared types never refuse
text, so nothing changes there. Data: the migration holds no key and encrypts nothing;
values written before it stay readable as they are (the adapters read a value that is not
sealed as plain text) until ``hellodoctor keys rewrap`` seals them: run it right after this
upgrade, as after 0014_phi.

Downgrade restores the type only while no value is sealed (a sealed value is longer than
16 characters): it is for a database that was never rewrapped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_phigaps"
down_revision = "0017_discovery"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column(
        "notification_preferences", "phone", type_=sa.Text(), postgresql_using="phone::text"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column("notification_preferences", "phone", type_=sa.String(16))
