"""The staff pages in chromium, one pass through each role's pages: the front desk registers
a walk-in, books them, checks them in and records the payment; the doctor sees the visit in
the week view, their hours and reviews, and writes a note in the patient's records; the admin
opens the analytics (SVG charts), the audit log, the dead letters, the payments, the hospitals
and one hospital's beds, transfers and claims pages. Every page passes axe-core (A/AA) and the CSP
(``Browser.check``)."""

from __future__ import annotations

from datetime import timedelta

from tests.browser.conftest import ADMIN_EMAIL, DOCTOR_EMAIL, Browser, World

from hellodoctor_domain import DoctorId
from hellodoctor_domain.model.hospitals import Address, Hospital
from hellodoctor_domain.model.values import Actor, HospitalId, Role, UserId
from hellodoctor_http.testing import FEE_DOCTOR

DESK_EMAIL = "desk@portal.example"


def _hospital_with_a_desk(world: World) -> str:
    admin = Actor.admin(UserId("acct-admin"))
    hospital = Hospital(
        HospitalId("hosp-a"),
        "St Mary's",
        "REG-A",
        Address("1 Main Road", "London", "GB", 51.5, -0.17),
        "+44 20 7946 0000",
    )
    world.components.hospitals.register(admin, hospital)
    world.components.hospitals.affiliate(admin, hospital.id, DoctorId(FEE_DOCTOR))
    world._account(DESK_EMAIL, Role.RECEPTIONIST, "acct-desk")
    world.components.hospitals.appoint_receptionist(admin, hospital.id, UserId("acct-desk"))
    return hospital.id.value


def test_the_desk_the_doctor_and_the_admin_work_through_their_pages(
    browser: Browser, world: World
) -> None:
    page = browser.page
    hospital = _hospital_with_a_desk(world)

    browser.sign_in(DESK_EMAIL)
    page.wait_for_url(f"**/desk/{hospital}")
    browser.check("desk")
    page.get_by_label("Full name").fill("Walk In")
    page.get_by_label("Phone (with country code, e.g. +44 20 7946 0000)").fill("+44 20 7946 0958")
    page.get_by_label("Date of birth", exact=True).last.fill("1980-05-17")
    page.get_by_role("button", name="Register and book").click()
    page.wait_for_url("**/book?*notice=walk-in")
    page.get_by_role("button", name="Show free times").click()
    browser.check("desk-book")
    page.locator("input[name=start]").first.check()
    page.get_by_label("Reason for the visit (optional)").fill("Dizzy spells")
    page.get_by_role("button", name="Book this time").click()
    page.wait_for_url("**notice=desk-booked")
    browser.check("desk-day")
    page.set_viewport_size({"width": 390, "height": 800})  # a phone: the table stacks
    browser.check("desk-day-phone")
    page.set_viewport_size({"width": 1024, "height": 720})
    row = page.locator("tbody tr", has_text="Walk In")
    assert "Dizzy spells" in row.inner_text()
    world.clock.advance(timedelta(hours=3))  # 09:00 in London: the visit's day has begun
    row.get_by_role("button", name="Check in").click()
    page.wait_for_url("**notice=check-in")
    row = page.locator("tbody tr", has_text="Walk In")
    row.get_by_label("Collected by").select_option("cash")
    row.get_by_role("button", name="Payment collected").click()
    page.wait_for_url("**notice=collect")
    page.get_by_role("link", name="Waiting room").first.click()
    browser.check("waiting-room")
    assert "Walk In" in page.locator("main").inner_text()
    browser.sign_out()

    browser.sign_in(DOCTOR_EMAIL)
    page.wait_for_url("**/doctor/day")
    page.get_by_role("link", name="My week").click()
    browser.check("doctor-week")
    assert "Dizzy spells" in page.locator("main").inner_text()
    page.get_by_role("link", name="Hours and time off").click()
    browser.check("doctor-availability")
    page.get_by_role("link", name="Reviews").click()
    browser.check("doctor-reviews")
    page.get_by_role("link", name="My day").click()
    page.get_by_role("link", name="Walk In").click()  # the patient's records (in their care)
    browser.check("doctor-patient")
    page.get_by_label("Clinical note").fill("Dizzy when standing; no fever.")
    page.get_by_role("button", name="Write the record").click()
    page.wait_for_url("**notice=record-written")
    browser.check("doctor-patient-written")
    assert "Dizzy when standing" in page.locator("main").inner_text()
    page.get_by_role("link", name="Open").first.click()  # the record, with its correction form
    browser.check("doctor-record")
    browser.sign_out()

    browser.sign_in(ADMIN_EMAIL)
    page.wait_for_url("**/admin/doctors/new")
    page.get_by_role("link", name="Analytics").click()
    browser.check("analytics")
    assert page.locator("svg[role=img]").count() == 2  # appointments, revenue (GBP)
    page.get_by_role("link", name="Audit log").click()
    browser.check("audit-log")
    page.get_by_role("link", name="Dead letters").click()
    browser.check("dead-letters")
    page.get_by_role("link", name="Payments", exact=True).click()
    browser.check("admin-payments")
    assert "80.00 GBP" in page.locator("main").inner_text()  # the walk-in's, collected
    page.get_by_role("link", name="Hospitals", exact=True).click()
    browser.check("admin-hospitals")
    page.get_by_role("link", name="Beds St Mary's").click()
    browser.check("hospital-beds")
    page.get_by_role("link", name="Transfers", exact=True).click()
    browser.check("hospital-transfers")
    page.get_by_role("link", name="Insurance claims", exact=True).click()
    browser.check("hospital-claims")
