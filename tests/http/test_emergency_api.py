"""Break-glass and the emergency card, end to end over HTTP: the doctor gets the critical view
(and nothing more) for an hour, the access is audited as emergency, its event is in the outbox
for the patient and admins to be told, and it waits in the admins' review queue; the patient's
card shows the same view by its token until revoked."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from hellodoctor_adapters.memory.services import ManualClock, SequentialIds
from hellodoctor_adapters.notify import MaildirNotifier
from hellodoctor_adapters.outbox import event_of
from hellodoctor_adapters.registry import storage_delivery
from hellodoctor_domain.model.emergency import EmergencyAccessGranted
from hellodoctor_domain.model.profiles import EmergencyContact
from hellodoctor_domain.model.values import EmailAddress, PatientId
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_http.app import create_app
from hellodoctor_http.bootstrap import Components, bootstrap
from hellodoctor_http.config import Settings
from hellodoctor_http.testing import FEE_DOCTOR, NOW, SECRET, Headers, ValidatingClient, seed


def with_health_id(components: Components) -> None:
    with components.storage() as uow:
        patient = uow.patients.get(PatientId("pat-1"))
        patient.health_id = "NHS-943-476-5919"
        patient.blood_group = "O-"
        patient.allergies = ("penicillin",)
        patient.emergency_contacts = (EmergencyContact("Ada", "+44 20 7946 0000", "sister"),)
        uow.patients.update(patient)
        uow.commit()


def test_break_glass_end_to_end(
    client: ValidatingClient,
    components: Components,
    clock: ManualClock,
    as_doctor: Headers,
    as_patient: Headers,
    as_admin: Headers,
) -> None:
    with_health_id(components)
    doctor = as_doctor(FEE_DOCTOR)
    unknown = client.simulate_post(
        "/api/v1/emergency-access",
        json={"health_id": "NHS-000", "reason": "unconscious in A&E"},
        headers=doctor,
    )
    assert unknown.status_code == 404, unknown.json
    assert (
        client.simulate_post(
            "/api/v1/emergency-access",
            json={"health_id": "NHS-943-476-5919", "reason": "x"},
            headers=as_patient(),
        ).status_code
        == 403
    )
    opened = client.simulate_post(
        "/api/v1/emergency-access",
        json={"health_id": "NHS-943-476-5919", "reason": "unconscious in A&E"},
        headers=doctor,
    )
    assert opened.status_code == 201, opened.json
    view, grant = opened.json["critical_view"], opened.json["grant"]
    assert (view["blood_group"], view["allergies"]) == ("O-", ["penicillin"])
    assert view["emergency_contacts"][0]["phone"] == "+44 20 7946 0000"
    assert grant["expires_at"] == (NOW + timedelta(hours=1)).isoformat()
    # Break-glass is not a care relationship: the records themselves stay closed.
    assert client.simulate_get("/api/v1/patients/pat-1/records", headers=doctor).status_code == 404

    again = client.simulate_get(f"/api/v1/emergency-access/{grant['id']}", headers=doctor)
    assert again.status_code == 200, again.json
    other = client.simulate_get(
        f"/api/v1/emergency-access/{grant['id']}", headers=as_doctor("dr-free")
    )
    assert other.status_code == 404

    delivery = storage_delivery(components.storage)
    assert delivery is not None
    outbox, _ = delivery
    entries = outbox.claim(clock.now(), timedelta(minutes=1), 100)
    told = [e for e in entries if e.event_type == "EmergencyAccessGranted"]
    assert len(told) == 1
    event = event_of(told[0].event_type, dict(told[0].payload))
    assert isinstance(event, EmergencyAccessGranted)
    assert (event.patient_id.value, event.reason) == ("pat-1", "unconscious in A&E")

    log = client.simulate_get("/api/v1/me/access-log", headers=as_patient())
    emergency = [e for e in log.json["items"] if e["action"] == "emergency"]
    assert [(e["outcome"], e["purpose"]) for e in emergency] == [
        ("denied", "none"),
        ("allowed", "emergency:unconscious in A&E"),
        ("allowed", "emergency:unconscious in A&E"),
    ]

    queue = client.simulate_get("/api/v1/admin/emergency-access", headers=as_admin())
    assert [g["id"] for g in queue.json["items"]] == [grant["id"]]
    assert client.simulate_get("/api/v1/admin/emergency-access", headers=doctor).status_code == 403
    reviewed = client.simulate_post(
        f"/api/v1/admin/emergency-access/{grant['id']}/review",
        json={"note": "confirmed with A&E"},
        headers=as_admin(),
    )
    assert reviewed.status_code == 200, reviewed.json
    assert reviewed.json["reviewed_by"] == "admin-1"
    assert client.simulate_get("/api/v1/admin/emergency-access", headers=as_admin()).json == {
        "items": []
    }
    twice = client.simulate_post(
        f"/api/v1/admin/emergency-access/{grant['id']}/review", json={}, headers=as_admin()
    )
    assert twice.status_code == 409

    clock.advance(timedelta(hours=1))
    fresh = as_doctor(FEE_DOCTOR)  # a new access token: the old one expired meanwhile
    expired = client.simulate_get(f"/api/v1/emergency-access/{grant['id']}", headers=fresh)
    assert expired.status_code == 404


def test_the_emergency_card(
    client: ValidatingClient, components: Components, as_patient: Headers, as_doctor: Headers
) -> None:
    with_health_id(components)
    assert client.simulate_post("/api/v1/me/emergency-card", headers=as_doctor()).status_code == 403
    card = client.simulate_post("/api/v1/me/emergency-card", headers=as_patient())
    assert card.status_code == 201, card.json
    assert card.json["qr_svg"].startswith("<svg")
    path = card.json["url"].split("://", 1)[1].split("/", 1)[1]
    shown = client.simulate_get(f"/{path}")
    assert shown.status_code == 200, shown.json
    assert shown.json["blood_group"] == "O-"
    newer = client.simulate_post("/api/v1/me/emergency-card", headers=as_patient())
    assert client.simulate_get(f"/{path}").status_code == 404  # the older card stopped
    newer_path = newer.json["url"].split("://", 1)[1].split("/", 1)[1]
    assert client.simulate_get(f"/{newer_path}").status_code == 200
    revoked = client.simulate_delete("/api/v1/me/emergency-card", headers=as_patient())
    assert revoked.json == {"revoked": 1}
    assert client.simulate_get(f"/{newer_path}").status_code == 404
    assert client.simulate_get("/api/v1/emergency-card/" + "f" * 64).status_code == 404
    log = client.simulate_get("/api/v1/me/access-log", headers=as_patient())
    assert [e["purpose"] for e in log.json["items"]] == ["emergency card", "emergency card"]


def test_a_patient_keeps_their_emergency_profile(
    client: ValidatingClient, as_patient: Headers, as_doctor: Headers
) -> None:
    profile = {
        "health_id": "NHS-111",
        "blood_group": "AB+",
        "allergies": ["latex"],
        "emergency_contacts": [{"name": "Ada", "phone": "+44 20 7946 0001"}],
    }
    stored = client.simulate_put("/api/v1/me/emergency-profile", json=profile, headers=as_patient())
    assert stored.status_code == 200, stored.json
    assert (stored.json["blood_group"], stored.json["allergies"]) == ("AB+", ["latex"])
    shown = client.simulate_get("/api/v1/me/emergency-profile", headers=as_patient())
    assert shown.json == stored.json
    for wrong in ({**profile, "blood_group": "C+"}, {**profile, "role": "admin"}):
        refused = client.simulate_put(
            "/api/v1/me/emergency-profile", json=wrong, headers=as_patient()
        )
        assert refused.status_code == 422, refused.json
    cleared = client.simulate_put(
        "/api/v1/me/emergency-profile", json={"health_id": "NHS-111"}, headers=as_patient()
    )
    assert cleared.json["blood_group"] is None
    assert (
        client.simulate_get("/api/v1/me/emergency-profile", headers=as_doctor()).status_code == 403
    )
    opened = client.simulate_post(
        "/api/v1/emergency-access",
        json={"health_id": "NHS-111", "reason": "collapsed"},
        headers=as_doctor(),
    )
    assert opened.json["critical_view"]["patient_id"] == "pat-1"
    log = client.simulate_get("/api/v1/me/access-log", headers=as_patient())
    assert [(e["subject"], e["action"]) for e in log.json["items"]] == [
        ("critical-view", "emergency"),
        ("profile", "write"),
        ("profile", "read"),
        ("profile", "write"),
    ]


def test_break_glass_mails_the_patient_and_the_security_mailbox(
    storage: UnitOfWorkFactory, clock: ManualClock, tmp_path: Path
) -> None:
    settings = Settings(
        jwt_secret=SECRET,
        bcrypt_cost=4,
        mail_folder=tmp_path / "mail",
        security_email=EmailAddress("privacy@clinic.example"),
    )
    components = bootstrap(settings, storage=storage, clock=clock, ids=SequentialIds("id"))
    seed(components.scheduling)
    with_health_id(components)
    with components.storage() as uow:
        patient = uow.patients.get(PatientId("pat-1"))
        patient.email = EmailAddress("pat-1@example.org")
        uow.patients.update(patient)
        uow.commit()
    client = ValidatingClient(create_app(components))
    token, _ = components.token_codec().issue("acct-dr", "doctor", doctor_id=FEE_DOCTOR)
    opened = client.simulate_post(
        "/api/v1/emergency-access",
        json={"health_id": "NHS-943-476-5919", "reason": "unconscious in A&E"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert opened.status_code == 201, opened.json
    assert components.delivery is not None
    components.delivery.relay.drain()
    components.delivery.relay.drain()  # a second pass finds nothing new to send
    mails = MaildirNotifier(tmp_path / "mail").messages()
    kinds = sorted((str(m["To"]), m["X-HelloDoctor-Kind"]) for m in mails)
    assert kinds == [
        ("pat-1@example.org", "emergency_access"),
        ("privacy@clinic.example", "emergency_access_review"),
    ]
    body = next(m for m in mails if str(m["To"]) == "pat-1@example.org").get_content()
    assert "unconscious in A&E" in body
