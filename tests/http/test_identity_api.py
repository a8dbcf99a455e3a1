"""Registration, verification, sign-in, token rotation, passwords, two-factor, ``/me`` and
adding doctors, through the API on every storage. Codes and links are read from the Maildir
the API "sends" them to, as a user would read their inbox."""

from __future__ import annotations

import re
from datetime import timedelta

import falcon.testing
import jwt
import pyotp
import pytest

from hellodoctor_adapters.memory import ManualClock
from hellodoctor_adapters.notify import MaildirNotifier
from hellodoctor_domain import EmailAddress
from hellodoctor_domain.model.accounts import AccountStatus
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_http.api.accounts import ACCEPTED, client_address
from hellodoctor_http.config import Settings
from hellodoctor_http.testing import FREE_DOCTOR, SECRET, Headers, ValidatingClient, at

API = "/api/v1"
PASSWORD = "correct horse battery"
PROBLEM = "https://hellodoctor.dev/problems/"


def _mail_body(mail: MaildirNotifier, kind: str) -> str:
    found = [m for m in mail.messages() if m["X-HelloDoctor-Kind"] == kind]
    assert found, f"no {kind} message in {[m['X-HelloDoctor-Kind'] for m in mail.messages()]}"
    return str(found[-1].get_content())


def _code(mail: MaildirNotifier) -> str:
    match = re.search(r"Your code is (\d{6})", _mail_body(mail, "verify_email"))
    assert match
    return match.group(1)


def _link_token(mail: MaildirNotifier, kind: str) -> str:
    match = re.search(r"\?token=(\S+)", _mail_body(mail, kind))
    assert match
    return match.group(1)


def register(client: ValidatingClient, email: str, **extra: object) -> falcon.testing.Result:
    return client.simulate_post(
        f"{API}/auth/register",
        json={"email": email, "password": PASSWORD, "name": "Ada Lovelace", **extra},
    )


def login(
    client: ValidatingClient, email: str, password: str = PASSWORD, **extra: object
) -> falcon.testing.Result:
    return client.simulate_post(
        f"{API}/auth/login", json={"email": email, "password": password, **extra}
    )


def signed_up(client: ValidatingClient, mail: MaildirNotifier, email: str) -> dict[str, object]:
    """Register, verify with the e-mailed code, sign in: the token response."""
    assert register(client, email).status_code == 202
    verified = client.simulate_post(
        f"{API}/auth/verify", json={"email": email, "code": _code(mail)}
    )
    assert verified.status_code == 204, verified.text
    signed_in = login(client, email)
    assert signed_in.status_code == 200, signed_in.text
    return dict(signed_in.json)


