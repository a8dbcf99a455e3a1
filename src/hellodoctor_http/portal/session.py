"""Portal sessions and CSRF tokens.

The session is a signed token in a cookie (HS256 JWT with the portal's own audience, so an API
access token is never a portal session nor the reverse): who is signed in (account, role,
profile), the refresh token of the sign-in (so signing out ends it server-side too) and a
random session id. The cookie is ``HttpOnly``, ``SameSite=Lax`` and, in production,
``Secure`` with the ``__Host-`` prefix. The account is read afresh on every request, so a
disabled account is signed out at once.

CSRF: every form carries ``csrf_token``, an HMAC of a random per-browser value (the
``hd_csrf`` cookie, ``SameSite=Strict``) and the session id. A POST whose token does not match
the cookie and the session is refused (403) before any use case runs: a cross-site form can
neither read the cookie nor guess the HMAC.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

import falcon
import jwt
from attrs import define

from hellodoctor_domain.model.values import Actor, DoctorId, PatientId, Role, UserId
from hellodoctor_domain.ports.runtime import Clock

AUDIENCE = "hellodoctor-portal"
ALGORITHM = "HS256"
LIFETIME = timedelta(hours=12)
CSRF_FIELD = "csrf_token"


@define(frozen=True)
class PortalSession:
    actor: Actor
    session_id: str
    refresh_token: str | None = None
    # The zone times are shown in: the profile's, read once at sign-in (None: the doctor's).
    zone: str | None = None


@define(frozen=True)
class SessionCodec:
    secret: str
    issuer: str
    clock: Clock
    secure: bool  # production: Secure cookies with the __Host- prefix

    @property
    def session_cookie(self) -> str:
        return "__Host-hd_session" if self.secure else "hd_session"

    @property
    def csrf_cookie(self) -> str:
        return "__Host-hd_csrf" if self.secure else "hd_csrf"

    # -- the session cookie ------------------------------------------------------------

    def issue(
        self,
        actor: Actor,
        refresh_token: str | None,
        zone: str | None = None,
        session_id: str | None = None,
    ) -> str:
        now = self.clock.now()
        claims: dict[str, Any] = {
            "sub": actor.user_id.value,
            "role": actor.role.value,
            "sid": session_id or secrets.token_urlsafe(16),
            "iat": int(now.timestamp()),
            "exp": int((now + LIFETIME).timestamp()),
            "iss": self.issuer,
            "aud": AUDIENCE,
        }
        if actor.patient_id is not None:
            claims["pid"] = actor.patient_id.value
        if actor.doctor_id is not None:
            claims["did"] = actor.doctor_id.value
        if refresh_token is not None:
            claims["rt"] = refresh_token
        if zone is not None:
            claims["tz"] = zone
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def read(self, token: str) -> PortalSession | None:
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=self.issuer,
                # Time is checked below against the service's clock, not the machine's.
                options={
                    "require": ["sub", "role", "sid", "exp", "iat"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
            now = self.clock.now().timestamp()
            exp, iat = claims["exp"], claims["iat"]
            if not isinstance(exp, int) or not isinstance(iat, int) or now >= exp:
                return None
            if iat > now + 30 or exp - iat > LIFETIME.total_seconds():
                return None
            actor = Actor(
                Role(claims["role"]),
                UserId(str(claims["sub"])),
                patient_id=PatientId(claims["pid"]) if "pid" in claims else None,
                doctor_id=DoctorId(claims["did"]) if "did" in claims else None,
            )
        except (jwt.PyJWTError, ValueError, TypeError):
            return None
        zone = claims.get("tz")
        return PortalSession(
            actor,
            str(claims["sid"]),
            claims.get("rt"),
            zone if isinstance(zone, str) else None,
        )

    def set_session(self, resp: falcon.Response, token: str) -> None:
        resp.set_cookie(
            self.session_cookie,
            token,
            max_age=int(LIFETIME.total_seconds()),
            path="/",
            secure=self.secure,
            http_only=True,
            same_site="Lax",
        )

    def clear_session(self, resp: falcon.Response) -> None:
        resp.unset_cookie(self.session_cookie, path="/", same_site="Lax")

    # -- CSRF --------------------------------------------------------------------------

    def browser_secret(self, req: falcon.Request, resp: falcon.Response) -> str:
        """The per-browser CSRF value, made (and set as a cookie) on first use."""
        current = getattr(req.context, "csrf_secret", None)
        if current:
            return str(current)
        values = req.get_cookie_values(self.csrf_cookie) or []
        value = values[0] if values and 20 <= len(values[0]) <= 100 else None
        if value is None:
            value = secrets.token_urlsafe(32)
            resp.set_cookie(
                self.csrf_cookie,
                value,
                path="/",
                secure=self.secure,
                http_only=True,
                same_site="Strict",
            )
        req.context.csrf_secret = value
        return value

    def csrf_token(self, browser_secret: str, session_id: str | None) -> str:
        message = f"{browser_secret}|{session_id or ''}".encode()
        return hmac.new(self.secret.encode(), b"csrf:" + message, hashlib.sha256).hexdigest()

    def csrf_valid(self, req: falcon.Request, session_id: str | None, sent: str | None) -> bool:
        values = req.get_cookie_values(self.csrf_cookie) or []
        if not values or not sent:
            return False
        expected = self.csrf_token(values[0], session_id)
        return hmac.compare_digest(expected, sent)
