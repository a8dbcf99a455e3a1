"""The waitlist's table (revision 0014_waitlist), on the shared metadata; ``schema.py``
gathers it. The columns the queries filter and order by are columns; the rest of an entry
(its days, window and offered time) is its ``record``."""

from __future__ import annotations

import sqlalchemy as sa

from hellodoctor_adapters.sqlalchemy.metadata import UtcDateTime, json_type, metadata

waitlist_entries = sa.Table(
    "waitlist_entries",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "patient_id",
        sa.String(64),
        sa.ForeignKey("patients.id", name="fk_waitlist_entries_patient"),
        nullable=False,
    ),
    sa.Column(
        "doctor_id",
        sa.String(64),
        sa.ForeignKey("doctors.id", name="fk_waitlist_entries_doctor"),
        nullable=False,
    ),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("joined_at", UtcDateTime, nullable=False),
    # The held appointment of the current offer (kept once closed: what was offered).
    sa.Column("offered_appointment_id", sa.String(64)),
    sa.Column("offer_expires_at", UtcDateTime),
    sa.Column("record", json_type(), nullable=False),
    # The compare-and-set that lets one of two racing offers land.
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index("ix_waitlist_entries_doctor_status_joined", "doctor_id", "status", "joined_at", "id"),
    sa.Index("ix_waitlist_entries_patient_joined", "patient_id", "joined_at", "id"),
    sa.Index("ix_waitlist_entries_status_offer_expires", "status", "offer_expires_at"),
    sa.Index("ix_waitlist_entries_offered_appointment", "offered_appointment_id"),
)
