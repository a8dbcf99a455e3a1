"""Payments, the wallet ledger and processed webhook events over MongoDB.

A payment is buffered like the profiles (``store.Profiles``); its instants are stored exactly,
as integer microseconds (``documents.py``). A wallet is one document per ``(patient,
currency)``; what a unit of work appends to it is applied as one conditional single-document
write (``WalletWrite``) that can neither overdraw the wallet nor apply a reference twice.

Write order for money: debits go before any other write of the unit of work, credits after all
of them (``uow.py``). A crash in between can leave a patient short for a while, repaired by
``MongoStore.repair_wallets`` (``repair.py``), never credit money whose cause was not written
(docs/mongodb.md).

A ledger reference found taken is ``AlreadyExists``, unless this unit of work read the entry's
payment before another changed it: then it is taken because the read was stale (two
cancellations of one appointment credit one refund), and the answer is ``ConcurrencyError``, so
the use case re-reads and decides again instead of reporting a duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from attrs import define, evolve
from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from hellodoctor_adapters.mongodb.documents import (
    LIVE_PAYMENT,
    Document,
    entry_document,
    entry_from_document,
    floor_ms,
    payment_document,
    payment_from_document,
    to_micros,
    wallet_key,
)
from hellodoctor_adapters.mongodb.store import (
    AGGREGATE_COLLECTIONS,
    MongoStore,
    Profiles,
    Undo,
    translated,
    undo_delete,
)
from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError, InsufficientFunds
from hellodoctor_domain.model.payments import Payment, PaymentId, WalletEntry
from hellodoctor_domain.model.values import AppointmentId, Money, PatientId
from hellodoctor_domain.ports.payments import (
    PaymentQuery,
    PaymentRepository,
    ProcessedWebhookEvents,
    WalletLedger,
)

log = logging.getLogger(__name__)


def _payment_matches(query: PaymentQuery, payment: Payment) -> bool:
    return (
        (query.patient_id is None or payment.patient_id == query.patient_id)
        and (query.statuses is None or payment.status in query.statuses)
        and (query.purpose is None or payment.purpose is query.purpose)
        and (query.method is None or payment.method is query.method)
        and (query.before is None or (payment.created_at, payment.id) < query.before)
    )


class MongoPaymentRepository(Profiles[Payment], PaymentRepository):
    """Buffered like the profiles: inserts under the unique ``_id`` and the unique (sparse)
    ``appointment_id`` index, updates a compare-and-set on ``version``, both at commit. A
    ``_void`` document is a fence left by ``MongoStore.repair_wallets`` (see docs/mongodb.md):
    it keeps the id taken and is invisible to every read."""

    kind = Payment
    label = "payment"
    aggregate_type = "payment"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, AGGREGATE_COLLECTIONS[self.aggregate_type])
        # The stored version of each payment this unit of work read (last read wins).
        self._versions_read: dict[str, int] = {}

    def _document(self, value: Payment) -> Document:
        return payment_document(value)

    def _from_document(self, document: Document) -> Payment:
        payment = payment_from_document(document)
        self._versions_read[payment.id.value] = payment.version
        return payment

    def changed_since_read(self, payment_id: PaymentId) -> bool:
        """Whether another unit of work changed the payment since this one read it."""
        read = self._versions_read.get(payment_id.value)
        if read is None:
            return False
        document = self._collection.find_one({"_id": payment_id.value}, {"version": 1})
        return document is None or document["version"] != read

    def _current(self, key: str) -> Payment | None:
        change = self.pending.get(key)
        if change is not None:
            return evolve(change.value)
        document = self._read(key)
        if document is None or "_void" in document:
            return None
        return self._from_document(document)

    @translated
    def _add(self, payment: Payment) -> None:
        if payment.appointment_id is not None and self._for_appointment(payment.appointment_id):
            raise AlreadyExists(f"appointment {payment.appointment_id} has a payment")
        self._stage_add(payment)  # fails fast; the unique indexes decide at commit

    @translated
    def _get(self, payment_id: PaymentId) -> Payment:
        return self._find(payment_id.value)

    @translated
    def _update(self, payment: Payment) -> None:
        self._stage_update(payment)

    @translated
    def _for_appointment(self, appointment_id: AppointmentId) -> Payment | None:
        for change in self.pending.values():
            if change.value.appointment_id == appointment_id:
                return evolve(change.value)
        document = self._collection.find_one({"appointment_id": appointment_id.value})
        if document is None or "_void" in document or document["_id"] in self.pending:
            return None
        return self._from_document(document)

    def _overlaid(self, documents: Any, keep: Callable[[Payment], bool]) -> list[Payment]:
        found = {document["_id"]: self._from_document(document) for document in documents}
        for key, change in self.pending.items():
            found.pop(key, None)
            if keep(change.value):
                found[key] = evolve(change.value)
        return list(found.values())

    @translated
    def _search(self, query: PaymentQuery) -> list[Payment]:
        conditions: Document = dict(LIVE_PAYMENT)
        if query.patient_id is not None:
            conditions["patient_id"] = query.patient_id.value
        if query.statuses is not None:
            conditions["status"] = {"$in": [status.value for status in query.statuses]}
        if query.purpose is not None:
            conditions["purpose"] = query.purpose.value
        if query.method is not None:
            conditions["method"] = query.method.value
        if query.before is not None:
            created, last_id = query.before
            micros = to_micros(created)
            conditions["created_us"] = {"$lte": micros}
            conditions["$or"] = [
                {"created_us": {"$lt": micros}},
                {"_id": {"$lt": last_id.value}},
            ]
        cursor = (
            self._collection.find(conditions)
            .sort([("created_us", DESCENDING), ("_id", DESCENDING)])
            .limit(query.limit + len(self.pending))
        )
        found = self._overlaid(cursor, lambda payment: _payment_matches(query, payment))
        found.sort(key=lambda payment: (payment.created_at, payment.id), reverse=True)
        return found[: query.limit]

    @translated
    def _with_unsettled_refunds(self, limit: int) -> list[Payment]:
        cursor = (
            self._collection.find({"_unsettled": True, **LIVE_PAYMENT})
            .sort([("updated_us", ASCENDING), ("_id", ASCENDING)])
            .limit(limit + len(self.pending))
        )
        found = self._overlaid(cursor, lambda payment: bool(payment.unsettled_refunds))
        found.sort(key=lambda payment: (payment.updated_at, payment.id))
        return found[:limit]


@define(frozen=True)
class WalletWrite:
    """What one unit of work appends to one wallet, applied as ONE conditional single-document
    write: the balance must reach ``need`` (so that, entries taken in order, it never dips
    below zero), none of the references may be there, and the append and ``$inc`` happen
    together. A unique index on ``entries.reference`` keeps references unique across wallets."""

    key: Document
    entries: tuple[WalletEntry, ...]

    @property
    def delta(self) -> int:
        return sum(entry.amount.minor_units for entry in self.entries)

    @property
    def need(self) -> int:
        running, lowest = 0, 0
        for entry in self.entries:
            running += entry.amount.minor_units
            lowest = min(lowest, running)
        return -lowest

    @property
    def references(self) -> list[str]:
        return [entry.reference for entry in self.entries]


def apply_wallet_write(wallets: Collection[Document], write: WalletWrite) -> Undo:
    """Apply ``write`` atomically or raise ``AlreadyExists`` / ``InsufficientFunds``; returns
    how to take it back."""
    references = write.references
    conditions: Document = {"_id": write.key, "entries.reference": {"$nin": references}}
    if write.need:
        conditions["balance"] = {"$gte": write.need}
    change = {
        "$inc": {"balance": write.delta},
        "$push": {"entries": {"$each": [entry_document(entry) for entry in write.entries]}},
    }
    # Only a write that never needs money may create the wallet (a missing wallet holds 0);
    # if two create it at once, the loser finds it on its second try.
    for upsert in (write.need == 0, False):
        try:
            result = wallets.update_one(conditions, change, upsert=upsert)
        except DuplicateKeyError as error:
            if wallets.find_one({"entries.reference": {"$in": references}}, {"_id": 1}):
                raise AlreadyExists(f"wallet entry {references} exists") from error
            continue
        if result.matched_count or result.upserted_id is not None:
            return _undo_wallet_write(wallets, write)
        break
    if wallets.find_one({"entries.reference": {"$in": references}}, {"_id": 1}):
        raise AlreadyExists(f"wallet entry {references} exists")
    raise InsufficientFunds(f"the wallet of {write.key['p']} holds too little for {references}")


def _undo_wallet_write(wallets: Collection[Document], write: WalletWrite) -> Undo:
    def undo() -> None:
        # Only while every entry is still there (a repair may have taken back an orphaned
        # debit already), and never into the red: a credit someone spent meanwhile stays.
        conditions: Document = {"_id": write.key, "entries.reference": {"$all": write.references}}
        if write.delta > 0:
            conditions["balance"] = {"$gte": write.delta}
        taken = wallets.update_one(
            conditions,
            {
                "$inc": {"balance": -write.delta},
                "$pull": {"entries": {"reference": {"$in": write.references}}},
            },
        )
        if not taken.matched_count:
            log.warning("could not take back wallet entries %s", write.references)

    return undo


class MongoWalletLedger(WalletLedger):
    """A wallet document per ``(patient, currency)``: ``{_id: {p, c}, balance, entries: [...]}``.
    Appends are buffered and applied at commit, one conditional ``update_one`` per wallet
    (``WalletWrite``): debits before any other write of the unit of work, credits after all
    of them (docs/mongodb.md says why). Reads here fail fast only."""

    def __init__(self, store: MongoStore, payments: MongoPaymentRepository) -> None:
        self._wallets = store.collection("wallets")
        self._payments = payments
        self.pending: list[WalletEntry] = []

    def _stored(self, patient_id: PatientId, currency: str) -> Document | None:
        return self._wallets.find_one({"_id": wallet_key(patient_id, currency)})

    @translated
    def append(self, entry: WalletEntry) -> None:
        if self.by_reference(entry.reference) is not None:
            if entry.payment_id is not None and self._payments.changed_since_read(
                entry.payment_id
            ):  # a concurrent writer of the same payment got there first (module docstring)
                raise ConcurrencyError(f"payment {entry.payment_id} changed since it was read")
            raise AlreadyExists(f"wallet entry {entry.reference} exists")
        after = self.balance(entry.patient_id, entry.amount.currency) + entry.amount
        if after.minor_units < 0:
            raise InsufficientFunds(
                f"the wallet of {entry.patient_id} holds too little for {entry.reference}"
            )
        self.pending.append(entry)

    def _pending_of(self, patient_id: PatientId, currency: str) -> list[WalletEntry]:
        return [
            entry
            for entry in self.pending
            if entry.patient_id == patient_id and entry.amount.currency == currency
        ]

    @translated
    def balance(self, patient_id: PatientId, currency: str) -> Money:
        stored = self._stored(patient_id, currency)
        held = 0 if stored is None else stored["balance"]
        pending = sum(e.amount.minor_units for e in self._pending_of(patient_id, currency))
        return Money(held + pending, currency)

    @translated
    def entries(self, patient_id: PatientId, currency: str) -> list[WalletEntry]:
        stored = self._stored(patient_id, currency)
        found = (
            [] if stored is None else [entry_from_document(stored, e) for e in stored["entries"]]
        )
        found.extend(self._pending_of(patient_id, currency))
        return sorted(found, key=lambda e: (e.recorded_at, e.reference))

    @translated
    def by_reference(self, reference: str) -> WalletEntry | None:
        for entry in self.pending:
            if entry.reference == reference:
                return entry
        stored = self._wallets.find_one({"entries.reference": reference})
        if stored is None:
            return None
        return next(
            entry_from_document(stored, e) for e in stored["entries"] if e["reference"] == reference
        )

    def _writes(self) -> list[WalletWrite]:
        by_wallet: dict[tuple[str, str], list[WalletEntry]] = {}
        for entry in self.pending:
            by_wallet.setdefault((entry.patient_id.value, entry.amount.currency), []).append(entry)
        return [
            WalletWrite(wallet_key(PatientId(p), c), tuple(entries))
            for (p, c), entries in by_wallet.items()
        ]

    def flush_debits(self, undo: list[Undo]) -> None:
        for write in self._writes():
            if write.delta < 0:
                undo.append(apply_wallet_write(self._wallets, write))

    def flush_credits(self, undo: list[Undo]) -> None:
        for write in self._writes():
            if write.delta >= 0:
                undo.append(apply_wallet_write(self._wallets, write))


class MongoProcessedWebhookEvents(ProcessedWebhookEvents):
    """``processed_events`` keyed ``{_id: {p: provider, e: event_id}}``: the unique ``_id``
    decides at commit."""

    def __init__(self, store: MongoStore) -> None:
        self._collection = store.collection("processed_events")
        self.pending: dict[tuple[str, str], datetime] = {}

    @translated
    def add(self, provider: str, event_id: str, processed_at: datetime) -> None:
        if self.contains(provider, event_id):  # fails fast; the unique _id decides at commit
            raise AlreadyExists(f"event {provider}:{event_id} was processed")
        self.pending[(provider, event_id)] = processed_at

    @translated
    def contains(self, provider: str, event_id: str) -> bool:
        if (provider, event_id) in self.pending:
            return True
        return self._collection.find_one({"_id": {"p": provider, "e": event_id}}) is not None

    def flush(self, undo: list[Undo]) -> None:
        for (provider, event_id), at in self.pending.items():
            key = {"p": provider, "e": event_id}
            try:
                self._collection.insert_one({"_id": key, "processed_at": floor_ms(at)})
            except DuplicateKeyError as error:
                raise AlreadyExists(f"event {provider}:{event_id} was processed") from error
            undo.append(undo_delete(self._collection, key))
