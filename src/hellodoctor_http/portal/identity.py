"""Signing up, verifying the e-mail, signing in (with the authenticator code when two-factor
is on), signing out, and setting a password from an e-mailed reset or invitation link
(``/set-password?token=...``, the address ``Settings.password_link`` gives the mails)."""

from __future__ import annotations

import contextlib
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import falcon

from hellodoctor_domain import Patient, PatientId
from hellodoctor_domain.errors import (
    AuthenticationFailed,
    DomainError,
    EmailNotVerified,
    InvalidOneTimeSecret,
    SecondFactorEnrollmentRequired,
    SecondFactorRequired,
    TooManyAttempts,
    WeakPassword,
)
from hellodoctor_domain.model.accounts import MIN_PASSWORD_LENGTH
from hellodoctor_domain.model.values import Actor, EmailAddress, Role
from hellodoctor_http.api.accounts import client_address
from hellodoctor_http.portal.pages import Page, safe_next


def _email(value: str) -> EmailAddress | None:
    try:
        return EmailAddress(value.strip())
    except DomainError:
        return None


def home_of(role: Role) -> str:
    """Where a signed-in account lands."""
    if role is Role.DOCTOR:
        return "/doctor/day"
    if role is Role.ADMIN:
        return "/admin/doctors/new"
    if role is Role.PATIENT:
        return "/appointments"
    if role in (Role.RECEPTIONIST, Role.HOSPITAL_ADMIN):
        return "/desk"
    return "/"


def own_zone(page: Page, actor: Actor) -> str | None:
    """The zone the account's profile shows times in (read once, at sign-in: reading a
    patient's profile is audited)."""
    if actor.role not in (Role.PATIENT, Role.DOCTOR):
        return None
    try:
        mine = page.components.profiles.me(actor)
    except DomainError:
        return None
    if mine.patient is not None:
        return mine.patient.time_zone
    return None if mine.doctor is None else mine.doctor.time_zone


def zone_or_none(value: str) -> str | None:
    """An IANA zone name as typed, or None when it names none."""
    value = value.strip()
    if not value or len(value) > 64:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return value


