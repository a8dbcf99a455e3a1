"""Business metrics on /metrics: counted from committed events only, so a refused request
counts nothing, and visits' money is summed per currency in minor units."""

from __future__ import annotations

import re

from tests.http.test_payments_api import pay, top_up

from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_http.testing import FEE_DOCTOR, FREE_DOCTOR, Headers, ValidatingClient, at


def _value(metrics: str, line: str) -> float:
    found = re.search(rf"^{re.escape(line)} (\S+)$", metrics, re.MULTILINE)
    return 0.0 if found is None else float(found.group(1))


def test_committed_visits_and_their_money_are_counted(
    client: ValidatingClient,
    gateway: OfflinePaymentGateway,
    as_patient: Headers,
    as_doctor: Headers,
) -> None:
    top_up(client, gateway, as_patient(), 50_000)  # wallet money: not revenue
    free = client.simulate_post(
        "/api/v1/appointments",
        json={"doctor_id": FREE_DOCTOR, "start": at(14)},
        headers=as_patient("pat-1"),
    )
    assert free.status_code == 201, free.json
    # Refused (the time is taken): the transaction rolls back and nothing is counted.
    taken = client.simulate_post(
        "/api/v1/appointments",
        json={"doctor_id": FREE_DOCTOR, "start": at(14)},
        headers=as_patient("pat-2"),
    )
    assert taken.status_code == 409, taken.json
    held = client.simulate_post(
        "/api/v1/appointments",
        json={"doctor_id": FEE_DOCTOR, "start": at(10, day=1)},
        headers=as_patient(),
    )
    assert held.status_code == 201, held.json
    assert pay(client, as_patient(), held.json["id"], "wallet").status_code == 200
    cancelled = client.simulate_post(
        f"/api/v1/appointments/{held.json['id']}/cancel",
        json={"reason": "changed plans"},
        headers=as_patient(),
    )
    assert cancelled.status_code == 200, cancelled.json
    fee = held.json["price"]["minor_units"]
    refund = cancelled.json["cancellation"]["refund"]["minor_units"]
    currency = held.json["price"]["currency"]

    metrics = client.simulate_get("/metrics").text
    assert _value(metrics, "hellodoctor_appointments_booked_total") == 2
    assert _value(metrics, 'hellodoctor_appointments_cancelled_total{by="patient"}') == 1
    assert _value(metrics, f'hellodoctor_revenue_minor_units_total{{currency="{currency}"}}') == fee
    assert _value(metrics, f'hellodoctor_refunds_total{{currency="{currency}"}}') == 1
    refunded = f'hellodoctor_refunded_minor_units_total{{currency="{currency}"}}'
    assert _value(metrics, refunded) == refund
