"""The portal's pages for a doctor's patients' records and prescriptions, a hospital
administrator's beds, transfers and claims, and a platform admin's hospitals and payments,
without a browser (tests/browser/test_portal_staff.py visits them in chromium). Each page
refuses whom the API refuses (403 for the wrong kind of account, 404 where the API hides the
thing) and every form refuses a post without its CSRF token, changing nothing."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import falcon.testing
import pytest

from hellodoctor_domain import Actor, BookingRequest, DoctorId, PatientId
from hellodoctor_domain.model.hospitals import Address, BedType, Hospital, Ward, WardBeds
from hellodoctor_domain.model.insurance import Policy, Scheme
from hellodoctor_domain.model.payments import PaymentMethod
from hellodoctor_domain.model.values import (
    HospitalId,
    Money,
    PolicyId,
    Role,
    SchemeId,
    UserId,
    VisitKind,
)
from hellodoctor_http.app import create_app
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.portal import platform
from hellodoctor_http.portal.session import SessionCodec
from hellodoctor_http.testing import FEE_DOCTOR, FREE_DOCTOR

from .test_portal_staff import Visitor, _account, _clean

ADMIN = Actor.admin(UserId("acct-admin"))
PATIENT = Actor.patient(PatientId("pat-1"))
MONDAY_10 = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)

pytestmark = pytest.mark.parametrize("storage", ["memory"], indirect=True)


def _hospital(components: Components, key: str, manager: str) -> str:
    hospital = Hospital(
        HospitalId(key),
        f"Hospital {key}",
        f"REG-{key}",
        Address("1 Main Road", "Pune", "IN", 18.52, 73.85),
        "+91 20 5555 0000",
        wards=(Ward("W1", "General ward", (WardBeds(BedType.GENERAL, 2),)),),
    )
    components.hospitals.register(ADMIN, hospital)
    components.hospitals.appoint_administrator(ADMIN, hospital.id, UserId(manager))
    return key


@pytest.fixture
def world(components: Components) -> dict[str, Any]:
    """Hospital A and B, each with one administrator; the fee-charging doctor (whose patient
    pat-1 becomes once booked) and the free one; a patient, a receptionist, an admin."""
    portal = falcon.testing.TestClient(create_app(components))
    settings = components.settings
    codec = SessionCodec(settings.jwt_secret, settings.jwt_issuer, components.clock, secure=False)
    actors = {
        "admin": _account(components, "acct-admin", Role.ADMIN),
        "doctor": _account(components, "acct-doc", Role.DOCTOR, doctor_id=DoctorId(FEE_DOCTOR)),
        "other_doctor": _account(
            components, "acct-doc2", Role.DOCTOR, doctor_id=DoctorId(FREE_DOCTOR)
        ),
        "patient": _account(components, "acct-pat", Role.PATIENT, patient_id=PatientId("pat-1")),
        "desk": _account(components, "acct-desk", Role.RECEPTIONIST),
        "manager": _account(components, "acct-manager", Role.HOSPITAL_ADMIN),
        "manager_b": _account(components, "acct-manager-b", Role.HOSPITAL_ADMIN),
    }
    a = _hospital(components, "hosp-a", "acct-manager")
    b = _hospital(components, "hosp-b", "acct-manager-b")
    return {
        "A": a,
        "B": b,
        **{role: Visitor(portal, codec, actor) for role, actor in actors.items()},
    }


def _book(components: Components, patient: str = "pat-1", start: datetime = MONDAY_10) -> None:
    """A patient books the fee-charging doctor (to pay at the clinic): a care relationship."""
    actor = Actor.patient(PatientId(patient))
    booked = components.scheduling.book(
        actor,
        BookingRequest(
            doctor_id=DoctorId(FEE_DOCTOR),
            patient_id=PatientId(patient),
            start=start,
            reason="Cough",
        ),
    )
    components.billing.start_payment(actor, booked.id, PaymentMethod.OFFLINE)


def _policy(components: Components) -> str:
    components.insurance.create_scheme(
        ADMIN,
        Scheme(SchemeId("sch-1"), "Acme", "Basic", (VisitKind.REGULAR,), 10, Money(10**6, "GBP")),
    )
    components.insurance.add_policy(
        ADMIN,
        Policy(
            PolicyId("pol-1"),
            PatientId("pat-1"),
            SchemeId("sch-1"),
            "P-1",
            date(2030, 1, 1),
            date(2030, 12, 31),
        ),
    )
    return "pol-1"


# -- pages and who may see them -----------------------------------------------------------------


def test_each_page_renders_for_its_role_and_refuses_the_others_as_the_api(
    world: dict[str, Any], components: Components
) -> None:
    a, b = world["A"], world["B"]
    _book(components)
    pages = {
        "doctor": ["/doctor/patients", "/doctor/patients/pat-1"],
        "manager": [f"/hospital/{a}", f"/hospital/{a}/transfers", f"/hospital/{a}/claims"],
        "admin": ["/admin/hospitals", "/admin/payments", f"/hospital/{b}", "/hospital"],
    }
    links = {
        "doctor": 'href="/doctor/patients"',
        "manager": 'href="/hospital"',
        "admin": 'href="/admin/payments"',
    }
    for role, paths in pages.items():
        for path in paths:
            assert links[role] in _clean(world[role].get(path)), (role, path)
    forbidden = {  # 403: not for this kind of account
        "patient": ["/doctor/patients/pat-1", f"/hospital/{a}", "/admin/payments"],
        "desk": [f"/hospital/{a}", "/admin/hospitals", "/doctor/patients"],
        "manager": ["/admin/hospitals", "/admin/payments", "/doctor/patients/pat-1"],
        "doctor": ["/hospital", "/admin/payments"],
    }
    for role, paths in forbidden.items():
        for path in paths:
            assert world[role].get(path).status_code == 403, (role, path)
    hidden = {  # 404: no right to know it exists
        "other_doctor": ["/doctor/patients/pat-1", "/doctor/patients/pat-1/records/r-1"],
        "doctor": ["/doctor/patients/pat-2", "/doctor/patients/nobody"],
        "manager": [f"/hospital/{b}", f"/hospital/{b}/transfers", "/hospital/claims/cl-1"],
    }
    for role, paths in hidden.items():
        for path in paths:
            assert world[role].get(path).status_code == 404, (role, path)
    # One hospital: straight to it. Bad filters are refused, not ignored.
    home = world["manager"].get("/hospital")
    assert (home.status_code, home.headers["location"]) == (303, f"/hospital/{a}")
    assert world["admin"].get("/admin/payments", status="stolen").status_code == 422


def test_every_new_form_refuses_a_post_without_its_csrf_token_and_changes_nothing(
    world: dict[str, Any], components: Components
) -> None:
    a, b = world["A"], world["B"]
    _book(components)
    policy = _policy(components)
    stay = {"patient_id": "pat-1", "ward_code": "W1", "bed_type": "general"}
    posts = [
        ("doctor", "/doctor/patients/pat-1", {"notes": "Forged"}),
        ("doctor", "/doctor/patients/pat-1/records/rec-1", {"notes": "Forged", "reason": "x"}),
        ("manager", f"/hospital/{a}/admissions", stay),
        ("manager", f"/hospital/{a}/discharges", stay),
        ("manager", f"/hospital/{a}/transfers", {**stay, "to_hospital_id": b, "reason": "x"}),
        ("manager", "/hospital/transfers/tr-1/cancel", {"reason": "x"}),
        ("manager", f"/hospital/{a}/claims", {"policy_id": policy, "service": "Stay"}),
        ("admin", "/admin/hospitals", {"name": "Forged", "registration_number": "F"}),
    ]
    for role, path, fields in posts:
        for token in (None, "0" * 64):
            extra = {} if token is None else {"csrf_token": token}
            refused = world[role].post(path, csrf=False, **fields, **extra)
            assert refused.status_code == 403, (path, refused.status_code)
            assert "did not come from this site" in refused.text
    assert components.records.of_patient(PATIENT, PatientId("pat-1")) == []
    assert components.hospitals.admissions(ADMIN, HospitalId(a)) == []
    assert components.transfers.of_hospital(ADMIN, HospitalId(a)) == []
    assert [h.id.value for h in components.hospitals.in_city()] == [a, b]


# -- a doctor's patients --------------------------------------------------------------------------


def test_a_doctor_writes_a_record_with_a_prescription_and_reads_it_back_audited(
    world: dict[str, Any], components: Components
) -> None:
    doctor = world["doctor"]
    assert doctor.get("/doctor/patients/pat-1").status_code == 404  # no care relationship yet
    _book(components)
    lookup = doctor.get("/doctor/patients", patient_id="pat-1")
    assert (lookup.status_code, lookup.headers["location"]) == (303, "/doctor/patients/pat-1")
    assert "No records yet." in _clean(doctor.get("/doctor/patients/pat-1"))

    bad = doctor.post("/doctor/patients/pat-1", kind="consultation", medication="Amoxicillin")
    assert bad.status_code == 422
    assert "Choose a date (YYYY-MM-DD)." in bad.text
    today = components.clock.now().date().isoformat()
    written = doctor.post(
        "/doctor/patients/pat-1",
        kind="consultation",
        notes="Chest <clear>",
        code="J06.9",
        diagnosis="Upper respiratory infection",
        medication="Amoxicillin",
        dose="500 mg",
        frequency="three times a day",
        start=today,
        end="2030-01-13",
    )
    assert (written.status_code, written.headers["location"]) == (
        303,
        "/doctor/patients/pat-1?notice=record-written",
    )
    page = _clean(doctor.get("/doctor/patients/pat-1", notice="record-written"))
    assert "The record is written." in page
    assert "Chest &lt;clear&gt;" in page  # escaped
    assert "Amoxicillin" in page
    assert "2030-01-13" in page
    (record,) = components.records.of_patient(PATIENT, PatientId("pat-1"))
    assert record.author_id.value == FEE_DOCTOR
    assert record.prescriptions[0].dose == "500 mg"
    one = _clean(doctor.get(f"/doctor/patients/pat-1/records/{record.id.value}"))
    assert "Upper respiratory infection (J06.9" in one
    path = f"/doctor/patients/pat-1/records/{record.id.value}"
    assert doctor.post(path, notes="Chest clear on day 2", reason="").status_code == 422
    corrected = doctor.post(path, notes="Chest clear on day 2", reason="Typed the wrong day")
    assert (corrected.status_code, corrected.headers["location"]) == (
        303,
        f"{path}?notice=record-corrected",
    )
    both = _clean(doctor.get(path))
    assert "Earlier version 1" in both
    assert "Typed the wrong day" in both
    (latest,) = components.records.of_patient(PATIENT, PatientId("pat-1"))
    assert (latest.revision, latest.notes) == (2, "Chest clear on day 2")
    assert latest.prescriptions == record.prescriptions  # the rest is kept
    # Another doctor may neither read nor write it; the refusals are audited like the reads.
    other = world["other_doctor"]
    assert other.get(f"/doctor/patients/pat-1/records/{record.id.value}").status_code == 404
    assert other.post("/doctor/patients/pat-1", notes="Mine").status_code == 404
    assert other.post(path, notes="Mine", reason="Mine").status_code == 404
    log = components.records.access_log(PATIENT)
    outcomes = {(e.entry.user_id.value, e.entry.outcome.value) for e in log}
    assert {("acct-doc", "allowed"), ("acct-doc2", "denied")} <= outcomes
    assert len(components.records.of_patient(PATIENT, PatientId("pat-1"))) == 1


# -- a hospital's administrators ------------------------------------------------------------------


def test_a_hospital_admits_discharges_transfers_and_claims(
    world: dict[str, Any], components: Components
) -> None:
    a, b = world["A"], world["B"]
    manager, manager_b = world["manager"], world["manager_b"]
    admitted = manager.post(
        f"/hospital/{a}/admissions", patient_id="pat-1", ward_code="W1", bed_type="general"
    )
    assert (admitted.status_code, admitted.headers["location"]) == (
        303,
        f"/hospital/{a}?notice=admitted",
    )
    beds = _clean(manager.get(f"/hospital/{a}", notice="admitted"))
    assert "The patient is admitted" in beds
    assert "<td>2</td><td>1</td><td>1</td>" in beds  # capacity, occupied, free
    assert (
        manager.post(
            f"/hospital/{a}/admissions", patient_id="pat-1", ward_code="W9", bed_type="general"
        ).status_code
        == 422
    )
    assert (
        manager_b.post(
            f"/hospital/{a}/admissions", patient_id="pat-2", ward_code="W1", bed_type="general"
        ).status_code
        == 404
    )
    discharged = manager.post(
        f"/hospital/{a}/discharges", patient_id="pat-1", ward_code="W1", bed_type="general"
    )
    assert discharged.status_code == 303
    assert "<td>2</td><td>0</td><td>2</td>" in _clean(manager.get(f"/hospital/{a}"))

    asked = manager.post(
        f"/hospital/{a}/transfers",
        patient_id="pat-1",
        to_hospital_id=b,
        bed_type="general",
        reason="Needs <surgery>",
    )
    assert asked.status_code == 303
    (transfer,) = components.transfers.of_hospital(ADMIN, HospitalId(a))
    key = transfer.id.value
    incoming = _clean(manager_b.get(f"/hospital/{b}/transfers"))
    assert "Needs &lt;surgery&gt;" in incoming
    assert f"/hospital/transfers/{key}/accept" in incoming
    # Only the receiving side accepts; the sender gets the use case's refusal (404).
    assert manager.post(f"/hospital/transfers/{key}/accept", ward_code="W1").status_code == 404
    accepted = manager_b.post(f"/hospital/transfers/{key}/accept", ward_code="W1", hospital_id=b)
    assert (accepted.status_code, accepted.headers["location"]) == (
        303,
        f"/hospital/{b}/transfers?notice=transfer-accept",
    )
    assert manager_b.post(f"/hospital/transfers/{key}/accept", ward_code="W1").status_code == 409
    assert manager_b.post(f"/hospital/transfers/{key}/complete", hospital_id=b).status_code == 303
    assert "completed" in _clean(manager.get(f"/hospital/{a}/transfers"))

    policy = _policy(components)
    claimed = manager.post(
        f"/hospital/{a}/claims",
        policy_id=policy,
        service="Two nights, general ward",
        amount="1200.50",
        currency="GBP",
        diagnosis_codes="j06.9",
    )
    assert claimed.status_code == 303, claimed.text[:500]
    location = claimed.headers["location"]
    assert location.startswith("/hospital/claims/")
    claim = _clean(manager.get(location.split("?")[0]))
    assert "1200.50 GBP" in claim
    assert "J06.9" in claim
    assert "submitted" in claim
    assert manager_b.get(location.split("?")[0]).status_code == 404
    assert (
        manager.post(
            f"/hospital/{a}/claims", policy_id=policy, service="x", amount="-1", currency="GBP"
        ).status_code
        == 422
    )


# -- platform admins ------------------------------------------------------------------------------


def test_an_admin_registers_a_hospital_and_lists_payments_with_filters(
    world: dict[str, Any], components: Components
) -> None:
    admin = world["admin"]
    missing = admin.post("/admin/hospitals", name="New", latitude="100")
    assert missing.status_code == 422
    assert "A number from -90 to 90." in missing.text
    made = admin.post(
        "/admin/hospitals",
        name="St <Mary>",
        registration_number="REG-9",
        line="2 High Street",
        city="Leeds",
        country="GB",
        latitude="53.8",
        longitude="-1.55",
        phone="+44 113 555 0000",
        ward_code="ICU",
        ward_name="Intensive care",
        bed_type="icu",
        capacity="4",
    )
    assert (made.status_code, made.headers["location"]) == (
        303,
        "/admin/hospitals?notice=hospital-registered",
    )
    (leeds,) = components.hospitals.in_city("Leeds")
    assert leeds.wards[0].beds[0].capacity == 4
    listed = _clean(admin.get("/admin/hospitals", city="leeds"))
    assert "St &lt;Mary&gt;" in listed
    assert "Hospital hosp-a" not in listed
    assert "<td>4</td><td>0</td><td>4</td>" in _clean(admin.get(f"/hospital/{leeds.id.value}"))

    _book(components)
    every = _clean(admin.get("/admin/payments"))
    assert "pat-1" in every
    assert "80.00 GBP" in every
    assert "pat-1" not in _clean(admin.get("/admin/payments", status="succeeded"))
    assert "80.00 GBP" in _clean(admin.get("/admin/payments", method="offline", patient_id="pat-1"))


def test_the_payments_page_on_to_older_ones_keeping_the_filters(
    world: dict[str, Any], components: Components, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(platform, "PAYMENTS_PAGE", 1)
    _book(components)
    components.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    _book(components, "pat-2", MONDAY_10 + timedelta(hours=1))
    first = _clean(world["admin"].get("/admin/payments", method="offline"))
    assert "pat-2" in first
    assert "pat-1" not in first
    older = re.search(r'href="/admin/payments\?([^"]+)">Older payments', first)
    assert older is not None
    query = dict(parse_qsl(html.unescape(older.group(1))))
    assert query["method"] == "offline"
    second = _clean(world["admin"].get("/admin/payments", **query))
    assert "pat-1" in second
    assert "pat-2" not in second
    assert "Older payments" not in second
    assert (
        world["admin"].get("/admin/payments", before_at="yesterday", before_id="x").status_code
        == 422
    )
