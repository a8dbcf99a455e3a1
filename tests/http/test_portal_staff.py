"""The portal's staff pages without a browser (tests/browser drives some in chromium): the
doctor's week, hours, time off (with the collision list) and reviews; the front desk (find a
patient, walk-in, book, check in, collect the payment, waiting room); the platform admin's
dead letters, audit log and analytics (SVG charts). Each page refuses the roles the API
refuses (403, or 404 where the API hides the thing) and every form refuses a post without
its CSRF token."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import falcon.testing
import pytest

from hellodoctor_adapters.memory import ManualClock
from hellodoctor_adapters.registry import storage_delivery
from hellodoctor_domain import (
    Actor,
    AppointmentId,
    AppointmentStatus,
    BookingRequest,
    DoctorId,
    PatientId,
)
from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.model.hospitals import Address, Hospital
from hellodoctor_domain.model.payments import Collection, PaymentMethod, PaymentStatus
from hellodoctor_domain.model.values import EmailAddress, HospitalId, Role, UserId
from hellodoctor_domain.ports.scheduling import AppointmentQuery
from hellodoctor_http.app import create_app
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.portal.charts import bar_chart
from hellodoctor_http.portal.session import SessionCodec
from hellodoctor_http.testing import FEE_DOCTOR, FREE_DOCTOR, NOW

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
BROWSER_SECRET = "b" * 32
ADMIN = Actor.admin(UserId("acct-admin"))
MONDAY_10 = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)

# Most of these tests need no second storage: the pages call the use cases the API tests
# already run over both. The analytics test runs over SQLite too (the storage counts).
memory_only = pytest.mark.parametrize("storage", ["memory"], indirect=True)


class Visitor:
    """A browser signed in as one account: its session and CSRF cookies, and the token its
    forms carry (computed as the portal computes it)."""

    def __init__(self, portal: falcon.testing.TestClient, codec: SessionCodec, actor: Actor):
        sid = f"sid-{actor.user_id.value}"
        self.portal = portal
        self.cookies = {
            "hd_session": codec.issue(actor, None, session_id=sid),
            "hd_csrf": BROWSER_SECRET,
        }
        self.token = codec.csrf_token(BROWSER_SECRET, sid)

    def get(self, path: str, **params: str) -> falcon.testing.Result:
        return self.portal.simulate_get(path, params=params or None, cookies=self.cookies)

    def post(self, path: str, csrf: bool = True, **fields: str) -> falcon.testing.Result:
        if csrf:
            fields = {**fields, "csrf_token": self.token}
        return self.portal.simulate_post(
            path, body=urlencode(fields), headers=FORM, cookies=self.cookies
        )


def _account(components: Components, key: str, role: Role, **ids: Any) -> Actor:
    with components.storage() as uow:
        uow.accounts.add(
            Account(
                UserId(key),
                EmailAddress(f"{key}@example.org"),
                role,
                AccountStatus.ACTIVE,
                components.clock.now(),
                password_hash="x",
                **ids,
            )
        )
        uow.commit()
    return Actor(
        role, UserId(key), doctor_id=ids.get("doctor_id"), patient_id=ids.get("patient_id")
    )


def _hospital(components: Components, key: str, doctor: str) -> HospitalId:
    hospital = Hospital(
        HospitalId(key),
        f"Hospital {key}",
        f"REG-{key}",
        Address("1 Main Road", "Pune", "IN", 18.52, 73.85),
        "+91 20 5555 0000",
    )
    hospitals = components.hospitals
    hospitals.register(ADMIN, hospital)
    hospitals.affiliate(ADMIN, hospital.id, DoctorId(doctor))
    return hospital.id


@pytest.fixture
def world(components: Components) -> dict[str, Any]:
    """Hospital A employs the fee-charging doctor and has a receptionist and an
    administrator; hospital B employs the free doctor. One visitor per role."""
    portal = falcon.testing.TestClient(create_app(components))
    codec = SessionCodec(
        secret=components.settings.jwt_secret,
        issuer=components.settings.jwt_issuer,
        clock=components.clock,
        secure=False,
    )
    a, b = _hospital(components, "hosp-a", FEE_DOCTOR), _hospital(components, "hosp-b", FREE_DOCTOR)
    actors = {
        "admin": _account(components, "acct-admin", Role.ADMIN),
        "doctor": _account(components, "acct-doc", Role.DOCTOR, doctor_id=DoctorId(FEE_DOCTOR)),
        "patient": _account(components, "acct-pat", Role.PATIENT, patient_id=PatientId("pat-1")),
        "desk": _account(components, "acct-desk", Role.RECEPTIONIST),
        "manager": _account(components, "acct-manager", Role.HOSPITAL_ADMIN),
        "desk_b": _account(components, "acct-desk-b", Role.RECEPTIONIST),
    }
    components.hospitals.appoint_receptionist(ADMIN, a, UserId("acct-desk"))
    components.hospitals.appoint_receptionist(ADMIN, b, UserId("acct-desk-b"))
    components.hospitals.appoint_administrator(ADMIN, a, UserId("acct-manager"))
    return {
        "A": a.value,
        "B": b.value,
        "actors": actors,
        **{role: Visitor(portal, codec, actor) for role, actor in actors.items()},
    }


def _book(components: Components, patient: str = "pat-1", start: datetime = MONDAY_10) -> str:
    """A visit with the fee-charging doctor, to pay at the clinic (booked)."""
    actor = Actor.patient(PatientId(patient))
    booked = components.scheduling.book(
        actor,
        BookingRequest(
            doctor_id=DoctorId(FEE_DOCTOR),
            patient_id=PatientId(patient),
            start=start,
            reason="Chest <pain>",
        ),
    )
    components.billing.start_payment(actor, booked.id, PaymentMethod.OFFLINE)
    return booked.id.value


def _dead_letter(components: Components) -> str:
    """A booking's event the relay gave up on (the others marked sent)."""
    _book(components, "pat-2", MONDAY_10 + timedelta(days=2))
    offered = storage_delivery(components.storage)
    assert offered is not None
    outbox, _ = offered
    entries = outbox.claim(NOW, timedelta(minutes=1), 100)
    dead = next(e for e in entries if e.event_type == "AppointmentBooked")
    outbox.mark_sent([e.id for e in entries if e is not dead], NOW)
    outbox.mark_failed(dead.id, NOW, "SMTP refused the sender", None)
    return dead.id


