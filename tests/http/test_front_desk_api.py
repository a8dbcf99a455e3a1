"""Issue 17, item 4, through the API: a hospital's receptionist (invited by e-mail) finds
patients, registers a walk-in, books them with the hospital's doctors to pay at the clinic,
checks them in, sees the doctor's day and records the payment as collected once; the powers
and the limits of the role (RBAC)."""

from __future__ import annotations

from typing import Any

import pytest

from hellodoctor_adapters.notify import MaildirNotifier
from hellodoctor_http.testing import FEE_DOCTOR, FREE_DOCTOR, Headers, ValidatingClient, at

from .test_hospitals_api import HOSPITALS, body
from .test_identity_api import bearer, signed_up
from .test_series_api import WEEKLY
from .test_staff_api import _login, _set_password

API = "/api/v1"


@pytest.fixture
def desk(client: ValidatingClient, mail: MaildirNotifier, as_admin: Headers) -> dict[str, Any]:
    """Hospital A employs the fee-charging doctor and has a receptionist (signed in);
    hospital B employs the free doctor."""
    made = {}
    for name, doctor in (("A", FEE_DOCTOR), ("B", FREE_DOCTOR)):
        key = client.simulate_post(HOSPITALS, json=body(name), headers=as_admin()).json["id"]
        named = client.simulate_post(
            f"{HOSPITALS}/{key}/doctors", json={"doctor_id": doctor}, headers=as_admin()
        )
        assert named.status_code == 200, named.json
        made[name] = key
    invited = client.simulate_post(
        f"{HOSPITALS}/{made['A']}/receptionist-invitations",
        json={"email": "desk@example.org"},
        headers=as_admin(),
    )
    assert invited.status_code == 201, invited.json
    assert (invited.json["role"], invited.json["status"]) == ("receptionist", "pending")
    _set_password(client, mail, "desk@example.org")
    return {**made, "headers": _login(client, "desk@example.org"), "id": invited.json["id"]}


def test_the_desk_books_a_walk_in_to_pay_at_the_clinic_and_collects_once(
    client: ValidatingClient, desk: dict[str, Any], as_admin: Headers
) -> None:
    mine, hospital = desk["headers"], desk["A"]
    walk_in = client.simulate_post(
        f"{HOSPITALS}/{hospital}/walk-ins",
        json={"name": "Walk In", "phone": "+44 20 7946 0958", "date_of_birth": "1980-05-17"},
        headers=mine,
    )
    assert walk_in.status_code == 201, walk_in.json
    assert walk_in.json["phone"] == "+442079460958"
    found = client.simulate_get(
        f"{HOSPITALS}/{hospital}/patients", params={"phone": "+44 20 7946 0958"}, headers=mine
    )
    assert found.status_code == 200, found.json
    assert found.json["items"] == [walk_in.json]  # identifying fields only, no health data
    by_name = client.simulate_get(
        f"{HOSPITALS}/{hospital}/patients", params={"name": "PATIENT"}, headers=mine
    )
    assert [p["id"] for p in by_name.json["items"]] == ["pat-1", "pat-2"]

    path = f"{HOSPITALS}/{hospital}/appointments"
    booking = {"doctor_id": FEE_DOCTOR, "patient_id": walk_in.json["id"], "start": at(10)}
    priced = client.simulate_post(
        path, json={**booking, "price": {"minor_units": 1, "currency": "GBP"}}, headers=mine
    )
    assert priced.status_code == 422  # the price is the doctor's
    booked = client.simulate_post(path, json=booking, headers=mine)
    assert booked.status_code == 201, booked.json
    appointment = booked.json["appointment"]
    assert appointment["status"] == "booked"
    assert (booked.json["payment"]["method"], booked.json["payment"]["status"]) == (
        "offline",
        "requires_payment",
    )
    assert booked.json["due_at_clinic"]["minor_units"] == 8000

    key = appointment["id"]
    arrived = client.simulate_post(f"{API}/appointments/{key}/check-in", headers=mine)
    assert arrived.status_code == 200, arrived.json
    day = client.simulate_get(
        f"{API}/doctors/{FEE_DOCTOR}/day", params={"date": "2030-01-07"}, headers=mine
    )
    assert day.status_code == 200, day.json
    assert [(e["patient_name"], e["patient_age"]) for e in day.json["items"]] == [("Walk In", 49)]

    collect = f"{API}/appointments/{key}/collected-payment"
    collected = client.simulate_post(collect, json={"via": "cash"}, headers=mine)
    assert collected.status_code == 201, collected.json
    assert (collected.json["status"], collected.json["collected_via"]) == ("succeeded", "cash")
    assert collected.json["collected_by"] == desk["id"]
    assert collected.json["succeeded_at"] is not None
    again = client.simulate_post(collect, json={"via": "card_terminal"}, headers=mine)
    assert again.status_code == 409
    assert again.json["type"].endswith("/illegal-transition")
    ledger = client.simulate_get(
        f"{API}/payments", params={"method": "offline"}, headers=as_admin()
    )
    assert [(p["status"], p["collected_by"]) for p in ledger.json["items"]] == [
        ("succeeded", desk["id"])
    ]


