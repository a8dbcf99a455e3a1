"""Erasure on request: an admin erases a patient's personal data; the audit trail and the
clinical records stay under the same (now pseudonymous) id; nobody else may (404)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.model.notifications import (
    CalendarFeed,
    Channel,
    NotificationPreferences,
    PhoneNumber,
    feed_digest,
)
from hellodoctor_domain.model.values import EmailAddress, PatientId, Role, UserId
from hellodoctor_domain.model.walk_in import WalkInClaim
from hellodoctor_domain.use_cases.erasure import pseudonym
from hellodoctor_http.testing import FREE_DOCTOR, Headers, ValidatingClient

from .test_export_api import filled, validate  # noqa: F401  (the fixture)

ERASE = "/api/v1/patients/pat-1/erasure"


def test_an_admin_erases_a_patient_and_the_trail_stays(
    client: ValidatingClient,
    as_patient: Headers,
    as_doctor: Headers,
    as_admin: Headers,
    filled: dict[str, Any],  # noqa: F811
    components: Any,
) -> None:
    with components.storage() as uow:
        patient = uow.patients.get(PatientId("pat-1"))
        patient.email = EmailAddress("grace@example.com")
        # A walk-in code the desk issued, never used: it must not outlive the erasure.
        patient.walk_in_claim, _code = WalkInClaim.issue(
            PatientId("pat-1"), UserId("desk-1"), datetime(2029, 1, 1, tzinfo=UTC)
        )
        uow.patients.update(patient)
        uow.accounts.add(
            Account(
                UserId("acct-pat-1"),
                EmailAddress("grace@example.com"),
                Role.PATIENT,
                AccountStatus.ACTIVE,
                datetime(2029, 1, 1, tzinfo=UTC),
                password_hash="x",
                patient_id=PatientId("pat-1"),
            )
        )
        uow.commit()
    with components.storage() as uow:
        uow.notification_preferences.save(
            NotificationPreferences(
                UserId("acct-pat-1"),
                frozenset({Channel.EMAIL, Channel.SMS}),
                language="de",
                phone=PhoneNumber("+447700900123"),
            )
        )
        uow.calendar_feeds.put(
            CalendarFeed(
                UserId("acct-pat-1"), feed_digest("feed-secret"), datetime(2029, 1, 1, tzinfo=UTC)
            )
        )
        uow.commit()
    for outsider in (as_patient(), as_doctor(FREE_DOCTOR)):
        refused = client.simulate_post(ERASE, json={"reason": "asked"}, headers=outsider)
        assert refused.status_code == 404, refused.json
    blank = client.simulate_post(ERASE, json={"reason": "  "}, headers=as_admin())
    assert blank.status_code in (400, 422), blank.json

    done = client.simulate_post(ERASE, json={"reason": "letter of 4 Jan"}, headers=as_admin())
    assert done.status_code == 200, done.json
    assert done.json["pseudonym"] == pseudonym(PatientId("pat-1"))
    assert done.json["account_erased"] is True

    with components.storage() as uow:
        patient = uow.patients.get(PatientId("pat-1"))
        assert patient.name == pseudonym(PatientId("pat-1"))
        assert (patient.email, patient.health_id, patient.blood_group) == (None, None, None)
        assert (patient.emergency_contacts, patient.allergies) == ((), ())
        account = uow.accounts.get(UserId("acct-pat-1"))
        assert account.status is AccountStatus.DISABLED
        assert account.password_hash is None
        assert uow.accounts.by_email(EmailAddress("grace@example.com")) is None
        settings = uow.notification_preferences.get(UserId("acct-pat-1"))
        assert settings is not None
        assert (settings.phone, settings.channels) == (None, frozenset({Channel.EMAIL}))
        assert settings.language == "de"  # choices that identify nobody are kept
        assert uow.calendar_feeds.of(UserId("acct-pat-1")) is None
        assert uow.calendar_feeds.by_digest(feed_digest("feed-secret")) is None
        assert patient.walk_in_claim is None

    export = client.simulate_get(
        "/api/v1/patients/pat-1/export", params={"reason": "check"}, headers=as_admin()
    )
    assert export.status_code == 200
    by_type = validate(json.loads(export.content))
    (exported,) = by_type["Patient"]
    assert exported["name"] == [{"text": pseudonym(PatientId("pat-1"))}]
    assert "telecom" not in exported
    assert "contact" not in exported
    assert len(by_type["Condition"]) == 2  # clinical records: kept (legal hold)

    log = client.simulate_get(
        "/api/v1/audit-log", params={"patient_id": "pat-1"}, headers=as_admin()
    ).json["items"]
    subjects = [e["subject"] for e in log]
    assert "erasure" in subjects
    assert "export" in subjects  # the trail from before the erasure is intact
    verified = client.simulate_get("/api/v1/audit-log/verification", headers=as_admin())
    assert verified.json["first_broken"] is None, verified.json
