"""What may be asked about clinical records: doctors write and correct them, the patient and
their doctors read them (and the history and prescriptions derived from them), patients grant
and revoke consents, everybody's access lands in the audit log.

Every access to protected health information asks the one rule (``RecordAccess.decide``,
``model/record_access.py``) and appends one audit entry **in the same unit of work** as the
access: an allowed read commits its entry with nothing else; a refused attempt commits its
"denied" entry and then answers ``NotFound`` — the same answer as for a patient who does not
exist, so a refusal tells nobody whether there is anything to refuse.
"""

from __future__ import annotations

from datetime import datetime

from attrs import define, evolve

from hellodoctor_domain.errors import AccessDenied, InvalidValue, NotFound
from hellodoctor_domain.model.audit import (
    AuditAction,
    AuditEntry,
    AuditOutcome,
    RequestContext,
    SealedEntry,
    verify_chain,
)
from hellodoctor_domain.model.consent import Consent, ConsentId, ConsentScope
from hellodoctor_domain.model.record_access import (
    AccessFacts,
    Decision,
    RecordAccess,
    RecordAction,
)
from hellodoctor_domain.model.records import (
    MedicalHistory,
    MedicalRecord,
    Prescription,
    RecordId,
    active_prescriptions,
    latest_revisions,
    medical_history,
)
from hellodoctor_domain.model.values import (
    Actor,
    DoctorId,
    HospitalId,
    PatientId,
    Role,
)
from hellodoctor_domain.ports.records import AuditQuery
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

NO_CONTEXT = RequestContext()


@define(frozen=True)
class ConsentGrant:
    """What a patient grants: to a doctor or to a hospital's doctors, until when, and why."""

    scope: ConsentScope
    until: datetime
    purpose: str
    doctor_id: DoctorId | None = None
    hospital_id: HospitalId | None = None


def audit_entry(
    actor: Actor,
    patient_id: PatientId,
    subject: str,
    action: AuditAction,
    outcome: AuditOutcome,
    purpose: str,
    now: datetime,
    context: RequestContext,
) -> AuditEntry:
    return AuditEntry(
        now,
        actor.user_id,
        actor.role,
        patient_id,
        subject,
        action,
        outcome,
        purpose,
        context.request_id,
        context.client_address,
    )


