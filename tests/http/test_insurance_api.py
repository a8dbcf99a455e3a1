"""Insurance over HTTP: a scheme, a patient's policy, eligibility before payment, a claim for a
completed appointment (once), reviewed, partly approved and paid by the scheme's insurer,
whom nobody else can stand in for (404)."""

from __future__ import annotations

from datetime import timedelta

from hellodoctor_adapters.memory import ManualClock
from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.model.values import EmailAddress, Role, UserId
from hellodoctor_http.auth import TokenCodec
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.testing import FREE_DOCTOR, NOW, Headers, ValidatingClient, at

INSURANCE = "/api/v1/insurance"


def usd(minor_units: int) -> dict[str, object]:
    return {"minor_units": minor_units, "currency": "USD"}


def insurer(components: Components, codec: TokenCodec, key: str) -> Headers:
    """A stored insurer account; its headers carry a token issued when they are asked for."""
    with components.storage() as uow:
        uow.accounts.add(
            Account(
                UserId(key),
                EmailAddress(f"{key}@example.org"),
                Role.INSURER,
                AccountStatus.ACTIVE,
                NOW,
            )
        )
        uow.commit()

    def headers() -> dict[str, str]:
        token, _ = codec.issue(key, "insurer")
        return {"Authorization": f"Bearer {token}"}

    return headers


def test_a_claim_from_policy_to_payment(
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
            "covered_kinds": ["regular", "follow_up"],
            "copay_percent": 20,
            "yearly_limit": usd(50_000),
        },
        headers=as_admin(),
    )
    assert scheme.status_code == 201, scheme.json
    scheme_id = scheme.json["id"]
    reviewer, stranger = insurer(components, codec, "ins-1"), insurer(components, codec, "ins-2")
    appointed = client.simulate_post(
        f"{INSURANCE}/schemes/{scheme_id}/insurers", json={"user_id": "ins-1"}, headers=as_admin()
    )
    assert appointed.status_code == 204
    policy = client.simulate_post(
        f"{INSURANCE}/policies",
        json={
            "scheme_id": scheme_id,
            "policy_number": "ACME-1",
            "valid_from": "2030-01-01",
            "valid_until": "2030-12-31",
        },
        headers=as_patient(),
    )
    assert policy.status_code == 201, policy.json
    policy_id = policy.json["id"]
    assert [
        p["id"]
        for p in client.simulate_get(f"{INSURANCE}/policies", headers=as_patient()).json["items"]
    ] == [policy_id]

    booked = client.simulate_post(
        "/api/v1/appointments",
        json={"doctor_id": FREE_DOCTOR, "start": at(15)},
        headers=as_patient(),
    ).json
    eligible = client.simulate_get(
        f"/api/v1/appointments/{booked['id']}/eligibility",
        params={"policy_id": policy_id},
        headers=as_patient(),
    )
    assert eligible.status_code == 200, eligible.json
    assert eligible.json["covered"] is True
    assert eligible.json["remaining_limit"]["minor_units"] == 50_000
    clock.set(NOW.replace(hour=15) + timedelta(minutes=35))
    client.simulate_post(
        f"/api/v1/appointments/{booked['id']}/complete", headers=as_doctor(FREE_DOCTOR)
    )

    claim_body = {
        "policy_id": policy_id,
        "appointment_id": booked["id"],
        "items": [
            {"service": "consultation", "diagnosis_codes": ["J06.9"], "claimed": usd(6000)},
            {"service": "lab test", "claimed": usd(4000)},
        ],
    }
    claim = client.simulate_post(f"{INSURANCE}/claims", json=claim_body, headers=as_patient())
    assert claim.status_code == 201, claim.json
    again = client.simulate_post(f"{INSURANCE}/claims", json=claim_body, headers=as_patient())
    assert again.status_code == 409
    path = f"{INSURANCE}/claims/{claim.json['id']}"
    assert client.simulate_post(f"{path}/review", headers=stranger()).status_code == 404
    assert (
        client.simulate_post(f"{path}/review", headers=reviewer()).json["status"] == "under_review"
    )
    over = client.simulate_post(
        f"{path}/adjudicate",
        json={"decisions": [{"approved": usd(7000)}, {"approved": usd(4000)}]},
        headers=reviewer(),
    )
    assert over.status_code == 422 or over.status_code == 400
    decided = client.simulate_post(
        f"{path}/adjudicate",
        json={"decisions": [{"approved": usd(6000)}, {"approved": usd(1000), "reason": "tariff"}]},
        headers=reviewer(),
    )
    assert decided.json["status"] == "partially_approved"
    assert decided.json["approved_total"]["minor_units"] == 7000
    paid = client.simulate_post(f"{path}/pay", headers=reviewer())
    assert paid.json["status"] == "paid"
    assert client.simulate_get(path, headers=as_patient()).json["status"] == "paid"
    assert client.simulate_get(path, headers=as_patient("pat-2")).status_code == 404
    listed = client.simulate_get(f"{INSURANCE}/schemes/{scheme_id}/claims", headers=reviewer())
    assert [c["id"] for c in listed.json["items"]] == [claim.json["id"]]
