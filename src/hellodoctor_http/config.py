"""Service settings, read from the environment by one function and never at import time.

``Settings.from_environ(os.environ)`` validates everything at once and raises
``ConfigurationError`` listing every problem, so a misconfigured deployment refuses to start
instead of failing on its first request. The README's configuration reference lists each
variable.
"""

from __future__ import annotations

import enum
import logging
import secrets
from collections.abc import Mapping
from pathlib import Path

from attrs import define, field

from hellodoctor_domain.values import Role

_log = logging.getLogger(__name__)

DEFAULT_SQLITE_PATH = Path("var") / "hellodoctor.sqlite3"
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_SQLITE_PATH}"
DEFAULT_BIND = "127.0.0.1:8000"
# HS256 keys shorter than the hash output weaken the MAC (RFC 7518 section 3.2).
MINIMUM_SECRET_BYTES = 32
MINIMUM_BCRYPT_COST = 12
ACCESS_TOKEN_MINUTES = 15
# Set (by `hellodoctor serve`) before prometheus_client is imported: metrics across workers.
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ConfigurationError(ValueError):
    """The environment does not describe a service that may start; the message says why."""


@define(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    environment: Environment = Environment.DEVELOPMENT
    # repr=False: settings get logged and printed; the signing key must never be.
    jwt_secret: str = field(default="", repr=False)
    jwt_secret_generated: bool = False
    jwt_issuer: str = "hellodoctor"
    jwt_audience: str = "hellodoctor-api"
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 64 * 1024
    hold_minutes: int = 15
    redis_url: str | None = field(default=None, repr=False)
    bcrypt_cost: int = MINIMUM_BCRYPT_COST
    require_totp_for: frozenset[Role] = frozenset()
    bind: str = DEFAULT_BIND
    access_token_minutes: int = ACCESS_TOKEN_MINUTES

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def uses_default_database(self) -> bool:
        return self.database_url == DEFAULT_DATABASE_URL

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Settings from ``HELLODOCTOR_*`` variables; ``ConfigurationError`` lists every
        problem. In development a missing signing key is generated (with a warning)."""
        problems: list[str] = []

        def text(name: str, default: str) -> str:
            return environ.get(f"HELLODOCTOR_{name}", "").strip() or default

        def integer(name: str, default: int, minimum: int) -> int:
            raw = text(name, str(default))
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"HELLODOCTOR_{name} must be a whole number, not {raw!r}")
                return default
            if value < minimum:
                problems.append(f"HELLODOCTOR_{name} must be at least {minimum}, not {value}")
            return value

        raw_environment = text("ENV", Environment.DEVELOPMENT.value).lower()
        try:
            environment = Environment(raw_environment)
        except ValueError:
            problems.append(
                f"HELLODOCTOR_ENV must be development or production, not {raw_environment!r}"
            )
            environment = Environment.PRODUCTION  # judge the rest by the stricter rules
        production = environment is Environment.PRODUCTION

        secret = environ.get("HELLODOCTOR_JWT_SECRET", "")
        generated = False
        if len(secret.encode()) < MINIMUM_SECRET_BYTES:
            if production:
                problems.append(
                    "HELLODOCTOR_JWT_SECRET is missing or shorter than "
                    f"{MINIMUM_SECRET_BYTES} bytes; production refuses to sign tokens with it "
                    "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
            else:
                if secret:
                    _log.warning(
                        "HELLODOCTOR_JWT_SECRET is shorter than %d bytes; ignoring it",
                        MINIMUM_SECRET_BYTES,
                    )
                secret = secrets.token_urlsafe(48)
                generated = True
                _log.warning(
                    "no HELLODOCTOR_JWT_SECRET: generated a random one for this process "
                    "(development only; tokens die with the process)"
                )

        bcrypt_cost = integer("BCRYPT_COST", MINIMUM_BCRYPT_COST, 4)
        if production and bcrypt_cost < MINIMUM_BCRYPT_COST:
            problems.append(
                f"HELLODOCTOR_BCRYPT_COST must be at least {MINIMUM_BCRYPT_COST} in production"
            )
        if bcrypt_cost > 31:
            problems.append("HELLODOCTOR_BCRYPT_COST is at most 31 (bcrypt's limit)")

        origins = tuple(o.strip() for o in text("CORS_ORIGINS", "").split(",") if o.strip())
        for origin in origins:
            if origin == "*" or not origin.startswith(("https://", "http://")):
                problems.append(
                    f"HELLODOCTOR_CORS_ORIGINS lists exact origins (https://app.example), "
                    f"not {origin!r}"
                )

        totp_roles: set[Role] = set()
        for name in text("REQUIRE_TOTP_FOR", "").split(","):
            if not name.strip():
                continue
            try:
                totp_roles.add(Role(name.strip().lower()))
            except ValueError:
                problems.append(
                    f"HELLODOCTOR_REQUIRE_TOTP_FOR names roles (patient, doctor, admin), "
                    f"not {name.strip()!r}"
                )

        settings = cls(
            database_url=text("DATABASE_URL", DEFAULT_DATABASE_URL),
            environment=environment,
            jwt_secret=secret,
            jwt_secret_generated=generated,
            jwt_issuer=text("JWT_ISSUER", "hellodoctor"),
            jwt_audience=text("JWT_AUDIENCE", "hellodoctor-api"),
            cors_origins=origins,
            max_body_bytes=integer("MAX_BODY_BYTES", 64 * 1024, 1024),
            hold_minutes=integer("HOLD_MINUTES", 15, 1),
            redis_url=text("REDIS_URL", "") or None,
            bcrypt_cost=bcrypt_cost,
            require_totp_for=frozenset(totp_roles),
            bind=text("BIND", DEFAULT_BIND),
        )
        if problems:
            raise ConfigurationError("; ".join(problems))
        return settings
