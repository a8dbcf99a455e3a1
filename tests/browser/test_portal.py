"""End to end in chromium: a patient signs up from the e-mailed code, books, pays at the
clinic, moves and cancels a visit; a doctor sees a booking in the day view and completes it;
an admin invites a doctor who sets a password from the e-mailed link; forms posted without a
valid CSRF token are refused. Every page visited passes axe-core (A/AA) and the CSP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.browser.conftest import (
    ADMIN_EMAIL,
    DOCTOR_EMAIL,
    PASSWORD,
    Browser,
    World,
    code_in,
    link_in,
)

from hellodoctor_domain import AppointmentStatus, BookingRequest, DoctorId, PatientId
from hellodoctor_domain.model.payments import PaymentMethod
from hellodoctor_domain.model.values import Actor, EmailAddress
from hellodoctor_domain.ports.scheduling import AppointmentQuery
from hellodoctor_http.testing import FEE_DOCTOR

PATIENT_EMAIL = "ada@portal.example"


def _sign_up(browser: Browser, world: World) -> None:
    page = browser.page
    browser.go("/")
    browser.check("home")
    page.get_by_role("link", name="Create an account").click()
    browser.check("sign-up")
    page.get_by_label("Your name").fill("Ada Lovelace")
    page.get_by_label("E-mail address").fill(PATIENT_EMAIL)
    page.get_by_label("Your time zone").fill("America/New_York")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create the account").click()
    page.wait_for_url("**/verify?*")
    browser.check("verify")
    page.get_by_label("Code from the e-mail").fill(
        code_in(world.last_mail(PATIENT_EMAIL, "verify_email"))
    )
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/sign-in?notice=verified")
    browser.check("sign-in")
    browser.sign_in(PATIENT_EMAIL)
    page.wait_for_url("**/appointments")


def _book(browser: Browser, slot: int, reason: str) -> None:
    page = browser.page
    browser.go("/doctors")
    page.get_by_label("Specialty", exact=True).fill("Cardiology")
    page.get_by_role("button", name="Search").click()
    browser.check("doctors")
    page.get_by_role("link", name=f"Dr {FEE_DOCTOR}").click()
    browser.check("doctor")
    # The London doctor's 09:00 is shown in the patient's own zone.
    assert "America/New_York" in page.locator("legend").first.inner_text()
    assert page.locator("label[for=slot-1]").inner_text() == "Mon 07 Jan, 04:00"
    page.locator("input[name=start]").nth(slot).check()
    page.get_by_label("Reason for the visit (optional)").fill(reason)
    page.get_by_role("button", name="Book this time").click()
    page.wait_for_url("**/appointments/*?notice=booked")
    assert "held" in page.locator(".facts").inner_text()


def _pay_at_clinic(browser: Browser) -> None:
    page = browser.page
    page.get_by_label("At the clinic").check()
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**notice=paid-offline")
    assert "booked" in page.locator(".facts").inner_text()


def test_a_patient_signs_up_books_pays_at_the_clinic_moves_and_cancels(
    browser: Browser, world: World
) -> None:
    page = browser.page
    _sign_up(browser, world)
    browser.check("appointments-empty")
    _book(browser, 0, "Chest pain")
    browser.check("appointment-held")
    _pay_at_clinic(browser)
    browser.check("appointment-booked")
    before = page.locator(".facts dd").first.inner_text()

    page.locator("#move-title ~ form input[name=start]").nth(3).check()
    page.get_by_role("button", name="Move the appointment").click()
    page.wait_for_url("**notice=moved")
    assert page.locator(".facts dd").first.inner_text() != before

    # The policy's refund is shown before cancelling: the visit is hours away, so half.
    assert "40.00 GBP" in page.locator("#cancel-title ~ p").inner_text()
    page.get_by_label("Why (optional)").fill("feeling better")
    page.get_by_role("button", name="Cancel the appointment").click()
    page.wait_for_url("**notice=cancelled")
    browser.check("appointment-cancelled")
    assert "cancelled" in page.locator(".facts").inner_text()

    browser.go("/appointments")
    browser.check("appointments")
    assert page.locator("tbody tr").count() == 1
    page.set_viewport_size({"width": 390, "height": 800})  # a phone: the table stacks
    browser.check("appointments-phone")
    page.set_viewport_size({"width": 1024, "height": 720})

    browser.go("/settings")
    browser.check("settings")
    page.get_by_role("button", name="Make a new feed address").click()
    assert "/api/v1/calendar/" in page.locator("#feed-url").inner_text()

    stored = world.components.scheduling.list_appointments(
        _patient_actor(world), AppointmentQuery(limit=10)
    )
    assert [a.status for a in stored] == [AppointmentStatus.CANCELLED]
    assert stored[0].reason == "Chest pain"


def _patient_actor(world: World) -> Actor:
    with world.components.storage() as uow:
        account = uow.accounts.by_email(EmailAddress(PATIENT_EMAIL))
    assert account is not None
    assert account.patient_id is not None
    return Actor.patient(account.patient_id)


def test_a_doctor_sees_the_booking_in_the_day_view_and_completes_it(
    browser: Browser, world: World
) -> None:
    page = browser.page
    # The patient's side is the test above; here the booking is made through the use cases.
    patient = Actor.patient(PatientId("pat-1"))
    booked = world.components.scheduling.book(
        patient,
        BookingRequest(
            doctor_id=DoctorId(FEE_DOCTOR),
            patient_id=PatientId("pat-1"),
            start=datetime(2030, 1, 7, 9, 0, tzinfo=UTC),
            reason="Follow-up of the ECG",
        ),
    )
    world.components.billing.start_payment(patient, booked.id, PaymentMethod.OFFLINE)

    browser.sign_in(DOCTOR_EMAIL)
    page.wait_for_url("**/doctor/day")
    browser.check("doctor-day")
    row = page.locator("tbody tr", has_text="Patient pat-1")
    assert "Follow-up of the ECG" in row.inner_text()
    assert "booked" in row.inner_text()

    world.clock.advance(timedelta(hours=4))  # 10:00 in London: the 09:00 visit has begun
    row.get_by_role("button", name="Complete").click()
    page.wait_for_url("**notice=complete")
    browser.check("doctor-day-completed")
    assert "completed" in page.locator("tbody tr", has_text="Patient pat-1").inner_text()
    stored = world.components.scheduling.appointment(patient, booked.id)
    assert stored.status is AppointmentStatus.COMPLETED


def test_an_admin_invites_a_doctor_who_sets_a_password_from_the_link(
    browser: Browser, world: World
) -> None:
    page = browser.page
    browser.sign_in(ADMIN_EMAIL)
    page.wait_for_url("**/admin/doctors/new")
    browser.check("invite-doctor")
    page.get_by_label("E-mail address").fill("house@portal.example")
    page.get_by_label("Name").fill("Dr Gregory House")
    page.get_by_label("Specialty", exact=True).fill("Diagnostics")
    page.get_by_label("Registration number").fill("GMC-1234567")
    page.get_by_label("Consultation fee (e.g. 80.00)").fill("95.50")
    page.get_by_role("button", name="Send the invitation").click()
    page.wait_for_url("**notice=invited")
    browser.sign_out()

    page.goto(link_in(world.last_mail("house@portal.example", "set_password")))
    browser.check("set-password")
    page.get_by_label("New password (at least 12 characters)").fill("a much better password")
    page.get_by_label("The same password again").fill("a much better password")
    page.get_by_role("button", name="Set the password").click()
    page.wait_for_url("**/sign-in?notice=password-set")
    browser.sign_in("house@portal.example", "a much better password")
    page.wait_for_url("**/doctor/day")
    assert "Dr Gregory House" in page.locator("h1").inner_text()


def test_forms_without_a_valid_csrf_token_are_refused(browser: Browser, world: World) -> None:
    page = browser.page
    browser.sign_in(ADMIN_EMAIL)
    page.wait_for_url("**/admin/doctors/new")
    form = {
        "email": "evil@portal.example",
        "name": "Dr Evil",
        "specialty": "x",
        "registration_number": "x",
        "time_zone": "UTC",
        "fee": "0",
        "currency": "GBP",
    }
    # The browser's own cookies, but no token, then a token of another session.
    for token in (None, "0" * 64):
        fields = form if token is None else {**form, "csrf_token": token}
        answer = page.request.post(f"{world.base}/admin/doctors/new", form=fields)
        assert answer.status == 403
        assert "did not come from this site" in answer.text()
    answer = page.request.post(f"{world.base}/sign-up", form={"email": "a@b.example"})
    assert answer.status == 403
    with world.components.storage() as uow:
        assert uow.accounts.by_email(EmailAddress("evil@portal.example")) is None