def _clean(page: falcon.testing.Result) -> str:
    """The page's HTML, after the checks every page passes: HTML, no inline script or
    style (the CSP allows none)."""
    assert page.status_code == 200, page.text[:800]
    assert page.headers["content-type"].startswith("text/html")
    assert "<script>" not in page.text
    assert " style=" not in page.text
    return page.text


# -- every page, and who may not see it ---------------------------------------------------------


@memory_only
def test_each_staff_page_renders_for_its_role_with_the_role_s_links(
    world: dict[str, Any],
) -> None:
    a = world["A"]
    pages = {
        "doctor": ["/doctor/week", "/doctor/availability", "/doctor/reviews", "/doctor/analytics"],
        "desk": [f"/desk/{a}", f"/desk/{a}/waiting-room", f"/desk/{a}/day?doctor_id={FEE_DOCTOR}"],
        "admin": ["/desk", "/admin/dead-letters", "/admin/audit-log", "/admin/analytics"],
        "manager": [f"/desk/{a}", "/admin/analytics"],
    }
    links = {
        "doctor": ('href="/doctor/week"', 'href="/doctor/availability"', 'href="/doctor/reviews"'),
        "desk": ('href="/desk"',),
        "admin": ('href="/admin/audit-log"', 'href="/admin/dead-letters"', 'href="/desk"'),
        "manager": ('href="/desk"', 'href="/admin/analytics"'),
    }
    for role, paths in pages.items():
        for path in paths:
            route, _, query = path.partition("?")
            params = dict(p.split("=") for p in query.split("&")) if query else {}
            html = _clean(world[role].get(route, **params))
            for link in links[role]:
                assert link in html, (role, path, link)
    # Another role's links are not shown.
    assert 'href="/admin/audit-log"' not in world["doctor"].get("/doctor/week").text
    # A receptionist of one hospital goes straight to its desk.
    answer = world["desk"].get("/desk")
    assert (answer.status_code, answer.headers["location"]) == (303, f"/desk/{a}")


