"""Storage port of documents: their records (the bytes are in ``ports.blobs.BlobStorage``)."""

from __future__ import annotations

import abc
from collections.abc import Collection

from hellodoctor_domain.model.documents import Document, DocumentId, Owner
from hellodoctor_domain.ports.repository import EntityRepository


class DocumentRepository(EntityRepository[Document, DocumentId]):
    """Documents by id (unique: ``AlreadyExists``) and by owner. ``update`` writes the links;
    ``remove`` deletes the record if its version is still the one read (``ConcurrencyError``
    otherwise, ``NotFound`` when it is gone)."""

    def for_owner(self, owner: Owner, limit: int = 100) -> list[Document]:
        """Up to ``limit`` of the owner's documents, newest first (``(created_at, id)``)."""
        return self._all_seen(self._for_owner(owner, limit))

    def remove(self, document: Document) -> None:
        self._remove(document)
        self._seen(document)

    @abc.abstractmethod
    def _for_owner(self, owner: Owner, limit: int) -> list[Document]: ...

    @abc.abstractmethod
    def _remove(self, document: Document) -> None: ...

    @abc.abstractmethod
    def with_blob_keys(self, keys: Collection[str]) -> set[str]:
        """Those of ``keys`` that a stored document names (the orphan sweep keeps them)."""
