"""A patient's data as a FHIR R4 Bundle (``type: collection``): the mapping from the domain's
objects (``use_cases/export.py`` ``PatientData``) to FHIR resources, and the Bundle's JSON
written entry by entry (``bundle_chunks``), so a large export is never one giant dictionary.

The resources are plain JSON dictionaries shaped to FHIR R4 (checked against the R4B models of
``fhir.resources`` in the tests, plus the value sets the library does not check). Every
resource's ``fullUrl`` is a stable ``urn:uuid:`` derived from its type and our id, and
references inside the Bundle point at those, as FHIR resolves references in a collection.
docs/export.md is the mapping table.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.consent import Consent, ConsentScope
from hellodoctor_domain.model.documents import Document
from hellodoctor_domain.model.insurance import Claim, Policy
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.records import (
    DiagnosisStatus,
    Interpretation,
    MedicalRecord,
    VitalSign,
)
from hellodoctor_domain.model.values import MINOR_UNIT_EXPONENTS, Money, VisitKind
from hellodoctor_domain.use_cases.export import PatientData

MEDIA_TYPE = "application/fhir+json"

# Code systems (HL7 terminology, LOINC, UCUM, ICD-10) and our own, for what has no standard code.
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
BCP47 = "urn:ietf:bcp:47"
TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"
OBSERVATION_CATEGORY = f"{TERMINOLOGY}/observation-category"
INTERPRETATION = f"{TERMINOLOGY}/v3-ObservationInterpretation"
CONDITION_CLINICAL = f"{TERMINOLOGY}/condition-clinical"
CONDITION_VERIFICATION = f"{TERMINOLOGY}/condition-ver-status"
CONDITION_CATEGORY = f"{TERMINOLOGY}/condition-category"
ALLERGY_CLINICAL = f"{TERMINOLOGY}/allergyintolerance-clinical"
ALLERGY_VERIFICATION = f"{TERMINOLOGY}/allergyintolerance-verification"
APPOINTMENT_REASON = f"{TERMINOLOGY}/v2-0276"
CONSENT_SCOPE = f"{TERMINOLOGY}/consentscope"
CONSENT_ACTION = f"{TERMINOLOGY}/consentaction"
ACT_CODE = f"{TERMINOLOGY}/v3-ActCode"
PARTICIPATION = f"{TERMINOLOGY}/v3-ParticipationType"
CLAIM_TYPE = f"{TERMINOLOGY}/claim-type"
PRIORITY = f"{TERMINOLOGY}/processpriority"
OURS = "https://hellodoctor.dev/fhir"


def system(name: str) -> str:
    """Our identifier or code system for ``name`` (``patient``, ``appointment-type``, ...)."""
    return f"{OURS}/{name}"


def extension(name: str) -> str:
    return f"{OURS}/StructureDefinition/{name}"


APPOINTMENT_STATUS: dict[AppointmentStatus, str] = {
    AppointmentStatus.HELD: "pending",  # reserved, waiting for the payment
    AppointmentStatus.BOOKED: "booked",
    AppointmentStatus.COMPLETED: "fulfilled",
    AppointmentStatus.NO_SHOW: "noshow",
    AppointmentStatus.CANCELLED: "cancelled",
    AppointmentStatus.EXPIRED: "cancelled",  # a hold never paid: cancelled by the system
}

VISIT_REASON: dict[VisitKind, str] = {
    VisitKind.REGULAR: "ROUTINE",
    VisitKind.FOLLOW_UP: "FOLLOWUP",
    VisitKind.EMERGENCY: "EMERGENCY",
}

# LOINC codes of the vital signs (the FHIR vital-signs profile's own).
VITAL_LOINC: dict[VitalSign, tuple[str, str]] = {
    VitalSign.TEMPERATURE: ("8310-5", "Body temperature"),
    VitalSign.HEART_RATE: ("8867-4", "Heart rate"),
    VitalSign.RESPIRATORY_RATE: ("9279-1", "Respiratory rate"),
    VitalSign.SYSTOLIC: ("8480-6", "Systolic blood pressure"),
    VitalSign.DIASTOLIC: ("8462-4", "Diastolic blood pressure"),
    VitalSign.OXYGEN_SATURATION: ("2708-6", "Oxygen saturation in Arterial blood"),
    VitalSign.WEIGHT: ("29463-7", "Body weight"),
    VitalSign.HEIGHT: ("8302-2", "Body height"),
}
BLOOD_GROUP_LOINC = ("882-1", "ABO and Rh group [Type] in Blood")

INTERPRETATION_CODE: dict[Interpretation, str] = {
    Interpretation.NORMAL: "N",
    Interpretation.LOW: "L",
    Interpretation.HIGH: "H",
    Interpretation.CRITICAL: "AA",  # critical abnormal
    Interpretation.ABNORMAL: "A",
}

_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_NAMESPACE = uuid.UUID("6f1c1a52-3c1e-4d55-9a55-68656c6c6f64")


def fhir_id(value: str) -> str:
    """Our id when FHIR accepts it as an id, else a stable UUID of it."""
    return value if _FHIR_ID.fullmatch(value) else str(uuid.uuid5(_NAMESPACE, value))


def full_url(resource_type: str, resource_id: str) -> str:
    """The entry's ``fullUrl`` (and what references to it say), from its FHIR id."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{resource_type}/{resource_id}')}"