@memory_only
def test_pages_refuse_the_roles_the_api_refuses(world: dict[str, Any]) -> None:
    a, b = world["A"], world["B"]
    forbidden = {  # 403: not for this kind of account
        "patient": [f"/desk/{a}", "/doctor/week", "/admin/audit-log", "/admin/analytics"],
        "doctor": ["/desk", "/admin/dead-letters", "/admin/audit-log", "/admin/analytics"],
        "desk": ["/doctor/availability", "/admin/dead-letters", "/admin/analytics"],
        "manager": ["/admin/audit-log", "/doctor/reviews"],
    }
    for role, paths in forbidden.items():
        for path in paths:
            assert world[role].get(path).status_code == 403, (role, path)
    hidden = {  # 404: another hospital, or a doctor who does not work there
        "desk": [(f"/desk/{b}", {}), (f"/desk/{a}/day", {"doctor_id": FREE_DOCTOR})],
        "manager": [(f"/desk/{b}", {}), ("/admin/analytics", {"hospital_id": b})],
    }
    for role, asked in hidden.items():
        for path, params in asked:
            assert world[role].get(path, **params).status_code == 404, (role, path)
    # A hospital administrator staffs the desk: the waiting room and the doctors' days too.
    assert world["manager"].get(f"/desk/{a}/waiting-room").status_code == 200
    assert f"/desk/{a}/waiting-room" in world["manager"].get(f"/desk/{a}").text
    signed_out = falcon.testing.TestClient(world["admin"].portal.app).simulate_get("/desk")
    assert (signed_out.status_code, signed_out.headers["location"]) == (
        303,
        "/sign-in?next=%2Fdesk",
    )


@memory_only
def test_every_staff_form_refuses_a_post_without_its_csrf_token(
    world: dict[str, Any], components: Components
) -> None:
    a = world["A"]
    key = _book(components)
    entry = _dead_letter(components)
    posts = [
        ("desk", f"/desk/{a}/walk-ins", {"name": "W", "phone": "+442079460958"}),
        ("desk", f"/desk/{a}/book", {"doctor_id": FEE_DOCTOR, "patient_id": "pat-2"}),
        ("desk", f"/desk/appointments/{key}/check-in", {}),
        ("desk", f"/desk/appointments/{key}/collect", {"via": "cash"}),
        ("doctor", "/doctor/availability", {"version": "1"}),
        ("doctor", "/doctor/time-off", {"first_day": "2030-01-07", "cancel_bookings": "yes"}),
        ("doctor", "/doctor/reviews/rev-1/reply", {"text": "thanks"}),
        ("admin", f"/admin/dead-letters/{entry}/retry", {}),
    ]
    for role, path, fields in posts:
        for token in (None, "0" * 64):
            extra = {} if token is None else {"csrf_token": token}
            refused = world[role].post(path, csrf=False, **fields, **extra)
            assert refused.status_code == 403, (path, refused.status_code)
            assert "did not come from this site" in refused.text
    # Nothing happened: the visit is not checked in, the time off not taken, the letter dead.
    stored = components.scheduling.appointment(ADMIN, AppointmentId(key))
    assert stored.status is AppointmentStatus.BOOKED
    assert stored.arrived_at is None
    assert components.scheduling.availability(DoctorId(FEE_DOCTOR)).time_off == ()
    assert components.delivery is not None
    assert [d.entry.id for d in components.delivery.relay.dead_letters(ADMIN)] == [entry]


# -- the front desk -----------------------------------------------------------------------------


