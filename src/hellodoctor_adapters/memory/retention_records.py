"""Retention of lapsed holds and unverified accounts on the in-memory reference storage
(``ports/retention.py``; the kinds' definitions: ``model/retention.py``, docs/retention.md).

What names an appointment or a patient is found by looking at every table of the store for a
value whose ``appointment_id`` / ``patient_id`` (or a document's owner) is that id, so a table
added later is covered without a change here."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import attrs

from hellodoctor_adapters.memory.store import InMemoryStore
from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.documents import Document
from hellodoctor_domain.model.values import Role

# Tables purged with their owner, never a reason to keep it.
_OWNED_BY_HOLD = ("idempotency",)
_OWNED_BY_ACCOUNT = (
    "one_time_secrets",
    "refresh_tokens",
    "notification_preferences",
    "calendar_feeds",
)


def hold_ended(appointment: Appointment) -> datetime | None:
    """When a hold that never became a booking ended (``None``: not such a hold)."""
    if appointment.hold_expires_at is None:
        return None
    if appointment.status is AppointmentStatus.EXPIRED:
        return appointment.hold_expires_at
    if (
        appointment.status is AppointmentStatus.CANCELLED
        and appointment.cancellation is not None
        and not appointment.price.is_zero  # a priced hold is booked only by a payment
    ):
        return appointment.cancellation.at
    return None


def unverified_since(account: Account) -> datetime | None:
    """When a patient registered an account never verified (``None``: not such an account)."""
    if (
        account.role is Role.PATIENT
        and account.status is AccountStatus.PENDING
        and account.password_hash is not None  # registered itself (invitations have none)
    ):
        return account.created_at
    return None


def _rows(store: InMemoryStore, skip: tuple[str, ...]) -> Iterator[object]:
    for table in attrs.fields(InMemoryStore):
        if table.name in skip:
            continue
        value = getattr(store, table.name)
        if attrs.has(type(value)):  # a group of tables (the rooms)
            for inner in attrs.fields(type(value)):
                yield from _values(getattr(value, inner.name))
        else:
            yield from _values(value)


def _values(table: object) -> Iterator[object]:
    if isinstance(table, dict):
        yield from table.values()
    elif isinstance(table, list):
        yield from table


def _names(row: object, field: str, value: str) -> bool:
    inner = getattr(row, "entry", row)  # the audit log's sealed entries
    named = getattr(inner, field, None)
    if named is not None and getattr(named, "value", named) == value:
        return True
    if field == "patient_id" and isinstance(row, Document):
        return row.owner.role is Role.PATIENT and row.owner.profile_id == value
    return False


class MemoryRecordRetention:
    """Lapsed holds and unverified accounts (``memory/retention.py`` delegates to it)."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    # -- holds -------------------------------------------------------------------------------

    def _holds(self, before: datetime) -> list[Appointment]:
        chosen = []
        for appointment in self._store.appointments.values():
            ended = hold_ended(appointment)
            if ended is not None and ended < before:
                chosen.append(appointment)
        if not chosen:
            return []
        skip = ("appointments", "outbox", *_OWNED_BY_HOLD)
        named = {
            a.id
            for row in _rows(self._store, skip)
            for a in chosen
            if _names(row, "appointment_id", a.id.value)
        }
        return sorted((a for a in chosen if a.id not in named), key=lambda a: a.id.value)

    def count_holds(self, before: datetime) -> int:
        with self._store.lock:
            return len(self._holds(before))

    def purge_holds(self, before: datetime, limit: int) -> int:
        with self._store.lock:
            chosen = self._holds(before)[:limit]
            gone = {a.id for a in chosen}
            for key, record in list(self._store.idempotency.items()):
                if record.appointment_id in gone:
                    del self._store.idempotency[key]
            for appointment_id in gone:
                del self._store.appointments[appointment_id]
            return len(chosen)

    # -- accounts ----------------------------------------------------------------------------

    def _accounts(self, before: datetime) -> list[Account]:
        chosen = []
        for account in self._store.accounts.values():
            since = unverified_since(account)
            if since is None or since >= before:
                continue
            if account.patient_id is not None:
                skip = ("patients", "accounts", *_OWNED_BY_ACCOUNT)
                pid = account.patient_id.value
                if any(_names(row, "patient_id", pid) for row in _rows(self._store, skip)):
                    continue  # the profile is in use: kept whole
            chosen.append(account)
        return sorted(chosen, key=lambda a: a.id.value)

    def count_accounts(self, before: datetime) -> int:
        with self._store.lock:
            return len(self._accounts(before))

    def purge_accounts(self, before: datetime, limit: int) -> int:
        with self._store.lock:
            chosen = self._accounts(before)[:limit]
            gone = {a.id for a in chosen}
            for name in ("one_time_secrets", "refresh_tokens"):
                table = getattr(self._store, name)
                for key, row in list(table.items()):
                    if row.account_id in gone:
                        del table[key]
            for account in chosen:
                self._store.notification_preferences.pop(account.id, None)
                self._store.calendar_feeds.pop(account.id, None)
                del self._store.accounts[account.id]
                if account.patient_id is not None:
                    self._store.patients.pop(account.patient_id, None)
            return len(chosen)
