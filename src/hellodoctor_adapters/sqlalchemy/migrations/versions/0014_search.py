"""The doctor search (issue 16).

Revision ID: 0014_search
Revises: 0014_waitlist
Create Date: 2026-12-02

* ``doctor_schemes``: the insurance schemes each doctor accepts;
* ``doctor_free_slots`` and ``doctor_free_days``: each doctor's maintained next free slot and
  the local dates with one (docs/search.md);
* free text over name, specialty and qualifications: on PostgreSQL a GIN index on the
  ``simple`` tsvector of the three (an expression index: the query repeats the expression);
  on SQLite an FTS5 table ``doctor_text`` (``doctor_id`` unindexed, ``body``) kept in step
  with ``doctors`` by triggers. Not an external-content table: ``doctors`` has a text key, and
  VACUUM may renumber the rowids such a table would point at.
* indexes for the sorts: ``doctors (fee_minor_units, id)``, ``doctor_free_slots
  (next_free_at, doctor_id)``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014_search"
down_revision = "0014_waitlist"
branch_labels = None
depends_on = None

# Repeated verbatim by hellodoctor_adapters/sqlalchemy/search.py (the index is used only when
# the query's expression is the same).
PG_DOCUMENT = (
    "to_tsvector('simple'::regconfig, name || ' ' || specialty || ' ' || qualifications::text)"
)

_SQLITE_BODY = "new.name || ' ' || new.specialty || ' ' || new.qualifications"
_SQLITE_TRIGGERS = (
    "CREATE TRIGGER doctor_text_insert AFTER INSERT ON doctors BEGIN "
    f"INSERT INTO doctor_text (doctor_id, body) VALUES (new.id, {_SQLITE_BODY}); END",
    "CREATE TRIGGER doctor_text_update AFTER UPDATE OF name, specialty, qualifications "
    "ON doctors BEGIN "
    "DELETE FROM doctor_text WHERE doctor_id = old.id; "
    f"INSERT INTO doctor_text (doctor_id, body) VALUES (new.id, {_SQLITE_BODY}); END",
    "CREATE TRIGGER doctor_text_delete AFTER DELETE ON doctors BEGIN "
    "DELETE FROM doctor_text WHERE doctor_id = old.id; END",
)


def _instant() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True).with_variant(sa.CHAR(26), "sqlite")


def upgrade() -> None:
    op.create_table(
        "doctor_schemes",
        sa.Column(
            "doctor_id",
            sa.String(64),
            sa.ForeignKey("doctors.id", name="fk_doctor_schemes_doctor"),
            primary_key=True,
        ),
        sa.Column("scheme_id", sa.String(64), primary_key=True),
    )
    op.create_index("ix_doctor_schemes_scheme", "doctor_schemes", ["scheme_id", "doctor_id"])
    op.create_table(
        "doctor_free_slots",
        sa.Column(
            "doctor_id",
            sa.String(64),
            sa.ForeignKey("doctors.id", name="fk_doctor_free_slots_doctor"),
            primary_key=True,
        ),
        sa.Column("computed_at", _instant(), nullable=False),
        sa.Column("next_free_at", _instant()),
    )
    op.create_index("ix_doctor_free_slots_next", "doctor_free_slots", ["next_free_at", "doctor_id"])
    op.create_index("ix_doctor_free_slots_computed", "doctor_free_slots", ["computed_at"])
    op.create_table(
        "doctor_free_days",
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column(
            "doctor_id",
            sa.String(64),
            sa.ForeignKey("doctors.id", name="fk_doctor_free_days_doctor"),
            primary_key=True,
        ),
    )
    op.create_index("ix_doctor_free_days_doctor", "doctor_free_days", ["doctor_id"])
    op.create_index("ix_doctors_fee", "doctors", ["fee_minor_units", "id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_doctors_text ON doctors USING gin ({PG_DOCUMENT})")
    else:
        op.execute(
            "CREATE VIRTUAL TABLE doctor_text USING fts5("
            "doctor_id UNINDEXED, body, tokenize = 'unicode61 remove_diacritics 0')"
        )
        for trigger in _SQLITE_TRIGGERS:
            op.execute(trigger)
        op.execute(
            "INSERT INTO doctor_text (doctor_id, body) "
            "SELECT id, name || ' ' || specialty || ' ' || qualifications FROM doctors"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_doctors_text")
    else:
        for name in ("doctor_text_delete", "doctor_text_update", "doctor_text_insert"):
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE doctor_text")
    op.drop_index("ix_doctors_fee", "doctors")
    op.drop_table("doctor_free_days")
    op.drop_table("doctor_free_slots")
    op.drop_table("doctor_schemes")
