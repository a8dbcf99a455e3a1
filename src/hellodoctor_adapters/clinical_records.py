"""Clinical records, consents and audit entries as plain JSON-ready data: the one mapping the
database adapters store (a record revision is read and written whole, as one JSON column or
sub-document; what a constraint or a query needs sits beside it)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from hellodoctor_domain.model.audit import (
    AuditAction,
    AuditEntry,
    AuditOutcome,
    SealedEntry,
)
from hellodoctor_domain.model.consent import Consent, ConsentId, ConsentScope
from hellodoctor_domain.model.emergency import (
    EmergencyCard,
    EmergencyCardId,
    EmergencyGrant,
    EmergencyGrantId,
)
from hellodoctor_domain.model.records import (
    Diagnosis,
    DiagnosisStatus,
    Interpretation,
    LabResult,
    MedicalRecord,
    Prescription,
    RecordId,
    RecordKind,
    Vital,
    VitalSign,
)
from hellodoctor_domain.model.values import (
    AppointmentId,
    DoctorId,
    HospitalId,
    PatientId,
    Role,
    UserId,
)

Record = dict[str, Any]


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _from_day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _id(value: Any) -> str | None:
    return None if value is None else str(value.value)


def record_body(record: MedicalRecord) -> Record:
    """Everything of a revision but its id, revision, patient and creation time."""
    return {
        "author_id": record.author_id.value,
        "kind": record.kind.value,
        "appointment_id": _id(record.appointment_id),
        "hospital_id": _id(record.hospital_id),
        "diagnoses": [[d.code, d.text, d.status.value] for d in record.diagnoses],
        "symptoms": list(record.symptoms),
        "vitals": [[v.sign.value, v.value, v.unit] for v in record.vitals],
        "prescriptions": [
            [p.medication, p.dose, p.frequency, p.start.isoformat(), _day(p.end)]
            for p in record.prescriptions
        ],
        "lab_results": [
            [r.test, r.value, r.unit, r.reference_range, r.interpretation.value]
            for r in record.lab_results
        ],
        "allergies": list(record.allergies),
        "notes": record.notes,
        "attachments": list(record.attachments),
        "follow_up": _day(record.follow_up),
        "correction_reason": record.correction_reason,
    }


def record_from(
    record_id: str, revision: int, patient_id: str, created_at: datetime, body: Record
) -> MedicalRecord:
    return MedicalRecord(
        RecordId(record_id),
        PatientId(patient_id),
        DoctorId(body["author_id"]),
        RecordKind(body["kind"]),
        created_at,
        revision=revision,
        appointment_id=None
        if body["appointment_id"] is None
        else AppointmentId(body["appointment_id"]),
        hospital_id=None if body["hospital_id"] is None else HospitalId(body["hospital_id"]),
        diagnoses=[Diagnosis(c, t, DiagnosisStatus(s)) for c, t, s in body["diagnoses"]],
        symptoms=body["symptoms"],
        vitals=[Vital(VitalSign(s), v, u) for s, v, u in body["vitals"]],
        prescriptions=[
            Prescription(m, d, f, date.fromisoformat(s), _from_day(e))
            for m, d, f, s, e in body["prescriptions"]
        ],
        lab_results=[
            LabResult(t, v, u, r, Interpretation(i)) for t, v, u, r, i in body["lab_results"]
        ],
        allergies=body["allergies"],
        notes=body["notes"],
        attachments=body["attachments"],
        follow_up=_from_day(body["follow_up"]),
        correction_reason=body["correction_reason"],
    )


def consent_record(consent: Consent) -> Record:
    return {
        "scope": consent.scope.value,
        "purpose": consent.purpose,
        "granted_at": consent.granted_at.isoformat(),
        "until": consent.until.isoformat(),
        "doctor_id": _id(consent.doctor_id),
        "hospital_id": _id(consent.hospital_id),
        "revoked_at": None if consent.revoked_at is None else consent.revoked_at.isoformat(),
    }


def consent_from(consent_id: str, patient_id: str, version: int, body: Record) -> Consent:
    return Consent(
        ConsentId(consent_id),
        PatientId(patient_id),
        ConsentScope(body["scope"]),
        body["purpose"],
        datetime.fromisoformat(body["granted_at"]),
        datetime.fromisoformat(body["until"]),
        doctor_id=None if body["doctor_id"] is None else DoctorId(body["doctor_id"]),
        hospital_id=None if body["hospital_id"] is None else HospitalId(body["hospital_id"]),
        revoked_at=None
        if body["revoked_at"] is None
        else datetime.fromisoformat(body["revoked_at"]),
        version=version,
    )


def audit_columns(sealed: SealedEntry) -> Record:
    """One column (or field) per fact: the log is searched by them."""
    entry = sealed.entry
    return {
        "sequence": sealed.sequence,
        "at": entry.at,
        "user_id": entry.user_id.value,
        "role": entry.role.value,
        "patient_id": entry.patient_id.value,
        "subject": entry.subject,
        "action": entry.action.value,
        "outcome": entry.outcome.value,
        "purpose": entry.purpose,
        "request_id": entry.request_id,
        "client_address": entry.client_address,
        "previous_hash": sealed.previous_hash,
        "hash": sealed.hash,
    }


def audit_from(row: Any) -> SealedEntry:
    entry = AuditEntry(
        row["at"],
        UserId(row["user_id"]),
        Role(row["role"]),
        PatientId(row["patient_id"]),
        row["subject"],
        AuditAction(row["action"]),
        AuditOutcome(row["outcome"]),
        row["purpose"],
        row["request_id"],
        row["client_address"],
    )
    return SealedEntry(row["sequence"], entry, row["previous_hash"], row["hash"])


def grant_record(grant: EmergencyGrant) -> Record:
    return {
        "doctor_id": grant.doctor_id.value,
        "reason": grant.reason,
        "granted_at": grant.granted_at.isoformat(),
        "expires_at": grant.expires_at.isoformat(),
        "reviewed_at": None if grant.reviewed_at is None else grant.reviewed_at.isoformat(),
        "reviewed_by": None if grant.reviewed_by is None else grant.reviewed_by.value,
        "review_note": grant.review_note,
    }


def grant_from(grant_id: str, patient_id: str, version: int, body: Record) -> EmergencyGrant:
    return EmergencyGrant(
        EmergencyGrantId(grant_id),
        PatientId(patient_id),
        DoctorId(body["doctor_id"]),
        body["reason"],
        datetime.fromisoformat(body["granted_at"]),
        datetime.fromisoformat(body["expires_at"]),
        None if body["reviewed_at"] is None else datetime.fromisoformat(body["reviewed_at"]),
        None if body["reviewed_by"] is None else UserId(body["reviewed_by"]),
        body["review_note"],
        version=version,
    )


def card_record(card: EmergencyCard) -> Record:
    return {
        "created_at": card.created_at.isoformat(),
        "revoked_at": None if card.revoked_at is None else card.revoked_at.isoformat(),
    }


def card_from(
    card_id: str, patient_id: str, digest: str, version: int, body: Record
) -> EmergencyCard:
    return EmergencyCard(
        EmergencyCardId(card_id),
        PatientId(patient_id),
        digest,
        datetime.fromisoformat(body["created_at"]),
        None if body["revoked_at"] is None else datetime.fromisoformat(body["revoked_at"]),
        version=version,
    )