@memory_only
def test_the_desk_registers_a_walk_in_books_checks_in_and_collects_once(
    world: dict[str, Any], components: Components
) -> None:
    desk, a = world["desk"], world["A"]
    found = _clean(desk.get(f"/desk/{a}", name="patient"))
    assert "Patient pat-1" in found
    assert "Patient pat-2" in found
    short = _clean(desk.get(f"/desk/{a}", name="p"))
    assert "at least two letters" in short

    bad = desk.post(f"/desk/{a}/walk-ins", name="Walk In", phone="12", date_of_birth="1980-05-17")
    assert bad.status_code == 422
    assert "A phone number with its country code." in bad.text
    made = desk.post(
        f"/desk/{a}/walk-ins", name="Walk In", phone="+44 20 7946 0958", date_of_birth="1980-05-17"
    )
    assert made.status_code == 303
    assert made.headers["location"].startswith(f"/desk/{a}/book?patient_id=")
    patient_id = re.search(r"patient_id=([^&]+)", made.headers["location"])
    assert patient_id
    walk_in = patient_id.group(1)

    page = _clean(desk.get(f"/desk/{a}/book", patient_id=walk_in, doctor_id=FEE_DOCTOR))
    assert 'name="start"' in page
    assert "80.00 GBP" in page  # the doctor's fee, due at the desk
    booked = desk.post(
        f"/desk/{a}/book",
        patient_id=walk_in,
        doctor_id=FEE_DOCTOR,
        start=MONDAY_10.isoformat(),
        reason="Walked in",
        pay="yes",
    )
    assert booked.status_code == 303, booked.text[:500]
    day_path = booked.headers["location"]
    assert day_path.startswith(f"/desk/{a}/day?doctor_id={FEE_DOCTOR}&date=2030-01-07")
    day = _clean(desk.get(f"/desk/{a}/day", doctor_id=FEE_DOCTOR, date="2030-01-07"))
    assert "Walk In (49)" in day
    assert "Walked in" in day
    (visit,) = components.scheduling.list_appointments(
        ADMIN, AppointmentQuery(patient_id=PatientId(walk_in))
    )
    assert visit.status is AppointmentStatus.BOOKED

    back = f"/desk/{a}/day?doctor_id={FEE_DOCTOR}&date=2030-01-07"
    components.clock.advance(timedelta(hours=3, minutes=30))  # type: ignore[attr-defined]
    checked = desk.post(f"/desk/appointments/{visit.id.value}/check-in", back=back)
    assert (checked.status_code, checked.headers["location"]) == (303, back + "&notice=check-in")
    room = _clean(desk.get(f"/desk/{a}/waiting-room"))
    assert "Walk In" in room
    assert "arrived" in room

    collected = desk.post(f"/desk/appointments/{visit.id.value}/collect", via="card_terminal")
    assert (collected.status_code, collected.headers["location"]) == (303, "/desk?notice=collect")
    payment = components.billing.payment_history(ADMIN, PatientId(walk_in))[0]
    assert payment.status is PaymentStatus.SUCCEEDED
    again = desk.post(f"/desk/appointments/{visit.id.value}/collect", via="cash")
    assert again.status_code == 409  # once
    hostile = desk.post(f"/desk/appointments/{visit.id.value}/call-in", back="//evil.example")
    assert (hostile.status_code, hostile.headers["location"]) == (303, "/desk?notice=call-in")
    # Another hospital's desk learns nothing of the visit.
    other = world["desk_b"].post(f"/desk/appointments/{visit.id.value}/collect", via="cash")
    assert other.status_code == 404


# -- the doctor's pages -------------------------------------------------------------------------


@memory_only
def test_the_doctor_s_week_lists_visits_escaped_and_its_actions_come_back_to_it(
    world: dict[str, Any], components: Components
) -> None:
    key = _book(components)
    _book(components, "pat-2", MONDAY_10 + timedelta(days=1))
    week = _clean(world["doctor"].get("/doctor/week", date="2030-01-09"))
    assert "Week of 07 January 2030" in week
    assert week.count("<td>Patient pat-") == 2
    assert "Chest &lt;pain&gt;" in week
    assert "<pain>" not in week
    assert "Times in Europe/London." in week
    assert 'name="view" value="week"' in week
    components.clock.advance(timedelta(hours=4, minutes=30))  # type: ignore[attr-defined]
    done = world["doctor"].post(
        f"/doctor/appointments/{key}/complete", date="2030-01-07", view="week"
    )
    assert done.headers["location"] == "/doctor/week?date=2030-01-07&notice=complete"
    stored = components.scheduling.appointment(ADMIN, AppointmentId(key))
    assert stored.status is AppointmentStatus.COMPLETED


