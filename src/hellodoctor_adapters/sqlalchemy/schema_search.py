"""Tables of the doctor search (revision 0014_search), on the shared metadata; ``schema.py``
gathers them. The free-text indexes live only in the migration: on PostgreSQL a GIN index on
``to_tsvector('simple', name || ' ' || specialty || ' ' || qualifications)`` (no column: the
query repeats the expression), on SQLite the FTS5 table ``doctor_text`` kept by triggers."""

from __future__ import annotations

import sqlalchemy as sa

from hellodoctor_adapters.sqlalchemy.metadata import UtcDateTime, metadata

# The insurance schemes a doctor accepts.
doctor_schemes = sa.Table(
    "doctor_schemes",
    metadata,
    sa.Column(
        "doctor_id",
        sa.String(64),
        sa.ForeignKey("doctors.id", name="fk_doctor_schemes_doctor"),
        primary_key=True,
    ),
    sa.Column("scheme_id", sa.String(64), primary_key=True),
)

# Each doctor's maintained next free slot (null: none within the horizon) ...
doctor_free_slots = sa.Table(
    "doctor_free_slots",
    metadata,
    sa.Column(
        "doctor_id",
        sa.String(64),
        sa.ForeignKey("doctors.id", name="fk_doctor_free_slots_doctor"),
        primary_key=True,
    ),
    sa.Column("computed_at", UtcDateTime, nullable=False),
    sa.Column("next_free_at", UtcDateTime),
)

# ... and the local dates with a free slot, replaced with it.
doctor_free_days = sa.Table(
    "doctor_free_days",
    metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column(
        "doctor_id",
        sa.String(64),
        sa.ForeignKey("doctors.id", name="fk_doctor_free_days_doctor"),
        primary_key=True,
    ),
)

# Columns the migrations make on PostgreSQL only, outside the metadata: the stored free-text
# vector (0017_discovery); the schema test leaves them out.
FREE_TEXT_COLUMNS = frozenset({("doctors", "search_document")})

# Tables the migration makes that the metadata does not declare (SQLite's FTS5 table and
# the tables FTS5 keeps its index in): the schema test leaves them out.
FREE_TEXT_TABLES = frozenset(
    {
        "doctor_text",
        "doctor_text_data",
        "doctor_text_idx",
        "doctor_text_content",
        "doctor_text_docsize",
        "doctor_text_config",
    }
)
