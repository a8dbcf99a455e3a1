"""Clinical records, consents and the audit log over the in-memory store (the reference
adapter). The unit of work holds the store's lock throughout, so "next sequence number after
the last stored entry" and the append are one step; a rollback removes what it appended."""

from __future__ import annotations

from collections.abc import Sequence

from attrs import evolve

from hellodoctor_adapters.memory.store import _Journalled
from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError, NotFound
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


class InMemoryMedicalRecordRepository(_Journalled, MedicalRecordRepository):
    def add(self, record: MedicalRecord) -> None:
        key = (record.id, record.revision)
        if key in self._store.records:
            raise AlreadyExists(f"record {record.id} revision {record.revision} exists")
        self._put(self._store.records, key, evolve(record))

    def revisions(self, record_id: RecordId) -> list[MedicalRecord]:
        found = [evolve(r) for (key, _), r in self._store.records.items() if key == record_id]
        if not found:
            raise NotFound(f"no record {record_id}")
        return sorted(found, key=lambda r: r.revision)

    def of_patient(self, patient_id: PatientId) -> list[MedicalRecord]:
        found = [evolve(r) for r in self._store.records.values() if r.patient_id == patient_id]
        return sorted(found, key=lambda r: (r.created_at, r.id.value, r.revision))


class InMemoryConsentRepository(_Journalled, ConsentRepository):
    def _add(self, consent: Consent) -> None:
        if consent.id in self._store.consents:
            raise AlreadyExists(f"consent {consent.id} exists")
        self._put(self._store.consents, consent.id, evolve(consent, version=1))

    def _get(self, consent_id: ConsentId) -> Consent:
        try:
            return evolve(self._store.consents[consent_id])
        except KeyError:
            raise NotFound(f"no consent {consent_id}") from None

    def _update(self, consent: Consent) -> None:
        stored = self._store.consents.get(consent.id)
        if stored is None:
            raise NotFound(f"no consent {consent.id}")
        if stored.version != consent.version:
            raise ConcurrencyError(f"consent {consent.id} changed since it was read")
        self._put(self._store.consents, consent.id, evolve(consent, version=consent.version + 1))

    def _of_patient(self, patient_id: PatientId) -> Sequence[Consent]:
        found = [evolve(c) for c in self._store.consents.values() if c.patient_id == patient_id]
        return sorted(found, key=lambda c: (c.granted_at, c.id.value))


class InMemoryAuditLog(_Journalled, AuditLog):
    def append(self, entry: AuditEntry) -> None:
        log = self._store.audit
        sequence = len(log) + 1
        previous = log[sequence - 1].hash if log else GENESIS
        self._put(log, sequence, SealedEntry.seal(entry, sequence, previous))

    def search(self, query: AuditQuery) -> list[SealedEntry]:
        def matches(sealed: SealedEntry) -> bool:
            e = sealed.entry
            return (
                (query.patient_id is None or e.patient_id == query.patient_id)
                and (query.user_id is None or e.user_id == query.user_id)
                and (query.outcome is None or e.outcome is query.outcome)
                and (query.since is None or e.at >= query.since)
                and (query.until is None or e.at < query.until)
                and (query.before_sequence is None or sealed.sequence < query.before_sequence)
            )

        newest_first = sorted(self._store.audit.values(), key=lambda s: -s.sequence)
        return [s for s in newest_first if matches(s)][: query.limit]

    def chain(self, after: int = 0, limit: int = 1000) -> list[SealedEntry]:
        found = sorted(
            (s for n, s in self._store.audit.items() if n > after), key=lambda s: s.sequence
        )
        return found[:limit]
