"""Crash repair for MongoDB: what a crash can leave behind, and the housekeeping that cleans it up
(``MongoStore.relay_outbox`` and ``MongoStore.repair_wallets`` hand over to here;
``MongoStore.sweep_claims`` to ``ClaimBook.sweep``). Run them from the worker.

What a crash can leave behind
    Claims without their appointment, or with an appointment that no longer needs them: both
    are orphans, released by the next writer they block once their lease has run out (see
    ``claims.py``), or by ``sweep_claims``. A crash in the middle of ``commit`` can leave a
    prefix of the writes applied: each prefix is a consistent state (ended appointments first,
    so no prefix shows an overlap), but a unit of work that touched several documents is not
    all-or-nothing across a crash. Use cases write one appointment per unit of work, plus the
    lapsed holds in its way.

    * Events in an aggregate's ``_outbox``: not a crash's leftover any more, but where every
      write leaves its events; ``relay_outbox`` moves them to ``outbox`` (the relay runs it
      before each claim, housekeeping too); their ids are deterministic, so copying twice adds
      nothing.
    * Money half moved (a crash between a debit, the payment and a credit): ``repair_wallets``
      finishes or takes it back.
"""

from __future__ import annotations

from datetime import timedelta

from pymongo import UpdateOne
from pymongo.errors import DuplicateKeyError

from hellodoctor_adapters.mongodb.documents import (
    LIVE_PAYMENT,
    Document,
    payment_from_document,
    to_micros,
    wallet_key,
)
from hellodoctor_adapters.mongodb.payments import WalletWrite, apply_wallet_write
from hellodoctor_adapters.mongodb.store import (
    AGGREGATE_COLLECTIONS,
    PENDING_EVENTS,
    MongoStore,
    copy_events,
)
from hellodoctor_domain.errors import AlreadyExists
from hellodoctor_domain.model.payments import Payment, PaymentPurpose, WalletEntry, WalletEntryKind


def relay_outbox(store: MongoStore, limit: int) -> int:
    """Move events waiting in aggregates' documents (``_outbox``) to the ``outbox`` collection,
    the documents with the oldest events first, up to ``limit`` documents; returns how many
    events. The relay does this before every claim (``MongoDelivery``), and housekeeping after
    a crash; several at once are safe: an event's id is deterministic, so a copy already there
    is skipped, and each document loses only the events that were copied.

    Three commands however many documents: one aggregation over every aggregate collection
    (each through its ``pending_events`` partial index), one ``insert_many``, and one bulk
    ``$pull`` per collection that had any."""
    names = list(dict.fromkeys(AGGREGATE_COLLECTIONS.values()))

    def waiting(name: str) -> list[Document]:
        return [{"$match": PENDING_EVENTS}, {"$project": {"_outbox": 1, "_in": {"$literal": name}}}]

    pipeline = [
        *waiting(names[0]),
        *({"$unionWith": {"coll": name, "pipeline": waiting(name)}} for name in names[1:]),
        # Ascending on an array sorts by its smallest element: the oldest waiting event.
        {"$sort": {"_outbox.occurred_at": 1, "_id": 1}},
        {"$limit": limit},
    ]
    found = list(store.collection(names[0]).aggregate(pipeline))
    events = [event for document in found for event in document["_outbox"]]
    if not events:
        return 0
    copy_events(store.collection("outbox"), events)
    pulls: dict[str, list[UpdateOne]] = {}
    for document in found:
        copied = [event["_id"] for event in document["_outbox"]]
        pulls.setdefault(document["_in"], []).append(
            UpdateOne({"_id": document["_id"]}, {"$pull": {"_outbox": {"_id": {"$in": copied}}}})
        )
    for name, updates in pulls.items():
        store.collection(name).bulk_write(updates, ordered=False)
    return len(events)


def repair_wallets(store: MongoStore, window: timedelta) -> int:
    """Finish or take back what a crash left between a unit of work's writes (housekeeping,
    like ``sweep_claims``); returns how many repairs it made. Looks at what changed in
    ``window`` and is at least ``lease`` old, so units of work still committing are left
    alone:

    * a credit a payment owes (a succeeded top-up, the wallet part of a refund) that is not
      in the wallet -- the crash came after the payment's write: the payment is fenced
      (its version bumped, so a slow writer can no longer undo it) and the credit applied;
    * a debit whose payment was never written -- the crash came after the debit: the
      payment's id is fenced with a ``_void`` document (a slow writer's insert then fails
      and its undo finds nothing to undo) and the debit taken back.
    """
    now = store.clock()
    newest, oldest = to_micros(now - store.lease), to_micros(now - window)
    repaired = 0
    payments = store.collection("payments")
    wallets = store.collection("wallets")
    recent = {"updated_us": {"$gte": oldest, "$lte": newest}, **LIVE_PAYMENT}
    for document in payments.find(recent):
        payment = payment_from_document(document)
        owed = [
            entry
            for entry in _credits_owed(payment)
            if wallets.find_one({"entries.reference": entry.reference}, {"_id": 1}) is None
        ]
        if not owed:
            continue
        fence = payments.update_one(
            {"_id": document["_id"], "version": document["version"]}, {"$inc": {"version": 1}}
        )
        if not fence.matched_count:
            continue  # it moved: judged again next time
        for entry in owed:
            try:
                apply_wallet_write(
                    wallets,
                    WalletWrite(wallet_key(entry.patient_id, entry.amount.currency), (entry,)),
                )
                repaired += 1
            except AlreadyExists:
                pass
    for wallet in wallets.find({"entries.recorded_us": {"$gte": oldest}}):
        for entry in wallet["entries"]:
            if (
                entry["kind"] != WalletEntryKind.PAYMENT.value
                or entry["payment_id"] is None
                or not oldest <= entry["recorded_us"] <= newest
            ):
                continue
            try:
                payments.insert_one({"_id": entry["payment_id"], "_void": True, "version": 0})
            except DuplicateKeyError:
                if "_void" not in (payments.find_one({"_id": entry["payment_id"]}) or {}):
                    continue  # the payment exists: the debit is its own
            taken = wallets.update_one(
                {"_id": wallet["_id"], "entries.reference": entry["reference"]},
                {
                    "$inc": {"balance": -entry["amount"]},
                    "$pull": {"entries": {"reference": entry["reference"]}},
                },
            )
            repaired += taken.modified_count
    return repaired


def _credits_owed(payment: Payment) -> list[WalletEntry]:
    owed = []
    if payment.purpose is PaymentPurpose.WALLET_TOP_UP and payment.succeeded_at is not None:
        owed.append(WalletEntry.top_up(payment, payment.succeeded_at))
    owed.extend(
        WalletEntry.credit(payment, refund)
        for refund in payment.refunds
        if not refund.wallet.is_zero
    )
    return owed
