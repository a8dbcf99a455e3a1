"""Emergency ("break-glass") access and the patient's emergency card.

A doctor facing a patient who cannot speak for themself enters the patient's health ID and a
reason; they get a short-lived grant (``GRANT_LIFETIME``) to the **critical view** only —
blood group, allergies, chronic conditions, current medications, emergency contacts — never
the records themselves. The grant records an ``EmergencyAccessGranted`` event (through the
outbox, so the patient and the admins are told) and waits in the admins' review queue until
one of them marks it reviewed.

A patient's **emergency card** is a URL with a random token (printed as a QR code) that shows
the same critical view to whoever holds it, until the patient revokes it or makes a new one.
Only the token's SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import ClassVar

from attrs import define, field

from hellodoctor_domain.errors import IllegalStateChange, InvalidValue
from hellodoctor_domain.model.events import Aggregate, DomainEvent
from hellodoctor_domain.model.profiles import _BLOOD_GROUPS, EmergencyContact, Patient
from hellodoctor_domain.model.records import (
    Diagnosis,
    MedicalRecord,
    Prescription,
    medical_history,
)
from hellodoctor_domain.model.values import (
    DoctorId,
    PatientId,
    UserId,
    _Identifier,
    utc,
)

GRANT_LIFETIME = timedelta(hours=1)


class EmergencyGrantId(_Identifier):
    """Identity of one break-glass access."""


class EmergencyCardId(_Identifier):
    """Identity of one emergency card."""


BLOOD_GROUPS = _BLOOD_GROUPS


def _optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


@define(frozen=True, kw_only=True)
class EmergencyAccessGranted(DomainEvent):
    """Tell the patient and the admins: someone broke the glass."""

    aggregate_type: ClassVar[str] = "emergency_grant"

    grant_id: EmergencyGrantId
    patient_id: PatientId
    doctor_id: DoctorId
    reason: str
    expires_at: datetime

    @property
    def aggregate_id(self) -> str:
        return self.grant_id.value


@define(eq=False)
class EmergencyGrant(Aggregate):
    id: EmergencyGrantId
    patient_id: PatientId
    doctor_id: DoctorId
    reason: str
    granted_at: datetime = field(converter=utc)
    expires_at: datetime = field(converter=utc)
    reviewed_at: datetime | None = field(default=None, converter=_optional_utc)
    reviewed_by: UserId | None = None
    review_note: str | None = None
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if not self.reason.strip() or len(self.reason) > 1000:
            raise InvalidValue("break-glass access needs a reason (at most 1000 characters)")

    @classmethod
    def open(
        cls,
        grant_id: EmergencyGrantId,
        patient_id: PatientId,
        doctor_id: DoctorId,
        reason: str,
        now: datetime,
    ) -> EmergencyGrant:
        grant = cls(grant_id, patient_id, doctor_id, reason, now, utc(now) + GRANT_LIFETIME)
        grant.record(
            EmergencyAccessGranted(
                occurred_at=utc(now),
                grant_id=grant_id,
                patient_id=patient_id,
                doctor_id=doctor_id,
                reason=reason,
                expires_at=grant.expires_at,
            )
        )
        return grant

    def live_at(self, now: datetime) -> bool:
        return self.granted_at <= utc(now) < self.expires_at

    def review(self, admin: UserId, note: str, now: datetime) -> None:
        if self.reviewed_at is not None:
            raise IllegalStateChange(f"emergency access {self.id}", "reviewed", "reviewed")
        self.reviewed_at, self.reviewed_by, self.review_note = utc(now), admin, note


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@define(eq=False)
class EmergencyCard(Aggregate):
    id: EmergencyCardId
    patient_id: PatientId
    token_digest: str
    created_at: datetime = field(converter=utc)
    revoked_at: datetime | None = field(default=None, converter=_optional_utc)
    version: int = 0

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def revoke(self, now: datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = utc(now)


@define(frozen=True)
class CriticalView:
    """What a stranger may need to keep the patient alive, and nothing else."""

    patient_id: PatientId
    name: str
    blood_group: str | None
    allergies: tuple[str, ...]
    chronic_conditions: tuple[Diagnosis, ...]
    current_medications: tuple[Prescription, ...]
    emergency_contacts: tuple[EmergencyContact, ...]


def critical_view(patient: Patient, records: Sequence[MedicalRecord], today: date) -> CriticalView:
    history = medical_history(records, today, patient.allergies)
    return CriticalView(
        patient.id,
        patient.name,
        patient.blood_group,
        history.allergies,
        history.chronic_conditions,
        history.current_medications,
        patient.emergency_contacts,
    )