class Home(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.render(req, resp, "home.html", notice=req.get_param("notice"))


class SignUp(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.render(req, resp, "sign_up.html", values={}, minimum=MIN_PASSWORD_LENGTH)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = self.form(req)
        errors: dict[str, str] = {}
        email = _email(form.get("email", ""))
        name = form.get("name", "").strip()
        password = form.get("password", "")
        zone = zone_or_none(form.get("time_zone", ""))
        if form.get("time_zone", "").strip() and zone is None:
            errors["time_zone"] = "zone"
        born: date | None = None
        if email is None:
            errors["email"] = "email"
        if not name:
            errors["name"] = "required"
        if len(password) < MIN_PASSWORD_LENGTH or len(password) > 256:
            errors["password"] = "password"
        if form.get("date_of_birth"):
            try:
                born = date.fromisoformat(form["date_of_birth"])
            except ValueError:
                errors["date_of_birth"] = "date"
        if not errors:
            assert email is not None
            patient = Patient(
                PatientId(f"pat-{self.components.ids.new_id()}"),
                name,
                date_of_birth=born,
                email=email,
                time_zone=zone,
            )
            try:
                self.components.identity.register_patient(email, password, patient)
            except WeakPassword:
                errors["password"] = "password"
            except DomainError:
                errors["form"] = "invalid"
        if errors:
            self.render(
                req,
                resp,
                "sign_up.html",
                status=422,
                values={
                    "email": form.get("email", ""),
                    "name": name,
                    "time_zone": form.get("time_zone", ""),
                },
                errors=errors,
                minimum=MIN_PASSWORD_LENGTH,
            )
            return
        assert email is not None
        self.redirect(resp, f"/verify?email={falcon.uri.encode_value(str(email))}")


class Verify(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.render(req, resp, "verify.html", email=req.get_param("email") or "")

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = self.form(req)
        email = _email(form.get("email", ""))
        code = form.get("code", "").strip()
        if email is not None and form.get("resend"):
            self.components.identity.resend_verification(email)
            self.render(req, resp, "verify.html", email=str(email), notice="resent")
            return
        try:
            if email is None or not code:
                raise InvalidOneTimeSecret("missing")
            self.components.identity.verify_email(email, code)
        except DomainError:
            self.render(
                req,
                resp,
                "verify.html",
                status=422,
                email=form.get("email", ""),
                errors={"code": "code"},
            )
            return
        self.redirect(resp, "/sign-in", "verified")


class SignIn(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.render(
            req,
            resp,
            "sign_in.html",
            email="",
            next=req.get_param("next") or "",
            notice=req.get_param("notice"),
            two_factor=False,
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = self.form(req)
        email = _email(form.get("email", ""))
        code = form.get("totp_code", "").strip() or None
        failure: str | None = None
        session = None
        try:
            if email is None:
                raise AuthenticationFailed("not an address")
            session = self.components.identity.login(
                email,
                form.get("password", "")[:256],
                code,
                client_address=client_address(req, self.components.settings.trusted_proxies),
            )
        except SecondFactorRequired:
            failure = "second-factor"
        except SecondFactorEnrollmentRequired:
            failure = "enrol"
        except EmailNotVerified:
            failure = "unverified"
        except TooManyAttempts:
            failure = "throttled"
        except DomainError:
            failure = "failed"
        if session is None:
            self.render(
                req,
                resp,
                "sign_in.html",
                status=429 if failure == "throttled" else 401,
                email=form.get("email", ""),
                next=form.get("next", ""),
                failure=failure,
                two_factor=failure == "second-factor" or code is not None,
            )
            return
        account = session.account
        actor = Actor(
            account.role, account.id, patient_id=account.patient_id, doctor_id=account.doctor_id
        )
        codec = self.portal.codec
        codec.set_session(resp, codec.issue(actor, session.refresh_token, own_zone(self, actor)))
        self.redirect(resp, safe_next(form.get("next"), home_of(account.role)))


class SignOut(Page):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.form(req)
        found = self.session(req)
        if found is not None and found.refresh_token:
            # Already ended: signing out still clears the cookie.
            with contextlib.suppress(DomainError):
                self.components.identity.logout(found.refresh_token)
        self.portal.codec.clear_session(resp)
        self.redirect(resp, "/", "signed-out")


class ForgotPassword(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.render(req, resp, "forgot_password.html", sent=False)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = self.form(req)
        email = _email(form.get("email", ""))
        if email is not None:
            self.components.identity.forgot_password(email)
        # The same answer whether or not the address has an account.
        self.render(req, resp, "forgot_password.html", sent=True)


class SetPassword(Page):
    """The page the e-mailed reset and invitation links open."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        token = (req.get_param("token") or "")[:512]
        self.render(
            req, resp, "set_password.html", token=token, minimum=MIN_PASSWORD_LENGTH, errors={}
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = self.form(req)
        token = form.get("token", "")[:512]
        password = form.get("password", "")
        errors: dict[str, str] = {}
        if password != form.get("confirm", ""):
            errors["confirm"] = "mismatch"
        elif len(password) < MIN_PASSWORD_LENGTH or len(password) > 256:
            errors["password"] = "password"
        else:
            try:
                outcome = self.components.identity.set_password(token, password)
            except WeakPassword:
                errors["password"] = "password"
            except DomainError:
                errors["form"] = "link"
            else:
                if outcome.two_factor is not None:
                    self.render(req, resp, "two_factor_setup.html", enrollment=outcome.two_factor)
                    return
                self.redirect(resp, "/sign-in", "password-set")
                return
        self.render(
            req,
            resp,
            "set_password.html",
            status=422,
            token=token,
            minimum=MIN_PASSWORD_LENGTH,
            errors=errors,
        )