def bearer(tokens: dict[str, object]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def test_a_patient_registers_verifies_signs_in_and_books(
    client: ValidatingClient, mail: MaildirNotifier
) -> None:
    registered = register(client, "ada@example.com", date_of_birth="1990-12-10", phone="+44 1")
    assert registered.status_code == 202
    assert registered.json == ACCEPTED
    early = login(client, "ada@example.com")
    assert early.status_code == 403
    assert early.json["type"] == PROBLEM + "email-not-verified"
    wrong = client.simulate_post(
        f"{API}/auth/verify", json={"email": "ada@example.com", "code": "000000x"}
    )
    assert wrong.status_code == 422
    assert wrong.json["type"] == PROBLEM + "invalid-one-time-secret"
    verified = client.simulate_post(
        f"{API}/auth/verify", json={"email": "ada@example.com", "code": _code(mail)}
    )
    assert verified.status_code == 204
    tokens = login(client, "ADA@EXAMPLE.COM".replace("ADA", "ada")).json
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 15 * 60
    claims = jwt.decode(str(tokens["access_token"]), options={"verify_signature": False})
    me = client.simulate_get(f"{API}/me", headers=bearer(tokens)).json
    assert me["email"] == "ada@example.com"
    assert (me["role"], me["status"], me["doctor_id"]) == ("patient", "active", None)
    assert me["two_factor_enabled"] is False
    assert (claims["sub"], claims["role"], claims["pid"]) == (me["id"], "patient", me["patient_id"])
    assert not {"password_hash", "totp_secret", "password"} & set(me)
    booked = client.simulate_post(
        f"{API}/appointments",
        json={"doctor_id": FREE_DOCTOR, "start": at(15)},
        headers=bearer(tokens),
    )
    assert booked.status_code == 201, booked.text
    assert booked.json["patient_id"] == me["patient_id"]


def test_registration_and_forgotten_passwords_do_not_reveal_accounts(
    client: ValidatingClient, mail: MaildirNotifier
) -> None:
    signed_up(client, mail, "known@example.com")
    for number, (path, body) in enumerate(
        (
            ("auth/register", {"password": PASSWORD, "name": "Someone"}),
            ("auth/password/forgot", {}),
            ("auth/verify/resend", {}),
        )
    ):
        known = client.simulate_post(f"{API}/{path}", json={"email": "known@example.com", **body})
        unknown = client.simulate_post(
            f"{API}/{path}", json={"email": f"unknown{number}@example.com", **body}
        )
        assert (
            (known.status_code, known.json)
            == (unknown.status_code, unknown.json)
            == (
                202,
                ACCEPTED,
            )
        )
    # The owner of the known address is told, by e-mail, that someone tried.
    assert "tried to register" in _mail_body(mail, "already_registered")


def test_a_weak_password_is_refused_for_everyone_alike(client: ValidatingClient) -> None:
    refused = register(client, "weak@example.com", password="password123")
    assert refused.status_code == 422
    assert refused.json["type"] == PROBLEM + "weak-password"


def test_a_new_verification_code_replaces_the_old_one(
    client: ValidatingClient, mail: MaildirNotifier, clock: ManualClock
) -> None:
    register(client, "late@example.com")
    first = _code(mail)
    clock.advance(timedelta(minutes=2))
    resent = client.simulate_post(f"{API}/auth/verify/resend", json={"email": "late@example.com"})
    assert resent.status_code == 202
    second = _code(mail)
    if first != second:
        stale = client.simulate_post(
            f"{API}/auth/verify", json={"email": "late@example.com", "code": first}
        )
        assert stale.status_code == 422
    fresh = client.simulate_post(
        f"{API}/auth/verify", json={"email": "late@example.com", "code": second}
    )
    assert fresh.status_code == 204


def test_wrong_passwords_are_401_and_then_throttled_with_retry_after(
    client: ValidatingClient, mail: MaildirNotifier
) -> None:
    signed_up(client, mail, "target@example.com")
    for _ in range(5):
        wrong = login(client, "target@example.com", "not the password at all")
        assert wrong.status_code == 401
        assert wrong.json["type"] == PROBLEM + "authentication-failed"
        assert wrong.headers["www-authenticate"].startswith("Bearer")
    locked = login(client, "target@example.com")  # even the right password now waits
    assert locked.status_code == 429
    assert locked.json["type"] == PROBLEM + "too-many-requests"
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
    unknown = login(client, "nobody@example.com", "not the password at all")
    assert unknown.status_code == 401
    assert unknown.json["type"] == PROBLEM + "authentication-failed"


def test_refresh_rotates_and_a_replayed_token_ends_the_whole_session(
    client: ValidatingClient, mail: MaildirNotifier
) -> None:
    tokens = signed_up(client, mail, "rotate@example.com")
    first = str(tokens["refresh_token"])
    rotated = client.simulate_post(f"{API}/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200
    newer = rotated.json["refresh_token"]
    assert newer != first
    assert client.simulate_get(f"{API}/me", headers=bearer(rotated.json)).status_code == 200
    replayed = client.simulate_post(f"{API}/auth/refresh", json={"refresh_token": first})
    assert replayed.status_code == 401
    assert replayed.json["type"] == PROBLEM + "refresh-token-reused"
    newer_too = client.simulate_post(f"{API}/auth/refresh", json={"refresh_token": newer})
    assert newer_too.status_code == 401
    forged = client.simulate_post(f"{API}/auth/refresh", json={"refresh_token": "x.y"})
    assert forged.status_code == 401
    assert forged.json["type"] == PROBLEM + "authentication-failed"


def test_logout_ends_the_session(client: ValidatingClient, mail: MaildirNotifier) -> None:
    tokens = signed_up(client, mail, "leave@example.com")
    body = {"refresh_token": tokens["refresh_token"]}
    assert client.simulate_post(f"{API}/auth/logout", json=body).status_code == 204
    assert client.simulate_post(f"{API}/auth/refresh", json=body).status_code == 401
    # Unknown tokens are ignored, so logout cannot probe for valid ones.
    unknown = client.simulate_post(f"{API}/auth/logout", json={"refresh_token": "no.such"})
    assert unknown.status_code == 204


def test_a_forgotten_password_is_reset_through_the_emailed_link(
    client: ValidatingClient, mail: MaildirNotifier
) -> None:
    tokens = signed_up(client, mail, "forgetful@example.com")
    forgot = client.simulate_post(
        f"{API}/auth/password/forgot", json={"email": "forgetful@example.com"}
    )
    assert forgot.status_code == 202
    token = _link_token(mail, "reset_password")
    new_password = "a much better passphrase"
    weak = client.simulate_post(
        f"{API}/auth/password/reset", json={"token": token, "password": "short"}
    )
    assert weak.status_code == 422
    reset = client.simulate_post(
        f"{API}/auth/password/reset", json={"token": token, "password": new_password}
    )
    assert reset.status_code == 200, reset.text
    assert reset.json["account"]["email"] == "forgetful@example.com"
    assert reset.json["two_factor"] is None
    again = client.simulate_post(
        f"{API}/auth/password/reset", json={"token": token, "password": new_password + "!"}
    )
    assert again.status_code == 422
    assert again.json["type"] == PROBLEM + "invalid-one-time-secret"
    assert login(client, "forgetful@example.com").status_code == 401
    assert login(client, "forgetful@example.com", new_password).status_code == 200
    # A reset ends every earlier session.
    old = client.simulate_post(
        f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert old.status_code == 401


def test_a_patient_turns_on_two_factor_sign_in(
    client: ValidatingClient, mail: MaildirNotifier, clock: ManualClock
) -> None:
    tokens = signed_up(client, mail, "careful@example.com")
    enrolment = client.simulate_post(f"{API}/auth/two-factor", headers=bearer(tokens))
    assert enrolment.status_code == 200
    assert enrolment.json["provisioning_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(enrolment.json["secret"])
    wrong = client.simulate_post(
        f"{API}/auth/two-factor/confirm", json={"code": "12345x"}, headers=bearer(tokens)
    )
    assert wrong.status_code == 422
    confirmed = client.simulate_post(
        f"{API}/auth/two-factor/confirm",
        json={"code": totp.at(clock.now())},
        headers=bearer(tokens),
    )
    assert confirmed.status_code == 204
    assert client.simulate_get(f"{API}/me", headers=bearer(tokens)).json["two_factor_enabled"]
    twice = client.simulate_post(f"{API}/auth/two-factor", headers=bearer(tokens))
    assert twice.status_code == 409
    without = login(client, "careful@example.com")
    assert without.status_code == 401
    assert without.json["type"] == PROBLEM + "second-factor-required"
    clock.advance(timedelta(seconds=30))  # a code is good once: wait for the next one
    code = totp.at(clock.now())
    assert login(client, "careful@example.com", totp_code=code).status_code == 200
    replayed = login(client, "careful@example.com", totp_code=code)
    assert replayed.status_code == 401


def test_an_admin_adds_a_doctor_who_sets_a_password_and_two_factor(
    client: ValidatingClient, mail: MaildirNotifier, as_admin: Headers, clock: ManualClock
) -> None:
    created = client.simulate_post(
        f"{API}/doctors",
        json={
            "email": "house@example.com",
            "name": "Dr Gregory House",
            "specialty": "Diagnostics",
            "registration_number": "PPTH-1",
            "consultation_fee": {"minor_units": 12000, "currency": "USD"},
            "time_zone": "America/New_York",
            "qualifications": ["MD"],
            "languages": ["en"],
        },
        headers=as_admin(),
    )
    assert created.status_code == 201, created.text
    doctor = created.json
    assert doctor["id"].startswith("dr-")
    assert created.headers["location"] == f"{API}/doctors/{doctor['id']}"
    assert doctor["consultation_fee"]["minor_units"] == 12000
    public = client.simulate_get(f"{API}/doctors/{doctor['id']}").json
    assert public == doctor
    assert "email" not in public
    # Not signed in until the invitation is redeemed.
    assert login(client, "house@example.com").status_code == 401
    token = _link_token(mail, "set_password")
    password_set = client.simulate_post(
        f"{API}/auth/password/reset", json={"token": token, "password": PASSWORD}
    )
    assert password_set.status_code == 200
    assert password_set.json["account"]["doctor_id"] == doctor["id"]
    enrolment = password_set.json["two_factor"]  # doctors must use two-factor sign-in here
    assert enrolment["provisioning_uri"].startswith("otpauth://")
    assert login(client, "house@example.com").json["type"] == PROBLEM + "second-factor-required"
    code = pyotp.TOTP(enrolment["secret"]).at(clock.now())
    tokens = login(client, "house@example.com", totp_code=code).json
    me = client.simulate_get(f"{API}/me", headers=bearer(tokens)).json
    assert (me["role"], me["doctor_id"], me["two_factor_enabled"]) == (
        "doctor",
        doctor["id"],
        True,
    )


def test_only_an_admin_adds_doctors(
    client: ValidatingClient, as_patient: Headers, as_doctor: Headers
) -> None:
    body = {
        "email": "x@example.com",
        "name": "Dr X",
        "specialty": "X",
        "registration_number": "X-1",
        "consultation_fee": {"minor_units": 0, "currency": "EUR"},
        "time_zone": "UTC",
    }
    for headers in (as_patient(), as_doctor()):
        refused = client.simulate_post(f"{API}/doctors", json=body, headers=headers)
        assert refused.status_code == 403
        assert refused.json["type"] == PROBLEM + "access-denied"
    assert client.simulate_post(f"{API}/doctors", json=body).status_code == 401


def test_an_admin_cannot_choose_the_doctors_id_or_status(
    client: ValidatingClient, as_admin: Headers
) -> None:
    body = {
        "email": "y@example.com",
        "name": "Dr Y",
        "specialty": "Y",
        "registration_number": "Y-1",
        "consultation_fee": {"minor_units": -1, "currency": "EUR"},
        "time_zone": "UTC",
    }
    sneaky = client.simulate_post(
        f"{API}/doctors",
        json={
            **body,
            "consultation_fee": {"minor_units": 100, "currency": "EUR"},
            "id": "dr-chosen",
            "accepting_bookings": False,
        },
        headers=as_admin(),
    )
    assert sneaky.status_code == 422
    assert {e["field"] for e in sneaky.json["errors"]} == {"id", "accepting_bookings"}
    negative = client.simulate_post(f"{API}/doctors", json=body, headers=as_admin())
    assert negative.status_code == 422


@pytest.mark.parametrize("field", ["role", "status", "price", "patient_id", "email_verified"])
def test_mass_assigned_fields_in_register_and_login_are_refused(
    client: ValidatingClient, mail: MaildirNotifier, field: str
) -> None:
    value: object = {"role": "admin", "status": "active", "price": 0}.get(field, True)
    refused = register(client, "mass@example.com", **{field: value})
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json["errors"]] == [field]
    assert mail.messages() == []  # nothing was created or sent
    signed_in = login(client, "mass@example.com", **{field: value})
    assert signed_in.status_code == 422
    assert [e["field"] for e in signed_in.json["errors"]] == [field]


def test_me_needs_a_token_of_an_active_account(
    client: ValidatingClient,
    mail: MaildirNotifier,
    as_patient: Headers,
    storage: UnitOfWorkFactory,
) -> None:
    assert client.simulate_get(f"{API}/me").status_code == 401
    # A well-signed token whose account does not exist.
    assert client.simulate_get(f"{API}/me", headers=as_patient()).status_code == 401
    tokens = signed_up(client, mail, "disabled@example.com")
    with storage() as uow:
        account = uow.accounts.by_email(EmailAddress("disabled@example.com"))
        assert account is not None
        account.status = AccountStatus.DISABLED
        uow.accounts.update(account)
        uow.commit()
    assert client.simulate_get(f"{API}/me", headers=bearer(tokens)).status_code == 401
    refreshed = client.simulate_post(
        f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert refreshed.status_code == 401
    assert login(client, "disabled@example.com").status_code == 401


def test_the_client_address_believes_only_trusted_proxies() -> None:
    proxies = Settings.from_environ(
        {"HELLODOCTOR_JWT_SECRET": SECRET, "HELLODOCTOR_TRUSTED_PROXIES": "10.0.0.0/8"}
    ).trusted_proxies

    def address(peer: str, forwarded: str | None, trusted: object = proxies) -> str:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        req = falcon.testing.create_req(remote_addr=peer, headers=headers)
        return client_address(req, trusted)  # type: ignore[arg-type]

    assert address("203.0.113.9", "198.51.100.1") == "203.0.113.9"  # not from our proxy
    assert address("10.0.0.2", "198.51.100.1") == "198.51.100.1"
    # A client-sent hop left of the one our proxy appended is not believed.
    assert address("10.0.0.2", "1.2.3.4, 198.51.100.1") == "198.51.100.1"
    assert address("10.0.0.2", "198.51.100.1, 10.0.0.7") == "198.51.100.1"
    assert address("10.0.0.2", "garbage") == "10.0.0.2"
    assert address("10.0.0.2", None) == "10.0.0.2"
    assert address("10.0.0.2", "198.51.100.1", ()) == "10.0.0.2"  # none trusted


def test_one_client_address_guessing_many_accounts_is_throttled(
    client: ValidatingClient,
) -> None:
    def attempt(number: int, address: str) -> falcon.testing.Result:
        return client.simulate_post(
            f"{API}/auth/login",
            json={"email": f"guess{number}@example.com", "password": "not the password"},
            remote_addr=address,
        )

    for number in range(20):  # the per-address limit: one clinic's NAT may fail this often
        assert attempt(number, "198.51.100.7").status_code == 401
    throttled = attempt(20, "198.51.100.7")
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    assert attempt(21, "198.51.100.8").status_code == 401  # another address is not locked