class Records:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        access: RecordAccess | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._access = access or RecordAccess()

    # -- records ----------------------------------------------------------------------------

    def write(
        self, actor: Actor, record: MedicalRecord, context: RequestContext = NO_CONTEXT
    ) -> MedicalRecord:
        """A doctor in a care relationship (or with a read-write consent) writes a new record
        about ``record.patient_id``; its id, author, time and revision are the server's."""
        now = self._clock.now()
        with self._uow() as uow:
            decision = self._require(
                uow, actor, record.patient_id, RecordAction.WRITE, "records", context
            )
            assert actor.doctor_id is not None  # only doctors may write
            if record.appointment_id is not None:
                appointment = uow.appointments.get(record.appointment_id)
                if appointment.patient_id != record.patient_id:
                    raise InvalidValue("the appointment is another patient's")
            stored = evolve(
                record,
                id=RecordId(self._ids.new_id()),
                author_id=actor.doctor_id,
                created_at=now,
                revision=1,
                correction_reason=None,
            )
            uow.records.add(stored)
            subject = f"record:{stored.id}"
            self._audit(
                uow, actor, stored.patient_id, subject, AuditAction.WRITE, decision, context, now
            )
            uow.commit()
        return stored

    def correct(
        self,
        actor: Actor,
        patient_id: PatientId,
        record_id: RecordId,
        corrected: MedicalRecord,
        reason: str,
        context: RequestContext = NO_CONTEXT,
    ) -> MedicalRecord:
        """A new revision superseding the latest one; both are kept."""
        now = self._clock.now()
        with self._uow() as uow:
            subject = f"record:{record_id}"
            decision = self._require(uow, actor, patient_id, RecordAction.WRITE, subject, context)
            latest = self._revisions_of(uow, actor, patient_id, record_id, context)[-1]
            assert actor.doctor_id is not None
            revision = latest.correct(corrected, actor.doctor_id, reason, now)
            uow.records.add(revision)
            self._audit(uow, actor, patient_id, subject, AuditAction.WRITE, decision, context, now)
            uow.commit()
        return revision

    def of_patient(
        self, actor: Actor, patient_id: PatientId, context: RequestContext = NO_CONTEXT
    ) -> list[MedicalRecord]:
        """The latest revision of each of the patient's records, oldest first."""
        with self._uow() as uow:
            self._read(uow, actor, patient_id, "records", context)
            found = latest_revisions(uow.records.of_patient(patient_id))
            uow.commit()
        return found

    def versions(
        self,
        actor: Actor,
        patient_id: PatientId,
        record_id: RecordId,
        context: RequestContext = NO_CONTEXT,
    ) -> list[MedicalRecord]:
        """Every revision of one record, first to latest."""
        with self._uow() as uow:
            found = self._revisions_of(uow, actor, patient_id, record_id, context)
            self._read(uow, actor, patient_id, f"record:{record_id}", context)
            uow.commit()
        return found

    def history(
        self, actor: Actor, patient_id: PatientId, context: RequestContext = NO_CONTEXT
    ) -> MedicalHistory:
        with self._uow() as uow:
            self._read(uow, actor, patient_id, "history", context)
            patient = uow.patients.get(patient_id)
            today = self._clock.now().date()
            found = medical_history(uow.records.of_patient(patient_id), today, patient.allergies)
            uow.commit()
        return found

    def prescriptions(
        self, actor: Actor, patient_id: PatientId, context: RequestContext = NO_CONTEXT
    ) -> list[Prescription]:
        """The prescriptions active today."""
        with self._uow() as uow:
            self._read(uow, actor, patient_id, "prescriptions", context)
            today = self._clock.now().date()
            found = active_prescriptions(uow.records.of_patient(patient_id), today)
            uow.commit()
        return found

    # -- consents ---------------------------------------------------------------------------

    def grant(
        self,
        actor: Actor,
        patient_id: PatientId,
        grant: ConsentGrant,
        context: RequestContext = NO_CONTEXT,
    ) -> Consent:
        """The patient (or an admin on their behalf) lets a doctor or a hospital in."""
        now = self._clock.now()
        with self._uow() as uow:
            self._manage(uow, actor, patient_id)
            consent = Consent(  # refuses a bad grant before anything is looked up
                ConsentId(self._ids.new_id()),
                patient_id,
                grant.scope,
                grant.purpose,
                now,
                grant.until,
                doctor_id=grant.doctor_id,
                hospital_id=grant.hospital_id,
            )
            if grant.doctor_id is not None:
                uow.doctors.get(grant.doctor_id)  # NotFound for an unknown doctor
            if grant.hospital_id is not None:
                uow.hospitals.get(grant.hospital_id)
            uow.consents.add(consent)
            grantee = consent.doctor_id or consent.hospital_id
            self._audit(
                uow,
                actor,
                patient_id,
                f"consent:{consent.id}",
                AuditAction.GRANT,
                Decision(True),
                context,
                now,
                purpose=f"grant to {grantee}",
            )
            uow.commit()
        return consent

    def consents(self, actor: Actor, patient_id: PatientId) -> list[Consent]:
        with self._uow() as uow:
            self._manage(uow, actor, patient_id)
            return uow.consents.of_patient(patient_id)

    def revoke(
        self,
        actor: Actor,
        patient_id: PatientId,
        consent_id: ConsentId,
        context: RequestContext = NO_CONTEXT,
    ) -> Consent:
        now = self._clock.now()
        with self._uow() as uow:
            self._manage(uow, actor, patient_id)
            consent = uow.consents.get(consent_id)
            if consent.patient_id != patient_id:
                raise NotFound(f"no consent {consent_id}")
            consent.revoke(now)
            uow.consents.update(consent)
            self._audit(
                uow,
                actor,
                patient_id,
                f"consent:{consent.id}",
                AuditAction.REVOKE,
                Decision(True),
                context,
                now,
                purpose="revoked",
            )
            uow.commit()
        return consent

    # -- the audit log ----------------------------------------------------------------------

    def access_log(
        self, actor: Actor, before: int | None = None, limit: int = 50
    ) -> list[SealedEntry]:
        """A patient sees who accessed their records (and who was refused), newest first."""
        if actor.role is not Role.PATIENT or actor.patient_id is None:
            raise AccessDenied("only a patient has an access log of their own")
        query = AuditQuery(patient_id=actor.patient_id, before_sequence=before, limit=limit)
        with self._uow() as uow:
            return uow.audit.search(query)

    def search_audit(self, actor: Actor, query: AuditQuery) -> list[SealedEntry]:
        if actor.role is not Role.ADMIN:
            raise AccessDenied("only an admin may search the audit log")
        with self._uow() as uow:
            return uow.audit.search(query)

    def verify_audit(self, actor: Actor, page: int = 1000) -> tuple[int, int | None]:
        """Walk the whole chain: ``(entries checked, first broken sequence or None)``."""
        if actor.role is not Role.ADMIN:
            raise AccessDenied("only an admin may verify the audit log")
        checked: list[SealedEntry] = []
        after = 0
        with self._uow() as uow:
            while batch := uow.audit.chain(after, page):
                checked.extend(batch)
                after = batch[-1].sequence
        return len(checked), verify_chain(checked)

    # -- the rule, asked once per access ------------------------------------------------------

    def facts(self, uow: UnitOfWork, actor: Actor, patient_id: PatientId) -> AccessFacts:
        """What the rule needs to decide for ``actor`` (only a doctor's needs reading)."""
        if actor.role is not Role.DOCTOR or actor.doctor_id is None:
            return AccessFacts()
        doctor_id = actor.doctor_id
        appointments = [
            a for a in uow.appointments.for_patient(patient_id) if a.doctor_id == doctor_id
        ]
        hospitals = [
            h.id for h in uow.hospitals.list() if any(a.doctor_id == doctor_id for a in h.doctors)
        ]
        return AccessFacts.of(appointments, uow.consents.of_patient(patient_id), hospitals)

    def _require(
        self,
        uow: UnitOfWork,
        actor: Actor,
        patient_id: PatientId,
        action: RecordAction,
        subject: str,
        context: RequestContext,
    ) -> Decision:
        """The rule's answer, or (after committing a "denied" entry) ``NotFound``."""
        now = self._clock.now()
        decision = self._access.decide(
            actor, patient_id, action, self.facts(uow, actor, patient_id), now
        )
        if decision.allowed:
            try:
                uow.patients.get(patient_id)
            except NotFound:
                decision = Decision(False)
        if not decision.allowed:
            audit_action = AuditAction.READ if action is RecordAction.READ else AuditAction.WRITE
            self._audit(uow, actor, patient_id, subject, audit_action, decision, context, now)
            uow.commit()
            raise NotFound(f"no patient {patient_id}")
        return decision

    def _read(
        self,
        uow: UnitOfWork,
        actor: Actor,
        patient_id: PatientId,
        subject: str,
        context: RequestContext,
    ) -> None:
        decision = self._require(uow, actor, patient_id, RecordAction.READ, subject, context)
        self._audit(
            uow, actor, patient_id, subject, AuditAction.READ, decision, context, self._clock.now()
        )

    def _audit(
        self,
        uow: UnitOfWork,
        actor: Actor,
        patient_id: PatientId,
        subject: str,
        action: AuditAction,
        decision: Decision,
        context: RequestContext,
        now: datetime,
        *,
        purpose: str | None = None,
    ) -> None:
        outcome = AuditOutcome.ALLOWED if decision.allowed else AuditOutcome.DENIED
        entry = audit_entry(
            actor, patient_id, subject, action, outcome, purpose or decision.purpose, now, context
        )
        uow.audit.append(entry)

    def _revisions_of(
        self,
        uow: UnitOfWork,
        actor: Actor,
        patient_id: PatientId,
        record_id: RecordId,
        context: RequestContext,
    ) -> list[MedicalRecord]:
        """The record's revisions if it is ``patient_id`` 's; otherwise the attempt is audited
        as refused (with the rule's decision first, so nothing leaks) and ``NotFound``."""
        try:
            found = uow.records.revisions(record_id)
        except NotFound:
            found = []
        if found and found[0].patient_id == patient_id:
            return found
        self._require(uow, actor, patient_id, RecordAction.READ, f"record:{record_id}", context)
        self._audit(
            uow,
            actor,
            patient_id,
            f"record:{record_id}",
            AuditAction.READ,
            Decision(False),
            context,
            self._clock.now(),
        )
        uow.commit()
        raise NotFound(f"no record {record_id}")

    @staticmethod
    def _manage(uow: UnitOfWork, actor: Actor, patient_id: PatientId) -> None:
        """Consents are the patient's to manage (an admin may, on their behalf); anyone else
        is told the patient does not exist."""
        own = actor.role is Role.PATIENT and actor.patient_id == patient_id
        if not (own or actor.role is Role.ADMIN):
            raise NotFound(f"no patient {patient_id}")
        uow.patients.get(patient_id)
