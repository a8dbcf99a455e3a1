"""A patient's own portal pages without a browser (tests/browser drives them in chromium):
the wallet and payment history, the waitlist (join, offer accepted, leave), records and
documents (upload, view, download), consents and the access log. Every form post without a
valid CSRF token is refused before any use case runs, and another patient's entry, document,
record or consent is 404, like an unknown one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from urllib.parse import urlencode

import attrs
import falcon.testing
import pytest

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory
from hellodoctor_adapters.testing.files import PNG, pdf_of_size
from hellodoctor_domain import BookingRequest, DoctorId, PatientId
from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.model.documents import Owner
from hellodoctor_domain.model.payments import PaymentMethod
from hellodoctor_domain.model.records import Diagnosis, MedicalRecord, RecordId, RecordKind
from hellodoctor_domain.model.values import Actor, EmailAddress, Role, UserId
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_http.app import create_app
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.portal.session import SessionCodec
from hellodoctor_http.testing import FEE_DOCTOR, FREE_DOCTOR, NOW

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PAGES = ("/wallet", "/waitlist", "/records", "/documents", "/consents", "/access-log")


@pytest.fixture
def storage() -> Iterator[UnitOfWorkFactory]:
    """Memory only: the pages call the use cases, whose storage is tested elsewhere."""
    return InMemoryUnitOfWorkFactory()


class Visitor:
    """One browser: a signed-in account's session cookie, its CSRF cookie and token."""

    def __init__(self, client: falcon.testing.TestClient, components: Components, actor: Actor):
        settings = components.settings
        codec = SessionCodec(
            secret=settings.jwt_secret,
            issuer=settings.jwt_issuer,
            clock=components.clock,
            secure=False,
        )
        self.client = client
        self.cookies = {"hd_session": codec.issue(actor, None)}
        page = self.get("/settings")
        assert page.status_code == 200, page.text[:300]
        self.cookies.update({c.name: c.value for c in page.cookies.values()})
        match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
        assert match
        self.token = match.group(1)

    def get(self, path: str, query: str = "") -> falcon.testing.Result:
        return self.client.simulate_get(path, query_string=query, cookies=self.cookies)

    def post(
        self, path: str, fields: dict[str, str] | None = None, token: bool = True
    ) -> falcon.testing.Result:
        sent = dict(fields or {})
        if token:
            sent["csrf_token"] = self.token
        return self.client.simulate_post(
            path, body=urlencode(sent), headers=FORM, cookies=self.cookies
        )


def _account(components: Components, key: str, role: Role, **profile: object) -> Actor:
    account = Account(
        UserId(f"acct-{key}"),
        EmailAddress(f"{key}@example.com"),
        role,
        AccountStatus.ACTIVE,
        components.clock.now(),
        **profile,  # type: ignore[arg-type]
    )
    with components.storage() as uow:
        uow.accounts.add(account)
        uow.commit()
    return account.actor()


@pytest.fixture
def client(components: Components) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(components))


@pytest.fixture
def ada(client: falcon.testing.TestClient, components: Components) -> Visitor:
    return Visitor(
        client,
        components,
        _account(components, "pat-1", Role.PATIENT, patient_id=PatientId("pat-1")),
    )


@pytest.fixture
def bob(client: falcon.testing.TestClient, components: Components) -> Visitor:
    return Visitor(
        client,
        components,
        _account(components, "pat-2", Role.PATIENT, patient_id=PatientId("pat-2")),
    )


def _location(answer: falcon.testing.Result) -> str:
    assert answer.status_code == 303, answer.text[:500]
    return str(answer.headers["location"])


def test_every_page_renders_for_its_patient_with_the_navigation_and_no_inline_code(
    ada: Visitor,
) -> None:
    for path in PAGES:
        page = ada.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "<script>" not in page.text
        assert " style=" not in page.text
        for link in ('href="/waitlist"', 'href="/wallet"', 'href="/records"', 'href="/consents"'):
            assert link in page.text, (path, link)


def test_the_pages_are_a_signed_in_patients(
    client: falcon.testing.TestClient, components: Components
) -> None:
    for path in PAGES:
        answer = client.simulate_get(path)
        assert _location(answer).startswith("/sign-in?next=")
    doctor = Visitor(
        client,
        components,
        _account(components, "dr", Role.DOCTOR, doctor_id=DoctorId(FEE_DOCTOR)),
    )
    for path in PAGES:
        assert doctor.get(path).status_code == 403, path


