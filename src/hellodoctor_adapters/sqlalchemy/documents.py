"""The documents repository over SQLAlchemy Core. The database decides: a taken id is a
primary-key violation (``AlreadyExists``), a stale link change or removal a failed
``UPDATE``/``DELETE ... WHERE version = :read``."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from hellodoctor_adapters.crypto import FieldCipher, development_cipher
from hellodoctor_adapters.phi import DOCUMENTS, open_fields, seal_fields
from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.rows import compare_and_set, first_row
from hellodoctor_adapters.sqlalchemy.schema import documents
from hellodoctor_domain.errors import ConcurrencyError, NotFound
from hellodoctor_domain.model.documents import (
    Document,
    DocumentId,
    DocumentKind,
    MediaType,
    Owner,
)
from hellodoctor_domain.model.values import AppointmentId, Role, UserId
from hellodoctor_domain.ports.documents import DocumentRepository

_KEYS_PER_QUERY = 500


def _row(document: Document, cipher: FieldCipher) -> dict[str, Any]:
    return seal_fields(cipher, DOCUMENTS, document.id.value, _plain_row(document))


def _plain_row(document: Document) -> dict[str, Any]:
    return {
        "id": document.id.value,
        "owner_role": document.owner.role.value,
        "owner_id": document.owner.profile_id,
        "kind": document.kind.value,
        "original_name": document.original_name,
        "media_type": document.media_type.value,
        "size": document.size,
        "sha256": document.sha256,
        "blob_key": document.blob_key,
        "uploaded_by": document.uploaded_by.value,
        "created_at": document.created_at,
        "appointment_id": None
        if document.appointment_id is None
        else document.appointment_id.value,
        "record_id": document.record_id,
    }


def _document(stored: RowMapping, cipher: FieldCipher) -> Document:
    row = open_fields(cipher, DOCUMENTS, stored["id"], stored)
    appointment = row["appointment_id"]
    return Document(
        id=DocumentId(row["id"]),
        owner=Owner(Role(row["owner_role"]), row["owner_id"]),
        kind=DocumentKind(row["kind"]),
        original_name=row["original_name"],
        media_type=MediaType(row["media_type"]),
        size=row["size"],
        sha256=row["sha256"],
        blob_key=row["blob_key"],
        uploaded_by=UserId(row["uploaded_by"]),
        created_at=row["created_at"],
        appointment_id=None if appointment is None else AppointmentId(appointment),
        record_id=row["record_id"],
        version=row["version"],
    )


class SqlDocumentRepository(DocumentRepository):
    def __init__(self, connection: Connection, cipher: FieldCipher | None = None) -> None:
        super().__init__()
        self._connection = connection
        self._cipher = cipher or development_cipher()

    def _add(self, document: Document) -> None:
        row = _row(document, self._cipher)
        with translated_errors():  # id or blob key taken: AlreadyExists
            self._connection.execute(sa.insert(documents).values(**row, version=1))

    def _get(self, document_id: DocumentId) -> Document:
        row = first_row(
            self._connection, sa.select(documents).where(documents.c.id == document_id.value)
        )
        if row is None:
            raise NotFound(f"no document {document_id}")
        return _document(row, self._cipher)

    def _update(self, document: Document) -> None:
        compare_and_set(
            self._connection,
            documents,
            documents.c.id == document.id.value,
            document.version,
            {
                "appointment_id": None
                if document.appointment_id is None
                else document.appointment_id.value,
                "record_id": document.record_id,
            },
            f"document {document.id}",
        )

    def _remove(self, document: Document) -> None:
        key = documents.c.id == document.id.value
        with translated_errors():
            removed = self._connection.execute(
                sa.delete(documents).where(key, documents.c.version == document.version)
            ).rowcount
            if removed == 1:
                return
            exists = self._connection.execute(sa.select(sa.literal(1)).where(key)).first()
        if exists is None:
            raise NotFound(f"no document {document.id}")
        raise ConcurrencyError(f"document {document.id} changed since it was read")

    def _for_owner(self, owner: Owner, limit: int) -> list[Document]:
        statement = (
            sa.select(documents)
            .where(
                documents.c.owner_role == owner.role.value,
                documents.c.owner_id == owner.profile_id,
            )
            .order_by(documents.c.created_at.desc(), documents.c.id.desc())
            .limit(limit)
        )
        with translated_errors():
            rows = self._connection.execute(statement).mappings()
            return [_document(row, self._cipher) for row in rows]

    def with_blob_keys(self, keys: Collection[str]) -> set[str]:
        wanted = list(keys)
        found: set[str] = set()
        with translated_errors():
            for start in range(0, len(wanted), _KEYS_PER_QUERY):
                chunk = wanted[start : start + _KEYS_PER_QUERY]
                found.update(
                    self._connection.execute(
                        sa.select(documents.c.blob_key).where(documents.c.blob_key.in_(chunk))
                    ).scalars()
                )
        return found