def test_a_receptionist_acts_only_for_their_hospital_and_reads_no_records(
    client: ValidatingClient, desk: dict[str, Any], as_patient: Headers, as_doctor: Headers
) -> None:
    mine, other = desk["headers"], desk["B"]
    # Hospital B, its doctor, its desk: not found.
    for method, path, payload in (
        ("GET", f"{HOSPITALS}/{other}/patients?name=patient", None),
        (
            "POST",
            f"{HOSPITALS}/{other}/walk-ins",
            {"name": "X Y", "phone": "+442079460958", "date_of_birth": "1980-01-01"},
        ),
        (
            "POST",
            f"{HOSPITALS}/{other}/appointments",
            {"doctor_id": FREE_DOCTOR, "patient_id": "pat-1", "start": at(15)},
        ),
        ("GET", f"{API}/doctors/{FREE_DOCTOR}/day", None),
    ):
        path, _, query = path.partition("?")
        answer = client.simulate_request(
            method, path, json=payload, query_string=query, headers=mine
        )
        assert answer.status_code == 404, (path, answer.json)
    # Their own desk cannot book another hospital's doctor either.
    elsewhere = client.simulate_post(
        f"{HOSPITALS}/{desk['A']}/appointments",
        json={"doctor_id": FREE_DOCTOR, "patient_id": "pat-1", "start": at(15)},
        headers=mine,
    )
    assert elsewhere.status_code == 404
    booked = client.simulate_post(
        f"{API}/appointments",
        json={"doctor_id": FREE_DOCTOR, "start": at(15)},
        headers=as_patient(),
    )
    key = booked.json["id"]
    for path in (f"{API}/appointments/{key}", f"{API}/patients/pat-1/records"):
        assert client.simulate_get(path, headers=mine).status_code == 404, path
    assert (
        client.simulate_post(f"{API}/appointments/{key}/check-in", headers=mine).status_code == 404
    )
    # Patients and doctors are not the desk; a search needs a criterion.
    search = f"{HOSPITALS}/{desk['A']}/patients"
    assert (
        client.simulate_get(search, params={"name": "pat"}, headers=as_patient()).status_code == 403
    )
    assert (
        client.simulate_get(search, params={"name": "pat"}, headers=as_doctor()).status_code == 403
    )
    assert client.simulate_get(search, headers=mine).status_code == 422
    # A receptionist invites nobody.
    invited = client.simulate_post(
        f"{HOSPITALS}/{desk['A']}/receptionist-invitations",
        json={"email": "another@example.org"},
        headers=mine,
    )
    assert invited.status_code == 403


def test_a_walk_in_needs_a_real_phone_and_a_past_birth_date(
    client: ValidatingClient, desk: dict[str, Any]
) -> None:
    path = f"{HOSPITALS}/{desk['A']}/walk-ins"
    for fields in (
        {"phone": "+44 12"},
        {"date_of_birth": "2031-01-01"},
        {"date_of_birth": "1899-12-31"},
    ):
        payload = {"name": "Walk In", "phone": "+442079460958", "date_of_birth": "1980-05-17"}
        answer = client.simulate_post(path, json={**payload, **fields}, headers=desk["headers"])
        assert answer.status_code == 422, (fields, answer.json)


def test_the_desk_replays_a_booking_by_its_idempotency_key(
    client: ValidatingClient, desk: dict[str, Any]
) -> None:
    path = f"{HOSPITALS}/{desk['A']}/appointments"
    headers = {**desk["headers"], "Idempotency-Key": "desk-1"}
    booking = {"doctor_id": FEE_DOCTOR, "patient_id": "pat-1", "start": at(10)}
    first = client.simulate_post(path, json=booking, headers=headers)
    again = client.simulate_post(path, json=booking, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), again.json
    assert again.json == first.json  # the appointment and its payment due at the clinic
    for changed in ({**booking, "start": at(11)}, {**booking, "pay_at_clinic": False}):
        refused = client.simulate_post(path, json=changed, headers=headers)
        assert refused.status_code == 422, changed
        assert refused.json["type"].endswith("/idempotency-key-reused")


