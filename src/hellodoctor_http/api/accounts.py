"""Accounts: registration, e-mail verification, sign-in, token rotation, password reset,
two-factor sign-in and ``/me``. The ``Identity`` use cases decide everything; these resources
turn a ``Session`` into tokens and keep answers that must not reveal an account identical.

Access tokens are minted here, and only for ACTIVE accounts. They live 15 minutes and are not
looked up per request, so a disabled account's token keeps working until it expires; refreshing
it is refused at once (``Identity.refresh`` checks the account), so it stops within 15 minutes.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

import falcon

from hellodoctor_domain import Patient, PatientId, Role
from hellodoctor_domain.errors import AuthenticationFailed, NotFound
from hellodoctor_domain.model.accounts import (
    MIN_PASSWORD_LENGTH,
    Account,
    AccountStatus,
)
from hellodoctor_domain.model.values import EmailAddress
from hellodoctor_domain.use_cases.identity import (
    Identity,
    PasswordSet,
    Session,
    TwoFactorEnrollment,
)
from hellodoctor_http.api import Resource
from hellodoctor_http.auth import TokenCodec, require_actor
from hellodoctor_http.config import Network
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import (
    MAX_SECRET,
    MAX_TEXT,
    birth_date,
    digits,
    password,
    request_body,
    text,
    wire_values,
)
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    STRING,
    Body,
    Link,
    Operation,
    Route,
    answer,
    nullable,
    ref,
)
from hellodoctor_http.problems import unauthorized

_log = logging.getLogger("hellodoctor.auth")

# -- requests: none names a role, a status, an id or a verified flag (the server decides) ----


@request_body
class RegisterBody:
    email: EmailAddress
    password: str = password(minimum=MIN_PASSWORD_LENGTH)
    name: str = text(MAX_TEXT)
    date_of_birth: date | None = birth_date(description="Not in the future.")
    phone: str | None = text(40, default=None)


@request_body
class EmailBody:
    email: EmailAddress


@request_body
class VerifyBody:
    email: EmailAddress
    code: str = text(MAX_SECRET, description="From the e-mail.")


@request_body
class LoginBody:
    email: EmailAddress
    password: str = password()
    totp_code: str | None = digits(
        default=None,
        description="The authenticator app's code, once two-factor sign-in is on.",
    )


@request_body
class RefreshBody:
    refresh_token: str = text(MAX_SECRET)


@request_body
class ResetBody:
    token: str = text(MAX_SECRET, description="From the reset or invitation link (?token=).")
    password: str = password(minimum=MIN_PASSWORD_LENGTH)


@request_body
class CodeBody:
    code: str = digits(description="The authenticator app's code.")


# -- answers --------------------------------------------------------------------------------

# One answer whether or not the address has an account: status and body are the same.
ACCEPTED = {
    "status": "accepted",
    "message": "If the address can receive it, an e-mail is on its way.",
}


def account_json(account: Account) -> dict[str, Any]:
    """What an account owner may see of it: never the password hash or the TOTP secret."""
    return {
        "id": account.id.value,
        "email": str(account.email),
        "role": account.role.value,
        "status": account.status.value,
        "patient_id": None if account.patient_id is None else account.patient_id.value,
        "doctor_id": None if account.doctor_id is None else account.doctor_id.value,
        "two_factor_enabled": account.totp_enabled,
    }


def enrollment_json(enrollment: TwoFactorEnrollment) -> dict[str, str]:
    return {"secret": enrollment.secret, "provisioning_uri": enrollment.provisioning_uri}


def password_set_json(outcome: PasswordSet) -> dict[str, Any]:
    return {
        "account": account_json(outcome.account),
        "two_factor": None if outcome.two_factor is None else enrollment_json(outcome.two_factor),
    }


SCHEMAS: dict[str, Any] = {
    "Tokens": answer(
        access_token={"type": "string", "description": "A JWT; send as Authorization: Bearer."},
        refresh_token={
            "type": "string",
            "description": "Exchange once at /auth/refresh; a second use ends the session.",
        },
        token_type={"const": "Bearer"},
        expires_in={"type": "integer", "description": "Seconds the access token lives."},
    ),
    "Accepted": answer(
        status={"const": "accepted"},
        message={
            "type": "string",
            "description": "The same whether or not the address has an account.",
        },
    ),
    "Account": answer(
        id=STRING,
        email=STRING,
        role={"enum": wire_values(Role)},
        status={"enum": wire_values(AccountStatus)},
        patient_id={"type": ["string", "null"]},
        doctor_id={"type": ["string", "null"]},
        two_factor_enabled={"type": "boolean"},
    ),
    "TwoFactorEnrollment": answer(
        secret={"type": "string", "description": "Base32 TOTP secret."},
        provisioning_uri={"type": "string", "description": "otpauth:// URI for a QR code."},
    ),
    "PasswordSet": answer(
        account=ref("Account"),
        two_factor={
            **nullable("TwoFactorEnrollment"),
            "description": "Present when the role must use two-factor sign-in: put it in an "
            "authenticator app and sign in with a code from it.",
        },
    ),
}

# -- resources ------------------------------------------------------------------------------


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


class Register(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = self.body(req, RegisterBody)
        # The patient id is the server's; the profile is created only for a new address.
        patient = Patient(
            PatientId(f"pat-{self.components.ids.new_id()}"),
            body.name,
            date_of_birth=body.date_of_birth,
            phone=body.phone,
            email=body.email,
        )
        self.components.identity.register_patient(body.email, body.password, patient)
        _accepted(resp)


class Verify(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = self.body(req, VerifyBody)
        self.components.identity.verify_email(body.email, body.code)
        resp.status = falcon.HTTP_204


class ResendVerification(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = self.body(req, EmailBody)
        self.components.identity.resend_verification(body.email)
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


class Login(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = self.body(req, LoginBody)
        session = self.components.identity.login(
            body.email,
            body.password,
            body.totp_code,
            client_address=client_address(req, self.settings.trusted_proxies),
        )
        write_json(resp, _tokens(self.api.codec, session))


class Refresh(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = self.body(req, RefreshBody)
        session = self.components.identity.refresh(body.refresh_token)
        write_json(resp, _tokens(self.api.codec, session))


class Logout(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = self.body(req, RefreshBody)
        self.components.identity.logout(body.refresh_token)
        resp.status = falcon.HTTP_204


class ForgotPassword(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = self.body(req, EmailBody)
        self.components.identity.forgot_password(body.email)
        _accepted(resp)


class ResetPassword(Resource):
    """Redeems a reset link and a doctor's invitation alike."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = self.body(req, ResetBody)
        write_json(
            resp,
            password_set_json(self.components.identity.set_password(body.token, body.password)),
        )


