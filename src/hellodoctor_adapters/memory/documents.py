"""Documents' records in memory (their bytes are in blob storage)."""

from __future__ import annotations

from collections.abc import Collection

from attrs import evolve

from hellodoctor_adapters.memory.store import _Journalled, _restore
from hellodoctor_domain.errors import (
    AlreadyExists,
    ConcurrencyError,
    NotFound,
)
from hellodoctor_domain.model.documents import Document, DocumentId, Owner
from hellodoctor_domain.ports.documents import DocumentRepository


class InMemoryDocumentRepository(_Journalled, DocumentRepository):
    def _add(self, document: Document) -> None:
        if document.id in self._store.documents:
            raise AlreadyExists(f"document {document.id} exists")
        self._put(self._store.documents, document.id, evolve(document, version=1))

    def _get(self, document_id: DocumentId) -> Document:
        try:
            return evolve(self._store.documents[document_id])
        except KeyError:
            raise NotFound(f"no document {document_id}") from None

    def _current(self, document: Document) -> Document:
        stored = self._store.documents.get(document.id)
        if stored is None:
            raise NotFound(f"no document {document.id}")
        if stored.version != document.version:
            raise ConcurrencyError(f"document {document.id} changed since it was read")
        return stored

    def _update(self, document: Document) -> None:
        self._current(document)
        new = evolve(document, version=document.version + 1)
        self._put(self._store.documents, document.id, new)

    def _remove(self, document: Document) -> None:
        stored = self._current(document)
        self._journal.append(_restore(self._store.documents, document.id, stored))
        del self._store.documents[document.id]

    def _for_owner(self, owner: Owner, limit: int) -> list[Document]:
        found = [evolve(d) for d in self._store.documents.values() if d.owner == owner]
        found.sort(key=lambda d: (d.created_at, d.id), reverse=True)
        return found[:limit]

    def with_blob_keys(self, keys: Collection[str]) -> set[str]:
        wanted = set(keys)
        return {d.blob_key for d in self._store.documents.values() if d.blob_key in wanted}
