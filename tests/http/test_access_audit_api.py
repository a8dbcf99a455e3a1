"""Reads of health data outside the clinical record are audited like the record's own
(docs/privacy.md, section 2): a claim (its ICD-10 codes) read by an insurer or a hospital's
administrator, a patient's policies, a transfer (reason, notes) and an admission (ward, bed
type). Refusals too: the entry says ``denied``, the caller gets 404."""

from __future__ import annotations

from typing import Any

from hellodoctor_http.auth import TokenCodec
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.testing import Headers, ValidatingClient

from .test_hospitals_api import HOSPITALS, admission, as_hospital_admin, body  # noqa: F401
from .test_insurance_api import INSURANCE, insurer, usd

TRANSFERS = "/api/v1/transfers"


def _trail(client: ValidatingClient, as_admin: Headers) -> list[tuple[str, ...]]:
    """pat-1's audit entries, oldest first: (user, subject kind, action, outcome, purpose)."""
    items: list[dict[str, Any]] = client.simulate_get(
        "/api/v1/audit-log", params={"patient_id": "pat-1", "limit": 200}, headers=as_admin()
    ).json["items"]
    return [
        (e["user_id"], e["subject"].split(":")[0], e["action"], e["outcome"], e["purpose"])
        for e in reversed(items)
    ]


def test_transfers_admissions_claims_and_policies_are_audited(
    client: ValidatingClient,
    components: Components,
    codec: TokenCodec,
    as_admin: Headers,
    as_patient: Headers,
    as_hospital_admin: Headers,  # noqa: F811
) -> None:
    one = client.simulate_post(HOSPITALS, json=body("One"), headers=as_admin()).json["id"]
    two = client.simulate_post(HOSPITALS, json=body("Two"), headers=as_admin()).json["id"]
    sender, receiver, stranger = (as_hospital_admin(key) for key in ("ha-1", "ha-2", "ha-3"))
    for hospital, user in ((one, "ha-1"), (two, "ha-2")):
        client.simulate_post(
            f"{HOSPITALS}/{hospital}/administrators", json={"user_id": user}, headers=as_admin()
        )
    # Admissions: a write, then the hospital's list.
    stay = client.simulate_post(f"{HOSPITALS}/{one}/admissions", json=admission(), headers=sender)
    assert stay.status_code == 201, stay.json
    assert client.simulate_get(f"{HOSPITALS}/{one}/admissions", headers=sender).status_code == 200
    assert client.simulate_get("/api/v1/me/admissions", headers=as_patient()).status_code == 200
    # Transfers: requested, read by the receiver, refused to a stranger, listed.
    request = {
        "patient_id": "pat-1",
        "from_hospital_id": one,
        "to_hospital_id": two,
        "bed_type": "icu",
        "reason": "needs an ICU bed",
    }
    transfer = client.simulate_post(TRANSFERS, json=request, headers=sender).json["id"]
    assert client.simulate_get(f"{TRANSFERS}/{transfer}", headers=receiver).status_code == 200
    assert client.simulate_get(f"{TRANSFERS}/{transfer}", headers=stranger).status_code == 404
    assert client.simulate_get(f"{HOSPITALS}/{two}/transfers", headers=receiver).status_code == 200
    # Insurance: the patient's policies, a hospital's claim for the stay, read by the scheme's
    # insurer (and refused to another insurer), listed by scheme, decided.
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
    reviewer, other = insurer(components, codec, "ins-1"), insurer(components, codec, "ins-2")
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
    assert client.simulate_get(f"{INSURANCE}/policies", headers=as_patient()).status_code == 200
    claim = client.simulate_post(
        f"{INSURANCE}/claims",
        json={
            "policy_id": policy,
            "hospital_id": one,
            "items": [{"service": "ICU day", "diagnosis_codes": ["J96.0"], "claimed": usd(900)}],
        },
        headers=sender,
    )
    assert claim.status_code == 201, claim.json
    path = f"{INSURANCE}/claims/{claim.json['id']}"
    assert client.simulate_get(path, headers=reviewer()).status_code == 200
    assert client.simulate_get(path, headers=sender).status_code == 200
    assert client.simulate_get(path, headers=other()).status_code == 404
    listed = client.simulate_get(f"{INSURANCE}/schemes/{scheme}/claims", headers=reviewer())
    assert listed.status_code == 200
    assert client.simulate_post(f"{path}/review", headers=other()).status_code == 404
    assert client.simulate_post(f"{path}/review", headers=reviewer()).status_code == 200

    trail = _trail(client, as_admin)
    h1, h2, s = f"hospital:{one}", f"hospital:{two}", f"insurer:{scheme}"
    expected = [
        ("ha-1", "admission", "write", "allowed", h1),
        ("ha-1", "admission", "read", "allowed", h1),
        (None, "admissions", "read", "allowed", "own"),
        ("ha-1", "transfer", "write", "allowed", h1),
        ("ha-2", "transfer", "read", "allowed", h2),
        ("ha-3", "transfer", "read", "denied", "none"),
        ("ha-2", "transfer", "read", "allowed", h2),
        (None, "policies", "read", "allowed", "own"),
        ("ha-1", "claim", "write", "allowed", h1),
        ("ins-1", "claim", "read", "allowed", s),
        ("ha-1", "claim", "read", "allowed", h1),
        ("ins-2", "claim", "read", "denied", "none"),
        ("ins-1", "claim", "read", "allowed", s),
        ("ins-2", "claim", "write", "denied", "none"),
        ("ins-1", "claim", "write", "allowed", s),
    ]
    patient_user = trail[2][0]
    assert [e if e[0] != patient_user else (None, *e[1:]) for e in trail] == expected
