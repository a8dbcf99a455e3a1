"""Identity resources: registration, e-mail verification, sign-in, token rotation, password
reset, two-factor sign-in and ``/me``. The ``Identity`` use cases decide everything; these turn
a ``Session`` into tokens and keep answers that must not reveal an account identical.

Access tokens are minted here, and only for ACTIVE accounts. They live 15 minutes and are not
looked up per request, so a disabled account's token keeps working until it expires; refreshing
it is refused at once (``Identity.refresh`` checks the account), so it stops within 15 minutes.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence

import falcon
from attrs import define

from hellodoctor_domain import Patient, PatientId
from hellodoctor_domain.errors import AuthenticationFailed, NotFound
from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.ports.runtime import IdGenerator
from hellodoctor_domain.use_cases.identity import Identity, Session
from hellodoctor_http.auth import TokenCodec, require_actor
from hellodoctor_http.config import Network
from hellodoctor_http.converters import read_body, write_json
from hellodoctor_http.problems import unauthorized
from hellodoctor_http.schemas import (
    CodeBody,
    EmailBody,
    LoginBody,
    RefreshBody,
    RegisterBody,
    ResetBody,
    VerifyBody,
    account_json,
    enrollment_json,
    password_set_json,
)

_log = logging.getLogger("hellodoctor.auth")

# One answer whether or not the address has an account: status and body are the same.
ACCEPTED = {
    "status": "accepted",
    "message": "If the address can receive it, an e-mail is on its way.",
}


@define(frozen=True)
class AccountsApi:
    identity: Identity
    codec: TokenCodec
    ids: IdGenerator
    trusted_proxies: tuple[Network, ...]
    max_body_bytes: int


def client_address(req: falcon.Request, trusted: Sequence[Network]) -> str:
    """The address login throttling counts against. The TCP peer, unless the peer is one of
    our trusted proxies: then the nearest ``X-Forwarded-For`` hop that is not one of ours (the
    first hop, when nobody forged any). Walking from the right matters: a proxy appends the
    address it saw, so hops left of that are whatever the client chose to send."""
    peer = req.remote_addr or ""
    if not trusted or not _within(peer, trusted):
        return peer
    header = req.get_header("X-Forwarded-For") or ""
    hops = [hop.strip() for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop if _parses(hop) else peer
    return peer


def _parses(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def _within(address: str, networks: Sequence[Network]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def _accepted(resp: falcon.Response) -> None:
    write_json(resp, ACCEPTED, status=202)


class _Resource:
    def __init__(self, api: AccountsApi) -> None:
        self._api = api


class Register(_Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_body(req, RegisterBody, self._api.max_body_bytes)
        # The patient id is the server's; the profile is created only for a new address.
        patient = Patient(
            PatientId(f"pat-{self._api.ids.new_id()}"),
            body.name,
            date_of_birth=body.date_of_birth,
            phone=body.phone,
            email=body.email,
        )
        self._api.identity.register_patient(body.email, body.password, patient)
        _accepted(resp)


class Verify(_Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_body(req, VerifyBody, self._api.max_body_bytes)
        self._api.identity.verify_email(body.email, body.code)
        resp.status = falcon.HTTP_204


class ResendVerification(_Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_body(req, EmailBody, self._api.max_body_bytes)
        self._api.identity.resend_verification(body.email)
        _accepted(resp)


def _tokens(codec: TokenCodec, session: Session) -> dict[str, object]:
    account = session.account
    if account.status is not AccountStatus.ACTIVE:
        # The use cases only sign in active accounts; never mint a token for another.
        raise AuthenticationFailed("the account is not active")
    access_token, expires_in = codec.issue(
        account.id.value,
        account.role,
        patient_id=None if account.patient_id is None else account.patient_id.value,
        doctor_id=None if account.doctor_id is None else account.doctor_id.value,
    )
    return {
        "access_token": access_token,
        "refresh_token": session.refresh_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
    }


class Login(_Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_body(req, LoginBody, self._api.max_body_bytes)
        session = self._api.identity.login(
            body.email,
            body.password,
            body.totp_code,
            client_address=client_address(req, self._api.trusted_proxies),
        )
        write_json(resp, _tokens(self._api.codec, session))


class Refresh(_Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_body(req, RefreshBody, self._api.max_body_bytes)
        session = self._api.identity.refresh(body.refresh_token)
        write_json(resp, _tokens(self._api.codec, session))


class Logout(_Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_body(req, RefreshBody, self._api.max_body_bytes)
        self._api.identity.logout(body.refresh_token)
        resp.status = falcon.HTTP_204


class ForgotPassword(_Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_body(req, EmailBody, self._api.max_body_bytes)
        self._api.identity.forgot_password(body.email)
        _accepted(resp)


class ResetPassword(_Resource):
    """Redeems a reset link and a doctor's invitation alike."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = read_body(req, ResetBody, self._api.max_body_bytes)
        write_json(
            resp, password_set_json(self._api.identity.set_password(body.token, body.password))
        )


def _own_active_account(api: AccountsApi, req: falcon.Request) -> Account:
    """The caller's account, read afresh: a token whose account is gone or no longer active
    is refused here at once (scheduling endpoints rely on the token's 15-minute life)."""
    actor = require_actor(req)
    try:
        account = api.identity.account(actor.user_id)
    except NotFound:
        raise unauthorized("the token's account does not exist", invalid_token=True) from None
    if account.status is not AccountStatus.ACTIVE:
        raise unauthorized("the account is not active", invalid_token=True)
    return account


class Me(_Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        write_json(resp, account_json(_own_active_account(self._api, req)))


class TwoFactor(_Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        account = _own_active_account(self._api, req)
        write_json(resp, enrollment_json(self._api.identity.begin_two_factor(account.id)))


class ConfirmTwoFactor(_Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        account = _own_active_account(self._api, req)
        body = read_body(req, CodeBody, self._api.max_body_bytes)
        self._api.identity.confirm_two_factor(account.id, body.code)
        resp.status = falcon.HTTP_204


def account_resources(api: AccountsApi) -> dict[str, object]:
    """Resources by the names the route table uses."""
    return {
        "register": Register(api),
        "verify": Verify(api),
        "verify_resend": ResendVerification(api),
        "login": Login(api),
        "refresh": Refresh(api),
        "logout": Logout(api),
        "password_forgot": ForgotPassword(api),
        "password_reset": ResetPassword(api),
        "two_factor": TwoFactor(api),
        "two_factor_confirm": ConfirmTwoFactor(api),
        "me": Me(api),
    }
