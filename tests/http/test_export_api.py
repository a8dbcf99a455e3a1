"""The patient's data export over HTTP: a FHIR R4 Bundle that the R4B models of
``fhir.resources`` accept entry by entry and as a whole, whose codes are in their value sets,
and whose values are the stored ones; nobody else's export (404, audited); an admin's on
request, audited with the reason."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from hellodoctor_adapters.testing.files import PNG
from hellodoctor_domain.model.records import VitalSign
from hellodoctor_http import fhir
from hellodoctor_http.testing import FEE_DOCTOR, FREE_DOCTOR, Headers, ValidatingClient, at

from .test_records_api import RECORDS, a_record, book_visit

EXPORT = "/api/v1/me/export"

# The value sets the library does not check (FHIR R4 bindings, required strength).
APPOINTMENT_STATUSES = {
    "proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow",
    "entered-in-error", "checked-in", "waitlist",
}  # fmt: skip
OBSERVATION_STATUSES = {
    "registered", "preliminary", "final", "amended", "corrected", "cancelled",
    "entered-in-error", "unknown",
}  # fmt: skip
CONDITION_CLINICAL = {"active", "recurrence", "relapse", "inactive", "remission", "resolved"}
MEDICATION_STATUSES = {
    "active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft",
    "unknown",
}  # fmt: skip
CONSENT_STATUSES = {"draft", "proposed", "active", "rejected", "inactive", "entered-in-error"}
DOCUMENT_STATUSES = {"current", "superseded", "entered-in-error"}
CLAIM_STATUSES = {"active", "cancelled", "draft", "entered-in-error"}
INTERPRETATIONS = {"N", "L", "H", "A", "AA", "LL", "HH"}
LOINC_VITALS = {code for code, _ in fhir.VITAL_LOINC.values()}


def export_of(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/fhir+json")
    bundle: dict[str, Any] = json.loads(answer.content)
    return bundle


def validate(bundle: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every entry's resource parsed by its R4B model, then the Bundle; the codes checked
    against their value sets; the resources by type."""
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    urls = set()
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert entry["fullUrl"] == fhir.full_url(resource["resourceType"], resource["id"])
        urls.add(entry["fullUrl"])
        by_type[resource["resourceType"]].append(resource)
    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection"
    # Every in-Bundle reference resolves to an entry.
    for text in _references(bundle["entry"]):
        assert text in urls, text
    for appointment in by_type["Appointment"]:
        assert appointment["status"] in APPOINTMENT_STATUSES
        reason = appointment["appointmentType"]["coding"][0]
        assert reason["system"] == fhir.APPOINTMENT_REASON
        assert reason["code"] in {"ROUTINE", "FOLLOWUP", "EMERGENCY", "CHECKUP", "WALKIN"}
    for observation in by_type["Observation"]:
        assert observation["status"] in OBSERVATION_STATUSES
        category = observation["category"][0]["coding"][0]
        assert category["system"] == fhir.OBSERVATION_CATEGORY
        assert category["code"] in {"vital-signs", "laboratory"}
        if category["code"] == "vital-signs":
            loinc = observation["code"]["coding"][0]
            assert (loinc["system"], loinc["code"] in LOINC_VITALS) == (fhir.LOINC, True)
            assert observation["valueQuantity"]["system"] == fhir.UCUM
        for interpretation in observation.get("interpretation", ()):
            coding = interpretation["coding"][0]
            assert coding["system"] == fhir.INTERPRETATION
            assert coding["code"] in INTERPRETATIONS
    for condition in by_type["Condition"]:
        assert condition["clinicalStatus"]["coding"][0]["code"] in CONDITION_CLINICAL
        assert condition["code"]["coding"][0]["system"] == fhir.ICD10
    for request in by_type["MedicationRequest"]:
        assert request["status"] in MEDICATION_STATUSES
        assert request["intent"] == "order"
    for consent in by_type["Consent"]:
        assert consent["status"] in CONSENT_STATUSES
        assert consent["scope"]["coding"][0]["code"] == "patient-privacy"
        actions = {a["coding"][0]["code"] for a in consent["provision"]["action"]}
        assert actions <= {"collect", "access", "use", "disclose", "correct"}
    for document in by_type["DocumentReference"]:
        assert document["status"] in DOCUMENT_STATUSES
    for claim in by_type["Claim"]:
        assert claim["status"] in CLAIM_STATUSES
    for allergy in by_type["AllergyIntolerance"]:
        assert allergy["clinicalStatus"]["coding"][0]["code"] == "active"
    return by_type


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for v in value.values() for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []


@pytest.fixture
def filled(client: ValidatingClient, as_patient: Headers, as_doctor: Headers) -> dict[str, Any]:
    """pat-1 with a profile, a booked visit, a corrected record, a document and a consent."""
    profile = {
        "health_id": "NHS-111",
        "blood_group": "AB+",
        "allergies": ["latex"],
        "emergency_contacts": [{"name": "Ada", "phone": "+44 20 7946 0001"}],
    }
    stored = client.simulate_put("/api/v1/me/emergency-profile", json=profile, headers=as_patient())
    assert stored.status_code == 200, stored.json
    book_visit(client, as_patient)
    uploaded = client.simulate_post(
        "/api/v1/documents",
        params={"kind": "lab_result", "filename": "scan.png"},
        body=PNG,
        headers={**as_patient(), "Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 201, uploaded.json
    doctor = as_doctor(FREE_DOCTOR)
    written = client.simulate_post(RECORDS, json=a_record(), headers=doctor)
    assert written.status_code == 201, written.json
    second = a_record(
        kind="lab_result",
        diagnoses=[{"code": "E11.9", "text": "Type 2 diabetes", "status": "resolved"}],
        vitals=[
            {"sign": "temperature", "value": 37.2, "unit": "Cel"},
            {"sign": "heart_rate", "value": 71, "unit": "/min"},
        ],
        lab_results=[
            {"test": "HbA1c", "value": "6.10", "unit": "%", "interpretation": "critical"},
            {"test": "Covid PCR", "value": "negative", "interpretation": "normal"},
        ],
        prescriptions=[
            {
                "medication": "Metformin",
                "dose": "500 mg",
                "frequency": "twice daily",
                "start": "2029-01-01",
                "end": "2029-06-30",
            }
        ],
    )
    other = client.simulate_post(RECORDS, json=second, headers=doctor)
    assert other.status_code == 201, other.json
    corrected = client.simulate_post(
        f"{RECORDS}/{written.json['id']}/versions",
        json={"reason": "saturation misread", "record": a_record(notes="checked")},
        headers=doctor,
    )
    assert corrected.status_code == 201, corrected.json
    granted = client.simulate_post(
        "/api/v1/patients/pat-1/consents",
        json={"scope": "read_write", "until": at(12, day=30), "purpose": "second opinion",
              "doctor_id": FEE_DOCTOR},
        headers=as_patient(),
    )  # fmt: skip
    assert granted.status_code == 201, granted.json
    records = client.simulate_get(RECORDS, headers=as_patient()).json["items"]
    return {"records": records, "document": uploaded.json, "consent": granted.json}


def test_the_export_is_valid_fhir_and_says_what_was_stored(
    client: ValidatingClient, as_patient: Headers, filled: dict[str, Any]
) -> None:
    bundle = export_of(client.simulate_get(EXPORT, headers=as_patient()))
    by_type = validate(bundle)

    (patient,) = by_type["Patient"]
    assert patient["id"] == "pat-1"
    assert patient["name"] == [{"text": "Patient pat-1"}]
    assert {"system": fhir.system("health-id"), "value": "NHS-111"} in patient["identifier"]
    assert patient["contact"][0]["telecom"][0]["value"] == "+44 20 7946 0001"
    (blood,) = [o for o in by_type["Observation"] if o["id"] == "pat-1-blood-group"]
    assert blood["valueCodeableConcept"]["text"] == "AB+"

    assert [p["id"] for p in by_type["Practitioner"]] == [FREE_DOCTOR, FEE_DOCTOR]
    (visit,) = by_type["Appointment"]
    assert visit["status"] == "booked"
    assert visit["start"].startswith(at(15)[:16])

    first, second = filled["records"]
    vitals = {
        o["code"]["text"]: o["valueQuantity"]
        for o in by_type["Observation"]
        if o["id"].startswith(second["id"]) and "-vital-" in o["id"]
    }
    assert vitals == {
        v["sign"]: {"value": v["value"], "unit": v["unit"], "system": fhir.UCUM, "code": v["unit"]}
        for v in second["vitals"]
    }
    assert {VitalSign(s) for s in vitals} == {VitalSign.TEMPERATURE, VitalSign.HEART_RATE}
    labs = {o["code"]["text"]: o for o in by_type["Observation"] if "-lab-" in o["id"]}
    assert Decimal(str(labs["HbA1c"]["valueQuantity"]["value"])) == Decimal("6.10")
    assert labs["HbA1c"]["interpretation"][0]["coding"][0]["code"] == "AA"
    assert labs["Covid PCR"]["valueString"] == "negative"
    # The corrected record is exported at its latest revision, as amended.
    amended = [o for o in by_type["Observation"] if o["id"].startswith(first["id"])]
    assert amended
    assert {o["status"] for o in amended} == {"amended"}

    conditions = {c["code"]["coding"][0]["code"]: c for c in by_type["Condition"]}
    assert set(conditions) == {"J45.909", "E11.9"}
    assert conditions["E11.9"]["clinicalStatus"]["coding"][0]["code"] == "resolved"
    assert conditions["J45.909"]["extension"][0]["valueCode"] == "chronic"
    assert conditions["E11.9"]["code"]["text"] == "Type 2 diabetes"

    medications = {m["medicationCodeableConcept"]["text"]: m for m in by_type["MedicationRequest"]}
    assert medications["Metformin"]["status"] == "completed"  # ended before today (2030)
    assert medications["Salbutamol"]["status"] == "active"
    dosage = medications["Metformin"]["dosageInstruction"][0]
    assert dosage["text"] == "500 mg, twice daily"
    assert dosage["timing"]["repeat"]["boundsPeriod"] == {
        "start": "2029-01-01",
        "end": "2029-06-30",
    }

    allergies = sorted(a["code"]["text"] for a in by_type["AllergyIntolerance"])
    assert allergies == ["aspirin", "aspirin", "latex"]  # each record's and the profile's

    (document,) = by_type["DocumentReference"]
    attachment = document["content"][0]["attachment"]
    assert document["id"] == filled["document"]["id"]
    assert (attachment["contentType"], attachment["size"]) == ("image/png", len(PNG))
    assert attachment["url"].endswith(f"/api/v1/documents/{document['id']}/download")

    (consent,) = by_type["Consent"]
    assert consent["id"] == filled["consent"]["id"]
    assert consent["status"] == "active"
    assert consent["provision"]["purpose"] == [{"display": "second opinion"}]
    assert {a["coding"][0]["code"] for a in consent["provision"]["action"]} == {
        "access",
        "correct",
    }

    log = client.simulate_get("/api/v1/me/access-log", headers=as_patient()).json["items"]
    assert (log[0]["subject"], log[0]["action"], log[0]["outcome"], log[0]["purpose"]) == (
        "export",
        "read",
        "allowed",
        "own",
    )


def test_the_export_streams_entry_by_entry(
    client: ValidatingClient, as_patient: Headers, filled: dict[str, Any], components: Any
) -> None:
    from hellodoctor_domain.model.values import Actor, PatientId

    data = components.export.export(Actor.patient(PatientId("pat-1")), PatientId("pat-1"))
    chunks = list(fhir.bundle_chunks(data, "https://example.test"))
    resources = list(fhir.resources(data, "https://example.test"))
    assert len(chunks) == len(resources) + 2  # a head, one chunk per entry, a tail
    assert json.loads(b"".join(chunks))["entry"][0]["resource"] == resources[0]


def test_nobody_exports_another_patients_data(
    client: ValidatingClient, as_patient: Headers, as_doctor: Headers, as_admin: Headers,
    filled: dict[str, Any],
) -> None:  # fmt: skip
    assert client.simulate_get(EXPORT, headers=as_doctor(FREE_DOCTOR)).status_code == 403
    assert client.simulate_get(EXPORT, headers=as_admin()).status_code == 403
    other = "/api/v1/patients/pat-1/export"
    for outsider in (as_patient("pat-2"), as_doctor(FREE_DOCTOR)):
        refused = client.simulate_get(other, params={"reason": "asked"}, headers=outsider)
        assert refused.status_code == 404, refused.json
    unknown = client.simulate_get(
        "/api/v1/patients/pat-404/export", params={"reason": "letter"}, headers=as_admin()
    )
    assert unknown.status_code == 404
    no_reason = client.simulate_get(other, params={"reason": "   "}, headers=as_admin())
    assert no_reason.status_code == 422, no_reason.json
    pat2 = export_of(client.simulate_get(EXPORT, headers=as_patient("pat-2")))
    assert [e["resource"]["resourceType"] for e in pat2["entry"]] == ["Patient"]
    assert pat2["entry"][0]["resource"]["id"] == "pat-2"

    log = client.simulate_get("/api/v1/me/access-log", headers=as_patient()).json["items"]
    refusals = [e for e in log if e["subject"] == "export"]
    assert [(e["user_id"], e["outcome"], e["purpose"]) for e in refusals] == [
        (f"acct-{FREE_DOCTOR}", "denied", "none"),
        ("acct-pat-2", "denied", "none"),
    ]


def test_an_admin_exports_on_the_patients_request(
    client: ValidatingClient, as_patient: Headers, as_admin: Headers, filled: dict[str, Any]
) -> None:
    answer = client.simulate_get(
        "/api/v1/patients/pat-1/export", params={"reason": "letter of 3 Jan"}, headers=as_admin()
    )
    by_type = validate(export_of(answer))
    assert len(by_type["Condition"]) == 2
    log = client.simulate_get("/api/v1/me/access-log", headers=as_patient()).json["items"]
    assert (log[0]["user_id"], log[0]["subject"], log[0]["purpose"]) == (
        "admin-1",
        "export",
        "request:letter of 3 Jan",
    )


def test_a_claim_is_exported_with_its_money(
    client: ValidatingClient, as_patient: Headers, filled: dict[str, Any], components: Any
) -> None:
    from datetime import UTC, date, datetime

    from hellodoctor_domain.model.insurance import Claim, ClaimItem, Policy, Scheme
    from hellodoctor_domain.model.values import (
        ClaimId,
        Money,
        PatientId,
        PolicyId,
        SchemeId,
        VisitKind,
    )

    with components.storage() as uow:
        (visit,) = uow.appointments.for_patient(PatientId("pat-1"))
        uow.schemes.add(
            Scheme(
                SchemeId("sch-1"), "Acme", "Basic", (VisitKind.REGULAR,), 20, Money(100000, "USD")
            )
        )
        uow.policies.add(
            Policy(
                PolicyId("pol-1"), PatientId("pat-1"), SchemeId("sch-1"), "ACME-42",
                date(2029, 1, 1), date(2030, 12, 31),
            )
        )  # fmt: skip
        uow.claims.add(
            Claim(
                ClaimId("clm-1"), PolicyId("pol-1"), SchemeId("sch-1"), PatientId("pat-1"),
                (ClaimItem("Consultation", ("J45.909",), Money(12345, "USD")),
                 ClaimItem("Spirometry", (), Money(5, "USD"))),
                datetime(2030, 1, 7, 16, tzinfo=UTC), appointment_id=visit.id,
            )
        )  # fmt: skip
        uow.commit()
    by_type = validate(export_of(client.simulate_get(EXPORT, headers=as_patient())))
    (claim,) = by_type["Claim"]
    assert claim["id"] == "clm-1"
    assert [Decimal(str(i["net"]["value"])) for i in claim["item"]] == [
        Decimal("123.45"),
        Decimal("0.05"),
    ]
    assert {i["net"]["currency"] for i in claim["item"]} == {"USD"}
    assert Decimal(str(claim["total"]["value"])) == Decimal("123.50")
    assert claim["provider"]["reference"] == fhir.full_url("Practitioner", FREE_DOCTOR)
    assert claim["insurance"][0]["coverage"]["identifier"]["value"] == "ACME-42"
    assert claim["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["code"] == "J45.909"
    assert claim["extension"][0]["valueCode"] == "submitted"
