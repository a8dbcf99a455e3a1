"""The scheduling endpoints through Falcon's test client, on every storage."""

from __future__ import annotations

from datetime import timedelta

from hellodoctor_adapters.memory import ManualClock
from hellodoctor_http.testing import FEE_DOCTOR, FREE_DOCTOR, NOW, Headers, ValidatingClient, at

API = "/api/v1"


def book(client: ValidatingClient, headers: dict[str, str], **body: object):  # type: ignore[no-untyped-def]
    return client.simulate_post(f"{API}/appointments", json=body, headers=headers)


def test_doctors_are_listed_filtered_and_paged(client: ValidatingClient) -> None:
    everyone = client.simulate_get(f"{API}/doctors").json
    assert [d["id"] for d in everyone["items"]] == [FEE_DOCTOR, FREE_DOCTOR]
    assert everyone["next_cursor"] is None
    assert everyone["items"][0]["consultation_fee"] == {
        "minor_units": 8000,
        "currency": "GBP",
        "text": "80.00 GBP",
    }
    spanish = client.simulate_get(f"{API}/doctors", params={"language": "ES"}).json
    assert [d["id"] for d in spanish["items"]] == [FREE_DOCTOR]
    by_text = client.simulate_get(f"{API}/doctors", params={"text": "cardio"}).json
    assert [d["id"] for d in by_text["items"]] == [FEE_DOCTOR]
    first = client.simulate_get(f"{API}/doctors", params={"limit": "1"}).json
    assert [d["id"] for d in first["items"]] == [FEE_DOCTOR]
    second = client.simulate_get(
        f"{API}/doctors", params={"limit": "1", "cursor": first["next_cursor"]}
    ).json
    assert [d["id"] for d in second["items"]] == [FREE_DOCTOR]
    assert second["next_cursor"] is None


def test_bad_query_parameters_are_named(client: ValidatingClient) -> None:
    result = client.simulate_get(
        f"{API}/doctors", params={"limit": "0", "accepting": "maybe", "colour": "red"}
    )
    assert result.status_code == 422
    assert {e["field"] for e in result.json["errors"]} == {"limit", "accepting", "colour"}


def test_one_doctor_and_an_unknown_one(client: ValidatingClient) -> None:
    assert client.simulate_get(f"{API}/doctors/{FEE_DOCTOR}").json["time_zone"] == ("Europe/London")
    missing = client.simulate_get(f"{API}/doctors/nobody")
    assert missing.status_code == 404
    assert missing.json["type"] == "https://hellodoctor.dev/problems/not-found"


def test_slots_are_public_and_shown_in_the_asked_zone(client: ValidatingClient) -> None:
    result = client.simulate_get(
        f"{API}/doctors/{FEE_DOCTOR}/slots",
        params={"from": at(0), "to": at(0, day=1), "tz": "Asia/Kolkata"},
    )
    assert result.status_code == 200
    slots = result.json["slots"]
    # London is on UTC in January: 09:00-17:00 is 16 half-hour slots.
    assert len(slots) == 16
    assert slots[0]["start"] == "2030-01-07T09:00:00Z"
    assert slots[0]["local_start"] == "2030-01-07T14:30:00+05:30"


def test_slot_listing_refuses_a_bad_zone_and_range(client: ValidatingClient) -> None:
    result = client.simulate_get(
        f"{API}/doctors/{FEE_DOCTOR}/slots",
        params={"from": at(9), "to": at(8), "tz": "Mars/Olympus"},
    )
    assert result.status_code == 422
    assert {e["field"] for e in result.json["errors"]} == {"to", "tz"}
    too_long = client.simulate_get(
        f"{API}/doctors/{FEE_DOCTOR}/slots", params={"from": at(9), "to": at(9, day=40)}
    )
    assert too_long.status_code == 422


def test_booking_a_paid_visit_holds_it_and_a_free_one_is_booked(
    client: ValidatingClient, as_patient: Headers
) -> None:
    held = book(client, as_patient(), doctor_id=FEE_DOCTOR, start=at(9), reason="chest pain")
    assert held.status_code == 201
    assert held.json["status"] == "held"
    assert held.json["hold_expires_at"] == "2030-01-07T06:15:00Z"
    assert held.json["price"]["minor_units"] == 8000
    assert held.json["patient_id"] == "pat-1"
    assert held.headers["location"] == f"{API}/appointments/{held.json['id']}"
    free = book(client, as_patient(), doctor_id=FREE_DOCTOR, start="2030-01-07T09:00:00-05:00")
    assert free.status_code == 201
    assert free.json["status"] == "booked"
    assert free.json["hold_expires_at"] is None
    assert free.json["start"] == "2030-01-07T14:00:00Z"


def test_a_taken_slot_is_409_slot_unavailable(
    client: ValidatingClient, as_patient: Headers
) -> None:
    assert book(client, as_patient("pat-1"), doctor_id=FEE_DOCTOR, start=at(10)).status_code == 201
    second = book(client, as_patient("pat-2"), doctor_id=FEE_DOCTOR, start=at(10))
    assert second.status_code == 409
    assert second.json["type"] == "https://hellodoctor.dev/problems/slot-unavailable"
    assert second.headers["content-type"] == "application/problem+json"


