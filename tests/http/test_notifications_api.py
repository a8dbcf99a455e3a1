"""Dead letters over HTTP: an admin lists the events the relay gave up on and sends one again;
nobody else may see them."""

from __future__ import annotations

from datetime import timedelta

from hellodoctor_adapters.registry import storage_delivery
from hellodoctor_domain import Actor, BookingRequest, DoctorId, PatientId
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.testing import FREE_DOCTOR, Headers, ValidatingClient
from hellodoctor_http.testing import NOW as START

DEAD = "/api/v1/admin/dead-letters"


def _dead_letter(components: Components) -> str:
    """A booking whose event the relay gave up on."""
    assert components.delivery is not None
    components.delivery.relay.drain()  # what the set-up recorded (its doctors' hours)
    components.scheduling.book(
        Actor.patient(PatientId("pat-1")),
        BookingRequest(
            doctor_id=DoctorId(FREE_DOCTOR),
            patient_id=PatientId("pat-1"),
            start=START + timedelta(days=2, hours=9),
        ),
    )
    offered = storage_delivery(components.storage)
    assert offered is not None
    outbox, _ = offered
    (entry,) = outbox.claim(START, timedelta(minutes=1), 10)
    outbox.mark_failed(entry.id, START, "SMTP refused the sender", None)
    return entry.id


def test_an_admin_sees_a_dead_letter_and_sends_it_again(
    client: ValidatingClient, components: Components, as_admin: Headers
) -> None:
    assert client.simulate_get(DEAD, headers=as_admin()).json == {"items": []}
    entry_id = _dead_letter(components)

    (letter,) = client.simulate_get(DEAD, headers=as_admin()).json["items"]
    assert (letter["id"], letter["event_type"]) == (entry_id, "AppointmentBooked")
    assert (letter["attempts"], letter["error"]) == (1, "SMTP refused the sender")
    assert letter["payload"]["doctor_id"] == FREE_DOCTOR

    retried = client.simulate_post(f"{DEAD}/{entry_id}/retry", headers=as_admin())
    assert retried.status_code == 204
    assert client.simulate_get(DEAD, headers=as_admin()).json == {"items": []}
    again = client.simulate_post(f"{DEAD}/{entry_id}/retry", headers=as_admin())
    assert again.status_code == 404  # not dead any more
    assert components.delivery is not None
    assert components.delivery.relay.drain() == 1


def test_only_an_admin_may_see_or_retry_dead_letters(
    client: ValidatingClient, components: Components, as_patient: Headers, as_doctor: Headers
) -> None:
    entry_id = _dead_letter(components)
    for headers in (as_patient(), as_doctor()):
        assert client.simulate_get(DEAD, headers=headers).status_code == 403
        assert client.simulate_post(f"{DEAD}/{entry_id}/retry", headers=headers).status_code == 403
    assert client.simulate_get(DEAD).status_code == 401
