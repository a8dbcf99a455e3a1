"""Issue 17, the clinic's day, through the API: friendlier queries (plain dates, the full
documented page size)."""

from __future__ import annotations

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
