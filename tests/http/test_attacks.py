"""What an attacker tries, and the 4xx each one gets. Never a 500, never a stack trace."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest

from hellodoctor_adapters.memory import ManualClock
from hellodoctor_http.auth import TokenCodec
from hellodoctor_http.testing import FEE_DOCTOR, FREE_DOCTOR, SECRET, Headers, ValidatingClient, at

API = "/api/v1"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _claims(codec: TokenCodec, **changes: object) -> dict[str, object]:
    token, _ = codec.issue("acct-1", "patient", patient_id="pat-1")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims.update(changes)
    return claims


def _refused(client: ValidatingClient, token: str) -> None:
    result = client.simulate_get(
        f"{API}/appointments", headers={"Authorization": f"Bearer {token}"}
    )
    assert result.status_code == 401, result.text
    assert result.json["type"] == "https://hellodoctor.dev/problems/unauthorized"
    assert result.headers["www-authenticate"].startswith("Bearer")
    assert "Traceback" not in result.text


def test_a_valid_token_is_accepted(client: ValidatingClient, as_patient: Headers) -> None:
    assert client.simulate_get(f"{API}/appointments", headers=as_patient()).status_code == 200


def test_alg_none_is_refused(client: ValidatingClient, codec: TokenCodec) -> None:
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(codec))}."
    _refused(client, unsigned)


def test_a_token_signed_with_another_key_is_refused(
    client: ValidatingClient, codec: TokenCodec
) -> None:
    _refused(client, jwt.encode(_claims(codec), "another-key-" + SECRET, algorithm="HS256"))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_another_hmac_algorithm_with_the_right_key_is_refused(
    client: ValidatingClient, codec: TokenCodec
) -> None:
    _refused(client, jwt.encode(_claims(codec), SECRET, algorithm="HS512"))


def test_an_expired_token_is_refused(
    client: ValidatingClient, codec: TokenCodec, clock: ManualClock
) -> None:
    token, expires_in = codec.issue("acct-1", "patient", patient_id="pat-1")
    assert expires_in == 15 * 60
    clock.advance(timedelta(minutes=15))
    _refused(client, token)


def test_a_token_without_a_required_claim_is_refused(
    client: ValidatingClient, codec: TokenCodec
) -> None:
    for claim in ("exp", "iat", "iss", "aud", "sub", "role"):
        claims = _claims(codec)
        del claims[claim]
        _refused(client, jwt.encode(claims, SECRET, algorithm="HS256"))


def test_a_token_for_another_audience_or_issuer_is_refused(
    client: ValidatingClient, codec: TokenCodec
) -> None:
    _refused(client, jwt.encode(_claims(codec, aud="another-api"), SECRET, algorithm="HS256"))
    _refused(client, jwt.encode(_claims(codec, iss="someone-else"), SECRET, algorithm="HS256"))


def test_a_tampered_role_is_refused(client: ValidatingClient, codec: TokenCodec) -> None:
    token, _ = codec.issue("acct-1", "patient", patient_id="pat-1")
    header, _, signature = token.split(".")
    forged = f"{header}.{_b64(_claims(codec, role='admin'))}.{signature}"
    _refused(client, forged)


def test_role_and_profile_claims_must_agree(client: ValidatingClient, codec: TokenCodec) -> None:
    # Even correctly signed: an "admin" that also claims a patient profile is no actor.
    claims = _claims(codec, role="admin")
    _refused(client, jwt.encode(claims, SECRET, algorithm="HS256"))
    _refused(client, jwt.encode(_claims(codec, role="root"), SECRET, algorithm="HS256"))


def test_a_token_living_longer_than_issued_is_refused(
    client: ValidatingClient, codec: TokenCodec
) -> None:
    claims = _claims(codec)
    claims["exp"] = int(claims["iat"]) + 365 * 24 * 3600  # type: ignore[call-overload]
    _refused(client, jwt.encode(claims, SECRET, algorithm="HS256"))


@pytest.mark.parametrize("header", ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer not.a.jwt"])
def test_malformed_authorization_is_refused(client: ValidatingClient, header: str) -> None:
    result = client.simulate_get(f"{API}/doctors", headers={"Authorization": header})
    assert result.status_code == 401


def test_another_patients_appointment_is_not_found(
    client: ValidatingClient, as_patient: Headers
) -> None:
    theirs = client.simulate_post(
        f"{API}/appointments",
        json={"doctor_id": FEE_DOCTOR, "start": at(9)},
        headers=as_patient("pat-2"),
    ).json["id"]
    for method, suffix in [("GET", ""), ("POST", "/cancel"), ("POST", "/reschedule")]:
        result = client.simulate_request(
            method,
            f"{API}/appointments/{theirs}{suffix}",
            headers=as_patient("pat-1"),
            json={"start": at(10)} if suffix == "/reschedule" else None,
        )
        assert result.status_code == 404, (method, suffix, result.text)
        assert result.json["type"].endswith("/not-found")
    unknown = client.simulate_get(f"{API}/appointments/no-such-id", headers=as_patient("pat-1"))
    assert (
        unknown.json["detail"].replace("no-such-id", theirs)
        == client.simulate_get(f"{API}/appointments/{theirs}", headers=as_patient("pat-1")).json[
            "detail"
        ]
    )


@pytest.mark.parametrize(
    "extra",
    [
        {"role": "admin"},
        {"status": "booked"},
        {"price": {"minor_units": 0, "currency": "GBP"}},
        {"patient_id": "pat-2"},
        {"hold_expires_at": None},
    ],
)
def test_mass_assigned_fields_are_refused_by_name(
    client: ValidatingClient, as_patient: Headers, extra: dict[str, object]
) -> None:
    result = client.simulate_post(
        f"{API}/appointments",
        json={"doctor_id": FEE_DOCTOR, "start": at(9), **extra},
        headers=as_patient(),
    )
    assert result.status_code == 422
    assert result.json["errors"] == [
        {"field": name, "message": "unknown field; this API does not accept it"} for name in extra
    ]
    # And nothing was booked.
    listed = client.simulate_get(f"{API}/appointments", headers=as_patient()).json
    assert listed["items"] == []


def test_a_patient_cannot_book_for_someone_else_even_through_a_staff_body(
    client: ValidatingClient, as_patient: Headers, as_doctor: Headers
) -> None:
    # A doctor books into their own calendar only.
    result = client.simulate_post(
        f"{API}/appointments",
        json={"doctor_id": FREE_DOCTOR, "patient_id": "pat-1", "start": at(15)},
        headers=as_doctor(FEE_DOCTOR),
    )
    assert result.status_code == 403


def test_an_oversized_body_is_413_before_it_is_read(
    client: ValidatingClient, as_patient: Headers
) -> None:
    huge = json.dumps({"doctor_id": FEE_DOCTOR, "start": at(9), "reason": "x" * 10_000})
    result = client.simulate_post(
        f"{API}/appointments",
        body=huge,
        headers={**as_patient(), "Content-Type": "application/json"},
    )
    assert result.status_code == 413
    assert result.json["type"].endswith("/payload-too-large")


@pytest.mark.parametrize("body", ["{bad json", "", "[1, 2", '{"doctor_id": "\\ud800'])
def test_malformed_json_is_400(client: ValidatingClient, as_patient: Headers, body: str) -> None:
    result = client.simulate_post(
        f"{API}/appointments",
        body=body,
        headers={**as_patient(), "Content-Type": "application/json"},
    )
    assert result.status_code == 400
    assert result.json["type"].endswith("/malformed-body")


def test_a_body_that_is_not_an_object_is_422(client: ValidatingClient, as_patient: Headers) -> None:
    result = client.simulate_post(f"{API}/appointments", json=[1, 2], headers=as_patient())
    assert result.status_code == 422


def test_the_wrong_content_type_is_415(client: ValidatingClient, as_patient: Headers) -> None:
    result = client.simulate_post(
        f"{API}/appointments",
        body="doctor_id=dr-fee",
        headers={**as_patient(), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert result.status_code == 415


def test_wrong_types_are_not_coerced(client: ValidatingClient, as_patient: Headers) -> None:
    result = client.simulate_post(
        f"{API}/appointments",
        json={"doctor_id": 7, "start": "tomorrow", "length_minutes": "30"},
        headers=as_patient(),
    )
    assert result.status_code == 422
    assert {e["field"] for e in result.json["errors"]} == {"doctor_id", "start", "length_minutes"}


def test_an_unexpected_error_is_a_500_problem_without_a_trace(
    client: ValidatingClient,
    as_patient: Headers,
    components,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(components.scheduling, "appointment", explode)
    result = client.simulate_get(f"{API}/appointments/apt-1", headers=as_patient())
    assert result.status_code == 500
    assert result.json["type"].endswith("/internal-error")
    assert "hunter2" not in result.text
    assert "Traceback" not in result.text
    assert result.json["request_id"] == result.headers["x-request-id"]
