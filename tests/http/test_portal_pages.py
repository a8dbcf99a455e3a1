"""The portal's pages without a browser (tests/browser drives them in chromium): the security
headers and cookies, CSRF refusals, the e-mailed /set-password link, redirects that stay on
this site, and the portal's absence from /openapi.json."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import falcon.testing
import pyotp
import pytest

from hellodoctor_adapters.notify import MaildirNotifier
from hellodoctor_domain import Actor, Doctor, DoctorId, Money, PatientId
from hellodoctor_domain.model.values import EmailAddress, UserId
from hellodoctor_http.app import create_app, openapi_document
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.portal.pages import safe_next
from hellodoctor_http.portal.routes import PAGES
from hellodoctor_http.portal.session import SessionCodec

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
PASSWORD = "correct horse battery"


@pytest.fixture
def portal(components: Components) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(components))


def _token(page: falcon.testing.Result) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def _cookies(result: falcon.testing.Result) -> dict[str, str]:
    return {c.name: c.value for c in result.cookies.values()}


def test_pages_have_their_own_strict_csp_and_cookies_are_httponly(
    portal: falcon.testing.TestClient,
) -> None:
    page = portal.simulate_get("/sign-in")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "style-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "form-action 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "<script>" not in page.text
    assert " style=" not in page.text
    csrf = page.cookies["hd_csrf"]
    assert csrf.http_only
    assert csrf.same_site == "Strict"
    # The API keeps its own policy.
    api = portal.simulate_get("/api/v1/doctors")
    assert "form-action 'none'" in api.headers["content-security-policy"]


def test_a_post_without_a_valid_token_is_refused_before_any_use_case(
    portal: falcon.testing.TestClient, mail: MaildirNotifier
) -> None:
    page = portal.simulate_get("/sign-up")
    cookies = _cookies(page)
    body = f"email=ada%40example.com&name=Ada&password={PASSWORD.replace(' ', '+')}"
    for extra in ("", "&csrf_token=" + "0" * 64):
        refused = portal.simulate_post("/sign-up", body=body + extra, headers=FORM, cookies=cookies)
        assert refused.status_code == 403
        assert "did not come from this site" in refused.text
    # Without the cookie, the page's own token is refused too (another browser's).
    stolen = portal.simulate_post(
        "/sign-up", body=f"{body}&csrf_token={_token(page)}", headers=FORM
    )
    assert stolen.status_code == 403
    assert not mail.messages()
    accepted = portal.simulate_post(
        "/sign-up", body=f"{body}&csrf_token={_token(page)}", headers=FORM, cookies=cookies
    )
    assert accepted.status_code == 303
    assert accepted.headers["location"] == "/verify?email=ada%40example.com"


def test_the_e_mailed_reset_link_opens_a_page_that_sets_the_password(
    portal: falcon.testing.TestClient, components: Components, mail: MaildirNotifier
) -> None:
    page = portal.simulate_get("/sign-up")
    cookies = _cookies(page)
    body = f"email=ada%40example.com&name=Ada&password={PASSWORD.replace(' ', '+')}"
    portal.simulate_post(
        "/sign-up", body=f"{body}&csrf_token={_token(page)}", headers=FORM, cookies=cookies
    )
    forgot = portal.simulate_get("/forgot-password", cookies=cookies)
    portal.simulate_post(
        "/forgot-password",
        body=f"email=ada%40example.com&csrf_token={_token(forgot)}",
        headers=FORM,
        cookies=cookies,
    )
    [reset] = [m for m in mail.messages() if m["X-HelloDoctor-Kind"] == "reset_password"]
    link = re.search(r"(/set-password\?token=\S+)", str(reset.get_content()))
    assert link
    opened = portal.simulate_get(
        link.group(1).split("?")[0], query_string=link.group(1).split("?")[1], cookies=cookies
    )
    assert opened.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', opened.text)
    assert token
    new = "a brand new passphrase"
    done = portal.simulate_post(
        "/set-password",
        body=f"token={token.group(1)}&password={new.replace(' ', '+')}"
        f"&confirm={new.replace(' ', '+')}&csrf_token={_token(opened)}",
        headers=FORM,
        cookies=cookies,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/sign-in?notice=password-set"
    signed_in = portal.simulate_post(
        "/sign-in",
        body=f"email=ada%40example.com&password={new.replace(' ', '+')}"
        f"&next=%2F%2Fevil.example&csrf_token={_token(opened)}",
        headers=FORM,
        cookies=cookies,
    )
    # The link proved the mailbox: the account is active; the hostile next= is ignored.
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/appointments"
    assert "hd_session" in _cookies(signed_in)


def test_redirects_after_sign_in_stay_on_this_site() -> None:
    assert safe_next("/appointments", "/") == "/appointments"
    for hostile in ("//evil.example", "https://evil.example", "/\\evil.example", "", None):
        assert safe_next(hostile, "/home") == "/home"


def test_signed_out_visitors_are_sent_to_sign_in(portal: falcon.testing.TestClient) -> None:
    answer = portal.simulate_get("/appointments")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/sign-in?next=%2Fappointments"
    forged = portal.simulate_get("/appointments", cookies={"hd_session": "not-a-token"})
    assert forged.status_code == 303


def test_the_portal_is_not_part_of_the_api_document() -> None:
    paths = openapi_document()["paths"]
    assert all(
        path.startswith(("/api", "/openapi", "/healthz", "/readyz", "/metrics")) for path in paths
    ), [p for p in paths if not p.startswith("/api")]
    for template, _resource in PAGES:
        assert template not in paths


def test_an_api_access_token_is_not_a_portal_session(
    portal: falcon.testing.TestClient, components: Components
) -> None:
    token, _ = components.token_codec().issue("acct-pat-1", "patient", patient_id="pat-1")
    answer = portal.simulate_get("/appointments", cookies={"hd_session": token})
    assert answer.status_code == 303  # to /sign-in: another audience


def test_production_cookies_are_secure_and_host_bound(components: Components) -> None:
    codec = SessionCodec(secret="s" * 40, issuer="hellodoctor", clock=components.clock, secure=True)
    resp = falcon.Response()
    codec.set_session(resp, codec.issue(Actor.patient(PatientId("pat-1")), None))
    cookies = [value for name, value in resp._wsgi_headers() if name == "set-cookie"]
    assert len(cookies) == 1
    assert cookies[0].startswith("__Host-hd_session=")
    for attribute in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert attribute in cookies[0]


def test_an_invited_doctor_sets_up_two_factor_and_signs_in_with_a_code(
    portal: falcon.testing.TestClient, components: Components, mail: MaildirNotifier
) -> None:
    """The test clinic requires two-factor sign-in of doctors (conftest)."""
    admin = Actor.admin(UserId("admin-1"))
    doctor = Doctor(DoctorId("dr-new"), "Dr New", "GP", "REG-NEW", Money(0, "GBP"), "Europe/London")
    components.identity.invite_doctor(admin, doctor, EmailAddress("new@example.com"))
    [invitation] = [m for m in mail.messages() if m["X-HelloDoctor-Kind"] == "set_password"]
    link = re.search(r"/set-password\?token=(\S+)", str(invitation.get_content()))
    assert link
    page = portal.simulate_get("/set-password", params={"token": link.group(1)})
    cookies = _cookies(page)
    password = "a long doctor passphrase"
    setup = portal.simulate_post(
        "/set-password",
        body=urlencode(
            {
                "token": link.group(1),
                "password": password,
                "confirm": password,
                "csrf_token": _token(page),
            }
        ),
        headers=FORM,
        cookies=cookies,
    )
    assert setup.status_code == 200
    secret = re.search(r"<code>([A-Z2-7]+)</code>", setup.text)
    assert secret, setup.text

    def sign_in(code: str | None) -> falcon.testing.Result:
        fields = {"email": "new@example.com", "password": password, "csrf_token": _token(page)}
        if code is not None:
            fields["totp_code"] = code
        return portal.simulate_post(
            "/sign-in", body=urlencode(fields), headers=FORM, cookies=cookies
        )

    asked = sign_in(None)
    assert asked.status_code == 401
    assert 'name="totp_code"' in asked.text
    assert "Enter the code from your authenticator app." in asked.text
    signed_in = sign_in(pyotp.TOTP(secret.group(1)).at(components.clock.now()))
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/doctor/day"
