"""Clinical records over HTTP: a doctor with a booked visit writes and corrects; the patient
reads, grants and revokes consents and sees who accessed their records; anyone else gets 404
(and is audited); an admin searches and verifies the audit log."""

from __future__ import annotations

from typing import Any

from hellodoctor_adapters.testing.files import PNG
from hellodoctor_http.testing import FEE_DOCTOR, FREE_DOCTOR, Headers, ValidatingClient, at

RECORDS = "/api/v1/patients/pat-1/records"


def a_record(**changes: Any) -> dict[str, Any]:
    return {
        "kind": "consultation",
        "diagnoses": [{"code": "J45.909", "text": "Asthma", "status": "chronic"}],
        "symptoms": ["wheeze"],
        "vitals": [{"sign": "oxygen_saturation", "value": 94, "unit": "%"}],
        "prescriptions": [
            {
                "medication": "Salbutamol",
                "dose": "100 mcg",
                "frequency": "as needed",
                "start": "2030-01-07",
            }
        ],
        "lab_results": [{"test": "IgE", "value": "210", "unit": "kU/L", "interpretation": "high"}],
        "allergies": ["aspirin"],
        "notes": "Inhaler technique reviewed.",
        "follow_up": "2030-02-07",
        **changes,
    }


def book_visit(client: ValidatingClient, as_patient: Headers) -> None:
    booked = client.simulate_post(
        "/api/v1/appointments",
        json={"doctor_id": FREE_DOCTOR, "start": at(15)},
        headers=as_patient("pat-1"),
    )
    assert booked.status_code == 201, booked.json
    assert booked.json["status"] == "booked"


def test_records_end_to_end(
    client: ValidatingClient, as_patient: Headers, as_doctor: Headers, as_admin: Headers
) -> None:
    doctor, other = as_doctor(FREE_DOCTOR), as_doctor(FEE_DOCTOR)
    refused = client.simulate_post(RECORDS, json=a_record(), headers=doctor)
    assert refused.status_code == 404, refused.json
    assert refused.json["type"].endswith("/not-found")
    book_visit(client, as_patient)

    written = client.simulate_post(
        RECORDS, json=a_record(), headers={**doctor, "X-Request-ID": "req-write-1"}
    )
    assert written.status_code == 201, written.json
    record_id = written.json["id"]
    assert written.json["author_id"] == FREE_DOCTOR
    assert written.headers["Location"].endswith(f"/records/{record_id}")

    corrected = client.simulate_post(
        f"{RECORDS}/{record_id}/versions",
        json={"reason": "saturation misread", "record": a_record(vitals=[])},
        headers=doctor,
    )
    assert corrected.status_code == 201, corrected.json
    assert corrected.json["revision"] == 2
    versions = client.simulate_get(f"{RECORDS}/{record_id}/versions", headers=as_patient())
    assert [v["revision"] for v in versions.json["items"]] == [1, 2]
    latest = client.simulate_get(f"{RECORDS}/{record_id}", headers=as_patient())
    assert latest.json["vitals"] == []
    assert latest.json["correction_reason"] == "saturation misread"

    history = client.simulate_get("/api/v1/patients/pat-1/history", headers=doctor)
    assert history.status_code == 200, history.json
    assert [c["code"] for c in history.json["chronic_conditions"]] == ["J45.909"]
    assert "aspirin" in history.json["allergies"]
    prescriptions = client.simulate_get("/api/v1/patients/pat-1/prescriptions", headers=doctor)
    assert [p["medication"] for p in prescriptions.json["items"]] == ["Salbutamol"]

    for outsider in (other, as_patient("pat-2"), as_admin()):
        for path in (RECORDS, f"{RECORDS}/{record_id}", "/api/v1/patients/pat-1/history"):
            answer = client.simulate_get(path, headers=outsider)
            assert answer.status_code == 404, (path, answer.json)

    granted = client.simulate_post(
        "/api/v1/patients/pat-1/consents",
        json={
            "scope": "read",
            "until": at(12, day=30),
            "purpose": "second opinion",
            "doctor_id": FEE_DOCTOR,
        },
        headers=as_patient(),
    )
    assert granted.status_code == 201, granted.json
    assert client.simulate_get(RECORDS, headers=other).status_code == 200
    listed = client.simulate_get("/api/v1/patients/pat-1/consents", headers=as_patient())
    assert [c["id"] for c in listed.json["items"]] == [granted.json["id"]]
    revoked = client.simulate_delete(
        f"/api/v1/patients/pat-1/consents/{granted.json['id']}", headers=as_patient()
    )
    assert revoked.status_code == 200, revoked.json
    assert revoked.json["revoked_at"] is not None
    assert client.simulate_get(RECORDS, headers=other).status_code == 404
    again = client.simulate_delete(
        f"/api/v1/patients/pat-1/consents/{granted.json['id']}", headers=as_patient()
    )
    assert again.status_code == 409, again.json

    log = client.simulate_get("/api/v1/me/access-log", headers=as_patient())
    assert log.status_code == 200, log.json
    users = {e["user_id"] for e in log.json["items"]}
    assert {f"acct-{FREE_DOCTOR}", f"acct-{FEE_DOCTOR}", "admin-1", "acct-pat-2"} <= users
    write = [e for e in log.json["items"] if e["request_id"] == "req-write-1"]
    assert [(e["action"], e["outcome"], e["purpose"]) for e in write] == [
        ("write", "allowed", "care")
    ]
    assert client.simulate_get("/api/v1/me/access-log", headers=doctor).status_code == 403

    denied = client.simulate_get(
        "/api/v1/audit-log?outcome=denied&patient_id=pat-1&limit=3", headers=as_admin()
    )
    assert denied.status_code == 200, denied.json
    assert len(denied.json["items"]) == 3
    assert denied.json["next_before"] is not None
    assert {e["outcome"] for e in denied.json["items"]} == {"denied"}
    following = client.simulate_get(
        f"/api/v1/audit-log?outcome=denied&before={denied.json['next_before']}", headers=as_admin()
    )
    assert following.json["items"][0]["sequence"] < denied.json["items"][-1]["sequence"]
    assert client.simulate_get("/api/v1/audit-log", headers=doctor).status_code == 403
    verified = client.simulate_get("/api/v1/audit-log/verification", headers=as_admin())
    assert verified.json["intact"] is True
    assert verified.json["checked"] > 10


