"""Tables, as SQLAlchemy Core metadata: the adapter maps rows to domain objects by hand
(``rows.py``), so the domain classes never learn about SQLAlchemy.

This metadata is what the queries are written against. The schema itself is created only by the
Alembic history in ``migrations/`` (which also owns the constraints that enforce no overlap:
PostgreSQL exclusion constraints, SQLite triggers); ``tests`` check the two agree.
"""

from __future__ import annotations

import sqlalchemy as sa

# Re-exported: the repositories and the tests import the shared types and metadata from here.
from hellodoctor_adapters.sqlalchemy.metadata import UtcDateTime as UtcDateTime
from hellodoctor_adapters.sqlalchemy.metadata import json_type as json_type
from hellodoctor_adapters.sqlalchemy.metadata import metadata as metadata
from hellodoctor_adapters.sqlalchemy.schema_notifications import (
    calendar_feeds,
    notification_preferences,
)
from hellodoctor_adapters.sqlalchemy.schema_records import audit_log as audit_log
from hellodoctor_adapters.sqlalchemy.schema_records import consents as consents
from hellodoctor_adapters.sqlalchemy.schema_records import emergency_cards as emergency_cards
from hellodoctor_adapters.sqlalchemy.schema_records import emergency_grants as emergency_grants
from hellodoctor_adapters.sqlalchemy.schema_records import medical_records as medical_records
from hellodoctor_adapters.sqlalchemy.schema_reviews import doctor_ratings as doctor_ratings
from hellodoctor_adapters.sqlalchemy.schema_reviews import reviews as reviews
from hellodoctor_adapters.sqlalchemy.schema_search import doctor_free_days as doctor_free_days
from hellodoctor_adapters.sqlalchemy.schema_search import doctor_free_slots as doctor_free_slots
from hellodoctor_adapters.sqlalchemy.schema_search import doctor_schemes as doctor_schemes
from hellodoctor_adapters.sqlalchemy.schema_waitlist import waitlist_entries as waitlist_entries

# Statuses that occupy time; mirrors ``hellodoctor_domain.appointment.ACTIVE_STATUSES`` and is
# frozen into the constraints by the migrations.
ACTIVE_STATUS_VALUES = ("held", "booked")

