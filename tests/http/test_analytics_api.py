"""The appointments report over HTTP: counted per local day of the asked zone, as JSON and
CSV, and shown only to those who may see it (a doctor their own, admins anyone's)."""

from __future__ import annotations

import csv
import io

from tests.http.test_payments_api import pay, top_up

from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_http.testing import FEE_DOCTOR, FREE_DOCTOR, Headers, ValidatingClient, at

REPORT = "/api/v1/analytics/appointments"


def test_a_doctors_report_counts_their_visits_per_local_day(
    client: ValidatingClient, as_patient: Headers, as_doctor: Headers, as_admin: Headers
) -> None:
    for patient, hour in (("pat-1", 14), ("pat-2", 15)):
        booked = client.simulate_post(
            "/api/v1/appointments",
            json={"doctor_id": FREE_DOCTOR, "start": at(hour)},
            headers=as_patient(patient),
        )
        assert booked.status_code == 201, booked.json
    cancelled = client.simulate_post(
        f"/api/v1/appointments/{booked.json['id']}/cancel",
        json={"reason": "cannot come"},
        headers=as_patient("pat-2"),
    )
    assert cancelled.status_code == 200, cancelled.json
    params = {"from": "2030-01-06", "to": "2030-01-08", "tz": "America/New_York"}
    own = client.simulate_get(
        REPORT, params={**params, "doctor_id": FREE_DOCTOR}, headers=as_doctor(FREE_DOCTOR)
    )
    assert own.status_code == 200, own.json
    days = {d["date"]: d for d in own.json["days"]}
    assert days["2030-01-07"]["by_status"] == {"booked": 1, "cancelled": 1}
    assert days["2030-01-06"]["total"] == days["2030-01-08"]["total"] == 0
    totals = own.json["totals"]
    assert totals["cancellation_rate"] == 0.5
    assert (totals["new_patients"], totals["returning_patients"]) == (2, 0)

    sheet = client.simulate_get(
        f"{REPORT}.csv", params={**params, "doctor_id": FREE_DOCTOR}, headers=as_admin()
    )
    assert sheet.status_code == 200
    assert sheet.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    assert [(r["date"], r["booked"], r["cancelled"], r["total"]) for r in rows] == [
        ("2030-01-06", "0", "0", "0"),
        ("2030-01-07", "1", "1", "2"),
        ("2030-01-08", "0", "0", "0"),
    ]

    # Another doctor's report does not exist for a doctor; the platform's is admins' only.
    other = {**params, "doctor_id": FREE_DOCTOR}
    assert (
        client.simulate_get(REPORT, params=other, headers=as_doctor(FEE_DOCTOR)).status_code == 404
    )
    assert (
        client.simulate_get(REPORT, params=params, headers=as_doctor(FEE_DOCTOR)).status_code == 403
    )
    assert client.simulate_get(REPORT, params=params, headers=as_admin()).status_code == 200


def test_a_report_needs_its_days_within_bounds(client: ValidatingClient, as_admin: Headers) -> None:
    for params in (
        {"to": "2030-01-08"},
        {"from": "2030-01-09", "to": "2030-01-08"},
        {"from": "2030-01-01", "to": "2031-12-31"},
        {"from": "0001-01-01", "to": "0001-01-02"},
        {"from": "2030-01-01", "to": "2030-01-02", "tz": "Mars/Olympus"},
    ):
        answer = client.simulate_get(REPORT, params=params, headers=as_admin())
        assert answer.status_code == 422, (params, answer.json)


def test_revenue_counts_visits_money_not_top_ups_net_of_refunds(
    client: ValidatingClient,
    gateway: OfflinePaymentGateway,
    as_patient: Headers,
    as_doctor: Headers,
    as_admin: Headers,
) -> None:
    top_up(client, gateway, as_patient(), 50_000)  # wallet money: not revenue
    booked = []
    for hour in (10, 11):
        held = client.simulate_post(
            "/api/v1/appointments",
            json={"doctor_id": FEE_DOCTOR, "start": at(hour, day=1)},
            headers=as_patient(),
        )
        assert held.status_code == 201, held.json
        assert pay(client, as_patient(), held.json["id"], "wallet").status_code == 200
        booked.append(held.json)
    cancelled = client.simulate_post(
        f"/api/v1/appointments/{booked[1]['id']}/cancel",
        json={"reason": "changed plans"},
        headers=as_patient(),
    )
    assert cancelled.status_code == 200, cancelled.json
    fee = booked[0]["price"]["minor_units"]
    refund = cancelled.json["cancellation"]["refund"]["minor_units"]
    assert refund > 0  # a day ahead: the policy gives money back
    params = {"from": "2030-01-07", "to": "2030-01-07", "doctor_id": FEE_DOCTOR}
    report = client.simulate_get(
        "/api/v1/analytics/revenue", params=params, headers=as_doctor(FEE_DOCTOR)
    )
    assert report.status_code == 200, report.json
    assert report.json["totals"] == [
        {"currency": "GBP", "gross": 2 * fee, "refunded": refund, "net": 2 * fee - refund}
    ]
    assert {line["method"] for line in report.json["lines"]} == {"wallet"}
    sheet = client.simulate_get("/api/v1/analytics/revenue.csv", params=params, headers=as_admin())
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    assert [(r["method"], int(r["gross"]), int(r["refunded"])) for r in rows] == [
        ("wallet", 2 * fee, refund)
    ]


def test_utilisation_is_booked_over_working_minutes_per_local_day(
    client: ValidatingClient, as_patient: Headers, as_doctor: Headers, as_admin: Headers
) -> None:
    # The free doctor works 09:00-17:00 in New York, Monday to Wednesday.
    for patient, hour in (("pat-1", 14), ("pat-2", 15)):
        booked = client.simulate_post(
            "/api/v1/appointments",
            json={"doctor_id": FREE_DOCTOR, "start": at(hour)},
            headers=as_patient(patient),
        )
        assert booked.status_code == 201, booked.json
    cancelled = client.simulate_post(  # frees its time again
        f"/api/v1/appointments/{booked.json['id']}/cancel",
        json={"reason": "cannot come"},
        headers=as_patient("pat-2"),
    )
    assert cancelled.status_code == 200, cancelled.json
    params = {
        "from": "2030-01-06",
        "to": "2030-01-07",
        "tz": "America/New_York",
        "doctor_id": FREE_DOCTOR,
    }
    own = client.simulate_get(
        "/api/v1/analytics/utilisation", params=params, headers=as_doctor(FREE_DOCTOR)
    )
    assert own.status_code == 200, own.json
    days = {d["date"]: d for d in own.json["days"]}
    assert (days["2030-01-06"]["booked_minutes"], days["2030-01-06"]["available_minutes"]) == (
        0,
        0,
    )
    assert days["2030-01-07"]["doctors"] == [
        {
            "doctor_id": FREE_DOCTOR,
            "booked_minutes": 30,
            "available_minutes": 480,
            "utilisation": 0.0625,
        }
    ]
    assert own.json["totals"]["utilisation"] == 0.0625
    sheet = client.simulate_get(
        "/api/v1/analytics/utilisation.csv", params=params, headers=as_admin()
    )
    assert sheet.status_code == 200
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    assert [(r["date"], r["booked_minutes"], r["available_minutes"]) for r in rows] == [
        ("2030-01-07", "30", "480")
    ]
    other = client.simulate_get(
        "/api/v1/analytics/utilisation", params=params, headers=as_doctor(FEE_DOCTOR)
    )
    assert other.status_code == 404
