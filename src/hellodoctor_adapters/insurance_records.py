"""Schemes, policies and claims as plain JSON-ready data: the one mapping both database
adapters store (a JSON column, a MongoDB sub-document); what a constraint or query needs
(a claim's appointment, policy and scheme; a policy's patient) is stored beside it as well.
Instants are integer microseconds since the epoch, exact in JSON and BSON alike."""

from __future__ import annotations

from datetime import date
from typing import Any

from hellodoctor_adapters.hospital_records import from_micros, to_micros
from hellodoctor_domain.model.documents import DocumentId
from hellodoctor_domain.model.insurance import Claim, ClaimItem, ClaimStatus, Policy, Scheme
from hellodoctor_domain.model.values import (
    AppointmentId,
    ClaimId,
    HospitalId,
    Money,
    PatientId,
    PolicyId,
    SchemeId,
    UserId,
    VisitKind,
)

Record = dict[str, Any]


def _money(amount: Money) -> Record:
    return {"minor_units": amount.minor_units, "currency": amount.currency}


def _money_from(record: Record) -> Money:
    return Money(record["minor_units"], record["currency"])


def scheme_record(scheme: Scheme) -> Record:
    return {
        "payer": scheme.payer,
        "name": scheme.name,
        "covered_kinds": [kind.value for kind in scheme.covered_kinds],
        "copay_percent": scheme.copay_percent,
        "yearly_limit": _money(scheme.yearly_limit),
        "insurers": [user.value for user in scheme.insurers],
    }


def scheme_from(key: str, version: int, record: Record) -> Scheme:
    return Scheme(
        SchemeId(key),
        record["payer"],
        record["name"],
        tuple(VisitKind(kind) for kind in record["covered_kinds"]),
        record["copay_percent"],
        _money_from(record["yearly_limit"]),
        tuple(UserId(user) for user in record["insurers"]),
        version=version,
    )


def policy_record(policy: Policy) -> Record:
    return {
        "patient_id": policy.patient_id.value,
        "scheme_id": policy.scheme_id.value,
        "policy_number": policy.policy_number,
        "valid_from": policy.valid_from.isoformat(),
        "valid_until": policy.valid_until.isoformat(),
    }


def policy_from(key: str, version: int, record: Record) -> Policy:
    return Policy(
        PolicyId(key),
        PatientId(record["patient_id"]),
        SchemeId(record["scheme_id"]),
        record["policy_number"],
        date.fromisoformat(record["valid_from"]),
        date.fromisoformat(record["valid_until"]),
        version=version,
    )


def claim_record(claim: Claim) -> Record:
    return {
        "policy_id": claim.policy_id.value,
        "scheme_id": claim.scheme_id.value,
        "patient_id": claim.patient_id.value,
        "items": [
            {
                "service": item.service,
                "diagnosis_codes": list(item.diagnosis_codes),
                "claimed": _money(item.claimed),
                "approved": None if item.approved is None else _money(item.approved),
                "reason": item.reason,
            }
            for item in claim.items
        ],
        "submitted_at_us": to_micros(claim.submitted_at),
        "appointment_id": None if claim.appointment_id is None else claim.appointment_id.value,
        "hospital_id": None if claim.hospital_id is None else claim.hospital_id.value,
        "status": claim.status.value,
        "reason": claim.reason,
        "paid_at_us": None if claim.paid_at is None else to_micros(claim.paid_at),
        "attachments": [document.value for document in claim.attachments],
    }


def claim_from(key: str, version: int, record: Record) -> Claim:
    return Claim(
        ClaimId(key),
        PolicyId(record["policy_id"]),
        SchemeId(record["scheme_id"]),
        PatientId(record["patient_id"]),
        tuple(
            ClaimItem(
                item["service"],
                tuple(item["diagnosis_codes"]),
                _money_from(item["claimed"]),
                None if item["approved"] is None else _money_from(item["approved"]),
                item["reason"],
            )
            for item in record["items"]
        ),
        from_micros(record["submitted_at_us"]),
        appointment_id=None
        if record["appointment_id"] is None
        else AppointmentId(record["appointment_id"]),
        hospital_id=None if record["hospital_id"] is None else HospitalId(record["hospital_id"]),
        status=ClaimStatus(record["status"]),
        reason=record["reason"],
        paid_at=None if record["paid_at_us"] is None else from_micros(record["paid_at_us"]),
        # Claims stored before attachments existed have none.
        attachments=tuple(DocumentId(d) for d in record.get("attachments", ())),
        version=version,
    )
