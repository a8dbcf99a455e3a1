"""Doctors, patients, availability, appointments with the no-overlap guarantee, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-05-09

One history for both dialects: the tables are portable, and the guarantee is built per dialect
(see ``_no_overlap_postgresql`` and ``_no_overlap_sqlite``). Column types are spelled out here
rather than imported from the application, so later code changes never rewrite history.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ACTIVE = "('held', 'booked')"


def _instant() -> sa.types.TypeEngine[Any]:
    # timestamptz on PostgreSQL; fixed-width UTC text on SQLite (compares like the instant).
    return sa.DateTime(timezone=True).with_variant(sa.CHAR(26), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "doctors",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("specialty", sa.Text, nullable=False),
        sa.Column("registration_number", sa.String(64), nullable=False),
        sa.Column("fee_minor_units", sa.BigInteger, nullable=False),
        sa.Column("fee_currency", sa.String(3), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("qualifications", _json(), nullable=False),
        sa.Column("languages", _json(), nullable=False),
        sa.Column("email", sa.String(254)),
        sa.Column("accepting_bookings", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.UniqueConstraint("registration_number", name="uq_doctors_registration_number"),
    )
    op.create_table(
        "patients",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("date_of_birth", sa.Date),
        sa.Column("phone", sa.String(64)),
        sa.Column("email", sa.String(254)),
        sa.Column("health_id", sa.String(128)),
        sa.Column("emergency_contacts", _json(), nullable=False),
        sa.Column("allergies", _json(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "availability",
        sa.Column(
            "doctor_id",
            sa.String(64),
            sa.ForeignKey("doctors.id", name="fk_availability_doctor"),
            primary_key=True,
        ),
        sa.Column("document", _json(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "appointments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "doctor_id",
            sa.String(64),
            sa.ForeignKey("doctors.id", name="fk_appointments_doctor"),
            nullable=False,
        ),
        sa.Column(
            "patient_id",
            sa.String(64),
            sa.ForeignKey("patients.id", name="fk_appointments_patient"),
            nullable=False,
        ),
        sa.Column("starts_at", _instant(), nullable=False),
        sa.Column("ends_at", _instant(), nullable=False),
        sa.Column("blocked_until", _instant(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("price_minor_units", sa.BigInteger, nullable=False),
        sa.Column("price_currency", sa.String(3), nullable=False),
        sa.Column("created_at", _instant(), nullable=False),
        sa.Column("appointment_type", sa.String(16), nullable=False),
        sa.Column("visit_kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("hold_expires_at", _instant()),
        sa.Column("cancelled_by", sa.String(16)),
        sa.Column("cancelled_by_user", sa.String(64)),
        sa.Column("cancellation_reason", sa.Text),
        sa.Column("cancelled_at", _instant()),
        sa.Column("refund_minor_units", sa.BigInteger),
        sa.Column("refund_currency", sa.String(3)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name="ck_appointments_positive_length"),
        sa.CheckConstraint("blocked_until >= ends_at", name="ck_appointments_buffer_after"),
        sa.CheckConstraint(
            "status IN ('held', 'booked', 'completed', 'no_show', 'cancelled', 'expired')",
            name="ck_appointments_status",
        ),
    )
    # Free-slot listing: a doctor's appointments whose blocked range reaches past the start of
    # the listed period. Keyed on blocked_until (not starts_at) so the scan starts at the
    # period and runs forward over at most the booking horizon, never over the past.
    op.create_index(
        "ix_appointments_doctor_blocked_until", "appointments", ["doctor_id", "blocked_until"]
    )
    # "My appointments": one patient's, in order.
    op.create_index(
        "ix_appointments_patient_starts_at", "appointments", ["patient_id", "starts_at"]
    )
    # The hold-expiry worker: only held rows are indexed, so the index stays small.
    op.create_index(
        "ix_appointments_lapsed_holds",
        "appointments",
        ["hold_expires_at"],
        postgresql_where=sa.text("status = 'held'"),
        sqlite_where=sa.text("status = 'held'"),
    )
    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("appointment_id", sa.String(64), nullable=False),
        sa.Column("occurred_at", _instant(), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("published_at", _instant()),
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
        sqlite_where=sa.text("published_at IS NULL"),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _no_overlap_postgresql()
    elif dialect == "sqlite":
        _no_overlap_sqlite()
    else:
        raise NotImplementedError(f"no overlap guarantee written for {dialect}")


def _no_overlap_postgresql() -> None:
    """Two exclusion constraints over active rows: no two active appointments of one doctor
    whose [start, end + buffer) ranges intersect, and none of one patient whose [start, end)
    ranges intersect. ``btree_gist`` lets the GiST index compare the id with ``=``. PostgreSQL
    checks these under concurrency itself (a second inserter waits for the first to commit or
    roll back, then fails with 23P01), so any number of processes or hosts is covered."""
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(
        "ALTER TABLE appointments ADD CONSTRAINT appointments_doctor_no_overlap "
        "EXCLUDE USING gist (doctor_id WITH =, tstzrange(starts_at, blocked_until, '[)') WITH &&) "
        f"WHERE (status IN {ACTIVE})"
    )
    op.execute(
        "ALTER TABLE appointments ADD CONSTRAINT appointments_patient_no_overlap "
        "EXCLUDE USING gist (patient_id WITH =, tstzrange(starts_at, ends_at, '[)') WITH &&) "
        f"WHERE (status IN {ACTIVE})"
    )


# The same predicate as the exclusion constraints, as one trigger body per event.
_SQLITE_CHECKS = f"""
    SELECT RAISE(ABORT, 'slot_unavailable: appointments_doctor_no_overlap')
    WHERE EXISTS (
        SELECT 1 FROM appointments
        WHERE doctor_id = NEW.doctor_id AND id <> NEW.id AND status IN {ACTIVE}
          AND blocked_until > NEW.starts_at AND starts_at < NEW.blocked_until
    );
    SELECT RAISE(ABORT, 'slot_unavailable: appointments_patient_no_overlap')
    WHERE EXISTS (
        SELECT 1 FROM appointments
        WHERE patient_id = NEW.patient_id AND id <> NEW.id AND status IN {ACTIVE}
          AND starts_at < NEW.ends_at AND ends_at > NEW.starts_at
    );
