"""GET /api/v1/doctors as the doctor search, on every storage of the HTTP tests: the free
slot summary the worker keeps, sorts with their cursors, and refusals of what cannot be
answered."""

from __future__ import annotations

from hellodoctor_http.bootstrap import Components
from hellodoctor_http.testing import FEE_DOCTOR, FREE_DOCTOR, Headers, ValidatingClient

DOCTORS = "/api/v1/doctors"


def ids(client: ValidatingClient, **params: str) -> list[str]:
    answer = client.simulate_get(DOCTORS, params=params)
    assert answer.status_code == 200, answer.json
    return [d["id"] for d in answer.json["items"]]


def test_sorts_filters_and_the_next_free_slot(
    client: ValidatingClient, components: Components
) -> None:
    assert components.finder is not None
    components.finder.refresh_free_slots()
    listed = client.simulate_get(DOCTORS, params={"sort": "earliest"}).json["items"]
    assert listed
    assert all(d["next_free_slot"] for d in listed)
    assert ids(client, sort="fee") == [FREE_DOCTOR, FEE_DOCTOR]
    assert ids(client, currency="GBP", fee_min="5000") == [FEE_DOCTOR]
    assert ids(client, currency="GBP", fee_max="10") == []
    assert ids(client, min_rating="0.5") == []
    assert ids(client, text="cardio", sort="relevance") == [FEE_DOCTOR]
    first = client.simulate_get(DOCTORS, params={"sort": "fee", "limit": "1"}).json
    after = {"sort": "fee", "limit": "1", "cursor": first["next_cursor"]}
    assert ids(client, **after) == [FEE_DOCTOR]
    other = client.simulate_get(DOCTORS, params={"sort": "rating", "cursor": first["next_cursor"]})
    assert other.status_code == 422


def test_what_cannot_be_answered_is_refused(client: ValidatingClient) -> None:
    for params, problem in (
        ({"sort": "relevance"}, "invalid-value"),  # relevance needs words
        ({"fee_min": "10"}, "invalid-value"),  # a fee range needs its currency
        ({"latitude": "18.5"}, "invalid-value"),  # a point needs a radius
        ({"text": "!!!"}, "invalid-value"),  # no word in it
        ({"sort": "cheapest"}, "validation-error"),
        ({"latitude": "91"}, "validation-error"),
        ({"radius_km": "1e400"}, "validation-error"),
    ):
        answer = client.simulate_get(DOCTORS, params=params)
        assert answer.status_code == 422, params
        assert answer.json["type"].endswith(problem), (params, answer.json)
    near = {"latitude": "18.52", "longitude": "73.86", "radius_km": "0.000001234567890123456"}
    assert ids(client, **near) == []  # a number may take more than 20 characters


def test_a_doctor_names_the_schemes_they_accept(
    client: ValidatingClient, as_admin: Headers, as_doctor: Headers
) -> None:
    scheme = client.simulate_post(
        "/api/v1/insurance/schemes",
        json={
            "payer": "Acme Mutual",
            "name": "Basic",
            "covered_kinds": ["regular"],
            "copay_percent": 20,
            "yearly_limit": {"minor_units": 50_000, "currency": "USD"},
        },
        headers=as_admin(),
    ).json["id"]
    schemes = f"{DOCTORS}/{FEE_DOCTOR}/insurance-schemes"
    assert client.simulate_get(schemes).json == {"doctor_id": FEE_DOCTOR, "scheme_ids": []}
    assert client.simulate_put(schemes, json={"scheme_ids": [scheme]}).status_code == 401
    other = client.simulate_put(
        schemes, json={"scheme_ids": [scheme]}, headers=as_doctor(FREE_DOCTOR)
    )
    assert other.status_code == 404  # another doctor's list does not exist for them
    unknown = client.simulate_put(schemes, json={"scheme_ids": ["nope"]}, headers=as_doctor())
    assert unknown.status_code == 404
    named = client.simulate_put(schemes, json={"scheme_ids": [scheme]}, headers=as_doctor())
    assert named.json == {"doctor_id": FEE_DOCTOR, "scheme_ids": [scheme]}
    assert ids(client, scheme_id=scheme) == [FEE_DOCTOR]
