"""Clinical records, consents and the audit log over SQLAlchemy Core (PostgreSQL, SQLite).

The database decides every race: a second revision with the same ``(id, revision)`` breaks
the primary key (``AlreadyExists``); a stale consent update fails its compare-and-set. The
audit chain cannot fork: on PostgreSQL an append first takes a transaction-scoped advisory lock
(released at commit or rollback), so "read the last entry, insert the next" runs one unit of
work at a time; on SQLite every unit of work already holds the single write lock
(``BEGIN IMMEDIATE``). The primary key on ``sequence`` backs both up. Rows are never updated
or deleted: this module has no statement that would, and the migration's triggers refuse one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from hellodoctor_adapters.clinical_records import (
    audit_columns,
    audit_from,
    consent_from,
    consent_record,
    record_body,
    record_from,
)
from hellodoctor_adapters.crypto import FieldCipher, development_cipher
from hellodoctor_adapters.phi import MEDICAL_RECORDS, open_fields, seal_fields
from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.rows import compare_and_set, first_row
from hellodoctor_adapters.sqlalchemy.schema import audit_log, consents, medical_records
from hellodoctor_domain.errors import NotFound
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

# Any constant: the key of the advisory lock that serialises appends to the chain.
AUDIT_CHAIN_LOCK = 0x4844_4155_4449_54


def record_row_id(record_id: str, revision: int) -> str:
    """The row id a revision's sealed body is bound to (MongoDB's ``_id`` of it too)."""
    return f"{record_id}/{revision}"


class SqlMedicalRecordRepository(MedicalRecordRepository):
    def __init__(self, connection: Connection, cipher: FieldCipher | None = None) -> None:
        self._connection = connection
        self._cipher = cipher or development_cipher()

    def _record(self, stored: RowMapping) -> MedicalRecord:
        place = record_row_id(stored["id"], stored["revision"])
        row = open_fields(self._cipher, MEDICAL_RECORDS, place, stored)
        return record_from(
            row["id"], row["revision"], row["patient_id"], row["created_at"], row["body"]
        )

    def add(self, record: MedicalRecord) -> None:
        place = record_row_id(record.id.value, record.revision)
        body = seal_fields(self._cipher, MEDICAL_RECORDS, place, {"body": record_body(record)})
        with translated_errors(), self._connection.begin_nested():
            self._connection.execute(
                sa.insert(medical_records).values(
                    id=record.id.value,
                    revision=record.revision,
                    patient_id=record.patient_id.value,
                    created_at=record.created_at,
                    body=body["body"],
                )
            )

    def revisions(self, record_id: RecordId) -> list[MedicalRecord]:
        query = (
            sa.select(medical_records)
            .where(medical_records.c.id == record_id.value)
            .order_by(medical_records.c.revision)
        )
        with translated_errors():
            found = [self._record(row) for row in self._connection.execute(query).mappings()]
        if not found:
            raise NotFound(f"no record {record_id}")
        return found

    def of_patient(self, patient_id: PatientId) -> list[MedicalRecord]:
        c = medical_records.c
        query = (
            sa.select(medical_records)
            .where(c.patient_id == patient_id.value)
            .order_by(c.created_at, c.id, c.revision)
        )
        with translated_errors():
            return [self._record(row) for row in self._connection.execute(query).mappings()]


class SqlConsentRepository(ConsentRepository):
    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self._connection = connection

    def _add(self, consent: Consent) -> None:
        with translated_errors():
            self._connection.execute(
                sa.insert(consents).values(
                    id=consent.id.value,
                    patient_id=consent.patient_id.value,
                    record=consent_record(consent),
                    version=1,
                )
            )

    def _get(self, consent_id: ConsentId) -> Consent:
        row = first_row(
            self._connection, sa.select(consents).where(consents.c.id == consent_id.value)
        )
        if row is None:
            raise NotFound(f"no consent {consent_id}")
        return consent_from(row["id"], row["patient_id"], row["version"], row["record"])

    def _update(self, consent: Consent) -> None:
        compare_and_set(
            self._connection,
            consents,
            consents.c.id == consent.id.value,
            consent.version,
            {"record": consent_record(consent)},
            f"consent {consent.id}",
        )

    def _of_patient(self, patient_id: PatientId) -> Sequence[Consent]:
        query = sa.select(consents).where(consents.c.patient_id == patient_id.value)
        with translated_errors():
            found = [
                consent_from(r["id"], r["patient_id"], r["version"], r["record"])
                for r in self._connection.execute(query).mappings()
            ]
        return sorted(found, key=lambda c: (c.granted_at, c.id.value))


class SqlAuditLog(AuditLog):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def append(self, entry: AuditEntry) -> None:
        connection = self._connection
        with translated_errors():
            if connection.dialect.name == "postgresql":
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(AUDIT_CHAIN_LOCK)))
            last = connection.execute(
                sa.select(audit_log.c.sequence, audit_log.c.hash)
                .order_by(audit_log.c.sequence.desc())
                .limit(1)
            ).first()
            sequence, previous = (1, GENESIS) if last is None else (last[0] + 1, last[1])
            sealed = SealedEntry.seal(entry, sequence, previous)
            connection.execute(sa.insert(audit_log).values(**audit_columns(sealed)))

    def search(self, query: AuditQuery) -> list[SealedEntry]:
        c = audit_log.c
        statement = sa.select(audit_log).order_by(c.sequence.desc()).limit(query.limit)
        if query.patient_id is not None:
            statement = statement.where(c.patient_id == query.patient_id.value)
        if query.user_id is not None:
            statement = statement.where(c.user_id == query.user_id.value)
        if query.outcome is not None:
            statement = statement.where(c.outcome == query.outcome.value)
        if query.since is not None:
            statement = statement.where(c.at >= query.since)
        if query.until is not None:
            statement = statement.where(c.at < query.until)
        if query.before_sequence is not None:
            statement = statement.where(c.sequence < query.before_sequence)
        with translated_errors():
            return [audit_from(row) for row in self._connection.execute(statement).mappings()]

    def chain(self, after: int = 0, limit: int = 1000) -> list[SealedEntry]:
        statement = (
            sa.select(audit_log)
            .where(audit_log.c.sequence > after)
            .order_by(audit_log.c.sequence)
            .limit(limit)
        )
        with translated_errors():
            return [audit_from(row) for row in self._connection.execute(statement).mappings()]
