"""Issue 17, the clinic's day, through the API: friendlier queries (plain dates, the full
documented page size)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from attrs import evolve

from hellodoctor_adapters.memory import ManualClock
from hellodoctor_domain import DoctorId, EmailAddress, PatientId, Role, UserId
from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_http.testing import (
    FEE_DOCTOR,
    FREE_DOCTOR,
    NOW,
    Headers,
    ValidatingClient,
    at,
)

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


# -- item 5: profiles ---------------------------------------------------------------------


def _accounts(storage: UnitOfWorkFactory) -> None:
    """The accounts behind the fixtures' tokens (acct-pat-1, acct-dr-fee, admin-1)."""
    with storage() as uow:
        for key, role, links in (
            ("acct-pat-1", Role.PATIENT, {"patient_id": PatientId("pat-1")}),
            ("acct-dr-fee", Role.DOCTOR, {"doctor_id": DoctorId(FEE_DOCTOR)}),
            ("admin-1", Role.ADMIN, {}),
        ):
            uow.accounts.add(
                Account(
                    UserId(key),
                    EmailAddress(f"{key}@example.org"),
                    role,
                    AccountStatus.ACTIVE,
                    NOW,
                    **links,
                )
            )
        uow.commit()


def test_a_patient_reads_and_edits_their_profile(
    client: ValidatingClient, as_patient: Headers, storage: UnitOfWorkFactory
) -> None:
    _accounts(storage)
    me = client.simulate_get(f"{API}/me", headers=as_patient())
    assert me.status_code == 200, me.json
    assert (me.json["role"], me.json["patient"]["name"], me.json["doctor"]) == (
        "patient",
        "Patient pat-1",
        None,
    )
    edited = client.simulate_patch(
        f"{API}/me",
        json={
            "name": "Grace Hopper",
            "phone": "+44 20 7946 0958",
            "date_of_birth": "1906-12-09",
            "language": "en-GB",
            "time_zone": "Europe/London",
            "emergency_contacts": [
                {"name": "Alan", "phone": "+1 212 555 0100", "relationship": "brother"}
            ],
            "allergies": ["latex"],
        },
        headers=as_patient(),
    )
    assert edited.status_code == 200, edited.json
    profile = edited.json["patient"]
    assert profile["phone"] == "+442079460958"  # kept in E.164
    assert profile["emergency_contacts"][0]["phone"] == "+12125550100"
    assert (profile["language"], profile["time_zone"], profile["allergies"]) == (
        "en-GB",
        "Europe/London",
        ["latex"],
    )
    again = client.simulate_get(f"{API}/me", headers=as_patient()).json["patient"]
    assert again == profile
    # The patient's profile is health information: each read and change is audited.
    log = client.simulate_get(f"{API}/me/access-log", headers=as_patient()).json["items"]
    assert [(e["subject"], e["action"], e["outcome"]) for e in log][:3] == [
        ("profile", "read", "allowed"),
        ("profile", "write", "allowed"),
        ("profile", "read", "allowed"),
    ]
    cleared = client.simulate_patch(
        f"{API}/me", json={"phone": "", "time_zone": ""}, headers=as_patient()
    ).json["patient"]
    assert (cleared["phone"], cleared["time_zone"], cleared["name"]) == (
        None,
        None,
        "Grace Hopper",
    )


def test_bad_profile_values_are_named(
    client: ValidatingClient, as_patient: Headers, storage: UnitOfWorkFactory
) -> None:
    _accounts(storage)
    cases: dict[str, object] = {
        "phone": "12345",
        "time_zone": "Mars/Olympus",
        "language": "english please",
        "colour": "red",
    }
    for field, value in cases.items():
        result = client.simulate_patch(f"{API}/me", json={field: value}, headers=as_patient())
        assert result.status_code == 422, (field, result.json)
        fields = {e["field"] for e in result.json.get("errors", [])}
        assert field in fields or field in result.json["detail"], (field, result.json)
    for born in ("1899-12-31", "2030-01-09"):  # before 1900; after today (7 January 2030)
        result = client.simulate_patch(
            f"{API}/me", json={"date_of_birth": born}, headers=as_patient()
        )
        assert result.status_code == 422, (born, result.json)
    unchanged = client.simulate_get(f"{API}/me", headers=as_patient()).json["patient"]
    assert (unchanged["phone"], unchanged["date_of_birth"]) == (None, None)