def test_form_posts_without_a_valid_token_are_refused_before_any_use_case(
    ada: Visitor, components: Components
) -> None:
    fields = {
        "doctor_id": FREE_DOCTOR,
        "first_day": "2030-01-08",
        "last_day": "2030-01-09",
        "scope": "read",
        "until": "2030-02-01",
        "purpose": "second opinion",
    }
    for path in ("/waitlist", "/waitlist/e-1/leave", "/consents", "/consents/c-1/revoke"):
        for token in (None, "0" * 64):
            sent = dict(fields) if token is None else {**fields, "csrf_token": token}
            refused = ada.post(path, sent, token=False)
            assert refused.status_code == 403, path
            assert "did not come from this site" in refused.text
    assert components.waitlist is not None
    assert components.waitlist.entries(ada_actor()) == []
    assert components.records.consents(ada_actor(), PatientId("pat-1")) == []


def ada_actor() -> Actor:
    return Actor(Role.PATIENT, UserId("acct-pat-1"), patient_id=PatientId("pat-1"))


def test_the_wallet_shows_the_balance_and_the_payment_history(
    ada: Visitor, components: Components
) -> None:
    appointment = components.scheduling.book(
        ada_actor(),
        BookingRequest(
            doctor_id=DoctorId(FEE_DOCTOR),
            patient_id=PatientId("pat-1"),
            start=NOW + timedelta(hours=4),
        ),
    )
    components.billing.start_payment(ada_actor(), appointment.id, PaymentMethod.OFFLINE)
    page = ada.get("/wallet")
    assert page.status_code == 200
    assert "Balance: 0.00 GBP" in page.text
    assert f'href="/appointments/{appointment.id.value}"' in page.text
    assert "offline" in page.text
    assert "80.00 GBP" in page.text


def test_a_patient_joins_a_waitlist_accepts_the_offer_and_others_cannot_touch_it(
    ada: Visitor, bob: Visitor, components: Components
) -> None:
    form = ada.get("/waitlist", f"doctor_id={FEE_DOCTOR}")
    assert 'name="first_day"' in form.text
    assert f'value="{FEE_DOCTOR}"' in form.text
    joined = ada.post(
        "/waitlist",
        {
            "doctor_id": FEE_DOCTOR,
            "first_day": "2030-01-08",
            "last_day": "2030-01-09",
            "part_of_day": "morning",
        },
    )
    assert _location(joined) == "/waitlist?notice=joined"
    assert components.waitlist is not None
    [entry] = components.waitlist.entries(ada_actor())
    listed = ada.get("/waitlist")
    assert f"Dr {FEE_DOCTOR}" in listed.text
    assert "waiting" in listed.text
    assert "06:00 \u2013 12:00" in listed.text  # the morning, the doctor's wall clock
    assert "You are on the waitlist." in ada.get("/waitlist", "notice=joined").text
    # Bob's visit in the window is cancelled: the time is offered to Ada.
    bobs = components.scheduling.book(
        Actor(Role.PATIENT, UserId("acct-pat-2"), patient_id=PatientId("pat-2")),
        BookingRequest(
            doctor_id=DoctorId(FEE_DOCTOR),
            patient_id=PatientId("pat-2"),
            start=datetime(2030, 1, 8, 10, 0, tzinfo=NOW.tzinfo),
        ),
    )
    components.scheduling.cancel(
        Actor(Role.PATIENT, UserId("acct-pat-2"), patient_id=PatientId("pat-2")), bobs.id, ""
    )
    assert components.delivery is not None
    components.delivery.relay.drain()
    offered = ada.get("/waitlist")
    assert f'action="/waitlist/{entry.id.value}/accept"' in offered.text
    for action in ("accept", "decline", "leave"):
        assert bob.post(f"/waitlist/{entry.id.value}/{action}").status_code == 404
    assert ada.post(f"/waitlist/{entry.id.value}/nonsense").status_code == 404
    accepted = _location(ada.post(f"/waitlist/{entry.id.value}/accept"))
    assert accepted.startswith("/appointments/")
    assert accepted.endswith("?notice=booked")
    assert ada.get(accepted.split("?")[0]).status_code == 200
    assert "booked" in ada.get("/waitlist").text
    again = ada.post(f"/waitlist/{entry.id.value}/leave")  # a booked entry is closed
    assert again.status_code == 409


