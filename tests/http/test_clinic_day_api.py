"""Issue 17, the clinic's day, through the API: friendlier queries (plain dates, the full
documented page size)."""

from __future__ import annotations

from hellodoctor_http.testing import FEE_DOCTOR, FREE_DOCTOR, Headers, ValidatingClient, at

API = "/api/v1"


def test_slots_take_a_plain_date_as_the_doctors_whole_day(client: ValidatingClient) -> None:
    # New York is five hours behind UTC in January: its 7 January runs 05:00Z to 05:00Z.
    day = client.simulate_get(
        f"{API}/doctors/{FREE_DOCTOR}/slots", params={"from": "2030-01-07", "to": "2030-01-07"}
    )
    assert day.status_code == 200, day.json
    assert day.json["from"] == "2030-01-07T05:00:00Z"
    assert day.json["to"] == "2030-01-08T05:00:00Z"
    explicit = client.simulate_get(
        f"{API}/doctors/{FREE_DOCTOR}/slots",
        params={"from": "2030-01-07T05:00:00Z", "to": "2030-01-08T05:00:00Z"},
    )
    assert day.json["slots"] == explicit.json["slots"]
    assert day.json["slots"]  # a working Monday


def test_a_plain_date_is_taken_in_the_given_zone(client: ValidatingClient) -> None:
    result = client.simulate_get(
        f"{API}/doctors/{FEE_DOCTOR}/slots",
        params={"from": "2030-01-08", "tz": "Asia/Kolkata"},
    )
    assert result.status_code == 200, result.json
    assert result.json["from"] == "2030-01-07T18:30:00Z"


def test_a_plain_date_in_a_daylight_saving_zone_starts_at_local_midnight(
    client: ValidatingClient,
) -> None:
    # London moves to summer time on 31 March 2030: 1 April starts at 23:00Z the day before.
    result = client.simulate_get(
        f"{API}/doctors/{FEE_DOCTOR}/slots", params={"from": "2030-04-01", "to": "2030-04-01"}
    )
    assert result.status_code == 200, result.json
    assert (result.json["from"], result.json["to"]) == (
        "2030-03-31T23:00:00Z",
        "2030-04-01T23:00:00Z",
    )


def test_a_broken_date_is_named(client: ValidatingClient) -> None:
    result = client.simulate_get(f"{API}/doctors/{FEE_DOCTOR}/slots", params={"from": "2030-02-30"})
    assert result.status_code == 422
    assert [e["field"] for e in result.json["errors"]] == ["from"]


def test_appointments_filter_by_plain_dates_in_the_doctors_zone(
    client: ValidatingClient, as_patient: Headers, as_doctor: Headers
) -> None:
    booked = client.simulate_post(
        f"{API}/appointments",
        json={"doctor_id": FREE_DOCTOR, "start": at(21, day=1)},  # 16:00 on the 8th in New York
        headers=as_patient(),
    )
    assert booked.status_code == 201, booked.json
    mine = as_doctor(FREE_DOCTOR)
    on_the_8th = client.simulate_get(
        f"{API}/appointments", params={"from": "2030-01-08", "to": "2030-01-08"}, headers=mine
    )
    assert [a["id"] for a in on_the_8th.json["items"]] == [booked.json["id"]]
    # In UTC the visit falls on the 8th too, but in Tokyo it is already the 9th.
    in_tokyo = client.simulate_get(
        f"{API}/appointments",
        params={"from": "2030-01-08", "to": "2030-01-08", "tz": "Asia/Tokyo"},
        headers=mine,
    )
    assert in_tokyo.json["items"] == []


def test_limit_accepts_the_documented_maximum(
    client: ValidatingClient, as_patient: Headers, as_admin: Headers
) -> None:
    assert client.simulate_get(f"{API}/doctors", params={"limit": "100"}).status_code == 200
    for path in ("appointments", "payments"):
        result = client.simulate_get(f"{API}/{path}", params={"limit": "200"}, headers=as_admin())
        assert result.status_code == 200, (path, result.json)
    over = client.simulate_get(f"{API}/doctors", params={"limit": "101"})
    assert over.status_code == 422