def test_a_doctor_edits_the_public_profile_but_not_the_registration_or_fee(
    client: ValidatingClient, as_doctor: Headers, as_admin: Headers, storage: UnitOfWorkFactory
) -> None:
    _accounts(storage)
    edited = client.simulate_patch(
        f"{API}/me",
        json={"specialty": "Cardiology and sports medicine", "languages": ["en", "fr"]},
        headers=as_doctor(),
    )
    assert edited.status_code == 200, edited.json
    assert edited.json["doctor"]["languages"] == ["en", "fr"]
    public = client.simulate_get(f"{API}/doctors/{FEE_DOCTOR}").json
    assert public["specialty"] == "Cardiology and sports medicine"
    for field, value in (
        ("registration_number", "GMC-0000001"),
        ("consultation_fee", {"minor_units": 1, "currency": "GBP"}),
    ):
        refused = client.simulate_patch(f"{API}/me", json={field: value}, headers=as_doctor())
        assert refused.status_code == 403, (field, refused.json)
        assert refused.json["type"].endswith("/access-denied")
        assert client.simulate_patch(
            f"{API}/doctors/{FEE_DOCTOR}/profile", json={field: value}, headers=as_doctor()
        ).status_code in (403, 404)
    by_admin = client.simulate_patch(
        f"{API}/doctors/{FEE_DOCTOR}/profile",
        json={"consultation_fee": {"minor_units": 9000, "currency": "GBP"}},
        headers=as_admin(),
    )
    assert by_admin.status_code == 200, by_admin.json
    assert (
        client.simulate_get(f"{API}/doctors/{FEE_DOCTOR}").json["consultation_fee"]["minor_units"]
        == 9000
    )


def test_an_admin_has_no_profile_to_edit(
    client: ValidatingClient, as_admin: Headers, storage: UnitOfWorkFactory
) -> None:
    _accounts(storage)
    me = client.simulate_get(f"{API}/me", headers=as_admin()).json
    assert (me["role"], me["patient"], me["doctor"]) == ("admin", None, None)
    refused = client.simulate_patch(f"{API}/me", json={"name": "Root"}, headers=as_admin())
    assert refused.status_code == 403


# -- item 3: arrivals, the waiting room and the doctor's day -----------------------------


def _book_free(client: ValidatingClient, as_patient: Headers, patient: str, start: str) -> str:
    booked = client.simulate_post(
        f"{API}/appointments",
        json={"doctor_id": FREE_DOCTOR, "start": start, "reason": f"knee of {patient}"},
        headers=as_patient(patient),
    )
    assert booked.status_code == 201, booked.json
    return str(booked.json["id"])


def test_a_visit_moves_through_the_day_and_the_waiting_room_follows(
    client: ValidatingClient,
    clock: ManualClock,
    as_patient: Headers,
    as_doctor: Headers,
    storage: UnitOfWorkFactory,
) -> None:
    with storage() as uow:  # Patient pat-1 was born on 8 January 1990: 39 on the 7th
        pat = uow.patients.get(PatientId("pat-1"))
        uow.patients.update(evolve(pat, date_of_birth=date(1990, 1, 8)))
        uow.commit()
    first = _book_free(client, as_patient, "pat-1", at(14))  # 09:00 in New York
    second = _book_free(client, as_patient, "pat-2", at(15))
    clock.set(NOW.replace(hour=13, minute=40))
    doctor = as_doctor(FREE_DOCTOR)  # tokens live 15 minutes: issued on the clinic's clock
    # The second patient arrives first.
    for key in (second, first):
        arrived = client.simulate_post(f"{API}/appointments/{key}/check-in", headers=doctor)
        assert arrived.status_code == 200, arrived.json
        assert arrived.json["stage"] == "arrived"
        assert arrived.json["appointment"]["status"] == "booked"
        clock.advance(timedelta(minutes=5))
    twice = client.simulate_post(f"{API}/appointments/{first}/check-in", headers=doctor)
    assert twice.status_code == 409, twice.json
    called = client.simulate_post(f"{API}/appointments/{first}/call-in", headers=doctor)
    assert called.json["stage"] == "in_consultation"
    room = client.simulate_get(f"{API}/doctors/{FREE_DOCTOR}/waiting-room", headers=doctor)
    assert room.status_code == 200, room.json
    assert [(e["appointment"]["id"], e["stage"]) for e in room.json["items"]] == [
        (second, "arrived"),
        (first, "in_consultation"),
    ]
    day = client.simulate_get(
        f"{API}/doctors/{FREE_DOCTOR}/day", params={"date": "2030-01-07"}, headers=doctor
    )
    assert day.status_code == 200, day.json
    assert day.json["time_zone"] == "America/New_York"
    entries = day.json["items"]
    assert [(e["patient_name"], e["patient_age"], e["reason"]) for e in entries] == [
        ("Patient pat-1", 39, "knee of pat-1"),
        ("Patient pat-2", None, "knee of pat-2"),
    ]
    assert entries[0]["local_start"] == "2030-01-07T09:00:00-05:00"
    clock.set(NOW.replace(hour=14, minute=20))
    doctor = as_doctor(FREE_DOCTOR)
    done = client.simulate_post(f"{API}/appointments/{first}/complete", headers=doctor)
    assert done.status_code == 200, done.json
    room = client.simulate_get(f"{API}/doctors/{FREE_DOCTOR}/waiting-room", headers=doctor)
    assert [e["appointment"]["id"] for e in room.json["items"]] == [second]
    no_show = client.simulate_post(f"{API}/appointments/{second}/no-show", headers=doctor)
    assert no_show.status_code == 409  # an arrived patient is not a no-show


