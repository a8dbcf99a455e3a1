"""A doctor's hours name the hospitals they are at: only hospitals that list the doctor, never
two places at once (422), and an appointment answers with the hospital of its window, which
the client cannot choose."""

from __future__ import annotations

from typing import Any

from hellodoctor_http.testing import FREE_DOCTOR, Headers, ValidatingClient

from .test_hospitals_api import HOSPITALS, body

API = "/api/v1"
AVAILABILITY = f"{API}/doctors/{FREE_DOCTOR}/availability"


def _hospitals(client: ValidatingClient, as_admin: Headers) -> tuple[str, str]:
    """Two hospitals, the free doctor (New York) working at both."""
    ids = []
    for name in ("One", "Two"):
        made = client.simulate_post(HOSPITALS, json=body(name), headers=as_admin())
        assert made.status_code == 201, made.json
        ids.append(made.json["id"])
        named = client.simulate_post(
            f"{HOSPITALS}/{made.json['id']}/doctors",
            json={"doctor_id": FREE_DOCTOR},
            headers=as_admin(),
        )
        assert named.status_code == 200, named.json
    return ids[0], ids[1]


def _tuesday(morning: str | None, afternoon: str | None, overlap: bool = False) -> dict[str, Any]:
    return {
        "weekly": [
            {
                "weekday": "tuesday",
                "hours": [{"start": "09:00", "end": "13:00" if overlap else "12:00"}],
                "hospital_id": morning,
            },
            {
                "weekday": "tuesday",
                "hours": [{"start": "12:00", "end": "17:00"}],
                "hospital_id": afternoon,
            },
        ]
    }


def test_hours_name_hospitals_the_doctor_works_at_and_one_at_a_time(
    client: ValidatingClient, as_admin: Headers, as_doctor: Headers
) -> None:
    one, two = _hospitals(client, as_admin)
    doctor = as_doctor(FREE_DOCTOR)
    overlapping = client.simulate_put(AVAILABILITY, json=_tuesday(one, two, True), headers=doctor)
    assert overlapping.status_code == 422, overlapping.json
    assert "one place at a time" in overlapping.json["detail"]
    elsewhere = client.simulate_put(AVAILABILITY, json=_tuesday(one, "hosp-x"), headers=doctor)
    assert elsewhere.status_code == 422, elsewhere.json
    assert "not affiliated" in elsewhere.json["detail"]
    malformed = client.simulate_put(AVAILABILITY, json=_tuesday(one, "no such id!"), headers=doctor)
    assert malformed.status_code == 422
    stored = client.simulate_put(AVAILABILITY, json=_tuesday(one, two), headers=doctor)
    assert stored.status_code == 200, stored.json
    assert [d["hospital_id"] for d in stored.json["weekly"]] == [one, two]


def test_an_appointment_is_at_its_windows_hospital_across_one_calendar(
    client: ValidatingClient, as_admin: Headers, as_doctor: Headers, as_patient: Headers
) -> None:
    one, two = _hospitals(client, as_admin)
    put = client.simulate_put(AVAILABILITY, json=_tuesday(one, two), headers=as_doctor(FREE_DOCTOR))
    assert put.status_code == 200, put.json

    def book(patient: str, start: str, **extra: object) -> Any:
        return client.simulate_post(
            f"{API}/appointments",
            json={"doctor_id": FREE_DOCTOR, "start": start, **extra},
            headers=as_patient(patient),
        )

    morning = book("pat-1", "2030-01-08T10:00:00-05:00")
    assert morning.status_code == 201, morning.json
    assert morning.json["hospital_id"] == one
    afternoon = book("pat-2", "2030-01-08T13:00:00-05:00")
    assert afternoon.json["hospital_id"] == two
    online = book("pat-2", "2030-01-08T15:00:00-05:00", type="telemedicine")
    assert online.status_code == 201, online.json
    assert online.json["hospital_id"] is None
    chosen = book("pat-2", "2030-01-08T16:00:00-05:00", hospital_id=one)
    assert chosen.status_code == 422  # the hospital is never the client's to say
    # The doctor moves their mornings to the other hospital: the 10:00 visit still holds the
    # time, wherever the hours now are.
    swapped = client.simulate_put(
        AVAILABILITY, json=_tuesday(two, one), headers=as_doctor(FREE_DOCTOR)
    )
    assert swapped.status_code == 200, swapped.json
    again = book("pat-2", "2030-01-08T10:00:00-05:00")
    assert again.status_code == 409
    assert again.json["type"].endswith("/slot-unavailable")
    read = client.simulate_get(f"{API}/appointments/{morning.json['id']}", headers=as_patient())
    assert read.json["hospital_id"] == one
