"""Issue 17 item 1, the waitlist, through the API: join, see, the offer made when a visit is
cancelled (by the outbox's consumer), accept or decline, leave; a patient sees only their own
entries (404 otherwise), the doctor their waitlist."""

from __future__ import annotations

from hellodoctor_http.bootstrap import Components
from hellodoctor_http.testing import FEE_DOCTOR, FREE_DOCTOR, Headers, ValidatingClient, at

API = "/api/v1"
JOIN = {"doctor_id": FEE_DOCTOR, "first_day": "2030-01-08", "last_day": "2030-01-09"}


def _book(client: ValidatingClient, headers: dict[str, str], doctor: str, start: str) -> str:
    made = client.simulate_post(
        f"{API}/appointments",
        json={"doctor_id": doctor, "start": start},
        headers=headers,
    )
    assert made.status_code == 201, made.json
    return str(made.json["id"])


def _deliver(components: Components) -> None:
    assert components.delivery is not None
    components.delivery.relay.drain()


def test_a_cancelled_visit_is_offered_to_the_waiting_patient_who_accepts(
    client: ValidatingClient, components: Components, as_patient: Headers, as_doctor: Headers
) -> None:
    appointment = _book(client, as_patient("pat-2"), FEE_DOCTOR, at(10, day=1))  # London 10:00
    joined = client.simulate_post(
        f"{API}/waitlist", json={**JOIN, "part_of_day": "morning"}, headers=as_patient()
    )
    assert joined.status_code == 201, joined.json
    entry = joined.json["id"]
    assert joined.headers["location"] == f"{API}/waitlist/{entry}"
    assert (joined.json["status"], joined.json["window"]) == (
        "waiting",
        {"start": "06:00", "end": "12:00"},
    )
    # Nobody but its patient (and the doctor, admins) knows the entry exists.
    assert (
        client.simulate_get(f"{API}/waitlist/{entry}", headers=as_patient("pat-2")).status_code
        == 404
    )
    cancelled = client.simulate_post(
        f"{API}/appointments/{appointment}/cancel", json={}, headers=as_patient("pat-2")
    )
    assert cancelled.status_code == 200, cancelled.json
    _deliver(components)  # the consumer reacts to AppointmentCancelled
    offered = client.simulate_get(f"{API}/waitlist/{entry}", headers=as_patient()).json
    assert offered["status"] == "offered"
    assert offered["offer"]["start"] == "2030-01-08T10:00:00Z"
    listed = client.simulate_get(f"{API}/doctors/{FEE_DOCTOR}/waitlist", headers=as_doctor())
    assert [e["id"] for e in listed.json["items"]] == [entry]
    assert (
        client.simulate_get(
            f"{API}/doctors/{FEE_DOCTOR}/waitlist", headers=as_patient()
        ).status_code
        == 403
    )
    with_body = client.simulate_post(
        f"{API}/waitlist/{entry}/accept", json={"x": 1}, headers=as_patient()
    )
    assert with_body.status_code == 422
    accepted = client.simulate_post(f"{API}/waitlist/{entry}/accept", headers=as_patient())
    assert accepted.status_code == 200, accepted.json
    assert (accepted.json["status"], accepted.json["patient_id"]) == ("held", "pat-1")  # pay next
    mine = client.simulate_get(f"{API}/waitlist", headers=as_patient()).json["items"]
    assert [e["status"] for e in mine] == ["booked"]
    assert client.simulate_get(f"{API}/waitlist", headers=as_patient("pat-2")).json["items"] == []


def test_declining_offers_the_time_to_the_next_and_leaving_ends_waiting(
    client: ValidatingClient, components: Components, as_patient: Headers
) -> None:
    appointment = _book(client, as_patient("pat-2"), FREE_DOCTOR, at(15, day=1))  # NY 10:00
    first = client.simulate_post(
        f"{API}/waitlist", json={**JOIN, "doctor_id": FREE_DOCTOR}, headers=as_patient()
    ).json["id"]
    client.simulate_post(
        f"{API}/appointments/{appointment}/cancel", json={}, headers=as_patient("pat-2")
    )
    _deliver(components)
    declined = client.simulate_post(f"{API}/waitlist/{first}/decline", headers=as_patient())
    assert declined.status_code == 200, declined.json
    assert declined.json["status"] == "declined"
    again = client.simulate_post(f"{API}/waitlist/{first}/decline", headers=as_patient())
    assert again.status_code == 409
    assert again.json["type"].endswith("illegal-transition")
    second = client.simulate_post(
        f"{API}/waitlist",
        json={**JOIN, "doctor_id": FREE_DOCTOR, "window": {"start": "09:30", "end": "11:00"}},
        headers=as_patient(),
    ).json
    assert second["window"] == {"start": "09:30", "end": "11:00"}
    _deliver(components)  # the declined hold's cancellation offers the time on
    offered = client.simulate_get(f"{API}/waitlist/{second['id']}", headers=as_patient()).json
    assert offered["status"] == "offered"
    accepted = client.simulate_post(f"{API}/waitlist/{second['id']}/accept", headers=as_patient())
    assert accepted.json["status"] == "booked"  # a free visit: booked at once
    third = client.simulate_post(f"{API}/waitlist", json=JOIN, headers=as_patient()).json["id"]
    left = client.simulate_delete(f"{API}/waitlist/{third}", headers=as_patient())
    assert (left.status_code, left.json["status"]) == (200, "left")


def test_joining_is_refused_for_nonsense(
    client: ValidatingClient, as_patient: Headers, as_doctor: Headers
) -> None:
    both = client.simulate_post(
        f"{API}/waitlist",
        json={**JOIN, "part_of_day": "evening", "window": {"start": "09:00", "end": "10:00"}},
        headers=as_patient(),
    )
    assert both.status_code == 422
    assert both.json["type"].endswith("invalid-value")
    backwards = client.simulate_post(
        f"{API}/waitlist", json={**JOIN, "last_day": "2030-01-01"}, headers=as_patient()
    )
    assert backwards.status_code == 422
    unknown = client.simulate_post(
        f"{API}/waitlist", json={**JOIN, "doctor_id": "nobody"}, headers=as_patient()
    )
    assert unknown.status_code == 404
    doctor = client.simulate_post(f"{API}/waitlist", json=JOIN, headers=as_doctor())
    assert doctor.status_code == 403
