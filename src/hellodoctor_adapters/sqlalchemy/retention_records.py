"""Retention of lapsed holds and unverified accounts on PostgreSQL and SQLite
(``ports/retention.py``; the kinds: ``model/retention.py``, docs/retention.md).

One transaction per purge: a bounded ``SELECT ... ORDER BY id LIMIT n FOR UPDATE`` (rows
locked on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` is one writer anyway), the rows owned by
what goes (idempotency keys of a hold; codes, refresh tokens, notification settings and the
calendar feed of an account), then the rows themselves with their condition repeated. What
*names* an appointment or a patient is found from the schema, not listed by hand: every
foreign key to ``appointments.id`` / ``patients.id`` and every ``appointment_id`` /
``patient_id`` column (the audit log's has no foreign key), and documents a patient owns. A
row any of those names is kept, so a table added later is covered."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hellodoctor_adapters.sqlalchemy.schema import (
    accounts,
    appointments,
    documents,
    idempotency_keys,
    metadata,
    patients,
)

_ACCOUNT_OWNED = (
    "one_time_secrets",
    "refresh_tokens",
    "notification_preferences",
    "calendar_feeds",
)


def _naming(target: sa.Table, column_name: str, skip: set[str]) -> list[sa.Column[Any]]:
    """Every column of another table that names a row of ``target``."""
    found = []
    for table in metadata.tables.values():
        if table.name in skip or table is target:
            continue
        for column in table.columns:
            by_key = any(fk.column.table is target for fk in column.foreign_keys)
            if by_key or column.name == column_name:
                found.append(column)
    return found


def _unnamed(target_id: Any, columns: list[sa.Column[Any]]) -> Any:
    return sa.and_(sa.true(), *(~sa.exists().where(column == target_id) for column in columns))


# -- holds -------------------------------------------------------------------------------------


def hold_older(before: Any) -> Any:
    """A hold that never became a booking and ended before ``before``: expired (measured from
    its expiry), or cancelled with a price while held (a priced hold is booked only by a
    payment, and one with a payment row is named by it, so kept)."""
    a = appointments.c
    return sa.and_(
        a.hold_expires_at.is_not(None),
        sa.or_(
            sa.and_(a.status == "expired", a.hold_expires_at < before),
            sa.and_(a.status == "cancelled", a.price_minor_units > 0, a.cancelled_at < before),
        ),
        _unnamed(a.id, _naming(appointments, "appointment_id", {idempotency_keys.name})),
    )


def count_holds(connection: Connection, before: Any) -> int:
    query = sa.select(sa.func.count()).select_from(appointments).where(hold_older(before))
    return int(connection.execute(query).scalar_one())


def purge_holds(connection: Connection, before: Any, limit: int) -> int:
    chosen = (
        sa.select(appointments.c.id)
        .where(hold_older(before))
        .order_by(appointments.c.id)
        .limit(limit)
        .with_for_update()
    )
    ids = list(connection.execute(chosen).scalars())
    if not ids:
        return 0
    connection.execute(
        sa.delete(idempotency_keys).where(idempotency_keys.c.appointment_id.in_(ids))
    )
    deleted = connection.execute(
        sa.delete(appointments).where(appointments.c.id.in_(ids), hold_older(before))
    ).rowcount
    return int(deleted)


# -- accounts ----------------------------------------------------------------------------------


def _profile_unnamed(patient_id: Any, *, but: set[str]) -> Any:
    columns = _naming(patients, "patient_id", but)
    owned = ~sa.exists().where(
        documents.c.owner_role == "patient", documents.c.owner_id == patient_id
    )
    return sa.and_(_unnamed(patient_id, columns), owned)


def account_older(before: Any) -> Any:
    """A patient's own registration never verified, made before ``before``, whose profile
    (if any) nothing else names, and that nothing but what it owns names."""
    c = accounts.c
    return sa.and_(
        c.role == "patient",
        c.status == "pending",
        c.password_hash.is_not(None),  # registered itself; invitations have no password
        c.created_at < before,
        sa.or_(c.patient_id.is_(None), _profile_unnamed(c.patient_id, but={accounts.name})),
        _unnamed(c.id, _naming(accounts, "account_id", set(_ACCOUNT_OWNED))),
    )


def count_accounts(connection: Connection, before: Any) -> int:
    query = sa.select(sa.func.count()).select_from(accounts).where(account_older(before))
    return int(connection.execute(query).scalar_one())


def purge_accounts(connection: Connection, before: Any, limit: int) -> int:
    chosen = (
        sa.select(accounts.c.id, accounts.c.patient_id)
        .where(account_older(before))
        .order_by(accounts.c.id)
        .limit(limit)
        .with_for_update()
    )
    rows = connection.execute(chosen).all()
    if not rows:
        return 0
    ids = [row.id for row in rows]
    for name in _ACCOUNT_OWNED:
        table = metadata.tables[name]
        connection.execute(sa.delete(table).where(table.c.account_id.in_(ids)))
    deleted = connection.execute(
        sa.delete(accounts).where(accounts.c.id.in_(ids), account_older(before))
    ).rowcount
    profiles = [row.patient_id for row in rows if row.patient_id is not None]
    if profiles:
        try:
            with connection.begin_nested():
                connection.execute(
                    sa.delete(patients).where(
                        patients.c.id.in_(profiles), _profile_unnamed(patients.c.id, but=set())
                    )
                )
        except sa.exc.IntegrityError:
            pass  # named a moment ago (a desk booking): the profile stays, the account went
    return int(deleted)
