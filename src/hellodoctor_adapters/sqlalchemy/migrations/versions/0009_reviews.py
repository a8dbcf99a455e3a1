"""Reviews of visits and each doctor's rating.

Revision ID: 0009_reviews
Revises: 0008_hospitals
Create Date: 2026-12-01

* ``uq_reviews_appointment_id``: one review per visit, whatever the race;
* ``doctor_ratings``: each review adds to its doctor's row in one ``INSERT ... ON CONFLICT DO
  UPDATE SET review_count = review_count + 1, ...`` statement, so concurrent reviews add up
  exactly; ``ck_doctor_ratings_not_negative`` keeps a withdrawal from going below zero.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009_reviews"
down_revision = "0008_hospitals"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _instant() -> sa.types.TypeEngine[Any]:
    # As schema.UtcDateTime stores it: timestamptz, or fixed-width UTC text on SQLite.
    return sa.DateTime(timezone=True).with_variant(sa.CHAR(26), "sqlite")


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "appointment_id",
            sa.String(64),
            sa.ForeignKey("appointments.id", name="fk_reviews_appointment"),
            nullable=False,
        ),
        sa.Column(
            "doctor_id",
            sa.String(64),
            sa.ForeignKey("doctors.id", name="fk_reviews_doctor"),
            nullable=False,
        ),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("rating", sa.SmallInteger, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("written_at", _instant(), nullable=False),
        sa.Column("visible", sa.Boolean, nullable=False),
        sa.Column("record", _json(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        # THE review rule: never two reviews of one visit.
        sa.UniqueConstraint("appointment_id", name="uq_reviews_appointment_id"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="ck_reviews_rating"),
    )
    # A doctor's page of reviews, newest first, by keyset.
    op.create_index("ix_reviews_doctor", "reviews", ["doctor_id", "written_at", "id"])
    op.create_table(
        "doctor_ratings",
        sa.Column(
            "doctor_id",
            sa.String(64),
            sa.ForeignKey("doctors.id", name="fk_doctor_ratings_doctor"),
            primary_key=True,
        ),
        sa.Column("review_count", sa.Integer, nullable=False),
        sa.Column("rating_total", sa.Integer, nullable=False),
        sa.CheckConstraint(
            "review_count >= 0 AND rating_total >= 0", name="ck_doctor_ratings_not_negative"
        ),
    )


def downgrade() -> None:
    op.drop_table("doctor_ratings")
    op.drop_index("ix_reviews_doctor", table_name="reviews")
    op.drop_table("reviews")
