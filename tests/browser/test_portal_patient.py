"""A patient's own pages in chromium, one flow: join a doctor's waitlist from the doctor's
page, see the wallet and the payment of a visit paid at the clinic, upload a document and open
it, read a record, grant and revoke a consent, and see who accessed the record. Every page
visited passes axe-core (A/AA) and the CSP (``Browser.check``)."""

from __future__ import annotations

from datetime import timedelta

from tests.browser.conftest import PASSWORD, Browser, World

from hellodoctor_adapters.testing.files import PNG
from hellodoctor_domain import BookingRequest, DoctorId, PatientId
from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.model.payments import PaymentMethod
from hellodoctor_domain.model.records import Diagnosis, MedicalRecord, RecordId, RecordKind
from hellodoctor_domain.model.values import EmailAddress, Role, UserId
from hellodoctor_http.testing import FEE_DOCTOR, FREE_DOCTOR, NOW

EMAIL = "grace@portal.example"


def _patient(world: World) -> None:
    """pat-1 (seeded) with an account, a visit paid at the clinic and one record."""
    account = Account(
        UserId("acct-grace"),
        EmailAddress(EMAIL),
        Role.PATIENT,
        AccountStatus.ACTIVE,
        world.clock.now(),
        password_hash=world.components.hasher.hash(PASSWORD),
        patient_id=PatientId("pat-1"),
    )
    record = MedicalRecord(
        RecordId("rec-1"),
        PatientId("pat-1"),
        DoctorId(FEE_DOCTOR),
        RecordKind.CONSULTATION,
        NOW,
        diagnoses=(Diagnosis("I10", "Hypertension"),),
        notes="Walk every day",
    )
    with world.components.storage() as uow:
        uow.accounts.add(account)
        uow.records.add(record)
        uow.commit()
    actor = account.actor()
    booked = world.components.scheduling.book(
        actor,
        BookingRequest(
            doctor_id=DoctorId(FEE_DOCTOR),
            patient_id=PatientId("pat-1"),
            start=NOW + timedelta(hours=3),
        ),
    )
    world.components.billing.start_payment(actor, booked.id, PaymentMethod.OFFLINE)


def test_a_patient_uses_the_waitlist_wallet_documents_records_and_consents(
    browser: Browser, world: World
) -> None:
    _patient(world)
    page = browser.page
    browser.sign_in(EMAIL)
    page.wait_for_url("**/appointments")

    browser.go(f"/doctors/{FEE_DOCTOR}")
    page.get_by_role("link", name="No time that suits you? Join the waitlist").click()
    browser.check("waitlist-join")
    page.get_by_label("From (first day)").fill("2030-01-09")
    page.get_by_label("Until (last day)").fill("2030-01-11")
    page.get_by_label("Part of the day").select_option("morning")
    page.get_by_role("button", name="Join the waitlist").click()
    page.wait_for_url("**/waitlist?notice=joined")
    browser.check("waitlist")
    assert "waiting" in page.locator("tbody").inner_text()

    page.get_by_role("link", name="Wallet").click()
    browser.check("wallet")
    assert "80.00 GBP" in page.locator("table.payments").inner_text()

    page.get_by_role("link", name="Documents").click()
    browser.check("documents-empty")
    page.get_by_label("What is it?").select_option("lab_result")
    page.get_by_label("File (PDF").set_input_files(
        files=[{"name": "blood test.png", "mimeType": "image/png", "buffer": PNG}]
    )
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url("**/documents/*?notice=uploaded")
    browser.check("document")
    assert "image/png" in page.locator(".facts").inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    assert download.value.suggested_filename == "blood test.png"

    page.get_by_role("link", name="My records").click()
    browser.check("records")
    page.get_by_role("link", name="Open").first.click()
    browser.check("record")
    assert "Walk every day" in page.locator(".facts").inner_text()

    page.get_by_role("link", name="Privacy").click()
    browser.check("consents-empty")
    page.get_by_label("Doctor", exact=True).select_option(FREE_DOCTOR)
    page.get_by_label("Read my records").check()
    page.get_by_label("Why (e.g. a second opinion)").fill("cardiac review")
    page.get_by_role("button", name="Give access").click()
    page.wait_for_url("**/consents?notice=granted")
    browser.check("consents")
    page.get_by_role("button", name="Revoke").click()
    page.wait_for_url("**/consents?notice=revoked")
    assert "revoked" in page.locator("tbody").inner_text()

    page.get_by_role("link", name="Who looked at my records").first.click()
    browser.check("access-log")
    log = page.locator("tbody").inner_text()
    assert "record:rec-1" in log
    assert "revoke" in log
