"""Access tokens (JWT, HS256 pinned) and the hook that turns one into a domain ``Actor``.

A token carries who the caller is and nothing secret: ``sub`` (the account), ``role``, and
``pid``/``did`` (the patient or doctor profile the account acts as), with ``exp``, ``iat``,
``jti``, ``iss`` and ``aud``. Verification pins the algorithm (so ``alg: none`` and
algorithm-confusion tokens fail), requires every one of those claims, and checks time against
the service's clock. Every failure is the same 401 with ``WWW-Authenticate: Bearer``; the
reason is logged, not told.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import falcon
import jwt
from attrs import define, field
from jwt.algorithms import HMACAlgorithm
from jwt.api_jws import PyJWS

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.values import Actor, DoctorId, PatientId, Role, UserId
from hellodoctor_domain.ports.runtime import Clock
from hellodoctor_http.problems import unauthorized

_log = logging.getLogger("hellodoctor.auth")

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "role")
# Tolerated clock difference between the machines that issue and check tokens.
LEEWAY = timedelta(seconds=30)


class InvalidToken(Exception):
    """The token is not one this service issued, or no longer valid; the message is for logs."""


class _PreparedHmac(HMACAlgorithm):
    """HS256 with the service's key checked and encoded once: PyJWT prepares the key (PEM and
    SSH look-alikes refused, encoded) on every decode. Another key is prepared as usual."""

    def __init__(self, secret: str) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self._secret = secret
        self._prepared = super().prepare_key(secret)

    def prepare_key(self, key: str | bytes) -> bytes:
        return self._prepared if key is self._secret else super().prepare_key(key)


def _decoder(secret: str) -> jwt.PyJWT:
    """A PyJWT of its own whose only algorithm is HS256 with the prepared key (each token is
    still verified in full: signature, claims, times)."""
    decoder = jwt.PyJWT()
    signatures = PyJWS(algorithms=[])
    signatures.register_algorithm(ALGORITHM, _PreparedHmac(secret))
    decoder._jws = signatures  # its signature layer (PyJWT has no public setter)
    return decoder


@define(frozen=True)
class TokenCodec:
    secret: str
    issuer: str
    audience: str
    clock: Clock
    lifetime: timedelta = timedelta(minutes=15)
    _jwt: jwt.PyJWT = field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_jwt", _decoder(self.secret))

    def issue(
        self,
        account_id: str,
        role: Role | str,
        patient_id: str | None = None,
        doctor_id: str | None = None,
    ) -> tuple[str, int]:
        """A signed access token for the account and its ``expires_in`` in seconds."""
        role = Role(role)
        # Refuse to mint what verify would refuse: a patient token without its profile...
        _actor(account_id, role, patient_id, doctor_id)
        now = self.clock.now()
        claims: dict[str, Any] = {
            "sub": account_id,
            "role": role.value,
            "iat": int(now.timestamp()),
            "exp": int((now + self.lifetime).timestamp()),
            "jti": uuid.uuid4().hex,
            "iss": self.issuer,
            "aud": self.audience,
        }
        if patient_id is not None:
            claims["pid"] = patient_id
        if doctor_id is not None:
            claims["did"] = doctor_id
        token = jwt.encode(claims, self.secret, algorithm=ALGORITHM)
        return token, int(self.lifetime.total_seconds())

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or ``InvalidToken``."""
        try:
            claims: dict[str, Any] = self._jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                # Time is checked below against the service's clock, not the machine's.
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(f"{type(error).__name__}: {error}") from None
        now = self.clock.now().timestamp()
        exp, iat = claims["exp"], claims["iat"]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (exp, iat)):
            raise InvalidToken("exp and iat must be numbers")
        if now >= exp:
            raise InvalidToken("expired")
        if iat > now + LEEWAY.total_seconds():
            raise InvalidToken("issued in the future")
        if exp - iat > self.lifetime.total_seconds() + LEEWAY.total_seconds():
            raise InvalidToken("lives longer than this service issues tokens for")
        return claims

    def actor(self, token: str) -> Actor:
        claims = self.verify(token)
        try:
            role = Role(claims["role"])
        except ValueError:
            raise InvalidToken(f"unknown role {claims['role']!r}") from None
        return _actor(claims["sub"], role, claims.get("pid"), claims.get("did"))


def _actor(subject: Any, role: Role, patient_id: Any, doctor_id: Any) -> Actor:
    try:
        if not isinstance(subject, str):
            raise InvalidValue("sub must be a string")
        return Actor(
            role,
            UserId(subject),
            patient_id=None if patient_id is None else PatientId(patient_id),
            doctor_id=None if doctor_id is None else DoctorId(doctor_id),
        )
    except InvalidValue as error:
        raise InvalidToken(f"claims do not describe an actor: {error}") from None


class Authentication:
    """Falcon middleware: a valid bearer token becomes ``req.context.actor``; no token leaves
    it ``None`` (resources that need a caller call ``require_actor``); a bad token is a 401
    on every route, public ones included, so a client learns its token is wrong."""

    def __init__(self, codec: TokenCodec) -> None:
        self._codec = codec

    def process_request(self, req: falcon.Request, _resp: falcon.Response) -> None:
        req.context.actor = None
        header = req.get_header("Authorization")
        if header is None:
            return
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized(
                "use the Bearer scheme: Authorization: Bearer <token>", invalid_token=True
            )
        try:
            req.context.actor = self._codec.actor(token.strip())
        except InvalidToken as error:
            _log.info(
                "refused a token: %s",
                error,
                extra={"request_id": getattr(req.context, "request_id", None)},
            )
            raise unauthorized("the token is invalid or expired", invalid_token=True) from None


def require_actor(req: falcon.Request) -> Actor:
    actor: Actor | None = req.context.actor
    if actor is None:
        raise unauthorized("this needs a bearer token")
    return actor
