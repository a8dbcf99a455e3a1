"""THE rule for clinical records: who may read or write a patient's records, and on what
basis. Every use case that touches protected health information asks ``RecordAccess.decide``
and nothing else (``use_cases/records.py``); the rule has no other copy.

* the patient reads all of their own records and writes none (doctors write records);
* a doctor reads while a care relationship exists or a live consent covers them, and writes
  on the same terms, except that a consent must then be read-write;
* an admin, a hospital administrator or an insurer reads and writes nothing (admins manage
  consents, never content).

A *care relationship*: an appointment of that doctor with the patient that is booked, or that
was completed and ended within ``care_period`` (90 days unless configured). A consent *covers*
a doctor when it names them, or names a hospital they are affiliated with, and is live (granted,
not yet ``until``, not revoked). Emergency (break-glass) access is not a basis here: it reaches
only the critical view (``model/emergency.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, timedelta

from attrs import define, field

from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.consent import Consent
from hellodoctor_domain.model.values import Actor, DoctorId, HospitalId, PatientId, Role, utc

DEFAULT_CARE_PERIOD = timedelta(days=90)


class RecordAction(enum.StrEnum):
    READ = "read"
    WRITE = "write"


class AccessBasis(enum.StrEnum):
    """Why an access was allowed (written to the audit log as its purpose)."""

    OWN = "own"
    CARE = "care"
    CONSENT = "consent"
    EMERGENCY = "emergency"
    REQUEST = "request"  # an admin acting on the patient's documented request (export)


@define(frozen=True)
class Visit:
    """What the rule needs of an appointment."""

    doctor_id: DoctorId
    status: AppointmentStatus
    end: datetime = field(converter=utc)

    @classmethod
    def of(cls, appointment: Appointment) -> Visit:
        return cls(appointment.doctor_id, appointment.status, appointment.time.end)


@define(frozen=True)
class AccessFacts:
    """What is known about the patient and the actor when the rule is asked."""

    visits: tuple[Visit, ...] = ()
    consents: tuple[Consent, ...] = ()
    doctor_hospitals: frozenset[HospitalId] = frozenset()  # the actor's affiliations

    @classmethod
    def of(
        cls,
        appointments: Iterable[Appointment],
        consents: Iterable[Consent],
        doctor_hospitals: Iterable[HospitalId] = (),
    ) -> AccessFacts:
        return cls(
            tuple(Visit.of(a) for a in appointments), tuple(consents), frozenset(doctor_hospitals)
        )


@define(frozen=True)
class Decision:
    allowed: bool
    basis: AccessBasis | None = None
    consent: Consent | None = None

    @property
    def purpose(self) -> str:
        if self.basis is None:
            return "none"
        if self.consent is not None:
            return f"consent:{self.consent.id}:{self.consent.purpose}"
        return self.basis.value


DENIED = Decision(False)


@define(frozen=True)
class RecordAccess:
    care_period: timedelta = DEFAULT_CARE_PERIOD

    def decide(
        self,
        actor: Actor,
        patient_id: PatientId,
        action: RecordAction,
        facts: AccessFacts,
        now: datetime,
    ) -> Decision:
        if actor.role is Role.PATIENT:
            own = actor.patient_id == patient_id and action is RecordAction.READ
            return Decision(True, AccessBasis.OWN) if own else DENIED
        if actor.role is not Role.DOCTOR or actor.doctor_id is None:
            return DENIED
        if self.in_care(actor.doctor_id, facts, now):
            return Decision(True, AccessBasis.CARE)
        for consent in facts.consents:
            if (
                consent.patient_id == patient_id
                and consent.live_at(now)
                and self._names(consent, actor.doctor_id, facts.doctor_hospitals)
                and (action is RecordAction.READ or consent.allows_writing())
            ):
                return Decision(True, AccessBasis.CONSENT, consent)
        return DENIED

    def decide_export(
        self,
        actor: Actor,
        patient_id: PatientId,
        facts: AccessFacts,
        now: datetime,
        reason: str | None = None,
    ) -> Decision:
        """A copy of everything held about the patient (GDPR Art. 15/20, HIPAA right of
        access): the patient's own, as any read of their own; or an admin acting on the
        patient's documented request, which must say so (``reason``). Doctors, even in care,
        read records but never take the whole file away."""
        if actor.role is Role.ADMIN:
            requested = reason is not None and bool(reason.strip())
            return Decision(True, AccessBasis.REQUEST) if requested else DENIED
        if actor.role is Role.PATIENT:
            return self.decide(actor, patient_id, RecordAction.READ, facts, now)
        return DENIED

    def in_care(self, doctor_id: DoctorId, facts: AccessFacts, now: datetime) -> bool:
        moment = utc(now)
        for visit in facts.visits:
            if visit.doctor_id != doctor_id:
                continue
            if visit.status is AppointmentStatus.BOOKED:
                return True
            if (
                visit.status is AppointmentStatus.COMPLETED
                and visit.end <= moment <= visit.end + self.care_period
            ):
                return True
        return False

    @staticmethod
    def _names(consent: Consent, doctor_id: DoctorId, hospitals: frozenset[HospitalId]) -> bool:
        if consent.doctor_id is not None:
            return consent.doctor_id == doctor_id
        return consent.hospital_id in hospitals
