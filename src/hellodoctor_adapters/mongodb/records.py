"""Clinical records, consents and the audit log on MongoDB.

* Record revisions: one document each under ``_id = "<record id>/<revision>"``, inserted at
  commit. The unique ``_id`` refuses a second revision with the same number, so of two racing
  corrections one insert wins and the other is ``AlreadyExists``.
* Consents are buffered like the other profiles (``store.Profiles``): insert under ``_id``,
  updates a compare-and-set on ``version``.
* The audit log: entries are buffered and appended last in the commit, each by reading the
  newest entry and inserting the next under ``_id = sequence``: two appenders racing for one
  sequence number collide on the unique ``_id`` and the loser re-reads and takes the next, so
  the chain never forks without any transaction. Instants are integer microseconds, so what
  was hashed is what is read back. This module has no update or delete of the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attrs import evolve
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from hellodoctor_adapters.clinical_records import (
    audit_columns,
    audit_from,
    consent_from,
    consent_record,
    record_body,
    record_from,
)
from hellodoctor_adapters.crypto import FieldCipher
from hellodoctor_adapters.mongodb.documents import Document, from_micros, to_micros
from hellodoctor_adapters.mongodb.store import MongoStore, Profiles, Undo, translated
from hellodoctor_adapters.phi import MEDICAL_RECORDS, open_fields, seal_fields
from hellodoctor_domain.errors import AlreadyExists, NotFound
from hellodoctor_domain.model.audit import GENESIS, AuditEntry, SealedEntry
from hellodoctor_domain.model.consent import Consent, ConsentId
from hellodoctor_domain.model.records import MedicalRecord, RecordId
from hellodoctor_domain.model.values import PatientId
from hellodoctor_domain.ports.records import (
    AuditLog,
    AuditQuery,
    ConsentRepository,
    MedicalRecordRepository,
)

_MAX_APPEND_ATTEMPTS = 1000


def _record_document(record: MedicalRecord, cipher: FieldCipher) -> Document:
    key = f"{record.id.value}/{record.revision}"
    plain = {
        "_id": key,
        "record_id": record.id.value,
        "revision": record.revision,
        "patient_id": record.patient_id.value,
        "created_us": to_micros(record.created_at),
        "body": record_body(record),
    }
    return seal_fields(cipher, MEDICAL_RECORDS, key, plain)  # the body sealed


def _record(stored: Document, cipher: FieldCipher) -> MedicalRecord:
    document = open_fields(cipher, MEDICAL_RECORDS, str(stored["_id"]), stored)
    return record_from(
        document["record_id"],
        document["revision"],
        document["patient_id"],
        from_micros(document["created_us"]),
        document["body"],
    )


def _order(record: MedicalRecord) -> tuple[Any, ...]:
    return (record.created_at, record.id.value, record.revision)


class MongoMedicalRecordRepository(MedicalRecordRepository):
    def __init__(self, store: MongoStore) -> None:
        self._collection = store.collection("medical_records")
        self.pending: dict[str, MedicalRecord] = {}
        self._cipher = store.cipher

    @translated
    def add(self, record: MedicalRecord) -> None:
        key = f"{record.id.value}/{record.revision}"
        if key in self.pending or self._collection.find_one({"_id": key}, {"_id": 1}):
            raise AlreadyExists(f"record {record.id} revision {record.revision} exists")
        self.pending[key] = evolve(record)

    @translated
    def revisions(self, record_id: RecordId) -> list[MedicalRecord]:
        found = {
            d["_id"]: _record(d, self._cipher)
            for d in self._collection.find({"record_id": record_id.value})
        }
        found |= {k: evolve(r) for k, r in self.pending.items() if r.id == record_id}
        if not found:
            raise NotFound(f"no record {record_id}")
        return sorted(found.values(), key=lambda r: r.revision)

    @translated
    def of_patient(self, patient_id: PatientId) -> list[MedicalRecord]:
        mine = self._collection.find({"patient_id": patient_id.value})
        found = {d["_id"]: _record(d, self._cipher) for d in mine}
        found |= {k: evolve(r) for k, r in self.pending.items() if r.patient_id == patient_id}
        return sorted(found.values(), key=_order)

    def flush(self, undo: list[Undo]) -> None:
        for key, record in self.pending.items():
            try:
                self._collection.insert_one(_record_document(record, self._cipher))
            except DuplicateKeyError as error:
                raise AlreadyExists(
                    f"record {record.id} revision {record.revision} exists"
                ) from error
            undo.append(_delete_inserted(self._collection, key))


def _delete_inserted(collection: Any, key: str) -> Undo:
    def undo() -> None:
        collection.delete_one({"_id": key})

    return undo


class MongoConsentRepository(Profiles[Consent], ConsentRepository):
    kind = Consent
    label = "consent"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, "consents")

    def _document(self, value: Consent) -> Document:
        return {
            "_id": value.id.value,
            "patient_id": value.patient_id.value,
            "record": consent_record(value),
            "version": value.version,
        }

    def _current(self, key: str) -> Consent | None:
        change = self.pending.get(key)
        if change is not None:
            return _consent(self._document(change.value))
        document = self._read(key)
        return None if document is None else _consent(document)

    @translated
    def _add(self, consent: Consent) -> None:
        self._stage_add(consent)

    @translated
    def _get(self, consent_id: ConsentId) -> Consent:
        return self._find(consent_id.value)

    @translated
    def _update(self, consent: Consent) -> None:
        self._stage_update(consent)

    @translated
    def _of_patient(self, patient_id: PatientId) -> Sequence[Consent]:
        found = {
            d["_id"]: _consent(d) for d in self._collection.find({"patient_id": patient_id.value})
        }
        for key, change in self.pending.items():
            if change.value.patient_id == patient_id:
                found[key] = _consent(self._document(change.value))
        return sorted(found.values(), key=lambda c: (c.granted_at, c.id.value))


def _consent(document: Document) -> Consent:
    return consent_from(
        document["_id"], document["patient_id"], document["version"], document["record"]
    )


def _audit_document(sealed: SealedEntry) -> Document:
    columns = audit_columns(sealed)
    columns["at_us"] = to_micros(columns.pop("at"))
    columns["_id"] = columns.pop("sequence")
    return columns


def _audit(document: Document) -> SealedEntry:
    row = dict(document)
    row["at"] = from_micros(row.pop("at_us"))
    row["sequence"] = row.pop("_id")
    return audit_from(row)


class MongoAuditLog(AuditLog):
    def __init__(self, store: MongoStore) -> None:
        self._collection = store.collection("audit_log")
        self.pending: list[AuditEntry] = []

    def append(self, entry: AuditEntry) -> None:
        self.pending.append(entry)

    def flush(self) -> None:
        """Append the buffered entries (last in the commit: nothing after it can fail and
        leave an entry for an access that did not happen)."""
        for entry in self.pending:
            for _ in range(_MAX_APPEND_ATTEMPTS):
                last = self._collection.find_one({}, {"hash": 1}, sort=[("_id", DESCENDING)])
                sequence, previous = (
                    (1, GENESIS) if last is None else (last["_id"] + 1, last["hash"])
                )
                try:
                    self._collection.insert_one(
                        _audit_document(SealedEntry.seal(entry, sequence, previous))
                    )
                    break
                except DuplicateKeyError:
                    continue  # another unit of work took that number: chain after it
            else:  # pragma: no cover - a thousand appenders in one instant
                raise AlreadyExists("could not append to the audit log: too much contention")
        self.pending.clear()

    @translated
    def search(self, query: AuditQuery) -> list[SealedEntry]:
        conditions: Document = {}
        if query.patient_id is not None:
            conditions["patient_id"] = query.patient_id.value
        if query.user_id is not None:
            conditions["user_id"] = query.user_id.value
        if query.outcome is not None:
            conditions["outcome"] = query.outcome.value
        at: Document = {}
        if query.since is not None:
            at["$gte"] = to_micros(query.since)
        if query.until is not None:
            at["$lt"] = to_micros(query.until)
        if at:
            conditions["at_us"] = at
        if query.before_sequence is not None:
            conditions["_id"] = {"$lt": query.before_sequence}
        found = self._collection.find(conditions).sort("_id", DESCENDING).limit(query.limit)
        return [_audit(d) for d in found]

    @translated
    def chain(self, after: int = 0, limit: int = 1000) -> list[SealedEntry]:
        found = self._collection.find({"_id": {"$gt": after}}).sort("_id", ASCENDING).limit(limit)
        return [_audit(d) for d in found]