def test_the_desk_cancels_and_moves_its_doctors_visits_and_no_other_desk_does(
    client: ValidatingClient, desk: dict[str, Any], mail: MaildirNotifier, as_admin: Headers
) -> None:
    invited = client.simulate_post(
        f"{HOSPITALS}/{desk['B']}/receptionist-invitations",
        json={"email": "desk-b@example.org"},
        headers=as_admin(),
    )
    assert invited.status_code == 201, invited.json
    _set_password(client, mail, "desk-b@example.org")
    theirs, mine = _login(client, "desk-b@example.org"), desk["headers"]
    booked = client.simulate_post(
        f"{HOSPITALS}/{desk['A']}/appointments",
        json={"doctor_id": FEE_DOCTOR, "patient_id": "pat-1", "start": at(10)},
        headers=mine,
    )
    key = booked.json["appointment"]["id"]
    move, cancel = f"{API}/appointments/{key}/reschedule", f"{API}/appointments/{key}/cancel"
    # Another hospital's desk does not know the visit.
    assert client.simulate_post(move, json={"start": at(11)}, headers=theirs).status_code == 404
    assert client.simulate_post(cancel, json={}, headers=theirs).status_code == 404
    moved = client.simulate_post(move, json={"start": at(11)}, headers=mine)
    assert moved.status_code == 200, moved.json
    assert moved.json["start"] == at(11).replace("+00:00", "Z")
    cancelled = client.simulate_post(cancel, json={"reason": "doctor ill"}, headers=mine)
    assert cancelled.status_code == 200, cancelled.json
    assert cancelled.json["status"] == "cancelled"
    assert cancelled.json["cancellation"]["by"] == "receptionist"
    # A series, for the doctors of one's own hospital only (B employs the free doctor).
    weekly = {**WEEKLY, "patient_id": "pat-2"}
    booking = f"{API}/appointment-series"
    assert client.simulate_post(booking, json=weekly, headers=mine).status_code == 404
    series = client.simulate_post(booking, json=weekly, headers=theirs)
    assert series.status_code == 201, series.json
    read = f"{API}/appointment-series/{series.json['id']}"
    assert client.simulate_get(read, headers=mine).status_code == 404
    assert client.simulate_get(read, headers=theirs).json == series.json


def test_a_walk_in_claims_their_profile_once_from_their_own_account(
    client: ValidatingClient, desk: dict[str, Any], mail: MaildirNotifier, as_patient: Headers
) -> None:
    mine = desk["headers"]
    walk_in = client.simulate_post(
        f"{HOSPITALS}/{desk['A']}/walk-ins",
        json={"name": "Walk In", "phone": "+442079460958", "date_of_birth": "1980-05-17"},
        headers=mine,
    ).json
    path = f"{HOSPITALS}/{desk['A']}/walk-ins/{walk_in['id']}/claim-code"
    elsewhere = f"{HOSPITALS}/{desk['B']}/walk-ins/{walk_in['id']}/claim-code"
    assert client.simulate_post(elsewhere, headers=mine).status_code == 404
    assert client.simulate_post(path, headers=as_patient()).status_code == 403
    issued = client.simulate_post(path, headers=mine)
    assert issued.status_code == 201, issued.json
    assert issued.headers["cache-control"] == "no-store"
    code = issued.json["code"]

    tokens = bearer(signed_up(client, mail, "walk.in@example.org"))
    claim = f"{API}/me/walk-in-claim"
    wrong = client.simulate_post(claim, json={"code": code + "x"}, headers=tokens)
    assert wrong.status_code == 422
    assert wrong.json["type"].endswith("/invalid-one-time-secret")
    claimed = client.simulate_post(claim, json={"code": code}, headers=tokens)
    assert claimed.status_code == 200, claimed.json
    assert (claimed.json["patient"]["id"], claimed.json["patient"]["name"]) == (
        walk_in["id"],
        "Walk In",
    )
    assert client.simulate_get(f"{API}/me", headers=tokens).json["patient"]["id"] == walk_in["id"]
    again = client.simulate_post(claim, json={"code": code}, headers=tokens)
    assert again.status_code == 409
    assert again.json["type"].endswith("/walk-in-claim-refused")
    assert client.simulate_post(path, headers=mine).status_code == 409  # it has an account now
    assert client.simulate_post(claim, json={"code": code}, headers=mine).status_code == 403
