"""What a caller may do with documents: upload, read, link, delete; and the orphan sweep.

An upload is streamed: the first bytes are sniffed (``MediaTypeSniffer``) against
``MediaType`` whatever type the client declared (``UnsupportedMediaType`` otherwise), then the
bytes go to blob storage through a counter that hashes them and raises ``TooLarge`` past the
limit -- the storage then keeps nothing. Only after the bytes are stored is the record
committed, so a record always has its bytes. A crash between the two leaves bytes without a
record: ``sweep_orphans`` (run by ``hellodoctor worker``) deletes blobs under ``documents/``
that no record names once they are older than ``orphan_age`` -- far longer than any upload
takes to commit, so a record that is merely slow is never robbed of its bytes. Deleting a
document removes the record first and then the bytes; bytes a crash left then are orphans too.

Who may see a document: its owner and admins; anyone may see a profile photo. Until clinical
records define care relationships a doctor sees only their own documents. Everyone else is
told it does not exist (``NotFound``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from datetime import timedelta

from attrs import define

from hellodoctor_domain.errors import (
    AccessDenied,
    InvalidValue,
    NotFound,
    PortError,
    TooLarge,
    UnsupportedMediaType,
)
from hellodoctor_domain.model.audit import AuditAction, AuditOutcome, RequestContext
from hellodoctor_domain.model.documents import Document, DocumentId, DocumentKind, MediaType, Owner
from hellodoctor_domain.model.values import Actor, AppointmentId, PatientId, Role
from hellodoctor_domain.ports.blobs import BlobStorage, MediaTypeSniffer
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.records import NO_CONTEXT, audit_entry

_log = logging.getLogger(__name__)

BLOB_PREFIX = "documents/"
SNIFF_BYTES = 262  # what the sniffer needs to tell every accepted type apart


@define(frozen=True, kw_only=True)
class DocumentSettings:
    max_bytes: int = 20 * 1024 * 1024
    link_lifetime: timedelta = timedelta(minutes=5)
    orphan_age: timedelta = timedelta(hours=1)


class _Metered:
    """The upload's chunks, counted and hashed on their way to storage."""

    def __init__(self, head: bytes, rest: Iterator[bytes], limit: int) -> None:
        self._head, self._rest, self._limit = head, rest, limit
        self.size = 0
        self.digest = hashlib.sha256()

    def _counted(self, chunk: bytes) -> bytes:
        self.size += len(chunk)
        if self.size > self._limit:
            raise TooLarge(self._limit)
        self.digest.update(chunk)
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        if self._head:
            yield self._counted(self._head)
        for chunk in self._rest:
            if chunk:
                yield self._counted(chunk)


def _head(chunks: Iterator[bytes], wanted: int) -> bytes:
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= wanted:
            break
    return head