def reference(resource_type: str, our_id: str, display: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"reference": full_url(resource_type, fhir_id(our_id))}
    if display:
        found["display"] = display
    return found


def by_identifier(kind: str, value: str) -> dict[str, Any]:
    """A reference to something the Bundle does not carry (a hospital, a scheme)."""
    return {"identifier": {"system": system(kind), "value": value}, "display": value}


def _coding(code_system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": code_system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _concept(code_system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [_coding(code_system, code, display)]}


def _instant(moment: datetime) -> str:
    return moment.isoformat()


def _day(day: date) -> str:
    return day.isoformat()


def money(amount: Money) -> dict[str, Any]:
    """FHIR Money is a decimal of the currency's major unit."""
    exponent = MINOR_UNIT_EXPONENTS[amount.currency]
    value = Decimal(amount.minor_units).scaleb(-exponent)
    return {"value": int(value) if exponent == 0 else float(value), "currency": amount.currency}


def _identifier(kind: str, value: str) -> dict[str, Any]:
    return {"system": system(kind), "value": value}


def _resource(resource_type: str, our_id: str, **content: Any) -> dict[str, Any]:
    body = {"resourceType": resource_type, "id": fhir_id(our_id)}
    body.update({key: value for key, value in content.items() if value not in (None, [], "")})
    return body


# -- the resources --------------------------------------------------------------------------


def patient_resource(patient: Patient) -> dict[str, Any]:
    identifiers = [_identifier("patient", patient.id.value)]
    if patient.health_id:
        identifiers.append(_identifier("health-id", patient.health_id))
    telecom = []
    if patient.phone:
        telecom.append({"system": "phone", "value": patient.phone, "use": "mobile"})
    if patient.email is not None:
        telecom.append({"system": "email", "value": patient.email.value})
    contacts = [
        {
            "name": {"text": contact.name},
            "telecom": [{"system": "phone", "value": contact.phone}],
            **({"relationship": [{"text": contact.relationship}]} if contact.relationship else {}),
        }
        for contact in patient.emergency_contacts
    ]
    language = (
        [{"language": _concept(BCP47, patient.language), "preferred": True}]
        if patient.language
        else []
    )
    return _resource(
        "Patient",
        patient.id.value,
        identifier=identifiers,
        name=[{"text": patient.name}],
        telecom=telecom,
        birthDate=None if patient.date_of_birth is None else _day(patient.date_of_birth),
        contact=contacts,
        communication=language,
    )


def practitioner_resource(doctor: Doctor) -> dict[str, Any]:
    return _resource(
        "Practitioner",
        doctor.id.value,
        identifier=[
            _identifier("doctor", doctor.id.value),
            _identifier("registration-number", doctor.registration_number),
        ],
        name=[{"text": doctor.name}],
        qualification=[{"code": {"text": q}} for q in (doctor.specialty, *doctor.qualifications)],
        communication=[{"text": language} for language in doctor.languages],
    )


def appointment_resource(appointment: Appointment, doctor_known: bool) -> dict[str, Any]:
    patient = reference("Patient", appointment.patient_id.value)
    participants = [{"actor": patient, "status": "accepted"}]
    doctor_ref = (
        reference("Practitioner", appointment.doctor_id.value)
        if doctor_known
        else by_identifier("doctor", appointment.doctor_id.value)
    )
    participants.append({"actor": doctor_ref, "status": "accepted"})
    cancellation = appointment.cancellation
    return _resource(
        "Appointment",
        appointment.id.value,
        identifier=[_identifier("appointment", appointment.id.value)],
        status=APPOINTMENT_STATUS[appointment.status],
        extension=[{"url": extension("appointment-status"), "valueCode": appointment.status.value}],
        serviceType=[_concept(system("appointment-type"), appointment.appointment_type.value)],
        appointmentType=_concept(APPOINTMENT_REASON, VISIT_REASON[appointment.visit_kind]),
        cancelationReason=None if cancellation is None else {"text": cancellation.reason},
        description=appointment.reason or None,
        start=_instant(appointment.time.start),
        end=_instant(appointment.time.end),
        minutesDuration=int(appointment.time.duration.total_seconds() // 60),
        created=_instant(appointment.created_at),
        participant=participants,
    )


def _status(record: MedicalRecord) -> str:
    return "final" if record.revision == 1 else "amended"


def _record_base(record: MedicalRecord) -> dict[str, Any]:
    return {
        "subject": reference("Patient", record.patient_id.value),
        "effectiveDateTime": _instant(record.created_at),
        "issued": _instant(record.created_at),
        "performer": [reference("Practitioner", record.author_id.value)],
    }


def observations(record: MedicalRecord) -> Iterator[dict[str, Any]]:
    for n, vital in enumerate(record.vitals, 1):
        code, display = VITAL_LOINC[vital.sign]
        yield _resource(
            "Observation",
            f"{record.id.value}-vital-{n}",
            status=_status(record),
            category=[_concept(OBSERVATION_CATEGORY, "vital-signs", "Vital Signs")],
            code={"coding": [_coding(LOINC, code, display)], "text": vital.sign.value},
            valueQuantity={
                "value": vital.value,
                "unit": vital.unit,
                "system": UCUM,
                "code": vital.unit,
            },
            **_record_base(record),
        )
    for n, lab in enumerate(record.lab_results, 1):
        yield _resource(
            "Observation",
            f"{record.id.value}-lab-{n}",
            status=_status(record),
            category=[_concept(OBSERVATION_CATEGORY, "laboratory", "Laboratory")],
            code={"text": lab.test},
            interpretation=[_concept(INTERPRETATION, INTERPRETATION_CODE[lab.interpretation])],
            referenceRange=[{"text": lab.reference_range}] if lab.reference_range else None,
            **_lab_value(lab.value, lab.unit),
            **_record_base(record),
        )


def _lab_value(value: str, unit: str) -> dict[str, Any]:
    """A number with a unit is a Quantity (the unit as written: labs' units are free text);
    anything else (``positive``, ``1:80``) is a string, exactly as entered."""
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or not unit:
        return {"valueString": value}
    return {"valueQuantity": {"value": float(number), "unit": unit}}


def conditions(record: MedicalRecord) -> Iterator[dict[str, Any]]:
    for n, diagnosis in enumerate(record.diagnoses, 1):
        resolved = diagnosis.status is DiagnosisStatus.RESOLVED
        yield _resource(
            "Condition",
            f"{record.id.value}-diagnosis-{n}",
            extension=[{"url": extension("diagnosis-status"), "valueCode": diagnosis.status.value}],
            clinicalStatus=_concept(CONDITION_CLINICAL, "resolved" if resolved else "active"),
            verificationStatus=_concept(CONDITION_VERIFICATION, "confirmed"),
            category=[_concept(CONDITION_CATEGORY, "encounter-diagnosis")],
            code={
                "coding": [_coding(ICD10, diagnosis.code, diagnosis.text)],
                "text": diagnosis.text,
            },
            subject=reference("Patient", record.patient_id.value),
            recordedDate=_instant(record.created_at),
            recorder=reference("Practitioner", record.author_id.value),
        )


def allergy(
    our_id: str, patient: Patient, text: str, record: MedicalRecord | None
) -> dict[str, Any]:
    return _resource(
        "AllergyIntolerance",
        our_id,
        clinicalStatus=_concept(ALLERGY_CLINICAL, "active"),
        # What the patient told us is theirs; what a doctor wrote, confirmed.
        verificationStatus=_concept(
            ALLERGY_VERIFICATION, "unconfirmed" if record is None else "confirmed"
        ),
        code={"text": text},
        patient=reference("Patient", patient.id.value),
        recordedDate=None if record is None else _instant(record.created_at),
        recorder=None if record is None else reference("Practitioner", record.author_id.value),
    )


def medication_requests(record: MedicalRecord, today: date) -> Iterator[dict[str, Any]]:
    for n, prescription in enumerate(record.prescriptions, 1):
        ended = prescription.end is not None and prescription.end < today
        bounds = {"start": _day(prescription.start)}
        if prescription.end is not None:
            bounds["end"] = _day(prescription.end)
        yield _resource(
            "MedicationRequest",
            f"{record.id.value}-prescription-{n}",
            status="completed" if ended else "active",
            intent="order",
            medicationCodeableConcept={"text": prescription.medication},
            subject=reference("Patient", record.patient_id.value),
            authoredOn=_instant(record.created_at),
            requester=reference("Practitioner", record.author_id.value),
            dosageInstruction=[
                {
                    "text": f"{prescription.dose}, {prescription.frequency}",
                    "timing": {
                        "code": {"text": prescription.frequency},
                        "repeat": {"boundsPeriod": bounds},
                    },
                }
            ],
        )


def document_reference(
    document: Document, base_url: str, appointment_ids: set[str]
) -> dict[str, Any]:
    context = None
    if document.appointment_id is not None:
        linked = document.appointment_id.value
        related = (
            reference("Appointment", linked)
            if linked in appointment_ids
            else by_identifier("appointment", linked)
        )
        context = {"related": [related]}
    return _resource(
        "DocumentReference",
        document.id.value,
        identifier=[_identifier("document", document.id.value)],
        status="current",
        type={"coding": [_coding(system("document-kind"), document.kind.value)]},
        subject=reference("Patient", document.owner.profile_id)
        if document.owner.role.value == "patient"
        else None,
        date=_instant(document.created_at),
        description=document.original_name,
        content=[
            {
                "attachment": {
                    "contentType": document.media_type.value,
                    # The API's link: the holder of a valid token is sent a signed download.
                    "url": f"{base_url}/api/v1/documents/{document.id.value}/download",
                    "size": document.size,
                    "title": document.original_name,
                    "creation": _instant(document.created_at),
                }
            }
        ],
        context=context,
    )


def consent_resource(consent: Consent, now: datetime, doctors: set[str]) -> dict[str, Any]:
    if consent.doctor_id is not None:
        grantee = (
            reference("Practitioner", consent.doctor_id.value)
            if consent.doctor_id.value in doctors
            else by_identifier("doctor", consent.doctor_id.value)
        )
    else:
        assert consent.hospital_id is not None
        grantee = by_identifier("hospital", consent.hospital_id.value)
    actions = [_concept(CONSENT_ACTION, "access")]
    if consent.scope is ConsentScope.READ_WRITE:
        actions.append(_concept(CONSENT_ACTION, "correct"))
    revoked = (
        [{"url": extension("consent-revoked-at"), "valueDateTime": _instant(consent.revoked_at)}]
        if consent.revoked_at is not None
        else []
    )
    return _resource(
        "Consent",
        consent.id.value,
        extension=revoked,
        identifier=[_identifier("consent", consent.id.value)],
        status="active" if consent.live_at(now) else "inactive",
        scope=_concept(CONSENT_SCOPE, "patient-privacy"),
        category=[_concept(LOINC, "59284-0", "Patient Consent")],
        patient=reference("Patient", consent.patient_id.value),
        dateTime=_instant(consent.granted_at),
        policyRule=_concept(ACT_CODE, "OPTIN"),
        provision={
            "type": "permit",
            "period": {"start": _instant(consent.granted_at), "end": _instant(consent.until)},
            "actor": [{"role": _concept(PARTICIPATION, "PRCP"), "reference": grantee}],
            "action": actions,
            "purpose": [{"display": consent.purpose}],
        },
    )


def claim_resource(claim: Claim, policy: Policy | None, provider: dict[str, Any]) -> dict[str, Any]:
    codes: list[str] = []
    for item in claim.items:
        for code in item.diagnosis_codes:
            if code not in codes:
                codes.append(code)
    items = [
        {
            "sequence": n,
            "productOrService": {"text": item.service},
            "net": money(item.claimed),
            **(
                {"diagnosisSequence": [codes.index(c) + 1 for c in item.diagnosis_codes]}
                if item.diagnosis_codes
                else {}
            ),
        }
        for n, item in enumerate(claim.items, 1)
    ]
    coverage = by_identifier("policy", policy.policy_number if policy else claim.policy_id.value)
    return _resource(
        "Claim",
        claim.id.value,
        extension=[{"url": extension("claim-status"), "valueCode": claim.status.value}],
        identifier=[_identifier("claim", claim.id.value)],
        status="active",
        type=_concept(
            CLAIM_TYPE, "professional" if claim.appointment_id is not None else "institutional"
        ),
        use="claim",
        patient=reference("Patient", claim.patient_id.value),
        created=_instant(claim.submitted_at),
        insurer=by_identifier("scheme", claim.scheme_id.value),
        provider=provider,
        priority=_concept(PRIORITY, "normal"),
        insurance=[{"sequence": 1, "focal": True, "coverage": coverage}],
        diagnosis=[
            {"sequence": n, "diagnosisCodeableConcept": _concept(ICD10, code)}
            for n, code in enumerate(codes, 1)
        ],
        item=items,
        total=money(claim.claimed_total),
    )


def resources(data: PatientData, base_url: str) -> Iterator[dict[str, Any]]:
    """Every resource of the export, one at a time: the patient first, then who they saw,
    their appointments, what the records say, documents, consents and claims."""
    patient = data.patient
    today = data.exported_at.date()
    yield patient_resource(patient)
    doctors = {d.id.value for d in data.doctors}
    for doctor in data.doctors:
        yield practitioner_resource(doctor)
    appointments = {a.id.value: a for a in data.appointments}
    for appointment in data.appointments:
        yield appointment_resource(appointment, appointment.doctor_id.value in doctors)
    if patient.blood_group:
        code, display = BLOOD_GROUP_LOINC
        yield _resource(
            "Observation",
            f"{patient.id.value}-blood-group",
            status="final",
            category=[_concept(OBSERVATION_CATEGORY, "laboratory", "Laboratory")],
            code={"coding": [_coding(LOINC, code, display)]},
            subject=reference("Patient", patient.id.value),
            valueCodeableConcept={"text": patient.blood_group},
        )
    for n, text in enumerate(patient.allergies, 1):
        yield allergy(f"{patient.id.value}-allergy-{n}", patient, text, None)
    for record in data.records:
        yield from observations(record)
        yield from conditions(record)
        for n, text in enumerate(record.allergies, 1):
            yield allergy(f"{record.id.value}-allergy-{n}", patient, text, record)
        yield from medication_requests(record, today)
    for document in data.documents:
        yield document_reference(document, base_url, set(appointments))
    for consent in data.consents:
        yield consent_resource(consent, data.exported_at, doctors)
    policies = {p.id: p for p in data.policies}
    for claim in data.claims:
        provider = by_identifier("hospital", claim.hospital_id.value) if claim.hospital_id else None
        visit = appointments.get(claim.appointment_id.value) if claim.appointment_id else None
        if visit is not None and visit.doctor_id.value in doctors:
            provider = reference("Practitioner", visit.doctor_id.value)
        elif provider is None and claim.appointment_id is not None:
            provider = by_identifier("appointment", claim.appointment_id.value)
        assert provider is not None
        yield claim_resource(claim, policies.get(claim.policy_id), provider)


def entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": full_url(resource["resourceType"], resource["id"]), "resource": resource}


def bundle_chunks(data: PatientData, base_url: str) -> Iterator[bytes]:
    """The Bundle's JSON, written as its entries are produced: a head, one entry at a time,
    a tail. Joined, the chunks are one JSON document."""
    head = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(_NAMESPACE, f"export/{data.patient.id}/{data.exported_at}")),
        "meta": {"lastUpdated": _instant(data.exported_at)},
        "type": "collection",
        "timestamp": _instant(data.exported_at),
    }
    yield json.dumps(head, ensure_ascii=False)[:-1].encode() + b',"entry":['
    for n, resource in enumerate(resources(data, base_url)):
        text = json.dumps(entry(resource), ensure_ascii=False, separators=(",", ":"))
        yield (b"," if n else b"") + text.encode()
    yield b"]}"