def _hours_form(page: str, **changes: str) -> dict[str, str]:
    """The hours form as the browser would post it, with ``changes``."""
    form = re.search(r'<form method="post" action="/doctor/availability">(.*?)</form>', page, re.S)
    assert form
    fields = {}
    for tag in re.findall(r"<input[^>]*>", form.group(1)):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        assert name, tag
        assert value, tag
        fields[name.group(1)] = value.group(1)
    fields.pop("csrf_token")
    return {**fields, **changes}


@memory_only
def test_the_doctor_edits_hours_and_a_stale_or_malformed_form_is_refused(
    world: dict[str, Any], components: Components
) -> None:
    doctor = world["doctor"]
    page = _clean(doctor.get("/doctor/availability"))
    assert 'value="09:00-17:00"' in page
    fields = _hours_form(page, **{"day-0-hours": "10:00-12:00, 13:00-18:00", "buffer_minutes": "5"})
    saved = doctor.post("/doctor/availability", **fields)
    assert (saved.status_code, saved.headers["location"]) == (
        303,
        "/doctor/availability?notice=hours-saved",
    )
    stored = components.scheduling.availability(DoctorId(FEE_DOCTOR))
    monday = [d for d in stored.weekly if d.weekday == 0]
    assert [(w.start.hour, w.end.hour) for w in monday[0].hours] == [(10, 12), (13, 18)]
    assert stored.buffer == timedelta(minutes=5)
    assert len(stored.weekly) == 3  # the other days kept as they were

    stale = doctor.post("/doctor/availability", **fields)  # the version read before the save
    assert stale.status_code == 422
    assert "changed elsewhere" in stale.text
    fresh = _clean(doctor.get("/doctor/availability"))
    malformed = doctor.post(
        "/doctor/availability", **_hours_form(fresh, **{"day-1-hours": "nine to five"})
    )
    assert malformed.status_code == 422
    assert 'aria-invalid="true"' in malformed.text
    assert components.scheduling.availability(DoctorId(FEE_DOCTOR)).version == stored.version


@memory_only
def test_time_off_over_a_visit_lists_it_and_cancels_it_only_when_asked(
    world: dict[str, Any], components: Components
) -> None:
    doctor = world["doctor"]
    key = _book(components)
    asked = {"first_day": "2030-01-07", "last_day": "2030-01-07", "reason": "conference"}
    collides = doctor.post("/doctor/time-off", **asked)
    assert collides.status_code == 409
    assert key in collides.text
    assert "Mon 07 Jan 2030, 10:00" in collides.text  # in the doctor's zone
    assert 'name="cancel_bookings" value="yes"' in collides.text
    assert components.scheduling.availability(DoctorId(FEE_DOCTOR)).time_off == ()

    cancelled = doctor.post("/doctor/time-off", **asked, cancel_bookings="yes")
    assert cancelled.headers["location"] == "/doctor/availability?notice=time-off-cancelled"
    stored = components.scheduling.appointment(ADMIN, AppointmentId(key))
    assert stored.status is AppointmentStatus.CANCELLED
    page = _clean(doctor.get("/doctor/availability"))
    assert "2030-01-07: conference" in page

    free_day = doctor.post("/doctor/time-off", first_day="2030-01-08", window="13:00-17:00")
    assert free_day.headers["location"] == "/doctor/availability?notice=time-off-added"
    assert doctor.post("/doctor/time-off", first_day="soon").status_code == 422


@memory_only
def test_the_doctor_reads_reviews_escaped_and_replies_once(
    world: dict[str, Any], components: Components
) -> None:
    key = _book(components)
    assert isinstance(components.clock, ManualClock)
    components.clock.advance(timedelta(hours=4, minutes=30))
    components.scheduling.complete(world["actors"]["doctor"], AppointmentId(key))
    review = components.reviews.write(
        Actor.patient(PatientId("pat-1")), AppointmentId(key), 4, "Kind <b>and</b> quick"
    )
    doctor = world["doctor"]
    page = _clean(doctor.get("/doctor/reviews"))
    assert "Kind &lt;b&gt;and&lt;/b&gt; quick" in page
    assert "Average 4" in page
    path = f"/doctor/reviews/{review.id.value}/reply"
    replied = doctor.post(path, text="Thank you")
    assert replied.headers["location"] == "/doctor/reviews?notice=replied"
    assert "Your reply:</strong> Thank you" in _clean(doctor.get("/doctor/reviews"))
    assert doctor.post(path, text="Again").status_code == 409  # once
    assert doctor.post("/doctor/reviews/rev-none/reply", text="x").status_code == 404