def test_leaving_the_waitlist_and_refused_joins(ada: Visitor, components: Components) -> None:
    wrong = ada.post(
        "/waitlist", {"doctor_id": FEE_DOCTOR, "first_day": "2030-01-09", "last_day": "soon"}
    )
    assert wrong.status_code == 422
    unknown = ada.post(
        "/waitlist", {"doctor_id": "dr-none", "first_day": "2030-01-08", "last_day": "2030-01-09"}
    )
    assert unknown.status_code == 404
    ada.post(
        "/waitlist", {"doctor_id": FREE_DOCTOR, "first_day": "2030-01-08", "last_day": "2030-01-09"}
    )
    assert components.waitlist is not None
    [entry] = components.waitlist.entries(ada_actor())
    assert _location(ada.post(f"/waitlist/{entry.id.value}/leave")) == "/waitlist?notice=left"
    assert [e.status.value for e in components.waitlist.entries(ada_actor())] == ["left"]


def _multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    boundary = "portal-test-boundary"
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode()
        if filename is not None:
            body += b"Content-Type: application/octet-stream\r\n"
        body += b"\r\n" + content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _upload(visitor: Visitor, parts: list[tuple[str, str | None, bytes]]) -> falcon.testing.Result:
    body, content_type = _multipart(parts)
    return visitor.client.simulate_post(
        "/documents", body=body, headers={"Content-Type": content_type}, cookies=visitor.cookies
    )


def test_a_patient_uploads_sees_and_downloads_a_document_and_nobody_else_can(
    ada: Visitor, bob: Visitor, components: Components
) -> None:
    file = ("file", "scan.png", PNG)
    for refused in (
        [("kind", None, b"imaging"), file],  # no token
        [("csrf_token", None, b"0" * 64), ("kind", None, b"imaging"), file],
        [file, ("csrf_token", None, ada.token.encode())],  # the token after the file
        [("csrf_token", None, bob.token.encode()), ("kind", None, b"imaging"), file],
    ):
        assert _upload(ada, refused).status_code == 403
    mine = components.documents.owned_by(ada_actor(), _owner())
    assert mine == []  # nothing was stored
    done = _location(
        _upload(ada, [("csrf_token", None, ada.token.encode()), ("kind", None, b"imaging"), file])
    )
    assert done.startswith("/documents/")
    assert done.endswith("?notice=uploaded")
    page = done.split("?")[0]
    shown = ada.get(page)
    assert shown.status_code == 200
    assert "scan.png" in shown.text
    assert "image/png" in shown.text
    content = ada.get(page + "/file")
    assert content.content == PNG
    assert content.headers["content-disposition"].startswith("attachment")
    assert "scan.png" in ada.get("/documents").text
    assert bob.get(page).status_code == 404
    assert bob.get(page + "/file").status_code == 404
    assert "scan.png" not in bob.get("/documents").text
    not_a_file = _upload(
        ada,
        [
            ("csrf_token", None, ada.token.encode()),
            ("kind", None, b"imaging"),
            ("file", "x.exe", b"MZ\x90\x00 not accepted"),
        ],
    )
    assert not_a_file.status_code == 422


def _owner() -> Owner:
    return Owner(Role.PATIENT, "pat-1")


def test_records_are_shown_to_their_patient_only_and_the_access_log_shows_the_reads(
    ada: Visitor, bob: Visitor, components: Components
) -> None:
    record = MedicalRecord(
        RecordId("rec-1"),
        PatientId("pat-1"),
        DoctorId(FEE_DOCTOR),
        RecordKind.CONSULTATION,
        NOW,
        diagnoses=(Diagnosis("I10", "Hypertension"),),
        notes="Walk every day",
    )
    with components.storage() as uow:
        uow.records.add(record)
        uow.commit()
    listed = ada.get("/records")
    assert 'href="/records/rec-1"' in listed.text
    assert "Hypertension" in listed.text
    shown = ada.get("/records/rec-1")
    assert shown.status_code == 200
    assert "Walk every day" in shown.text
    assert "I10" in shown.text
    assert bob.get("/records/rec-1").status_code == 404
    assert "Hypertension" not in bob.get("/records").text
    log = ada.get("/access-log")
    assert "record:rec-1" in log.text
    assert "allowed" in log.text
    assert ada.get("/access-log", "before=99999999999999999999").status_code == 200