class Documents:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        blobs: BlobStorage,
        sniffer: MediaTypeSniffer,
        settings: DocumentSettings | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self.blobs = blobs
        self._sniffer = sniffer
        self.settings = settings or DocumentSettings()

    # -- uploading -------------------------------------------------------------------------

    def upload(
        self,
        actor: Actor,
        *,
        kind: DocumentKind,
        filename: str,
        chunks: Iterable[bytes],
        owner: Owner | None = None,
        appointment_id: AppointmentId | None = None,
        declared_size: int | None = None,
    ) -> Document:
        """Store the file and its record. ``declared_size`` (a request's length, when known)
        over the limit is refused before a byte is read."""
        owner = self._owner_for(actor, owner)
        limit = self.settings.max_bytes
        if declared_size is not None and declared_size > limit:
            raise TooLarge(limit)
        if appointment_id is not None:
            with self._uow() as uow:
                self._require_linkable(uow, owner, appointment_id)
        stream = iter(chunks)
        head = _head(stream, SNIFF_BYTES)
        media_type = self._sniffed(head)
        document_id = DocumentId(self._ids.new_id())
        key = f"{BLOB_PREFIX}{document_id}"
        metered = _Metered(head, stream, limit)
        self.blobs.put_stream(key, metered, media_type.value)
        try:
            document = Document.uploaded(
                id=document_id,
                owner=owner,
                kind=kind,
                original_name=filename,
                media_type=media_type,
                size=metered.size,
                sha256=metered.digest.hexdigest(),
                blob_key=key,
                uploaded_by=actor.user_id,
                created_at=self._clock.now(),
                appointment_id=appointment_id,
            )
            with self._uow() as uow:
                uow.documents.add(document)
                uow.commit()
        except BaseException:
            self._forget(key)
            raise
        return document

    def _sniffed(self, head: bytes) -> MediaType:
        found = self._sniffer.sniff(head)
        try:
            return MediaType(found or "")
        except ValueError:
            raise UnsupportedMediaType(
                f"{found or 'unrecognised content'} is not accepted; send PDF, PNG, JPEG, WebP "
                "or DICOM"
            ) from None

    def _owner_for(self, actor: Actor, owner: Owner | None) -> Owner:
        if actor.role is Role.ADMIN:
            if owner is None:
                raise InvalidValue("an admin uploads for a patient or doctor: name the owner")
            return owner
        mine = Owner.of(actor)
        if owner is not None and owner != mine:
            raise AccessDenied("patients and doctors upload only their own documents")
        return mine

    # -- reading ---------------------------------------------------------------------------

    def get(
        self, actor: Actor, document_id: DocumentId, context: RequestContext = NO_CONTEXT
    ) -> Document:
        """The document, if ``actor`` may see it; ``NotFound`` otherwise. A document about a
        patient (theirs, or a doctor's linked to the patient's appointment) is protected health
        information: the read, or the refused attempt, is audited in the same unit of work."""
        with self._uow() as uow:
            document = uow.documents.get(document_id)
            allowed = document.is_public or self._may_see(actor, document)
            if self._audited(uow, actor, document, AuditAction.READ, allowed, context):
                uow.commit()
        if not allowed:
            raise NotFound(f"no document {document_id}")
        return document

    def public_photo(self, document_id: DocumentId) -> tuple[Document, Iterator[bytes]]:
        """A profile photo's record and bytes, for anyone; ``NotFound`` for anything else."""
        with self._uow() as uow:
            document = uow.documents.get(document_id)
        if not document.is_public:
            raise NotFound(f"no document {document_id}")
        return document, self.blobs.open(document.blob_key)

    def content(
        self, actor: Actor, document_id: DocumentId, context: RequestContext = NO_CONTEXT
    ) -> tuple[Document, Iterator[bytes]]:
        document = self.get(actor, document_id, context)
        return document, self.blobs.open(document.blob_key)

    def content_by_id(self, document_id: DocumentId) -> tuple[Document, Iterator[bytes]]:
        """For a link the API signed itself (who asked was checked when it was signed)."""
        with self._uow() as uow:
            document = uow.documents.get(document_id)
        return document, self.blobs.open(document.blob_key)

    def download_url(
        self, actor: Actor, document_id: DocumentId, context: RequestContext = NO_CONTEXT
    ) -> tuple[Document, str | None]:
        """The document and a short-lived URL of the storage's own, or ``None`` when the
        storage has none (the caller then signs a link to itself)."""
        document = self.get(actor, document_id, context)
        url = self.blobs.download_url(
            document.blob_key,
            filename=document.original_name,
            content_type=document.media_type.value,
            expires_in=self.settings.link_lifetime,
        )
        return document, url

    def owned_by(self, actor: Actor, owner: Owner, limit: int = 100) -> list[Document]:
        if actor.role is not Role.ADMIN and not owner.is_actor(actor):
            raise AccessDenied("only the owner and admins list someone's documents")
        with self._uow() as uow:
            return uow.documents.for_owner(owner, limit)

    @staticmethod
    def _may_see(actor: Actor, document: Document) -> bool:
        return actor.role is Role.ADMIN or document.owner.is_actor(actor)

    # -- changing --------------------------------------------------------------------------

    def link(
        self,
        actor: Actor,
        document_id: DocumentId,
        *,
        appointment_id: AppointmentId | None,
        record_id: str | None = None,
        context: RequestContext = NO_CONTEXT,
    ) -> Document:
        """Link the document to an appointment of its owner's (or none) and a record; a
        change to a document about a patient (or a refused attempt) is audited."""
        with self._uow() as uow:
            document = self._changeable(uow, actor, document_id, context)
            if appointment_id is not None:
                self._require_linkable(uow, document.owner, appointment_id)
            document.link(self._clock.now(), appointment_id=appointment_id, record_id=record_id)
            uow.documents.update(document)
            uow.commit()
        return document

    def delete(
        self, actor: Actor, document_id: DocumentId, context: RequestContext = NO_CONTEXT
    ) -> None:
        """Remove the record, then the bytes (what a crash leaves between is swept); audited
        like a change."""
        with self._uow() as uow:
            document = self._changeable(uow, actor, document_id, context)
            document.delete(actor.user_id, self._clock.now())
            uow.documents.remove(document)
            uow.commit()
        self._forget(document.blob_key)

    def _changeable(
        self, uow: UnitOfWork, actor: Actor, document_id: DocumentId, context: RequestContext
    ) -> Document:
        """The document, audited as a write; a refusal is audited (committed) and NotFound."""
        document = uow.documents.get(document_id)
        allowed = self._may_see(actor, document)
        audited = self._audited(uow, actor, document, AuditAction.WRITE, allowed, context)
        if not allowed:
            if audited:
                uow.commit()
            raise NotFound(f"no document {document_id}")
        return document

    def _audited(
        self,
        uow: UnitOfWork,
        actor: Actor,
        document: Document,
        action: AuditAction,
        allowed: bool,
        context: RequestContext,
    ) -> bool:
        """Append the audit entry of an access to a document about a patient (protected
        health information); False for a document about nobody (a doctor's own, a photo)."""
        patient = None if document.is_public else _patient_of(uow, document)
        if patient is None:
            return False
        purpose = ("admin" if actor.role is Role.ADMIN else "own") if allowed else "none"
        outcome = AuditOutcome.ALLOWED if allowed else AuditOutcome.DENIED
        subject = f"document:{document.id}"
        uow.audit.append(
            audit_entry(
                actor, patient, subject, action, outcome, purpose, self._clock.now(), context
            )
        )
        return True

    @staticmethod
    def _require_linkable(uow: UnitOfWork, owner: Owner, appointment_id: AppointmentId) -> None:
        appointment = uow.appointments.get(appointment_id)
        theirs = (
            appointment.patient_id.value
            if owner.role is Role.PATIENT
            else appointment.doctor_id.value
        )
        if theirs != owner.profile_id:
            raise NotFound(f"no appointment {appointment_id}")

    def _forget(self, key: str) -> None:
        try:
            self.blobs.delete(key)
        except PortError:
            _log.warning("could not delete blob %s; the orphan sweep will", key, exc_info=True)

    # -- housekeeping ----------------------------------------------------------------------

    def sweep_orphans(self, limit: int = 100) -> int:
        """Delete up to ``limit`` blobs under ``documents/`` older than ``orphan_age`` that no
        record names; returns how many. Idempotent and safe in several workers at once."""
        cutoff = self._clock.now() - self.settings.orphan_age
        swept = 0
        batch: list[str] = []

        def sweep(keys: list[str]) -> int:
            with self._uow() as uow:
                kept = uow.documents.with_blob_keys(keys)
            orphans = [key for key in keys if key not in kept][: limit - swept]
            for key in orphans:
                self.blobs.delete(key)
            return len(orphans)

        for info in self.blobs.listing(BLOB_PREFIX):
            if info.modified_at >= cutoff:
                continue
            batch.append(info.key)
            if len(batch) == 100:
                swept += sweep(batch)
                batch = []
                if swept >= limit:
                    return swept
        if batch:
            swept += sweep(batch)
        return swept


def _patient_of(uow: UnitOfWork, document: Document) -> PatientId | None:
    """Whom a document is about: its patient owner, or the patient of the appointment a
    doctor's document is linked to; ``None`` for a doctor's own files."""
    if document.owner.role is Role.PATIENT:
        return PatientId(document.owner.profile_id)
    if document.appointment_id is not None:
        try:
            return uow.appointments.get(document.appointment_id).patient_id
        except NotFound:
            return None
    return None
