"""The documents repository over MongoDB: one document per record in ``documents``, buffered
like every other write (``store.Profiles``); a unique index on ``blob_key`` and the ``_id`` decide
duplicates, compare-and-set on ``version`` decides link changes and removals.

A removal is a ``delete_one({_id, version})`` at commit; its ``DocumentDeleted`` event, having no
document left to ride in, goes to ``outbox`` directly with the unit of work's other orphans, and
events still waiting in the document for the relay are copied there just before it goes.
"""

from __future__ import annotations

from collections.abc import Collection

from pymongo import DESCENDING

from hellodoctor_adapters.mongodb.documents import Document as BsonDocument
from hellodoctor_adapters.mongodb.documents import floor_instants, from_document, to_document
from hellodoctor_adapters.mongodb.store import (
    AGGREGATE_COLLECTIONS,
    PENDING_EVENTS,
    MongoStore,
    Profiles,
    Undo,
    copy_events,
    translated,
)
from hellodoctor_adapters.phi import DOCUMENTS, open_fields, seal_fields
from hellodoctor_domain.errors import ConcurrencyError, NotFound
from hellodoctor_domain.model.documents import Document, DocumentId, Owner
from hellodoctor_domain.ports.documents import DocumentRepository


class MongoDocumentRepository(Profiles[Document], DocumentRepository):
    kind = Document
    label = "document"
    aggregate_type = "document"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, AGGREGATE_COLLECTIONS[self.aggregate_type])
        self.removed: dict[str, int] = {}  # key -> the version it must still have
        self._outbox = store.collection("outbox")
        self._cipher = store.cipher

    def _document(self, value: Document) -> BsonDocument:
        return seal_fields(self._cipher, DOCUMENTS, value.id.value, to_document(value))

    def _value(self, document: BsonDocument) -> Document:
        opened = open_fields(self._cipher, DOCUMENTS, str(document["_id"]), document)
        return from_document(opened, Document)

    @translated
    def _add(self, document: Document) -> None:
        floor_instants(document)
        self._stage_add(document)

    @translated
    def _get(self, document_id: DocumentId) -> Document:
        if document_id.value in self.removed:
            raise NotFound(f"no document {document_id}")
        return self._find(document_id.value)

    @translated
    def _update(self, document: Document) -> None:
        floor_instants(document)
        self._stage_update(document)

    @translated
    def _remove(self, document: Document) -> None:
        current = self._get(document.id)
        if current.version != document.version:
            raise ConcurrencyError(f"document {document.id} changed since it was read")
        key = document.id.value
        change = self.pending.pop(key, None)
        expected = document.version if change is None else change.expected_version
        if expected is not None:  # stored before this unit of work: delete it at commit
            self.removed[key] = expected

    @translated
    def _for_owner(self, owner: Owner, limit: int) -> list[Document]:
        query = {"owner.role": owner.role.value, "owner.profile_id": owner.profile_id}
        cursor = self._collection.find(query).sort(
            [("created_at", DESCENDING), ("_id", DESCENDING)]
        )
        found = {
            str(each["_id"]): self._value(each)
            for each in cursor.limit(limit + len(self.pending) + len(self.removed))
        }
        for key, change in self.pending.items():
            if change.value.owner == owner:
                found[key] = change.value
        kept = [d for key, d in found.items() if key not in self.removed]
        kept.sort(key=lambda d: (d.created_at, d.id), reverse=True)
        return kept[:limit]

    @translated
    def with_blob_keys(self, keys: Collection[str]) -> set[str]:
        wanted = list(keys)
        found = {
            each["blob_key"]
            for each in self._collection.find({"blob_key": {"$in": wanted}}, {"blob_key": 1})
        }
        found.update(c.value.blob_key for c in self.pending.values() if c.value.blob_key in keys)
        return found

    def flush_removals(self, undo: list[Undo]) -> None:
        for key, version in self.removed.items():
            # Events still waiting in the document for the relay (its upload's) would go with
            # it: copied to ``outbox`` first (a copy already there is skipped), so a crash
            # after the copy and before the delete leaves them once, never nowhere.
            waiting = self._collection.find_one({"_id": key, **PENDING_EVENTS}, {"_outbox": 1})
            if waiting is not None:
                copy_events(self._outbox, waiting["_outbox"])
            previous: BsonDocument | None = self._collection.find_one_and_delete(
                {"_id": key, "version": version}
            )
            if previous is None:
                raise ConcurrencyError(f"document {key} changed since it was read")
            undo.append(self._restorer(previous))

    def _restorer(self, previous: BsonDocument) -> Undo:
        def undo() -> None:
            self._collection.insert_one(previous)

        return undo
