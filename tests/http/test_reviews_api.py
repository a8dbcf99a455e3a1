"""Reviews over HTTP: a patient reviews a completed visit once, the doctor answers, an admin
hides it with a reason; the rating follows and shows on the doctor's public profile; nobody
else can review someone's visit (404), and a visit not completed is refused (422)."""

from __future__ import annotations

from hellodoctor_adapters.memory import ManualClock
from hellodoctor_http.testing import FREE_DOCTOR, NOW, Headers, ValidatingClient, at


def completed_visits(
    client: ValidatingClient,
    clock: ManualClock,
    as_patient: Headers,
    as_doctor: Headers,
    *patients: str,
) -> list[str]:
    """One visit of each patient with the free doctor (New York: 09:00 there is 14:00 UTC),
    back to back, each booked, then completed by the doctor once all of them are over."""
    booked = []
    for index, patient in enumerate(patients):
        answer = client.simulate_post(
            "/api/v1/appointments",
            json={"doctor_id": FREE_DOCTOR, "start": at(14 + index)},
            headers=as_patient(patient),
        )
        assert answer.status_code == 201, answer.json
        booked.append(str(answer.json["id"]))
    clock.set(NOW.replace(hour=14 + len(patients)))
    for key in booked:
        path = f"/api/v1/appointments/{key}/complete"
        done = client.simulate_post(path, headers=as_doctor(FREE_DOCTOR))
        assert done.status_code == 200, done.json
    return booked


def test_review_answer_hide_and_the_rating_on_the_profile(
    client: ValidatingClient,
    clock: ManualClock,
    as_patient: Headers,
    as_doctor: Headers,
    as_admin: Headers,
) -> None:
    first, second = completed_visits(client, clock, as_patient, as_doctor, "pat-1", "pat-2")
    doctor = as_doctor(FREE_DOCTOR)

    # Only the visit's own patient may review it; to anyone else it does not exist.
    for stranger in (as_patient("pat-2"), doctor, as_admin()):
        refused = client.simulate_post(
            f"/api/v1/appointments/{first}/review", json={"rating": 5}, headers=stranger
        )
        assert refused.status_code == 404, refused.json
    script = "<script>alert(1)</script> Very kind."
    written = client.simulate_post(
        f"/api/v1/appointments/{first}/review",
        json={"rating": 2, "text": script},
        headers=as_patient("pat-1"),
    )
    assert written.status_code == 201, written.json
    assert written.json["text"] == script  # plain text, kept as written; escaping is output's
    again = client.simulate_post(
        f"/api/v1/appointments/{first}/review", json={"rating": 5}, headers=as_patient("pat-1")
    )
    assert again.status_code == 409
    assert again.json["type"].endswith("/already-exists")
    client.simulate_post(
        f"/api/v1/appointments/{second}/review", json={"rating": 5}, headers=as_patient("pat-2")
    )

    profile = client.simulate_get(f"/api/v1/doctors/{FREE_DOCTOR}").json
    assert profile["rating"] == {"average": 3.5, "count": 2}
    listed = client.simulate_get("/api/v1/doctors").json["items"]
    assert [d["rating"] for d in listed if d["id"] == FREE_DOCTOR] == [profile["rating"]]

    review = f"/api/v1/reviews/{written.json['id']}"
    assert (
        client.simulate_post(
            f"{review}/reply", json={"text": "Sorry"}, headers=as_admin()
        ).status_code
        == 404
    )
    answered = client.simulate_post(
        f"{review}/reply", json={"text": "Sorry to hear"}, headers=doctor
    )
    assert answered.json["reply"]["text"] == "Sorry to hear"
    assert (
        client.simulate_post(f"{review}/reply", json={"text": "x"}, headers=doctor).status_code
        == 409
    )
    assert (
        client.simulate_post(f"{review}/hide", json={"reason": "x"}, headers=doctor).status_code
        == 404
    )
    hidden = client.simulate_post(f"{review}/hide", json={"reason": "abusive"}, headers=as_admin())
    assert hidden.status_code == 200, hidden.json
    assert hidden.json["hidden"]["reason"] == "abusive"

    public = client.simulate_get(f"/api/v1/doctors/{FREE_DOCTOR}/reviews").json
    assert [r["rating"] for r in public["items"]] == [5]
    assert public["rating"] == {"average": 5.0, "count": 1}
    assert client.simulate_get(review).status_code == 404  # hidden from the public
    assert client.simulate_get(review, headers=as_patient("pat-1")).status_code == 200
    own = client.simulate_get(f"/api/v1/doctors/{FREE_DOCTOR}/reviews", headers=doctor).json
    assert len(own["items"]) == 2


def test_a_visit_not_completed_cannot_be_reviewed_and_pages_follow_the_cursor(
    client: ValidatingClient, clock: ManualClock, as_patient: Headers, as_doctor: Headers
) -> None:
    booked = client.simulate_post(
        "/api/v1/appointments",
        json={"doctor_id": FREE_DOCTOR, "start": at(20)},
        headers=as_patient(),
    ).json
    refused = client.simulate_post(
        f"/api/v1/appointments/{booked['id']}/review", json={"rating": 4}, headers=as_patient()
    )
    assert refused.status_code == 422
    assert refused.json["type"].endswith("/review-not-allowed")
    patients = ("pat-1", "pat-2")
    visits = completed_visits(client, clock, as_patient, as_doctor, *patients)
    for index, visit in enumerate(visits, start=1):
        client.simulate_post(
            f"/api/v1/appointments/{visit}/review",
            json={"rating": index},
            headers=as_patient(f"pat-{index}"),
        )
    first = client.simulate_get(f"/api/v1/doctors/{FREE_DOCTOR}/reviews", params={"limit": 1}).json
    assert [r["rating"] for r in first["items"]] == [2]
    rest = client.simulate_get(
        f"/api/v1/doctors/{FREE_DOCTOR}/reviews", params={"cursor": first["next_cursor"]}
    ).json
    assert [r["rating"] for r in rest["items"]] == [1]  # written first, so older
    assert rest["next_cursor"] is None
