"""A patient's copy of their data (GDPR Art. 15 right of access and Art. 20 portability, HIPAA
§164.524 right of access): everything HelloDoctor holds about them, gathered in one unit of work.

Who may ask is the one rule's (``RecordAccess.decide_export``, ``model/record_access.py``): the
patient, for themself; an admin on the patient's documented request, with the reason written to
the audit log. Anyone else is answered ``NotFound``, after a ``denied`` entry, exactly as for a
patient who does not exist. The export is one audit entry (subject ``export``) committed with
the read.

What the data *looks like* outside (a FHIR R4 Bundle) is the edge's concern
(``hellodoctor_http/fhir.py``); this module hands over domain objects only.
"""

from __future__ import annotations

from datetime import datetime

from attrs import define

from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.appointment import Appointment
from hellodoctor_domain.model.audit import AuditAction, AuditOutcome, RequestContext
from hellodoctor_domain.model.consent import Consent
from hellodoctor_domain.model.documents import Document, DocumentId, Owner
from hellodoctor_domain.model.insurance import Claim, Policy
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.record_access import AccessBasis, AccessFacts, RecordAccess
from hellodoctor_domain.model.records import MedicalRecord, latest_revisions
from hellodoctor_domain.model.values import Actor, DoctorId, PatientId
from hellodoctor_domain.ports.runtime import Clock
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.records import NO_CONTEXT, audit_entry

SUBJECT = "export"
MAX_DOCUMENTS = 10_000


@define(frozen=True)
class PatientData:
    """Everything held about one patient, as stored, at ``exported_at``."""

    exported_at: datetime
    patient: Patient
    doctors: tuple[Doctor, ...]  # every doctor seen, who wrote a record, or was let in
    appointments: tuple[Appointment, ...]  # by start
    records: tuple[MedicalRecord, ...]  # the latest revision of each, oldest first
    consents: tuple[Consent, ...]
    documents: tuple[Document, ...]  # the patient's own and those records attach
    policies: tuple[Policy, ...]
    claims: tuple[Claim, ...]


class PatientExport:
    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, access: RecordAccess | None = None
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._access = access or RecordAccess()

    def export(
        self,
        actor: Actor,
        patient_id: PatientId,
        context: RequestContext = NO_CONTEXT,
        reason: str | None = None,
    ) -> PatientData:
        """The patient's data, audited; ``NotFound`` (after a ``denied`` entry) when
        ``actor`` may not have it or there is no such patient."""
        now = self._clock.now()
        with self._uow() as uow:
            decision = self._access.decide_export(actor, patient_id, AccessFacts(), now, reason)
            patient = None
            if decision.allowed:
                try:
                    patient = uow.patients.get(patient_id)
                except NotFound:
                    patient = None
            if patient is None:
                purpose = "none"
            elif decision.basis is AccessBasis.REQUEST:
                purpose = f"request:{(reason or '').strip()}"
            else:
                purpose = decision.purpose
            outcome = AuditOutcome.ALLOWED if patient is not None else AuditOutcome.DENIED
            uow.audit.append(
                audit_entry(
                    actor, patient_id, SUBJECT, AuditAction.READ, outcome, purpose, now, context
                )
            )
            if patient is None:
                uow.commit()
                raise NotFound(f"no patient {patient_id}")
            data = self._gather(uow, patient, now)
            uow.commit()
        return data

    @staticmethod
    def _gather(uow: UnitOfWork, patient: Patient, now: datetime) -> PatientData:
        appointments = uow.appointments.for_patient(patient.id)
        records = latest_revisions(uow.records.of_patient(patient.id))
        consents = uow.consents.of_patient(patient.id)
        documents: dict[DocumentId, Document] = {
            d.id: d for d in uow.documents.for_owner(Owner.patient(patient.id), MAX_DOCUMENTS)
        }
        for record in records:
            for attached in record.attachments:
                document_id = DocumentId(attached)
                if document_id not in documents:
                    try:
                        documents[document_id] = uow.documents.get(document_id)
                    except NotFound:
                        continue  # deleted since; the record still names it
        policies = uow.policies.of_patient(patient.id)
        claims = [claim for policy in policies for claim in uow.claims.of_policy(policy.id)]
        seen: dict[DoctorId, None] = {}
        for doctor_id in (
            *(a.doctor_id for a in appointments),
            *(r.author_id for r in records),
            *(c.doctor_id for c in consents if c.doctor_id is not None),
        ):
            seen.setdefault(doctor_id)
        doctors = []
        for doctor_id in seen:
            try:
                doctors.append(uow.doctors.get(doctor_id))
            except NotFound:
                continue
        return PatientData(
            exported_at=now,
            patient=patient,
            doctors=tuple(doctors),
            appointments=tuple(appointments),
            records=tuple(records),
            consents=tuple(consents),
            documents=tuple(sorted(documents.values(), key=lambda d: (d.created_at, d.id.value))),
            policies=tuple(policies),
            claims=tuple(sorted(claims, key=lambda c: (c.submitted_at, c.id.value))),
        )
