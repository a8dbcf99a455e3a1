"""Hospitals over HTTP: an admin registers them and appoints their administrators; anyone
reads the free beds; a hospital administrator admits and discharges only in their own
hospital (404 elsewhere), and a full ward answers 409 no-bed-available."""

from __future__ import annotations

from typing import Any

import pytest

from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.model.values import EmailAddress, Role, UserId
from hellodoctor_http.auth import TokenCodec
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.testing import NOW, Headers, ValidatingClient

HOSPITALS = "/api/v1/hospitals"


def body(name: str, city: str = "Pune", icu: int = 1) -> dict[str, Any]:
    return {
        "name": name,
        "registration_number": f"REG-{name}",
        "address": {
            "line": "1 Main Road",
            "city": city,
            "country": "IN",
            "latitude": 18.52,
            "longitude": 73.85,
        },
        "phone": "+91 20 5555 0000",
        "facilities": ["pharmacy"],
        "departments": [{"code": "card", "name": "Cardiology", "head_doctor_id": "dr-fee"}],
        "wards": [
            {
                "code": "icu",
                "name": "Intensive care",
                "department_code": "card",
                "beds": [{"bed_type": "icu", "capacity": icu}],
            }
        ],
    }


@pytest.fixture
def as_hospital_admin(components: Components, codec: TokenCodec) -> Headers:
    """A ``hospital_admin`` account ``key`` (stored, so it can be appointed) and its token."""

    def headers(key: str = "ha-1") -> dict[str, str]:
        with components.storage() as uow:
            uow.accounts.add(
                Account(
                    UserId(key),
                    EmailAddress(f"{key}@example.org"),
                    Role.HOSPITAL_ADMIN,
                    AccountStatus.ACTIVE,
                    NOW,
                )
            )
            uow.commit()
        token, _ = codec.issue(key, "hospital_admin")
        return {"Authorization": f"Bearer {token}"}

    return headers


def admission(patient: str = "pat-1") -> dict[str, str]:
    return {"patient_id": patient, "ward_code": "icu", "bed_type": "icu"}


def test_a_hospital_admin_manages_beds_of_their_own_hospital_only(
    client: ValidatingClient, as_admin: Headers, as_hospital_admin: Headers, as_patient: Headers
) -> None:
    mine = client.simulate_post(HOSPITALS, json=body("One"), headers=as_admin())
    assert mine.status_code == 201, mine.json
    other = client.simulate_post(HOSPITALS, json=body("Two", city="Mumbai"), headers=as_admin())
    mine_id, other_id = mine.json["id"], other.json["id"]
    manager = as_hospital_admin("ha-1")
    appointed = client.simulate_post(
        f"{HOSPITALS}/{mine_id}/administrators", json={"user_id": "ha-1"}, headers=as_admin()
    )
    assert appointed.status_code == 204

    admitted = client.simulate_post(
        f"{HOSPITALS}/{mine_id}/admissions", json=admission(), headers=manager
    )
    assert admitted.status_code == 201
    assert admitted.json["beds"] == [
        {"ward_code": "icu", "bed_type": "icu", "capacity": 1, "occupied": 1, "free": 0}
    ]
    full = client.simulate_post(
        f"{HOSPITALS}/{mine_id}/admissions", json=admission("pat-2"), headers=manager
    )
    assert full.status_code == 409
    assert full.json["type"].endswith("/no-bed-available")

    for stranger, hospital in ((manager, other_id), (as_patient(), mine_id)):
        refused = client.simulate_post(
            f"{HOSPITALS}/{hospital}/admissions", json=admission(), headers=stranger
        )
        assert refused.status_code == 404

    beds = client.simulate_get(f"{HOSPITALS}/{mine_id}/beds")  # public, no token
    assert beds.json["beds"][0]["free"] == 0
    discharged = client.simulate_post(
        f"{HOSPITALS}/{mine_id}/discharges", json=admission(), headers=manager
    )
    assert discharged.status_code == 200
    assert discharged.json["beds"][0]["free"] == 1
    assert [
        h["id"] for h in client.simulate_get(HOSPITALS, params={"city": "mumbai"}).json["items"]
    ] == [other_id]
    assert (
        client.simulate_get(f"{HOSPITALS}/{mine_id}").json["departments"][0]["head_doctor_id"]
        == "dr-fee"
    )


def test_only_a_platform_admin_registers_hospitals(
    client: ValidatingClient, as_hospital_admin: Headers, as_admin: Headers
) -> None:
    refused = client.simulate_post(HOSPITALS, json=body("One"), headers=as_hospital_admin())
    assert refused.status_code == 403
    bad = body("Two")
    bad["address"]["latitude"] = 123.0
    invalid = client.simulate_post(HOSPITALS, json=bad, headers=as_admin())
    assert invalid.status_code in (400, 422)
    assert client.simulate_get(f"{HOSPITALS}/nowhere/beds").status_code == 404