doctors = sa.Table(
    "doctors",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("specialty", sa.Text, nullable=False),
    sa.Column("registration_number", sa.String(64), nullable=False, unique=True),
    sa.Column("fee_minor_units", sa.BigInteger, nullable=False),
    sa.Column("fee_currency", sa.String(3), nullable=False),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("qualifications", json_type(), nullable=False),
    sa.Column("languages", json_type(), nullable=False),
    sa.Column("email", sa.String(254)),
    sa.Column("accepting_bookings", sa.Boolean, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # Case-folded copies for the search filters (str.casefold, like the reference): SQL's
    # lower() folds only ASCII on SQLite and follows the collation on PostgreSQL.
    sa.Column("name_key", sa.Text, nullable=False),
    sa.Column("specialty_key", sa.Text, nullable=False),
    # The average of visible reviews (0: none), kept with doctor_ratings by the rating ledger
    # in the review's transaction, so the search sorts by an index (migration 0017_discovery).
    sa.Column("rating_average", sa.Float, nullable=False, server_default="0"),
)
# The rating sort and minimum-rating filter walk this index (highest first, ties by id).
sa.Index("ix_doctors_rating", doctors.c.rating_average.desc(), doctors.c.id)

# One row per language a doctor speaks, case-folded, so "speaks X" is an indexed equality on
# both dialects (the JSON column keeps the languages as written, in order, for reading).
doctor_languages = sa.Table(
    "doctor_languages",
    metadata,
    sa.Column(
        "doctor_id",
        sa.String(64),
        sa.ForeignKey("doctors.id", name="fk_doctor_languages_doctor"),
        primary_key=True,
    ),
    sa.Column("language_key", sa.Text, primary_key=True),
)

patients = sa.Table(
    "patients",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    # Health data sealed as text (hellodoctor_adapters/phi.py, migration 0014_phi).
    sa.Column("date_of_birth", sa.Text),
    sa.Column("phone", sa.Text),
    sa.Column("email", sa.Text),
    sa.Column("health_id", sa.Text),
    sa.Column("emergency_contacts", sa.Text, nullable=False),
    sa.Column("allergies", sa.Text, nullable=False),
    sa.Column("blood_group", sa.Text),  # migration 0012
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("language", sa.String(35)),  # 0013_clinic_day
    sa.Column("time_zone", sa.String(64)),
    sa.Column("health_id_index", sa.CHAR(64)),  # 0014_phi: the health ID's blind index
    # 0015_desk_indexes: the front desk's look-ups of sealed fields (hellodoctor_adapters/phi.py).
    sa.Column("phone_index", sa.CHAR(64), index=True),
    sa.Column("email_index", sa.CHAR(64), index=True),
    sa.Column("birth_index", sa.CHAR(64), index=True),
    sa.Column("walk_in_claim", sa.Text),  # 0016_clinicday: a walk-in's claim code (JSON)
)

availability = sa.Table(
    "availability",
    metadata,
    sa.Column(
        "doctor_id",
        sa.String(64),
        sa.ForeignKey("doctors.id", name="fk_availability_doctor"),
        primary_key=True,
    ),
    # Hours, exceptions and rules change together and are always read whole: one document.
    sa.Column("document", json_type(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

appointments = sa.Table(
    "appointments",
    metadata,
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
    sa.Column("starts_at", UtcDateTime, nullable=False),
    sa.Column("ends_at", UtcDateTime, nullable=False),
    # ends_at + buffer: the end of the doctor's time this appointment occupies. Stored (not
    # computed) so the constraints and indexes can use it directly; the buffer is derived.
    sa.Column("blocked_until", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("price_minor_units", sa.BigInteger, nullable=False),
    sa.Column("price_currency", sa.String(3), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("appointment_type", sa.String(16), nullable=False),
    sa.Column("visit_kind", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("hold_expires_at", UtcDateTime),
    sa.Column("cancelled_by", sa.String(16)),
    sa.Column("cancelled_by_user", sa.String(64)),
    sa.Column("cancellation_reason", sa.Text),
    sa.Column("cancelled_at", UtcDateTime),
    sa.Column("refund_minor_units", sa.BigInteger),
    sa.Column("refund_currency", sa.String(3)),
    sa.Column("version", sa.Integer, nullable=False),
    # Where the visit happens (migration 0010): the hospital of the doctor's window, or NULL.
    sa.Column("hospital_id", sa.String(64)),
    # The clinic's day (0013_clinic_day): arrival, called in, seen.
    sa.Column("arrived_at", UtcDateTime),
    sa.Column("consultation_started_at", UtcDateTime),
    sa.Column("completed_at", UtcDateTime),
    # The recurring series it belongs to (0014_series), or NULL.
    sa.Column("series_id", sa.String(64)),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("aggregate_type", sa.String(32), nullable=False),  # "appointment", "payment", ...
    sa.Column("aggregate_id", sa.String(64), nullable=False),
    sa.Column("occurred_at", UtcDateTime, nullable=False),
    sa.Column("payload", json_type(), nullable=False),
    # Set by a relay once delivered; the partial index over NULLs keeps "what is pending" cheap.
    sa.Column("published_at", UtcDateTime),
    # Delivery state (revision 0006, sqlalchemy/delivery.py): failed tries, the lease a relay
    # holds, when to try again, and when it was given up (a dead letter) with the last error.
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("leased_until", UtcDateTime),
    sa.Column("retry_at", UtcDateTime),
    sa.Column("dead_at", UtcDateTime),
    sa.Column("last_error", sa.Text),
)

# What each consumer has handled (its inbox): one row per consumer and outbox entry.
inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("consumer", sa.String(64), primary_key=True),
    sa.Column("entry_id", sa.String(128), primary_key=True),
    sa.Column("leased_until", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime),
)

accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("email", sa.Text, nullable=False),  # sealed (0014_phi)
    # EmailAddress.lookup_key, under a unique constraint: one account per address, in any case.
    # The address's blind index (0014_phi; the plain case-folded address before it).
    sa.Column("email_key", sa.Text, nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("password_hash", sa.Text),
    sa.Column(
        "patient_id", sa.String(64), sa.ForeignKey("patients.id", name="fk_accounts_patient")
    ),
    sa.Column("doctor_id", sa.String(64), sa.ForeignKey("doctors.id", name="fk_accounts_doctor")),
    sa.Column("totp_secret", sa.Text),
    sa.Column("totp_enabled", sa.Boolean, nullable=False),
    sa.Column("totp_last_step", sa.BigInteger, nullable=True),
    sa.Column("version", sa.Integer, nullable=False),
)

one_time_secrets = sa.Table(
    "one_time_secrets",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "account_id",
        sa.String(64),
        sa.ForeignKey("accounts.id", name="fk_one_time_secrets_account"),
        nullable=False,
    ),
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("digest", sa.String(128), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("attempts_left", sa.Integer, nullable=False),
    sa.Column("used_at", UtcDateTime),
    sa.Column("version", sa.Integer, nullable=False),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("family_id", sa.String(64), nullable=False),
    sa.Column(
        "account_id",
        sa.String(64),
        sa.ForeignKey("accounts.id", name="fk_refresh_tokens_account"),
        nullable=False,
    ),
    sa.Column("digest", sa.String(128), nullable=False),
    sa.Column("issued_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("replaced_at", UtcDateTime),
    sa.Column("revoked_at", UtcDateTime),
    sa.Column("version", sa.Integer, nullable=False),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column(
        "appointment_id",
        sa.String(64),
        sa.ForeignKey("appointments.id", name="fk_idempotency_keys_appointment"),
        nullable=False,
    ),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

# -- payments (revision 0003) -------------------------------------------------------------------

payments = sa.Table(
    "payments",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column(
        "patient_id",
        sa.String(64),
        sa.ForeignKey("patients.id", name="fk_payments_patient"),
        nullable=False,
    ),
    # Unique (uq_payments_appointment_id, in the migration): one payment per appointment.
    sa.Column(
        "appointment_id",
        sa.String(64),
        sa.ForeignKey("appointments.id", name="fk_payments_appointment"),
    ),
    sa.Column("method", sa.String(16), nullable=False),
    sa.Column("amount_minor_units", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("wallet_part_minor_units", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("provider_reference", sa.Text),
    sa.Column("succeeded_at", UtcDateTime),
    sa.Column("failure", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # An offline payment the front desk took: how (cash, card terminal) and by whom (0014).
    sa.Column("collected_via", sa.String(16)),
    sa.Column("collected_by", sa.String(64)),
)

# Refunds of a payment, in the order they were recorded; only ever appended (the card part's
# provider reference is filled in once the gateway accepts it).
payment_refunds = sa.Table(
    "payment_refunds",
    metadata,
    sa.Column(
        "payment_id",
        sa.String(64),
        sa.ForeignKey("payments.id", name="fk_payment_refunds_payment"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("card_minor_units", sa.BigInteger, nullable=False),
    sa.Column("wallet_minor_units", sa.BigInteger, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Column("provider_reference", sa.Text),
)

# One row per wallet: the balance the database keeps, under CHECK (balance >= 0), changed in
# the transaction that inserts the entry.
wallet_balances = sa.Table(
    "wallet_balances",
    metadata,
    sa.Column(
        "patient_id",
        sa.String(64),
        sa.ForeignKey("patients.id", name="fk_wallet_balances_patient"),
        primary_key=True,
    ),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("balance", sa.BigInteger, nullable=False),
)

wallet_entries = sa.Table(
    "wallet_entries",
    metadata,
    sa.Column("reference", sa.Text, primary_key=True),  # replaying an operation adds nothing
    sa.Column(
        "patient_id",
        sa.String(64),
        sa.ForeignKey("patients.id", name="fk_wallet_entries_patient"),
        nullable=False,
    ),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("amount_minor_units", sa.BigInteger, nullable=False),
    sa.Column("recorded_at", UtcDateTime, nullable=False),
    sa.Column(
        "payment_id", sa.String(64), sa.ForeignKey("payments.id", name="fk_wallet_entries_payment")
    ),
)

processed_webhook_events = sa.Table(
    "processed_webhook_events",
    metadata,
    sa.Column("provider", sa.String(32), primary_key=True),
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("processed_at", UtcDateTime, nullable=False),
)

# Room tickets are kept by digest only; ``used_at`` is set by one conditional UPDATE.
room_tickets = sa.Table(
    "room_tickets",
    metadata,
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column(
        "appointment_id",
        sa.String(64),
        sa.ForeignKey("appointments.id", name="fk_room_tickets_appointment"),
        nullable=False,
    ),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("seat", sa.String(16), nullable=False),
    sa.Column("issued_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),
)

room_attendance = sa.Table(
    "room_attendance",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column(
        "appointment_id",
        sa.String(64),
        sa.ForeignKey("appointments.id", name="fk_room_attendance_appointment"),
        nullable=False,
        index=True,
    ),
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("seat", sa.String(16), nullable=False),
    sa.Column("presence", sa.String(16), nullable=False),
    sa.Column("at", UtcDateTime, nullable=False),
)

# -- documents (revision 0005_documents) --------------------------------------------------------

# The record of a stored file; its bytes are in blob storage under ``blob_key``. The owner is a
# patient's or a doctor's profile (``owner_role``), hence no foreign key on ``owner_id``.
documents = sa.Table(
    "documents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("owner_role", sa.String(16), nullable=False),
    sa.Column("owner_id", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("original_name", sa.Text, nullable=False),
    sa.Column("media_type", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("blob_key", sa.Text, nullable=False),
    sa.Column("uploaded_by", sa.String(64), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column(
        "appointment_id",
        sa.String(64),
        sa.ForeignKey("appointments.id", name="fk_documents_appointment"),
    ),
    sa.Column("record_id", sa.String(64)),
    sa.Column("version", sa.Integer, nullable=False),
    sa.UniqueConstraint("blob_key", name="uq_documents_blob_key"),
    sa.Index("ix_documents_owner_newest", "owner_role", "owner_id", "created_at", "id"),
)


# The profile is read and written whole (``hospital_records``); beside it what a constraint or
# a query needs.
hospitals = sa.Table(
    "hospitals",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("registration_number", sa.String(64), nullable=False, unique=True),
    sa.Column("city_key", sa.Text, nullable=False),  # str.casefold of the city, for the filter
    sa.Column("profile", json_type(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

# One row per (hospital, ward, bed type): CHECK (0 <= occupied <= capacity), named
# ck_ward_beds_within_capacity in the migration, decides every admission race.
ward_beds = sa.Table(
    "ward_beds",
    metadata,
    sa.Column(
        "hospital_id",
        sa.String(64),
        sa.ForeignKey("hospitals.id", name="fk_ward_beds_hospital"),
        primary_key=True,
    ),
    sa.Column("ward_code", sa.String(64), primary_key=True),
    sa.Column("bed_type", sa.String(16), primary_key=True),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("occupied", sa.Integer, nullable=False),
)

# A transfer is read and written whole (``hospital_records``); its hospitals are columns, for
# each hospital's list.
transfers = sa.Table(
    "transfers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "from_hospital_id",
        sa.String(64),
        sa.ForeignKey("hospitals.id", name="fk_transfers_from_hospital"),
        nullable=False,
    ),
    sa.Column(
        "to_hospital_id",
        sa.String(64),
        sa.ForeignKey("hospitals.id", name="fk_transfers_to_hospital"),
        nullable=False,
    ),
    sa.Column("requested_at", UtcDateTime, nullable=False),
    sa.Column("record", json_type(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

# Patients' stays (migration 0010): the record whole as JSON, beside it what the lists need.
admissions = sa.Table(
    "admissions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "hospital_id",
        sa.String(64),
        sa.ForeignKey("hospitals.id", name="fk_admissions_hospital"),
        nullable=False,
    ),
    sa.Column(
        "patient_id",
        sa.String(64),
        sa.ForeignKey("patients.id", name="fk_admissions_patient"),
        nullable=False,
    ),
    sa.Column("admitted_at", UtcDateTime, nullable=False),
    sa.Column("record", json_type(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Index("ix_admissions_hospital", "hospital_id", "admitted_at"),
    sa.Index("ix_admissions_patient", "patient_id", "admitted_at"),
)

# Insurance: each aggregate is read and written whole as a JSON record (``insurance_records``);
# beside it what a constraint or query needs.
schemes = sa.Table(
    "schemes",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("record", json_type(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

policies = sa.Table(
    "policies",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "patient_id",
        sa.String(64),
        sa.ForeignKey("patients.id", name="fk_policies_patient"),
        nullable=False,
    ),
    sa.Column(
        "scheme_id",
        sa.String(64),
        sa.ForeignKey("schemes.id", name="fk_policies_scheme"),
        nullable=False,
    ),
    sa.Column("record", json_type(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

# One claim per appointment: uq_claims_appointment_id (NULLs, hospitals' claims for a stay,
# are distinct).
claims = sa.Table(
    "claims",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "policy_id",
        sa.String(64),
        sa.ForeignKey("policies.id", name="fk_claims_policy"),
        nullable=False,
    ),
    sa.Column("scheme_id", sa.String(64), nullable=False),
    sa.Column(
        "appointment_id",
        sa.String(64),
        sa.ForeignKey("appointments.id", name="fk_claims_appointment"),
        unique=True,
    ),
    sa.Column("submitted_at", UtcDateTime, nullable=False),
    sa.Column("record", json_type(), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

# Children before parents: the order ``provision.empty_tables`` deletes in.
ALL_TABLES = (
    waitlist_entries,
    doctor_free_days,
    doctor_free_slots,
    doctor_schemes,
    doctor_ratings,
    reviews,
    notification_preferences,
    calendar_feeds,
    emergency_cards,
    emergency_grants,
    audit_log,
    consents,
    medical_records,
    room_attendance,
    room_tickets,
    documents,
    inbox,
    claims,
    policies,
    schemes,
    admissions,
    transfers,
    ward_beds,
    hospitals,
    processed_webhook_events,
    wallet_entries,
    wallet_balances,
    payment_refunds,
    payments,
    idempotency_keys,
    refresh_tokens,
    one_time_secrets,
    accounts,
    outbox,
    appointments,
    availability,
    doctor_languages,
    patients,
    doctors,
)
