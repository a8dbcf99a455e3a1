"""Audit entries of reads of health data outside the clinical record: insurance claims and
policies (their ICD-10 codes), transfers (reason, notes) and admissions (ward, bed type).

Same port and entry shape as the records' (``records.audit_entry``): one entry per patient
whose data was read, appended in the unit of work that read it. The purpose says on what
footing: ``own`` (the patient), ``admin`` (a platform admin), ``insurer:<scheme id>``,
``hospital:<hospital id>`` (its administrators), or ``none`` for a refusal.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from hellodoctor_domain.model.audit import AuditAction, AuditOutcome, RequestContext
from hellodoctor_domain.model.values import Actor, PatientId
from hellodoctor_domain.ports.unit_of_work import UnitOfWork
from hellodoctor_domain.use_cases.records import audit_entry

REFUSED = "none"


def audit_access(
    uow: UnitOfWork,
    actor: Actor,
    read: Iterable[tuple[PatientId, str]],
    purpose: str,
    now: datetime,
    context: RequestContext,
    action: AuditAction = AuditAction.READ,
) -> None:
    """Append one entry per ``(patient, subject)`` read; ``purpose`` ``none`` is a refusal.
    The caller commits."""
    outcome = AuditOutcome.DENIED if purpose == REFUSED else AuditOutcome.ALLOWED
    for patient_id, subject in read:
        uow.audit.append(
            audit_entry(actor, patient_id, subject, action, outcome, purpose, now, context)
        )
