"""Issue 17, item 2, through the API: recurring series at /appointment-series."""

from __future__ import annotations

from hellodoctor_http.testing import FEE_DOCTOR, FREE_DOCTOR, Headers, ValidatingClient

API = "/api/v1"
# Tuesdays 10:00 in New York (15:00Z in January) from Monday 7 January 2030.
WEEKLY = {
    "doctor_id": FREE_DOCTOR,
    "first_day": "2030-01-07",
    "time": "10:00",
    "weekday": "tuesday",
    "count": 4,
}


def test_a_patient_books_a_weekly_series_and_reads_it_back(
    client: ValidatingClient, as_patient: Headers
) -> None:
    booked = client.simulate_post(f"{API}/appointment-series", json=WEEKLY, headers=as_patient())
    assert booked.status_code == 201, booked.json
    series = booked.json
    assert booked.headers["location"] == f"{API}/appointment-series/{series['id']}"
    assert [a["start"] for a in series["occurrences"]] == [
        "2030-01-08T15:00:00Z",
        "2030-01-15T15:00:00Z",
        "2030-01-22T15:00:00Z",
        "2030-01-29T15:00:00Z",
    ]
    assert {(a["status"], a["series_id"]) for a in series["occurrences"]} == {
        ("booked", series["id"])
    }
    read = client.simulate_get(f"{API}/appointment-series/{series['id']}", headers=as_patient())
    assert read.json == series
    stranger = client.simulate_get(
        f"{API}/appointment-series/{series['id']}", headers=as_patient("pat-2")
    )
    assert stranger.status_code == 404


def test_a_refusal_lists_every_date_and_books_none(
    client: ValidatingClient, as_patient: Headers
) -> None:
    taken = client.simulate_post(
        f"{API}/appointments",
        json={"doctor_id": FREE_DOCTOR, "start": "2030-01-22T15:00:00Z"},
        headers=as_patient("pat-2"),
    )
    assert taken.status_code == 201, taken.json
    # Tuesdays and Thursdays: the doctor does not work on Thursdays.
    body = {
        "doctor_id": FREE_DOCTOR,
        "first_day": "2030-01-07",
        "time": "10:00",
        "rrule": "FREQ=WEEKLY;BYDAY=TU,TH;COUNT=4",
    }
    refused = client.simulate_post(f"{API}/appointment-series", json=body, headers=as_patient())
    assert refused.status_code == 409, refused.json
    assert refused.json["type"].endswith("series-conflict")
    assert [e["message"] for e in refused.json["errors"]] == [
        "2030-01-10T15:00:00Z outside-availability",
        "2030-01-17T15:00:00Z outside-availability",
    ]
    weekly = client.simulate_post(f"{API}/appointment-series", json=WEEKLY, headers=as_patient())
    assert weekly.status_code == 409
    assert [e["message"] for e in weekly.json["errors"]] == ["2030-01-22T15:00:00Z taken"]
    mine = client.simulate_get(f"{API}/appointments", headers=as_patient())
    assert mine.json["items"] == []


def test_cancelling_the_rest_of_a_series(client: ValidatingClient, as_patient: Headers) -> None:
    series = client.simulate_post(
        f"{API}/appointment-series", json=WEEKLY, headers=as_patient()
    ).json
    third = series["occurrences"][2]["id"]
    path = f"{API}/appointment-series/{series['id']}/cancel"
    rest = client.simulate_post(
        path, json={"from_appointment_id": third, "reason": "moving"}, headers=as_patient()
    )
    assert rest.status_code == 200, rest.json
    assert [a["id"] for a in rest.json["cancelled"]] == [a["id"] for a in series["occurrences"][2:]]
    everything = client.simulate_post(path, headers=as_patient())  # no body: all to come
    assert [a["id"] for a in everything.json["cancelled"]] == [
        a["id"] for a in series["occurrences"][:2]
    ]


def test_staff_book_for_a_patient_with_an_rrule(
    client: ValidatingClient, as_admin: Headers
) -> None:
    body = {
        "doctor_id": FEE_DOCTOR,
        "patient_id": "pat-1",
        "first_day": "2030-01-07",
        "time": "09:30",
        "rrule": "FREQ=DAILY;BYDAY=MO,TU,WE;UNTIL=20300109",
    }
    booked = client.simulate_post(f"{API}/appointment-series", json=body, headers=as_admin())
    assert booked.status_code == 201, booked.json
    # A fee: each occurrence is its own hold, paid on its own.
    assert [(a["start"], a["status"]) for a in booked.json["occurrences"]] == [
        ("2030-01-07T09:30:00Z", "held"),
        ("2030-01-08T09:30:00Z", "held"),
        ("2030-01-09T09:30:00Z", "held"),
    ]


def test_rules_outside_the_subset_or_both_forms_are_refused(
    client: ValidatingClient, as_patient: Headers
) -> None:
    for extra in (
        {"rrule": "FREQ=MONTHLY;COUNT=2", "weekday": None, "count": None},
        {"rrule": "FREQ=DAILY;COUNT=2"},  # and weekday + count
        {"weekday": None},  # count alone
    ):
        refused = client.simulate_post(
            f"{API}/appointment-series", json={**WEEKLY, **extra}, headers=as_patient()
        )
        assert refused.status_code == 422, (extra, refused.json)
        assert refused.json["type"].endswith("invalid-value"), refused.json


def test_staff_sending_the_patients_form_are_told_to_name_the_patient(
    client: ValidatingClient, as_admin: Headers
) -> None:
    """The patient's form is schema-valid for anyone (schemathesis sends it as an admin): staff
    get a business refusal naming what is missing, not a shape error."""
    refused = client.simulate_post(f"{API}/appointment-series", json=WEEKLY, headers=as_admin())
    assert refused.status_code == 422, refused.json
    assert refused.json["type"].endswith("invalid-value"), refused.json
    assert "patient_id" in refused.json["detail"]
    broken = client.simulate_post(
        f"{API}/appointment-series", json={**WEEKLY, "count": "four"}, headers=as_admin()
    )
    assert broken.json["type"].endswith("validation-error"), broken.json


def test_a_patient_sending_the_staffs_form_may_name_only_themself(
    client: ValidatingClient, as_patient: Headers
) -> None:
    other = client.simulate_post(
        f"{API}/appointment-series", json={**WEEKLY, "patient_id": "pat-2"}, headers=as_patient()
    )
    assert other.status_code == 403, other.json
    mine = client.simulate_post(
        f"{API}/appointment-series", json={**WEEKLY, "patient_id": "pat-1"}, headers=as_patient()
    )
    assert mine.status_code == 201, mine.json


def test_the_idempotency_key_replays_the_series_and_refuses_another_request(
    client: ValidatingClient, as_patient: Headers
) -> None:
    headers = {**as_patient(), "Idempotency-Key": "series-1"}
    first = client.simulate_post(f"{API}/appointment-series", json=WEEKLY, headers=headers)
    again = client.simulate_post(f"{API}/appointment-series", json=WEEKLY, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201), again.json
    assert again.json == first.json
    other = client.simulate_post(
        f"{API}/appointment-series", json={**WEEKLY, "count": 3}, headers=headers
    )
    assert other.status_code == 422
    assert other.json["type"].endswith("/idempotency-key-reused")
    mine = client.simulate_get(f"{API}/appointments", headers=as_patient())
    assert len(mine.json["items"]) == 4