def test_bad_bodies_are_4xx(
    client: ValidatingClient, as_patient: Headers, as_doctor: Headers
) -> None:
    book_visit(client, as_patient)
    doctor = as_doctor(FREE_DOCTOR)
    for wrong in (
        a_record(kind="gossip"),
        a_record(diagnoses=[{"code": "diabetes", "text": "x"}]),
        a_record(vitals=[{"sign": "temperature", "value": 98.6, "unit": "Cel"}]),
        a_record(vitals=[{"sign": "temperature", "value": 37, "unit": "F"}]),
        a_record(author_id="dr-someone"),
        a_record(
            prescriptions=[
                {
                    "medication": "x",
                    "dose": "1",
                    "frequency": "daily",
                    "start": "2030-02-01",
                    "end": "2030-01-01",
                }
            ]
        ),
    ):
        answer = client.simulate_post(RECORDS, json=wrong, headers=doctor)
        assert answer.status_code == 422, (wrong, answer.json)
    consent = client.simulate_post(
        "/api/v1/patients/pat-1/consents",
        json={
            "scope": "read",
            "until": at(12, day=3),
            "purpose": "x",
            "doctor_id": FEE_DOCTOR,
            "hospital_id": "hosp-1",
        },
        headers=as_patient(),
    )
    assert consent.status_code == 422, consent.json


def test_reading_a_patients_document_is_audited(
    client: ValidatingClient, as_patient: Headers, as_admin: Headers
) -> None:
    uploaded = client.simulate_post(
        "/api/v1/documents",
        params={"kind": "lab_result"},
        body=PNG,
        headers={**as_patient(), "Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 201, uploaded.json
    path = f"/api/v1/documents/{uploaded.json['id']}"
    assert client.simulate_get(path, headers=as_patient()).status_code == 200
    assert client.simulate_get(path, headers=as_patient("pat-2")).status_code == 404
    assert client.simulate_get(path, headers=as_admin()).status_code == 200
    log = client.simulate_get("/api/v1/me/access-log", headers=as_patient())
    seen = [
        (e["user_id"], e["outcome"], e["purpose"])
        for e in log.json["items"]
        if e["subject"] == f"document:{uploaded.json['id']}"
    ]
    assert seen == [
        ("admin-1", "allowed", "admin"),
        ("acct-pat-2", "denied", "none"),
        ("acct-pat-1", "allowed", "own"),
    ]


def test_changing_or_deleting_a_patients_document_is_audited(
    client: ValidatingClient, as_patient: Headers
) -> None:
    uploaded = client.simulate_post(
        "/api/v1/documents",
        params={"kind": "lab_result"},
        body=PNG,
        headers={**as_patient(), "Content-Type": "application/octet-stream"},
    )
    assert uploaded.status_code == 201, uploaded.json
    path = f"/api/v1/documents/{uploaded.json['id']}"
    unlinked = {"appointment_id": None}
    stranger = client.simulate_put(f"{path}/links", json=unlinked, headers=as_patient("pat-2"))
    assert stranger.status_code == 404
    assert client.simulate_delete(path, headers=as_patient("pat-2")).status_code == 404
    linked = client.simulate_put(f"{path}/links", json=unlinked, headers=as_patient())
    assert linked.status_code == 200, linked.json
    assert client.simulate_delete(path, headers=as_patient()).status_code == 204
    log = client.simulate_get("/api/v1/me/access-log", headers=as_patient())
    seen = [
        (e["user_id"], e["action"], e["outcome"])
        for e in log.json["items"]
        if e["subject"] == f"document:{uploaded.json['id']}"
    ]
    assert seen == [  # newest first
        ("acct-pat-1", "write", "allowed"),
        ("acct-pat-1", "write", "allowed"),
        ("acct-pat-2", "write", "denied"),
        ("acct-pat-2", "write", "denied"),
    ]