def test_a_transfer_moves_between_two_hospitals_administrators(
    client: ValidatingClient, as_admin: Headers, as_hospital_admin: Headers
) -> None:
    sender_id = client.simulate_post(HOSPITALS, json=body("One"), headers=as_admin()).json["id"]
    receiver_id = client.simulate_post(HOSPITALS, json=body("Two"), headers=as_admin()).json["id"]
    sender, receiver, stranger = (as_hospital_admin(key) for key in ("ha-1", "ha-2", "ha-3"))
    for hospital, user in ((sender_id, "ha-1"), (receiver_id, "ha-2")):
        client.simulate_post(
            f"{HOSPITALS}/{hospital}/administrators", json={"user_id": user}, headers=as_admin()
        )
    request = {
        "patient_id": "pat-1",
        "from_hospital_id": sender_id,
        "to_hospital_id": receiver_id,
        "bed_type": "icu",
        "reason": "needs an ICU bed",
    }
    created = client.simulate_post("/api/v1/transfers", json=request, headers=sender)
    assert created.status_code == 201, created.json
    path = f"/api/v1/transfers/{created.json['id']}"
    assert client.simulate_get(path, headers=stranger).status_code == 404
    assert (
        client.simulate_post(
            f"{path}/accept", json={"ward_code": "icu"}, headers=sender
        ).status_code
        == 404
    )
    accepted = client.simulate_post(f"{path}/accept", json={"ward_code": "icu"}, headers=receiver)
    assert accepted.json["status"] == "accepted"
    assert client.simulate_get(f"{HOSPITALS}/{receiver_id}/beds").json["beds"][0]["free"] == 0
    again = client.simulate_post(f"{path}/decline", json={"reason": "late"}, headers=receiver)
    assert again.status_code == 409
    assert again.json["type"].endswith("/illegal-transition")
    done = client.simulate_post(f"{path}/complete", headers=receiver)
    assert [step["status"] for step in done.json["history"]] == [
        "requested",
        "accepted",
        "completed",
    ]
    listed = client.simulate_get(f"{HOSPITALS}/{sender_id}/transfers", headers=sender)
    assert [t["id"] for t in listed.json["items"]] == [created.json["id"]]


def test_doctors_are_searched_by_hospital_and_city(
    client: ValidatingClient, as_admin: Headers, as_hospital_admin: Headers
) -> None:
    pune = client.simulate_post(HOSPITALS, json=body("One"), headers=as_admin()).json["id"]
    mumbai = client.simulate_post(HOSPITALS, json=body("Two", city="Mumbai"), headers=as_admin())
    manager = as_hospital_admin("ha-1")
    client.simulate_post(
        f"{HOSPITALS}/{pune}/administrators", json={"user_id": "ha-1"}, headers=as_admin()
    )
    named = client.simulate_post(
        f"{HOSPITALS}/{pune}/doctors",
        json={"doctor_id": "dr-free", "department_code": "card"},
        headers=manager,
    )
    assert named.status_code == 200, named.json
    assert named.json["doctors"] == [{"doctor_id": "dr-free", "department_code": "card"}]
    elsewhere = client.simulate_post(
        f"{HOSPITALS}/{mumbai.json['id']}/doctors", json={"doctor_id": "dr-fee"}, headers=manager
    )
    assert elsewhere.status_code == 404

    def found(**params: str) -> list[str]:
        answer = client.simulate_get("/api/v1/doctors", params=params)
        assert answer.status_code == 200, answer.json
        return [d["id"] for d in answer.json["items"]]

    assert found(hospital_id=pune) == ["dr-free"]
    assert found(city="pune") == ["dr-free"]
    assert found(city="Mumbai") == []
    assert (
        client.simulate_get("/api/v1/doctors", params={"hospital_id": "nowhere"}).status_code == 404
    )


def test_each_admission_is_a_stay_its_hospital_and_its_patient_can_list(
    client: ValidatingClient, as_admin: Headers, as_hospital_admin: Headers, as_patient: Headers
) -> None:
    mine = client.simulate_post(HOSPITALS, json=body("One", icu=2), headers=as_admin()).json["id"]
    other = client.simulate_post(HOSPITALS, json=body("Two"), headers=as_admin()).json["id"]
    manager = as_hospital_admin("ha-1")
    client.simulate_post(
        f"{HOSPITALS}/{mine}/administrators", json={"user_id": "ha-1"}, headers=as_admin()
    )
    for patient in ("pat-1", "pat-2"):
        admitted = client.simulate_post(
            f"{HOSPITALS}/{mine}/admissions", json=admission(patient), headers=manager
        )
        assert admitted.status_code == 201, admitted.json
    client.simulate_post(f"{HOSPITALS}/{mine}/discharges", json=admission(), headers=manager)
    stays = client.simulate_get(f"{HOSPITALS}/{mine}/admissions", headers=manager)
    assert stays.status_code == 200, stays.json
    assert [(s["patient_id"], s["discharged_at"] is None) for s in stays.json["items"]] == [
        ("pat-1", False),
        ("pat-2", True),
    ]
    assert client.simulate_get(f"{HOSPITALS}/{other}/admissions", headers=manager).status_code == (
        404
    )
    assert client.simulate_get(
        f"{HOSPITALS}/{mine}/admissions", headers=as_patient()
    ).status_code == (404)
    own = client.simulate_get("/api/v1/me/admissions", headers=as_patient("pat-2"))
    assert own.status_code == 200, own.json
    assert [(s["hospital_id"], s["ward_code"], s["bed_type"]) for s in own.json["items"]] == [
        (mine, "icu", "icu")
    ]
    assert client.simulate_get("/api/v1/me/admissions", headers=manager).status_code == 403