def test_only_the_doctor_and_admins_see_the_day(
    client: ValidatingClient, as_patient: Headers, as_doctor: Headers, as_admin: Headers
) -> None:
    key = _book_free(client, as_patient, "pat-1", at(14))
    path = f"{API}/doctors/{FREE_DOCTOR}/day"
    assert client.simulate_get(path, headers=as_patient()).status_code == 403
    assert client.simulate_get(path, headers=as_doctor(FEE_DOCTOR)).status_code == 403
    assert client.simulate_get(path).status_code == 401
    admin = client.simulate_get(path, headers=as_admin())
    assert [e["appointment"]["id"] for e in admin.json["items"]] == [key]
    own = client.simulate_post(f"{API}/appointments/{key}/check-in", headers=as_patient())
    assert own.status_code == 403
    other = client.simulate_post(f"{API}/appointments/{key}/check-in", headers=as_patient("pat-2"))
    assert other.status_code == 404
    bad = client.simulate_get(path, params={"date": "2030-02-30"}, headers=as_admin())
    assert bad.status_code == 422


def test_the_day_is_the_doctors_local_day_after_a_daylight_saving_change(
    client: ValidatingClient, clock: ManualClock, as_patient: Headers, as_admin: Headers
) -> None:
    # New York springs forward on Sunday 10 March 2030: Monday the 11th is UTC-4, not -5.
    clock.set(datetime(2030, 3, 1, 12, tzinfo=UTC))
    nine = _book_free(client, as_patient, "pat-1", "2030-03-11T13:00:00Z")
    day = client.simulate_get(
        f"{API}/doctors/{FREE_DOCTOR}/day", params={"date": "2030-03-11"}, headers=as_admin()
    )
    assert day.status_code == 200, day.json
    [entry] = day.json["items"]
    assert (entry["appointment"]["id"], entry["local_start"]) == (
        nine,
        "2030-03-11T09:00:00-04:00",
    )
    before = client.simulate_get(
        f"{API}/doctors/{FREE_DOCTOR}/day", params={"date": "2030-03-10"}, headers=as_admin()
    )
    assert before.json["items"] == []


# -- item 6: time off that collides with bookings -----------------------------------------


def test_time_off_over_bookings_is_refused_listing_them_or_cancels_them_with_full_refunds(
    client: ValidatingClient, as_patient: Headers, as_doctor: Headers
) -> None:
    paid = client.simulate_post(
        f"{API}/appointments",
        json={"doctor_id": FEE_DOCTOR, "start": at(10, day=1)},
        headers=as_patient("pat-1"),
    )
    assert paid.status_code == 201, paid.json
    other = client.simulate_post(
        f"{API}/appointments",
        json={"doctor_id": FEE_DOCTOR, "start": at(14, day=1)},
        headers=as_patient("pat-2"),
    ).json["id"]
    outside = client.simulate_post(
        f"{API}/appointments",
        json={"doctor_id": FEE_DOCTOR, "start": at(9, day=2)},
        headers=as_patient("pat-1"),
    ).json["id"]
    doctor = as_doctor()
    body = {"first_day": "2030-01-08", "last_day": "2030-01-08", "reason": "conference"}
    refused = client.simulate_post(
        f"{API}/doctors/{FEE_DOCTOR}/time-off", json=body, headers=doctor
    )
    assert refused.status_code == 409, refused.json
    assert refused.json["type"].endswith("/time-off-collides")
    listed = " ".join(e["message"] for e in refused.json["errors"])
    assert paid.json["id"] in listed
    assert other in listed
    assert outside not in listed
    unchanged = client.simulate_get(f"{API}/doctors/{FEE_DOCTOR}/availability").json
    assert unchanged["time_off"] == []
    added = client.simulate_post(
        f"{API}/doctors/{FEE_DOCTOR}/time-off",
        json={**body, "cancel_bookings": True},
        headers=doctor,
    )
    assert added.status_code == 201, added.json
    cancelled = {a["id"]: a for a in added.json["cancelled"]}
    assert set(cancelled) == {paid.json["id"], other}
    assert all(a["status"] == "cancelled" for a in cancelled.values())
    assert [t["first_day"] for t in added.json["availability"]["time_off"]] == ["2030-01-08"]
    still = client.simulate_get(f"{API}/appointments/{outside}", headers=as_patient("pat-1"))
    assert still.json["status"] in ("held", "booked")
    # No slot is offered on the day off any more.
    slots = client.simulate_get(
        f"{API}/doctors/{FEE_DOCTOR}/slots", params={"from": "2030-01-08", "to": "2030-01-08"}
    ).json["slots"]
    assert slots == []


def test_only_the_doctor_or_an_admin_adds_time_off(
    client: ValidatingClient, as_patient: Headers, as_doctor: Headers
) -> None:
    body = {"first_day": "2030-01-08", "last_day": "2030-01-08"}
    path = f"{API}/doctors/{FEE_DOCTOR}/time-off"
    assert client.simulate_post(path, json=body, headers=as_patient()).status_code == 403
    assert client.simulate_post(path, json=body, headers=as_doctor(FREE_DOCTOR)).status_code == 403
    backwards = {"first_day": "2030-01-09", "last_day": "2030-01-08"}
    assert client.simulate_post(path, json=backwards, headers=as_doctor()).status_code == 422