def _own_active_account(identity: Identity, req: falcon.Request) -> Account:
    """The caller's account, read afresh: a token whose account is gone or no longer active
    is refused here at once (scheduling endpoints rely on the token's 15-minute life)."""
    actor = require_actor(req)
    try:
        account = identity.account(actor.user_id)
    except NotFound:
        raise unauthorized("the token's account does not exist", invalid_token=True) from None
    if account.status is not AccountStatus.ACTIVE:
        raise unauthorized("the account is not active", invalid_token=True)
    return account


class TwoFactor(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        account = _own_active_account(self.components.identity, req)
        write_json(resp, enrollment_json(self.components.identity.begin_two_factor(account.id)))


class ConfirmTwoFactor(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        account = _own_active_account(self.components.identity, req)
        body = self.body(req, CodeBody)
        self.components.identity.confirm_two_factor(account.id, body.code)
        resp.status = falcon.HTTP_204


# -- routes ---------------------------------------------------------------------------------


def _route(
    path: str,
    resource: type[Resource],
    summary: str,
    *,
    who: str = "anyone",
    auth: str = "public",
    ok: int = 200,
    response: str | None = None,
    body: Body | None = None,
    problems: tuple[str, ...] = (),
    method: str = "post",
    links: tuple[Link, ...] = (),
) -> Route:
    body_problems = BODY_PROBLEMS if body else ()
    return Route(
        f"{API}/{path}",
        resource,
        {
            method: Operation(
                summary,
                auth,
                who,
                ok=ok,
                response=response,
                body=body,
                problems=(*problems, *body_problems),
                tag="identity",
                links=links,
            )
        },
    )


_REFRESH = (
    Link(
        "post_refresh",
        "post_refresh",
        request_body={"refresh_token": "$response.body#/refresh_token"},
    ),
)

ROUTES: tuple[Route, ...] = (
    _route(
        "auth/register",
        Register,
        "Register as a patient; a verification code is e-mailed (202 whether or not the "
        "address already has an account)",
        ok=202,
        response="Accepted",
        body=RegisterBody,
        problems=("weak-password", "invalid-value"),
        links=(  # once the e-mailed code is verified
            Link(
                "post_login",
                "post_login",
                request_body={
                    "email": "$request.body#/email",
                    "password": "$request.body#/password",
                },
            ),
        ),
    ),
    _route(
        "auth/verify",
        Verify,
        "Verify the e-mail address with the code; the account becomes active",
        ok=204,
        body=VerifyBody,
        problems=("invalid-one-time-secret",),
    ),
    _route(
        "auth/verify/resend",
        ResendVerification,
        "Send a new verification code (at most one a minute; 202 either way)",
        ok=202,
        response="Accepted",
        body=EmailBody,
    ),
    _route(
        "auth/login",
        Login,
        "Sign in: an access token (15 minutes) and a refresh token",
        response="Tokens",
        body=LoginBody,
        links=_REFRESH,
        problems=(
            "authentication-failed",
            "second-factor-required",
            "email-not-verified",
            "second-factor-enrollment-required",
            "too-many-requests",
            "concurrent-update",
        ),
    ),
    _route(
        "auth/refresh",
        Refresh,
        "Exchange a refresh token for new tokens; reusing one ends its whole session",
        who="the refresh token's holder",
        response="Tokens",
        body=RefreshBody,
        problems=("authentication-failed", "refresh-token-reused", "concurrent-update"),
    ),
    _route(
        "auth/logout",
        Logout,
        "End the session the refresh token belongs to",
        who="the refresh token's holder",
        ok=204,
        body=RefreshBody,
    ),
    _route(
        "auth/password/forgot",
        ForgotPassword,
        "E-mail a password-reset link (202 whether or not the address has an account)",
        ok=202,
        response="Accepted",
        body=EmailBody,
    ),
    _route(
        "auth/password/reset",
        ResetPassword,
        "Set a password from a reset or invitation link; ends every session of the account",
        who="the link's holder",
        response="PasswordSet",
        body=ResetBody,
        problems=("invalid-one-time-secret", "weak-password", "invalid-value"),
    ),
    _route(
        "auth/two-factor",
        TwoFactor,
        "Start two-factor sign-in: a TOTP secret for an authenticator app",
        who="any signed-in account",
        auth="bearer",
        response="TwoFactorEnrollment",
        problems=("already-exists", "concurrent-update"),
    ),
    _route(
        "auth/two-factor/confirm",
        ConfirmTwoFactor,
        "Switch two-factor sign-in on with a code from the authenticator app",
        who="any signed-in account",
        auth="bearer",
        ok=204,
        body=CodeBody,
        problems=("invalid-one-time-secret", "concurrent-update"),
    ),
    # GET/PATCH /me: api/profiles.py (the account with its profile).
)
