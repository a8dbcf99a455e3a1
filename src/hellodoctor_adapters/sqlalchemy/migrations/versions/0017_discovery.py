"""The doctor search sorts by rating through an index: a stored average on ``doctors``.

Revision ID: 0017_discovery
Revises: 0016_clinicday
Create Date: 2026-12-02

Until now the rating sort computed ``rating_total / review_count`` of ``doctor_ratings`` for
every doctor and sorted them all (10 times slower at 10^5 doctors than at 10^3). The rating
ledger now writes the average to ``doctors.rating_average`` in the review's transaction (0:
no visible review, as the search has always counted it), and ``ix_doctors_rating``
(``rating_average DESC, id``) gives the rating sort and its keyset pages in index order.
Existing ratings are copied over here.

On PostgreSQL the free text gets a stored vector: ``doctors.search_document``, a generated
column of the very expression 0014_search indexed, under the GIN index ``ix_doctors_document``
(replacing the expression index ``ix_doctors_text``). The match's recheck and ``ts_rank``
read it instead of parsing each matching doctor's text again. Not declared in the shared
metadata (SQLite has no such column: its FTS5 table does this job).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_discovery"
down_revision = "0016_clinicday"
branch_labels = None
depends_on = None

# As 0014_search indexed it.
_PG_DOCUMENT = (
    "to_tsvector('simple'::regconfig, name || ' ' || specialty || ' ' || qualifications::text)"
)


def upgrade() -> None:
    op.add_column(
        "doctors", sa.Column("rating_average", sa.Float, nullable=False, server_default="0")
    )
    op.execute(
        "UPDATE doctors SET rating_average = ("
        "SELECT CAST(r.rating_total AS FLOAT) / r.review_count FROM doctor_ratings r "
        "WHERE r.doctor_id = doctors.id) "
        "WHERE id IN (SELECT doctor_id FROM doctor_ratings WHERE review_count > 0)"
    )
    op.create_index(
        "ix_doctors_rating", "doctors", [sa.text("rating_average DESC"), "id"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"ALTER TABLE doctors ADD COLUMN search_document tsvector "
            f"GENERATED ALWAYS AS ({_PG_DOCUMENT}) STORED"
        )
        op.execute("CREATE INDEX ix_doctors_document ON doctors USING gin (search_document)")
        op.execute("DROP INDEX ix_doctors_text")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_doctors_text ON doctors USING gin ({_PG_DOCUMENT})")
        op.execute("DROP INDEX ix_doctors_document")
        op.execute("ALTER TABLE doctors DROP COLUMN search_document")
    op.drop_index("ix_doctors_rating", table_name="doctors")
    # Not a batch: SQLite would rebuild ``doctors`` and lose the free-text triggers of 0014.
    op.execute("ALTER TABLE doctors DROP COLUMN rating_average")
