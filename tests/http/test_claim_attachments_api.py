"""A claim's attachments over HTTP: its patient sends their own documents with it, the
scheme's insurer lists them, anyone else (and another patient's document) meets 404."""

from __future__ import annotations

from datetime import timedelta

from hellodoctor_adapters.memory import ManualClock
from hellodoctor_adapters.testing.contract_documents import document
from hellodoctor_domain.model.documents import Owner
from hellodoctor_domain.model.values import PatientId
from hellodoctor_http.auth import TokenCodec
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.testing import FREE_DOCTOR, NOW, Headers, ValidatingClient, at

from .test_insurance_api import INSURANCE, insurer, usd


def test_a_claim_carries_its_patients_documents_to_the_insurer(
    client: ValidatingClient,
    components: Components,
    codec: TokenCodec,
    clock: ManualClock,
    as_admin: Headers,
    as_patient: Headers,
    as_doctor: Headers,
) -> None:
    scheme = client.simulate_post(
        f"{INSURANCE}/schemes",
        json={
            "payer": "Acme Mutual",
            "name": "Basic",
            "covered_kinds": ["regular"],
            "copay_percent": 20,
            "yearly_limit": usd(50_000),
        },
        headers=as_admin(),
    ).json["id"]
    reviewer, stranger = insurer(components, codec, "ins-1"), insurer(components, codec, "ins-2")
    client.simulate_post(
        f"{INSURANCE}/schemes/{scheme}/insurers", json={"user_id": "ins-1"}, headers=as_admin()
    )
    policy = client.simulate_post(
        f"{INSURANCE}/policies",
        json={
            "scheme_id": scheme,
            "policy_number": "ACME-1",
            "valid_from": "2030-01-01",
            "valid_until": "2030-12-31",
        },
        headers=as_patient(),
    ).json["id"]
    booked = client.simulate_post(
        "/api/v1/appointments",
        json={"doctor_id": FREE_DOCTOR, "start": at(15)},
        headers=as_patient(),
    ).json
    clock.set(NOW.replace(hour=15) + timedelta(minutes=35))
    client.simulate_post(
        f"/api/v1/appointments/{booked['id']}/complete", headers=as_doctor(FREE_DOCTOR)
    )
    claim = client.simulate_post(
        f"{INSURANCE}/claims",
        json={
            "policy_id": policy,
            "appointment_id": booked["id"],
            "items": [{"service": "consultation", "claimed": usd(6000)}],
        },
        headers=as_patient(),
    ).json
    assert claim["attachments"] == []
    with components.storage() as uow:
        uow.documents.add(document("doc-mine", Owner.patient(PatientId("pat-1"))))
        uow.documents.add(document("doc-theirs", Owner.patient(PatientId("pat-2"))))
        uow.commit()
    path = f"{INSURANCE}/claims/{claim['id']}/attachments"

    def attach(key: str, headers: dict[str, str]) -> int:
        answer = client.simulate_post(path, json={"document_id": key}, headers=headers)
        return answer.status_code

    assert attach("doc-theirs", as_patient()) == 404
    assert attach("doc-mine", as_patient("pat-2")) == 404
    assert attach("doc-mine", reviewer()) == 404
    sent = client.simulate_post(path, json={"document_id": "doc-mine"}, headers=as_patient())
    assert sent.status_code == 200, sent.json
    assert sent.json["attachments"] == ["doc-mine"]
    listed = client.simulate_get(path, headers=reviewer())
    assert listed.status_code == 200, listed.json
    assert [d["id"] for d in listed.json["items"]] == ["doc-mine"]
    assert client.simulate_get(path, headers=stranger()).status_code == 404
    assert client.simulate_get(path, headers=as_patient("pat-2")).status_code == 404
    read = client.simulate_get(f"{INSURANCE}/claims/{claim['id']}", headers=reviewer())
    assert read.json["attachments"] == ["doc-mine"]