def test_each_booking_rule_has_its_own_problem_type(
    client: ValidatingClient, as_patient: Headers
) -> None:
    cases = {
        "in-the-past": at(5),
        "too-short-notice": at(6, 30),
        "outside-availability": at(18),
        "off-grid": at(9, 10),
        "beyond-horizon": at(9, day=91 + 7 - 1),
    }
    for slug, start in cases.items():
        result = book(client, as_patient(), doctor_id=FEE_DOCTOR, start=start)
        assert result.status_code == 422, (slug, result.json)
        assert result.json["type"] == f"https://hellodoctor.dev/problems/{slug}"
    odd_length = book(client, as_patient(), doctor_id=FEE_DOCTOR, start=at(9), length_minutes=45)
    assert odd_length.json["type"].endswith("/invalid-duration")


def test_the_idempotency_key_is_honoured_and_a_bad_one_named(
    client: ValidatingClient, as_patient: Headers
) -> None:
    headers = {**as_patient(), "Idempotency-Key": "booking-1"}
    first = book(client, headers, doctor_id=FREE_DOCTOR, start=at(15))
    assert first.status_code == 201
    retry = book(client, headers, doctor_id=FREE_DOCTOR, start=at(15))
    assert retry.status_code == 201
    assert retry.json["id"] == first.json["id"]
    mine = client.simulate_get(f"{API}/appointments", headers=as_patient()).json["items"]
    assert [a["id"] for a in mine] == [first.json["id"]]
    other_request = book(client, headers, doctor_id=FREE_DOCTOR, start=at(15, 30))
    assert other_request.status_code == 422
    assert other_request.json["type"].endswith("/idempotency-key-reused")
    bad = book(
        client, {**as_patient(), "Idempotency-Key": "x" * 300}, doctor_id=FREE_DOCTOR, start=at(16)
    )
    assert bad.status_code == 422
    assert bad.json["errors"][0]["field"] == "Idempotency-Key"


def test_listing_shows_each_party_their_own(
    client: ValidatingClient, as_patient: Headers, as_doctor: Headers, as_admin: Headers
) -> None:
    mine = book(client, as_patient("pat-1"), doctor_id=FEE_DOCTOR, start=at(9)).json
    theirs = book(client, as_patient("pat-2"), doctor_id=FREE_DOCTOR, start=at(15)).json
    listed = client.simulate_get(f"{API}/appointments", headers=as_patient("pat-1")).json
    assert [a["id"] for a in listed["items"]] == [mine["id"]]
    calendar = client.simulate_get(f"{API}/appointments", headers=as_doctor(FREE_DOCTOR)).json
    assert [a["id"] for a in calendar["items"]] == [theirs["id"]]
    everything = client.simulate_get(f"{API}/appointments", headers=as_admin()).json
    assert {a["id"] for a in everything["items"]} == {mine["id"], theirs["id"]}
    held_only = client.simulate_get(
        f"{API}/appointments", params={"status": "held"}, headers=as_admin()
    ).json
    assert [a["id"] for a in held_only["items"]] == [mine["id"]]
    paged = client.simulate_get(f"{API}/appointments", params={"limit": "1"}, headers=as_admin())
    rest = client.simulate_get(
        f"{API}/appointments",
        params={"limit": "1", "cursor": paged.json["next_cursor"]},
        headers=as_admin(),
    )
    assert [a["id"] for a in paged.json["items"] + rest.json["items"]] == [
        mine["id"],
        theirs["id"],
    ]


def test_listing_needs_a_token(client: ValidatingClient) -> None:
    result = client.simulate_get(f"{API}/appointments")
    assert result.status_code == 401
    assert result.headers["www-authenticate"].startswith("Bearer")


def test_cancel_reschedule_complete_and_no_show(
    client: ValidatingClient, as_patient: Headers, as_doctor: Headers, clock: ManualClock
) -> None:
    booked = book(client, as_patient(), doctor_id=FREE_DOCTOR, start=at(15)).json
    path = f"{API}/appointments/{booked['id']}"
    moved = client.simulate_post(f"{path}/reschedule", json={"start": at(16)}, headers=as_patient())
    assert moved.status_code == 200
    assert moved.json["start"] == "2030-01-07T16:00:00Z"
    patient_no_show = client.simulate_post(f"{path}/no-show", headers=as_patient())
    assert patient_no_show.status_code == 403
    too_early = client.simulate_post(f"{path}/complete", headers=as_doctor(FREE_DOCTOR))
    assert too_early.status_code == 409
    assert too_early.json["type"].endswith("/illegal-transition")
    clock.set(NOW.replace(hour=16) + timedelta(minutes=5))
    done = client.simulate_post(f"{path}/complete", json={}, headers=as_doctor(FREE_DOCTOR))
    assert done.json["status"] == "completed"

    other = book(client, as_patient(), doctor_id=FREE_DOCTOR, start=at(15, day=1)).json
    cancelled = client.simulate_post(
        f"{API}/appointments/{other['id']}/cancel",
        json={"reason": "feeling better"},
        headers=as_patient(),
    )
    assert cancelled.json["status"] == "cancelled"
    assert cancelled.json["cancellation"]["by"] == "patient"
    again = client.simulate_post(
        f"{API}/appointments/{other['id']}/cancel", json={}, headers=as_patient()
    )
    assert again.status_code == 409
    got = client.simulate_get(f"{API}/appointments/{other['id']}", headers=as_patient())
    assert got.json["status"] == "cancelled"


