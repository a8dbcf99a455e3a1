"""A platform admin adds a hospital's administrator and a scheme's insurer by e-mail: the
account is pending, already appointed there, and its link sets a password that signs in to a
role the route chose."""

from __future__ import annotations

import re

from hellodoctor_adapters.notify import MaildirNotifier
from hellodoctor_domain.model.values import HospitalId, SchemeId
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.testing import Headers, ValidatingClient

from .test_hospitals_api import HOSPITALS, body

API = "/api/v1"
PASSWORD = "a long enough passphrase for staff"


def _set_password(client: ValidatingClient, mail: MaildirNotifier, email: str) -> None:
    sent = [m for m in mail.messages() if m["To"] == email]
    assert sent, [m["To"] for m in mail.messages()]
    match = re.search(r"\?token=(\S+)", str(sent[-1].get_content()))
    assert match is not None
    done = client.simulate_post(
        f"{API}/auth/password/reset", json={"token": match[1], "password": PASSWORD}
    )
    assert done.status_code == 200, done.json


def _login(client: ValidatingClient, email: str) -> dict[str, str]:
    tokens = client.simulate_post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.json
    return {"Authorization": f"Bearer {tokens.json['access_token']}"}


def test_an_admin_adds_a_hospital_administrator_who_then_manages_it(
    client: ValidatingClient,
    components: Components,
    mail: MaildirNotifier,
    as_admin: Headers,
    as_patient: Headers,
) -> None:
    hospital = client.simulate_post(HOSPITALS, json=body("One"), headers=as_admin()).json["id"]
    path = f"{HOSPITALS}/{hospital}/administrator-invitations"
    refused = client.simulate_post(path, json={"email": "x@example.org"}, headers=as_patient())
    assert refused.status_code == 403
    assert mail.messages() == []
    unknown = client.simulate_post(
        f"{HOSPITALS}/hosp-none/administrator-invitations",
        json={"email": "ghost@example.org"},
        headers=as_admin(),
    )
    assert unknown.status_code == 404
    made = client.simulate_post(
        path, json={"email": "ward.lead@example.org", "role": "admin"}, headers=as_admin()
    )
    assert made.status_code == 422  # the role is the route's, never the client's
    made = client.simulate_post(path, json={"email": "ward.lead@example.org"}, headers=as_admin())
    assert made.status_code == 201, made.json
    assert (made.json["role"], made.json["status"]) == ("hospital_admin", "pending")
    assert (
        components.hospitals.get(HospitalId(hospital)).administrators[-1].value == (made.json["id"])
    )
    again = client.simulate_post(path, json={"email": "ward.lead@example.org"}, headers=as_admin())
    assert again.status_code == 409
    _set_password(client, mail, "ward.lead@example.org")
    manager = _login(client, "ward.lead@example.org")
    named = client.simulate_post(
        f"{HOSPITALS}/{hospital}/doctors", json={"doctor_id": "dr-free"}, headers=manager
    )
    assert named.status_code == 200, named.json


def test_an_admin_adds_an_insurer_to_a_scheme(
    client: ValidatingClient, components: Components, mail: MaildirNotifier, as_admin: Headers
) -> None:
    scheme = client.simulate_post(
        f"{API}/insurance/schemes",
        json={
            "payer": "Acme Mutual",
            "name": "Basic",
            "covered_kinds": ["regular"],
            "copay_percent": 20,
            "yearly_limit": {"minor_units": 50_000, "currency": "USD"},
        },
        headers=as_admin(),
    ).json["id"]
    made = client.simulate_post(
        f"{API}/insurance/schemes/{scheme}/insurer-invitations",
        json={"email": "claims@acme.example"},
        headers=as_admin(),
    )
    assert made.status_code == 201, made.json
    assert made.json["role"] == "insurer"
    [stored] = [s for s in components.insurance.schemes() if s.id == SchemeId(scheme)]
    assert [u.value for u in stored.insurers] == [made.json["id"]]
    _set_password(client, mail, "claims@acme.example")
    reviewer = _login(client, "claims@acme.example")
    claims = client.simulate_get(f"{API}/insurance/schemes/{scheme}/claims", headers=reviewer)
    assert claims.status_code == 200, claims.json
