"""Tables of reviews and doctors' ratings (revision 0009_reviews), on the shared metadata;
``schema.py`` gathers them."""

from __future__ import annotations

import sqlalchemy as sa

from hellodoctor_adapters.sqlalchemy.metadata import UtcDateTime, json_type, metadata

# One review per visit: uq_reviews_appointment_id decides racing reviews.
reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "appointment_id",
        sa.String(64),
        sa.ForeignKey("appointments.id", name="fk_reviews_appointment"),
        nullable=False,
        unique=True,
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
    sa.Column("written_at", UtcDateTime, nullable=False),
    sa.Column("visible", sa.Boolean, nullable=False),
    sa.Column("record", json_type(), nullable=False),  # the reply and the hiding
    sa.Column("version", sa.Integer, nullable=False),
)

# Each doctor's visible reviews: changed only by adding to the columns in one statement.
doctor_ratings = sa.Table(
    "doctor_ratings",
    metadata,
    sa.Column(
        "doctor_id",
        sa.String(64),
        sa.ForeignKey("doctors.id", name="fk_doctor_ratings_doctor"),
        primary_key=True,
    ),
    sa.Column("review_count", sa.Integer, nullable=False),
    sa.Column("rating_total", sa.Integer, nullable=False),
)