def test_a_patient_grants_and_revokes_a_consent_and_another_cannot_revoke_it(
    ada: Visitor, bob: Visitor, components: Components
) -> None:
    page = ada.get("/consents")
    assert f'<option value="{FREE_DOCTOR}">' in page.text
    granted = ada.post(
        "/consents",
        {
            "doctor_id": FREE_DOCTOR,
            "scope": "read",
            "until": "2030-03-01",
            "purpose": "cardiac review",
        },
    )
    assert _location(granted) == "/consents?notice=granted"
    [consent] = components.records.consents(ada_actor(), PatientId("pat-1"))
    assert (consent.doctor_id, consent.until.isoformat()) == (
        DoctorId(FREE_DOCTOR),
        "2030-03-02T00:00:00+00:00",
    )
    listed = ada.get("/consents")
    assert "cardiac review" in listed.text
    assert "active" in listed.text
    assert f"Dr {FREE_DOCTOR}" in listed.text
    assert "cardiac review" not in bob.get("/consents").text
    assert bob.post(f"/consents/{consent.id.value}/revoke").status_code == 404
    assert _location(ada.post(f"/consents/{consent.id.value}/revoke")) == "/consents?notice=revoked"
    assert ada.post(f"/consents/{consent.id.value}/revoke").status_code == 409
    assert "revoked" in ada.get("/consents").text
    log = ada.get("/access-log").text
    assert "grant" in log
    assert "revoke" in log
    bad = ada.post("/consents", {"doctor_id": FREE_DOCTOR, "scope": "all", "until": "2030-03-01"})
    assert bad.status_code == 422
    past = ada.post(
        "/consents",
        {"doctor_id": FREE_DOCTOR, "scope": "read", "until": "2020-01-01", "purpose": "x"},
    )
    assert past.status_code == 422


def _held(components: Components) -> str:
    appointment = components.scheduling.book(
        ada_actor(),
        BookingRequest(
            doctor_id=DoctorId(FEE_DOCTOR),
            patient_id=PatientId("pat-1"),
            start=NOW + timedelta(hours=4),
        ),
    )
    return appointment.id.value


def test_card_payment_is_not_offered_without_stripes_publishable_key(
    ada: Visitor, components: Components
) -> None:
    held = _held(components)
    page = ada.get(f"/appointments/{held}")
    assert f'action="/appointments/{held}/card"' not in page.text
    refused = ada.post(f"/appointments/{held}/card")
    assert refused.status_code == 404
    assert "js.stripe.com" not in refused.headers["content-security-policy"]


def test_a_held_visit_is_paid_by_card_through_stripe_elements_when_configured(
    components: Components, bob: Visitor
) -> None:
    """Only the card page admits Stripe.js; the intent's secret is in data- attributes."""
    settings = attrs.evolve(components.settings, stripe_publishable_key="pk_test_portal")
    configured = attrs.evolve(components, settings=settings)
    client = falcon.testing.TestClient(create_app(configured))
    ada = Visitor(client, configured, ada_actor_with_account(configured))
    held = _held(configured)
    page = ada.get(f"/appointments/{held}")
    assert f'action="/appointments/{held}/card"' in page.text
    assert "js.stripe.com" not in page.headers["content-security-policy"]
    assert ada.post(f"/appointments/{held}/card", token=False).status_code == 403
    card = ada.post(f"/appointments/{held}/card")
    assert card.status_code == 200, card.text[:500]
    csp = card.headers["content-security-policy"]
    assert "script-src 'self' https://js.stripe.com;" in csp
    assert "unsafe-inline" not in csp
    assert 'src="https://js.stripe.com/v3/"' in card.text
    assert 'src="/static/card.js"' in card.text
    assert 'data-key="pk_test_portal"' in card.text
    assert re.search(r'data-secret="offline_pi_\d+_secret"', card.text)
    assert "<script>" not in card.text
    assert " style=" not in card.text
    assert client.simulate_get("/static/card.js").status_code == 200
    [payment] = configured.billing.payment_history(ada_actor(), PatientId("pat-1"))
    assert payment.method is PaymentMethod.CARD
    # Another patient's visit is not theirs to pay.
    bobs = Visitor(client, configured, bob_actor())
    assert bobs.post(f"/appointments/{held}/card").status_code == 404


def ada_actor_with_account(components: Components) -> Actor:
    return _account(components, "pat-1", Role.PATIENT, patient_id=PatientId("pat-1"))


def bob_actor() -> Actor:
    return Actor(Role.PATIENT, UserId("acct-pat-2"), patient_id=PatientId("pat-2"))


def test_the_upload_form_takes_files_past_the_body_limit_of_other_forms(
    ada: Visitor, components: Components
) -> None:
    """The test clinic's body limit is 4 KiB; /documents has the API upload route's."""
    size = components.settings.max_body_bytes * 3
    done = _upload(
        ada,
        [
            ("csrf_token", None, ada.token.encode()),
            ("kind", None, b"report"),
            ("file", "letter.pdf", pdf_of_size(size)),
        ],
    )
    assert _location(done).endswith("?notice=uploaded")
    [document] = components.documents.owned_by(ada_actor(), _owner())
    assert document.size == size
    too_big = ada.post("/consents", {"purpose": "x" * size})
    assert too_big.status_code == 413