"""


def _no_overlap_sqlite() -> None:
    """SQLite has no exclusion constraints, so the same rule is a BEFORE trigger that aborts
    the writing statement.

    Why this holds across processes and connections: SQLite lets one connection write at a
    time (the database-wide write lock), and in WAL mode a transaction may only take that lock
    if its snapshot is the latest commit (otherwise SQLITE_BUSY_SNAPSHOT). So when the trigger
    runs, inside the INSERT/UPDATE that holds the lock, it sees every committed appointment and
    nothing can commit until this transaction ends: check and write are one atomic step, for
    this application and for any other client writing to the file.

    Why not claimed time cells under a UNIQUE index: cells need a fixed granularity, but
    appointment times and buffers are arbitrary instants, so cells would either refuse
    non-overlapping neighbours (coarse cells) or cost a row per minute of every visit.

    The adapter opens every unit of work with BEGIN IMMEDIATE so that writers queue on the lock
    (busy timeout) instead of failing with SQLITE_BUSY_SNAPSHOT after having read.
    """
    op.execute(
        "CREATE TRIGGER appointments_no_overlap_on_insert BEFORE INSERT ON appointments "
        f"WHEN NEW.status IN {ACTIVE} BEGIN {_SQLITE_CHECKS} END"
    )
    op.execute(
        "CREATE TRIGGER appointments_no_overlap_on_update "
        "BEFORE UPDATE OF doctor_id, patient_id, starts_at, ends_at, blocked_until, status "
        f"ON appointments WHEN NEW.status IN {ACTIVE} BEGIN {_SQLITE_CHECKS} END"
    )


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("appointments")
    op.drop_table("availability")
    op.drop_table("patients")
    op.drop_table("doctors")