def test_availability_is_replaced_by_its_doctor_with_if_match(
    client: ValidatingClient, as_doctor: Headers
) -> None:
    path = f"{API}/doctors/{FEE_DOCTOR}/availability"
    current = client.simulate_get(path)
    etag = current.headers["etag"]
    body = {
        "weekly": [{"weekday": "monday", "hours": [{"start": "10:00", "end": "12:00"}]}],
        "slot_minutes": 20,
    }
    stale = client.simulate_put(
        path, json=body, headers={**as_doctor(FEE_DOCTOR), "If-Match": '"999"'}
    )
    assert stale.status_code == 412
    replaced = client.simulate_put(
        path, json=body, headers={**as_doctor(FEE_DOCTOR), "If-Match": etag}
    )
    assert replaced.status_code == 200
    assert replaced.headers["etag"] != etag
    slots = client.simulate_get(
        f"{API}/doctors/{FEE_DOCTOR}/slots", params={"from": at(0), "to": at(0, day=1)}
    ).json["slots"]
    assert [s["start"][11:16] for s in slots] == [
        "10:00", "10:20", "10:40", "11:00", "11:20", "11:40"
    ]  # fmt: skip
    other_doctor = client.simulate_put(path, json=body, headers=as_doctor(FREE_DOCTOR))
    assert other_doctor.status_code == 403


def test_availability_field_errors_name_the_path(
    client: ValidatingClient, as_admin: Headers
) -> None:
    result = client.simulate_put(
        f"{API}/doctors/{FEE_DOCTOR}/availability",
        json={"weekly": [{"weekday": "monday", "hours": [{"start": 9, "end": "17:00"}]}]},
        headers=as_admin(),
    )
    assert result.status_code == 422
    assert result.json["errors"] == [
        {
            "field": "weekly[0].hours[0].start",
            "message": "expected a wall-clock time string (HH:MM)",
        }
    ]


def test_operations_endpoints(client: ValidatingClient) -> None:
    assert client.simulate_get("/healthz").json == {"status": "ok"}
    assert client.simulate_get("/readyz").json == {"status": "ready"}
    client.simulate_get(f"{API}/doctors")
    metrics = client.simulate_get("/metrics").text
    assert 'hellodoctor_http_requests_total{method="GET",route="/api/v1/doctors",status="200"}' in (
        metrics
    )


def test_readiness_is_503_when_the_storage_is_down(components) -> None:  # type: ignore[no-untyped-def]
    from attrs import evolve

    from hellodoctor_domain.errors import BackendUnavailable
    from hellodoctor_http.app import create_app

    def down() -> None:
        raise BackendUnavailable("connection refused")

    client = ValidatingClient(create_app(evolve(components, readiness=down)))
    result = client.simulate_get("/readyz")
    assert result.status_code == 503
    assert result.json["type"].endswith("/backend-unavailable")
    assert "connection refused" not in result.text


def test_bookings_are_counted_by_outcome(client: ValidatingClient, as_patient: Headers) -> None:
    book(client, as_patient("pat-1"), doctor_id=FEE_DOCTOR, start=at(11))
    book(client, as_patient("pat-2"), doctor_id=FEE_DOCTOR, start=at(11))
    metrics = client.simulate_get("/metrics").text
    assert 'hellodoctor_bookings_total{outcome="held"} 1.0' in metrics
    assert 'hellodoctor_bookings_total{outcome="slot-unavailable"} 1.0' in metrics


def test_security_headers_request_id_and_no_store(client: ValidatingClient) -> None:
    result = client.simulate_get(f"{API}/doctors", headers={"X-Request-ID": "trace-42"})
    assert result.headers["x-request-id"] == "trace-42"
    assert result.headers["x-content-type-options"] == "nosniff"
    assert result.headers["x-frame-options"] == "DENY"
    assert result.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in result.headers["content-security-policy"]
    assert "strict-transport-security" not in result.headers  # development
    forged = client.simulate_get("/healthz", headers={"X-Request-ID": "bad id\twith junk"})
    assert forged.headers["x-request-id"] != "bad id\twith junk"


def test_swagger_ui_is_served_from_the_package(client: ValidatingClient) -> None:
    page = client.simulate_get("/api-docs")
    assert page.status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN, nothing remote
    assert "script-src 'self'" in page.headers["content-security-policy"]
    bundle = client.simulate_get("/api-docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert len(bundle.content) > 100_000
    assert client.simulate_get("/api-docs/../../etc/passwd").status_code == 404
