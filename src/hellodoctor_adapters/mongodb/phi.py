"""``hellodoctor keys rewrap`` on MongoDB: every sealed (or, from versions before encryption,
plain) health-data field not under the current key is sealed again.

Documents are walked in ``_id`` order (keyset pagination), a batch at a time. MongoDB has no
transaction here, and needs none: each field is written by a conditional ``update_one``
(``{_id, field: value_read}``), so a write the API made after the batch read the document is
never overwritten (it is under the current key already). A run that stops can be started
again: fields already under the current key are skipped. Versions are not bumped: sealing a
value again changes nothing a reader sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hellodoctor_adapters.crypto import FieldCipher
from hellodoctor_adapters.mongodb.store import MongoStore, translated
from hellodoctor_adapters.phi import PHI_TABLES, RECORD_PHI_TABLES, derived_indexes
from hellodoctor_adapters.rewrap import RewrapReport, RewrapStep


@translated
def rewrap_mongo(store: MongoStore, cipher: FieldCipher, batch_size: int = 500) -> RewrapReport:
    report = RewrapReport()
    for _ in rewrap_mongo_steps(store, cipher, batch_size, report):
        pass
    return report


def rewrap_mongo_steps(
    store: MongoStore, cipher: FieldCipher, batch_size: int, report: RewrapReport
) -> Iterator[RewrapStep]:
    """The rewrap, a step at a time: it yields after reading a batch (``"read"``) and after
    writing it (``"written"``), so a test can write between the two."""
    for phi in PHI_TABLES:
        collection = store.collection(phi.collection_name)
        counts = report.table(phi.name)
        projection = {each.name: 1 for each in phi.fields}
        for batch in _batches(collection, projection, batch_size):
            keys = tuple(str(document["_id"]) for document in batch)
            yield RewrapStep("read", phi.name, keys)
            for document in batch:
                place = str(document["_id"])
                for each in phi.fields:
                    old = document.get(each.name)
                    if cipher.is_current(old):
                        continue
                    changes: dict[str, Any] = {
                        each.name: cipher.reseal(phi.name, each.name, place, old)
                    }
                    plain = cipher.open(phi.name, each.name, place, str(old))
                    derived = derived_indexes(cipher, phi, each.name, plain)
                    changes.update({"_" + name: value for name, value in derived.items()})
                    # Only if nobody wrote the field since it was read.
                    written = collection.update_one(
                        {"_id": document["_id"], each.name: old}, {"$set": changes}
                    ).modified_count
                    if written == 1:
                        counts.rewrapped += 1
                    else:
                        counts.superseded += 1
            counts.rows += len(batch)
            counts.batches += 1
            yield RewrapStep("written", phi.name, keys)
    yield from _rewrap_records(store, cipher, batch_size, report)


def _rewrap_records(
    store: MongoStore, cipher: FieldCipher, batch_size: int, report: RewrapReport
) -> Iterator[RewrapStep]:
    """Sealed fields inside a document's ``record`` (``phi.RECORD_PHI_TABLES``): each written
    by ``update_one`` filtered on the value read, like the top-level fields."""
    for phi in RECORD_PHI_TABLES:
        collection = store.collection(phi.collection_name)
        counts = report.table(phi.name)
        projection = {f"record.{each.name}": 1 for each in phi.fields}
        for batch in _batches(collection, projection, batch_size):
            keys = tuple(str(document["_id"]) for document in batch)
            yield RewrapStep("read", phi.name, keys)
            for document in batch:
                record = document.get("record") or {}
                for each in phi.fields:
                    old = record.get(each.name)
                    if cipher.is_current(old):
                        continue
                    path = f"record.{each.name}"
                    new = cipher.reseal(phi.name, each.name, str(document["_id"]), old)
                    written = collection.update_one(
                        {"_id": document["_id"], path: old}, {"$set": {path: new}}
                    ).modified_count
                    if written == 1:
                        counts.rewrapped += 1
                    else:
                        counts.superseded += 1
            counts.rows += len(batch)
            counts.batches += 1
            yield RewrapStep("written", phi.name, keys)


def _batches(collection: Any, projection: dict[str, int], size: int) -> Iterator[list[Any]]:
    """The collection's documents in ``_id`` order, ``size`` at a time, each batch read after
    the previous one was handled (keyset: a run can resume from any point)."""
    last: Any = None
    while True:
        query = {} if last is None else {"_id": {"$gt": last}}
        batch = list(collection.find(query, projection).sort("_id", 1).limit(size))
        if not batch:
            return
        yield batch
        last = batch[-1]["_id"]