# -- the platform admin -------------------------------------------------------------------------


@memory_only
def test_an_admin_sends_a_dead_letter_again_and_searches_the_audit_log(
    world: dict[str, Any], components: Components
) -> None:
    admin = world["admin"]
    entry = _dead_letter(components)
    page = _clean(admin.get("/admin/dead-letters"))
    assert "AppointmentBooked" in page
    assert "SMTP refused the sender" in page
    retried = admin.post(f"/admin/dead-letters/{entry}/retry")
    assert retried.headers["location"] == "/admin/dead-letters?notice=retried"
    assert "No dead letters" in _clean(admin.get("/admin/dead-letters"))
    assert admin.post(f"/admin/dead-letters/{entry}/retry").status_code == 404

    with pytest.raises(NotFound):  # an admin reads no records: the refusal is audited
        components.records.of_patient(ADMIN, PatientId("pat-1"))
    found = _clean(admin.get("/admin/audit-log", patient_id="pat-1", outcome="denied"))
    assert "acct-admin" in found
    assert "records" in found
    assert "No entry matches" in _clean(admin.get("/admin/audit-log", outcome="allowed"))
    assert "No entry matches" in _clean(admin.get("/admin/audit-log", patient_id="pat-2"))
    assert admin.get("/admin/audit-log", outcome="maybe").status_code == 422
    assert admin.get("/admin/audit-log", to="tomorrow").status_code == 422


def test_analytics_draws_appointments_and_revenue_by_day_as_svg(
    world: dict[str, Any], components: Components
) -> None:
    key = _book(components)
    components.front_desk.record_collection(ADMIN, AppointmentId(key), Collection.CASH)
    params = {"from": "2030-01-01", "to": "2030-01-07", "tz": "Europe/London"}
    page = _clean(world["admin"].get("/admin/analytics", **params))
    charts = re.findall(r'<svg role="img".*?</svg>', page, re.S)
    assert len(charts) == 2  # appointments, revenue (GBP)
    assert charts[0].count('class="bar"') == 7
    assert "2030-01-07: 1" in charts[0]
    assert "2030-01-07: 80.00" in charts[1]
    assert '<title id="revenue-chart-1-title">Revenue by day (GBP)</title>' in charts[1]
    mine = _clean(world["doctor"].get("/doctor/analytics", **params, hospital_id=world["B"]))
    assert f"Doctor {FEE_DOCTOR}" in mine  # a doctor's report is their own
    ward = _clean(world["manager"].get("/admin/analytics", **params))
    assert f"Hospital {world['A']}" in ward
    assert world["admin"].get("/admin/analytics", tz="Mars/Olympus").status_code == 422
    long = {"from": "2020-01-01", "to": "2030-01-07"}
    assert world["admin"].get("/admin/analytics", **long).status_code == 422


def test_bar_charts_scale_to_a_round_top_and_draw_nothing_negative() -> None:
    chart = bar_chart("t", [(NOW.date(), 3.0), (NOW.date() + timedelta(days=1), -2.0)])
    assert [tick.label for tick in chart.ticks] == ["0", "1.25", "2.5", "3.75", "5"]
    assert chart.bars[0].height > 0
    assert chart.bars[1].height == 0
    assert not chart.empty
    assert bar_chart("t", []).empty
    counts = bar_chart("t", [(NOW.date(), 1.0)], whole=True)
    assert [tick.label for tick in counts.ticks] == ["0", "1", "2", "3", "4"]
    assert [t.label for t in bar_chart("t", [(NOW.date(), 9.0)], whole=True).ticks][-1] == "12"
