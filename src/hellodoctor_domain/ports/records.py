"""The storage port of clinical records: record revisions (append-only), consents, and the
audit log of protected health information (append-only, hash-chained)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime

from attrs import define

from hellodoctor_domain.model.audit import AuditEntry, AuditOutcome, SealedEntry
from hellodoctor_domain.model.consent import Consent, ConsentId
from hellodoctor_domain.model.records import MedicalRecord, RecordId
from hellodoctor_domain.model.values import PatientId, UserId
from hellodoctor_domain.ports.repository import EntityRepository


class MedicalRecordRepository(abc.ABC):
    """Record revisions. There is no update and no delete: ``add`` stores a revision, and the
    storage refuses (``AlreadyExists``) a second one with the same ``(id, revision)`` — so of
    two corrections of one revision, made at once, exactly one is kept."""

    @abc.abstractmethod
    def add(self, record: MedicalRecord) -> None: ...

    @abc.abstractmethod
    def revisions(self, record_id: RecordId) -> list[MedicalRecord]:
        """Every revision of the record, first to latest; ``NotFound`` when there is none."""

    @abc.abstractmethod
    def of_patient(self, patient_id: PatientId) -> list[MedicalRecord]:
        """Every revision of every record of the patient, by ``(created_at, id, revision)``."""


class ConsentRepository(EntityRepository[Consent, ConsentId]):
    def of_patient(self, patient_id: PatientId) -> list[Consent]:
        """The patient's consents, oldest grant first (revoked and expired ones included)."""
        return self._all_seen(self._of_patient(patient_id))

    @abc.abstractmethod
    def _of_patient(self, patient_id: PatientId) -> Sequence[Consent]: ...


@define(frozen=True, kw_only=True)
class AuditQuery:
    patient_id: PatientId | None = None
    user_id: UserId | None = None
    outcome: AuditOutcome | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_sequence: int | None = None  # keyset cursor: entries older than this one
    limit: int = 50


class AuditLog(abc.ABC):
    """The audit log. ``append`` seals the entry into the chain (``SealedEntry.seal`` over the
    last stored entry's hash, with the next sequence number) as part of the unit of work:
    the entry is kept if and only if the unit of work commits. Appends of concurrent units of
    work are serialised by the storage, so the chain never forks. Nothing changes or removes
    an entry: the adapters offer no way to, and the databases refuse it (PostgreSQL and SQLite
    triggers)."""

    @abc.abstractmethod
    def append(self, entry: AuditEntry) -> None: ...

    @abc.abstractmethod
    def search(self, query: AuditQuery) -> list[SealedEntry]:
        """Entries matching every given filter, newest first, at most ``query.limit``."""

    @abc.abstractmethod
    def chain(self, after: int = 0, limit: int = 1000) -> list[SealedEntry]:
        """Stored entries with a sequence above ``after``, in sequence order (for
        ``verify_chain``)."""
