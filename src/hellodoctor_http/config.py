"""Service settings, read from the environment by one function and never at import time.

``Settings.from_environ(os.environ)`` validates everything at once and raises
``ConfigurationError`` listing every problem, so a misconfigured deployment refuses to start
instead of failing on its first request. The README's configuration reference lists each
variable.
"""

from __future__ import annotations

import enum
import importlib.util
import ipaddress
import logging
import secrets
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from attrs import define, field

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.retention import RetentionKind, RetentionPolicy
from hellodoctor_domain.model.values import MINOR_UNIT_EXPONENTS, EmailAddress, Role

_log = logging.getLogger(__name__)

DEFAULT_SQLITE_PATH = Path("var") / "hellodoctor.sqlite3"
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_SQLITE_PATH}"
DEFAULT_BIND = "127.0.0.1:8000"
DEFAULT_MAIL_FOLDER = Path("var") / "mail"
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
DEFAULT_BLOB_URL = "file:var/blobs"
DEFAULT_SIGNALLING_URL = "ws://127.0.0.1:8001"
DEFAULT_SIGNALLING_BIND = "127.0.0.1:8001"
SMTP_SECURITY = ("starttls", "tls", "none")
# HS256 keys shorter than the hash output weaken the MAC (RFC 7518 section 3.2).
MINIMUM_SECRET_BYTES = 32
MINIMUM_BCRYPT_COST = 12
ACCESS_TOKEN_MINUTES = 15
# Set (by `hellodoctor serve`) before prometheus_client is imported: metrics across workers.
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def stripe_gateway_available() -> bool:
    """Whether the Stripe adapter and its SDK (the ``stripe`` extra) are installed; neither is
    imported here."""
    try:
        return all(
            importlib.util.find_spec(name) is not None
            for name in ("stripe", "hellodoctor_adapters.stripe")
        )
    except ImportError:
        return False


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
    # Where links in e-mails point (the set-password page is {public_url}/set-password).
    public_url: str = DEFAULT_PUBLIC_URL
    # Peers whose X-Forwarded-For is believed when telling client addresses apart.
    trusted_proxies: tuple[Network, ...] = ()
    # E-mail: SMTP when smtp_host is set, else messages land in mail_folder (a Maildir).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_security: str = "starttls"
    mail_from: str = "HelloDoctor <no-reply@localhost>"
    mail_folder: Path = DEFAULT_MAIL_FOLDER
    # Where break-glass accesses are reported for review (a security or privacy mailbox).
    security_email: EmailAddress | None = None
    # Events: relayed to RabbitMQ when set (amqp://...), else delivered straight from the outbox.
    broker_url: str | None = field(default=None, repr=False)
    relay_max_attempts: int = 10
    # How long before a visit each reminder goes out (the clinic's choice; none when empty).
    reminder_minutes: tuple[int, ...] = (24 * 60, 60)
    # Payments: Stripe when both keys are set, else the offline gateway (pay at the clinic).
    stripe_secret_key: str | None = field(default=None, repr=False)
    stripe_webhook_secret: str | None = field(default=None, repr=False)
    stripe_api_base: str | None = None  # localstripe in tests, e.g. http://127.0.0.1:8420
    # The portal offers Stripe Elements (card payments in the browser) only with this (pk_...).
    stripe_publishable_key: str | None = None
    # Wallet currencies (ISO 4217); the first is the one GET /api/v1/wallet shows by default.
    currencies: tuple[str, ...] = ("GBP",)
    smallest_top_up: int = 100
    largest_top_up: int = 1_000_000
    # Documents: where uploaded files go (file: or s3: URL), the largest upload, how long a
    # download link lives, and how old bytes without a record must be before the worker
    # sweeps them.
    blob_url: str = field(default=DEFAULT_BLOB_URL, repr=False)  # may carry MinIO options
    max_upload_bytes: int = 20 * 1024 * 1024
    download_link_seconds: int = 300
    orphan_minutes: int = 60
    # Reviews: how many days after a visit its patient may still review it.
    review_window_days: int = 30
    # Telemedicine: when rooms open and close, tickets, ICE servers, the signalling server.
    room_opens_minutes: int = 10
    # Clinical records: how long after a completed visit its doctor keeps access.
    care_period_days: int = 90
    room_grace_minutes: int = 15
    room_ticket_seconds: int = 60
    signalling_url: str = DEFAULT_SIGNALLING_URL
    signalling_bind: str = DEFAULT_SIGNALLING_BIND
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = field(default=None, repr=False)
    turn_ttl_seconds: int = 3600
    signalling_max_message_bytes: int = 64 * 1024
    signalling_messages_per_second: int = 20
    signalling_burst: int = 60
    signalling_heartbeat_seconds: int = 20
    signalling_channel_prefix: str = "hellodoctor"
    # SMS through Twilio when all three are set (``twilio_from``: an E.164 number or a
    # messaging service id); otherwise nobody gets text messages.
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    twilio_from: str | None = None
    # Calendar feeds: doctors' feeds name the patient only when the clinic chose so (privacy
    # default: "Appointment"); requests per minute a feed URL is answered.
    feed_shows_patient_names: bool = False
    feed_requests_per_minute: int = 30
    # Health data at rest (docs/encryption.md): the key ring "id:base64,id:base64", the id of
    # the current key (default: the last listed) and the blind-index key (base64). Production
    # refuses to start without them; development uses the public development ring.
    phi_keys: str | None = field(default=None, repr=False)
    phi_current_key: str | None = None
    phi_index_key: str | None = field(default=None, repr=False)
    # Blind-index keys being rotated away from (comma-separated base64; docs/encryption.md).
    phi_previous_index_keys: str | None = field(default=None, repr=False)
    # Refuse plain HTTP (421/403 problem) when the trusted proxy says the client spoke http
    # (X-Forwarded-Proto from HELLODOCTOR_TRUSTED_PROXIES only): docs/security.md.
    require_https: bool = False
    # The waitlist: how long a freed time offered to a waiting patient is held for them.
    waitlist_offer_minutes: int = 15
    # The public doctors' directory cached in Redis (redis://...) when set; for how long.
    cache_url: str | None = field(default=None, repr=False)
    cache_seconds: int = 30
    # Retention (docs/retention.md): days a delivered outbox entry and a dead letter are kept
    # (0: kept for ever); the audit log's minimum in years (never purged by the platform).
    retention_delivered_events_days: int = 30
    retention_dead_letters_days: int = 90
    retention_audit_log_years: int = 6
    # Days a hold that never became a booking, and an unverified registration, are kept.
    retention_lapsed_holds_days: int = 90
    retention_unverified_accounts_days: int = 30

    @property
    def sends_sms(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from)

    @property
    def uses_stripe(self) -> bool:
        return bool(self.stripe_secret_key and self.stripe_webhook_secret)

    @property
    def password_link(self) -> str:
        return f"{self.public_url}/set-password"

    @property
    def retention_policy(self) -> RetentionPolicy:
        days = {
            RetentionKind.DELIVERED_EVENTS: self.retention_delivered_events_days,
            RetentionKind.DEAD_LETTERS: self.retention_dead_letters_days,
            RetentionKind.LAPSED_HOLDS: self.retention_lapsed_holds_days,
            RetentionKind.UNVERIFIED_ACCOUNTS: self.retention_unverified_accounts_days,
        }
        return RetentionPolicy(
            {kind: timedelta(days=n) for kind, n in days.items() if n > 0},
            audit_years=self.retention_audit_log_years,
        )

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

        public_url = text("PUBLIC_URL", DEFAULT_PUBLIC_URL).rstrip("/")
        if not public_url.startswith(("https://", "http://")):
            problems.append(f"HELLODOCTOR_PUBLIC_URL is an http(s) URL, not {public_url!r}")
        elif production and public_url == DEFAULT_PUBLIC_URL:
            _log.warning("no HELLODOCTOR_PUBLIC_URL: e-mailed links point at %s", public_url)
        elif production and not public_url.startswith("https://"):
            # Reset and invitation links carry one-time secrets: never over plain HTTP.
            problems.append("HELLODOCTOR_PUBLIC_URL must be an https:// URL in production")

        proxies: list[Network] = []
        for entry in text("TRUSTED_PROXIES", "").split(","):
            if not entry.strip():
                continue
            try:
                proxies.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                problems.append(
                    "HELLODOCTOR_TRUSTED_PROXIES lists addresses or networks "
                    f"(10.0.0.0/8, ::1), not {entry.strip()!r}"
                )

        smtp_security = text("SMTP_SECURITY", "starttls").lower()
        if smtp_security not in SMTP_SECURITY:
            problems.append(
                f"HELLODOCTOR_SMTP_SECURITY is starttls, tls or none, not {smtp_security!r}"
            )
        smtp_host = text("SMTP_HOST", "") or None
        if production and smtp_host is None:
            _log.warning(
                "no HELLODOCTOR_SMTP_HOST: verification codes and reset links only reach the "
                "Maildir folder %s",
                text("MAIL_DIR", str(DEFAULT_MAIL_FOLDER)),
            )

        raw_reminders = environ.get("HELLODOCTOR_REMINDER_MINUTES", "1440,60")
        reminder_minutes: tuple[int, ...] = ()
        try:
            reminder_minutes = tuple(int(part) for part in raw_reminders.split(",") if part.strip())
        except ValueError:
            problems.append(
                "HELLODOCTOR_REMINDER_MINUTES is a comma-separated list of whole minutes "
                f"(1440,60), not {raw_reminders!r}"
            )
        if any(minutes <= 0 for minutes in reminder_minutes):
            problems.append("HELLODOCTOR_REMINDER_MINUTES must all be positive")

        broker_url = environ.get("HELLODOCTOR_BROKER_URL", "").strip() or None
        security_email: EmailAddress | None = None
        if text("SECURITY_EMAIL", ""):
            try:
                security_email = EmailAddress(text("SECURITY_EMAIL", ""))
            except InvalidValue:
                problems.append("HELLODOCTOR_SECURITY_EMAIL must be an e-mail address")
        if broker_url and not broker_url.startswith(("amqp://", "amqps://")):
            problems.append("HELLODOCTOR_BROKER_URL must be an amqp:// or amqps:// URL")

        stripe_secret_key = environ.get("HELLODOCTOR_STRIPE_SECRET_KEY", "").strip() or None
        stripe_webhook_secret = environ.get("HELLODOCTOR_STRIPE_WEBHOOK_SECRET", "").strip() or None
        stripe_api_base = text("STRIPE_API_BASE", "").rstrip("/") or None
        stripe_publishable_key = text("STRIPE_PUBLISHABLE_KEY", "") or None
        if bool(stripe_secret_key) != bool(stripe_webhook_secret):
            problems.append(
                "HELLODOCTOR_STRIPE_SECRET_KEY and HELLODOCTOR_STRIPE_WEBHOOK_SECRET go together: "
                "set both to take card payments through Stripe, or neither for payment at the "
                "clinic"
            )
        elif stripe_secret_key and not stripe_gateway_available():
            # An installation without the stripe extra: refuse now, not on the first payment.
            problems.append(
                "HELLODOCTOR_STRIPE_SECRET_KEY is set but this installation has no Stripe "
                "gateway (hellodoctor_adapters.stripe and the stripe SDK: pip install "
                "'hellodoctor[stripe]'); unset the Stripe variables to take payment at the clinic"
            )
        if stripe_api_base is not None and not stripe_api_base.startswith(("https://", "http://")):
            problems.append(
                f"HELLODOCTOR_STRIPE_API_BASE is an http(s) URL, not {stripe_api_base!r}"
            )

        currencies = tuple(
            c.strip().upper() for c in text("CURRENCIES", "GBP").split(",") if c.strip()
        )
        twilio = {
            name: environ.get(f"HELLODOCTOR_TWILIO_{name.upper()}", "").strip() or None
            for name in ("account_sid", "auth_token", "from")
        }
        if any(twilio.values()) and not all(twilio.values()):
            problems.append(
                "HELLODOCTOR_TWILIO_ACCOUNT_SID, HELLODOCTOR_TWILIO_AUTH_TOKEN and "
                "HELLODOCTOR_TWILIO_FROM go together: set all three to send SMS, or none"
            )
        feed_names = text("FEED_SHOWS_PATIENT_NAMES", "false").lower()
        if feed_names not in ("true", "false", "1", "0", "yes", "no"):
            problems.append("HELLODOCTOR_FEED_SHOWS_PATIENT_NAMES is true or false")
        for currency in currencies:
            if currency not in MINOR_UNIT_EXPONENTS:
                problems.append(
                    f"HELLODOCTOR_CURRENCIES lists ISO 4217 codes (GBP,EUR), not {currency!r}"
                )
        if not currencies:
            problems.append("HELLODOCTOR_CURRENCIES names at least one currency")
        smallest_top_up = integer("SMALLEST_TOP_UP", 100, 1)
        largest_top_up = integer("LARGEST_TOP_UP", 1_000_000, 1)
        if largest_top_up < smallest_top_up:
            problems.append("HELLODOCTOR_LARGEST_TOP_UP is below HELLODOCTOR_SMALLEST_TOP_UP")

        blob_url = text("BLOB_URL", DEFAULT_BLOB_URL)
        if not blob_url.startswith(("file:", "s3:")):
            problems.append(
                f"HELLODOCTOR_BLOB_URL is a file: or s3: URL (file:///srv/blobs, "
                f"s3://bucket/prefix?endpoint=...), not {blob_url!r}"
            )

        def urls(name: str, schemes: tuple[str, ...]) -> tuple[str, ...]:
            listed = tuple(u.strip() for u in text(name, "").split(",") if u.strip())
            for url in listed:
                if not url.startswith(schemes):
                    problems.append(
                        f"HELLODOCTOR_{name} lists {' or '.join(schemes)} URLs, not {url!r}"
                    )
            return listed

        signalling_url = text("SIGNALLING_URL", DEFAULT_SIGNALLING_URL).rstrip("/")
        if not signalling_url.startswith(("ws://", "wss://")):
            problems.append(f"HELLODOCTOR_SIGNALLING_URL is a ws(s):// URL, not {signalling_url!r}")
        stun_urls = urls("STUN_URLS", ("stun:", "stuns:"))
        turn_urls = urls("TURN_URLS", ("turn:", "turns:"))
        turn_secret = environ.get("HELLODOCTOR_TURN_SECRET", "").strip() or None
        if turn_urls and not turn_secret:
            problems.append(
                "HELLODOCTOR_TURN_URLS needs HELLODOCTOR_TURN_SECRET (coturn's static-auth-secret)"
            )

        cache_url = text("CACHE_URL", "") or None
        if cache_url is not None and not cache_url.startswith(("redis://", "rediss://", "unix://")):
            problems.append(f"HELLODOCTOR_CACHE_URL is a redis:// URL, not {cache_url!r}")

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
            public_url=public_url,
            trusted_proxies=tuple(proxies),
            smtp_host=smtp_host,
            smtp_port=integer("SMTP_PORT", 587, 1),
            smtp_username=text("SMTP_USERNAME", "") or None,
            smtp_password=environ.get("HELLODOCTOR_SMTP_PASSWORD") or None,
            smtp_security=smtp_security,
            mail_from=text("MAIL_FROM", "HelloDoctor <no-reply@localhost>"),
            mail_folder=Path(text("MAIL_DIR", str(DEFAULT_MAIL_FOLDER))),
            broker_url=broker_url,
            security_email=security_email,
            relay_max_attempts=integer("RELAY_MAX_ATTEMPTS", 10, 1),
            reminder_minutes=reminder_minutes,
            stripe_secret_key=stripe_secret_key,
            stripe_webhook_secret=stripe_webhook_secret,
            stripe_api_base=stripe_api_base,
            stripe_publishable_key=stripe_publishable_key,
            currencies=currencies or ("GBP",),
            smallest_top_up=smallest_top_up,
            largest_top_up=largest_top_up,
            blob_url=blob_url,
            max_upload_bytes=integer("MAX_UPLOAD_BYTES", 20 * 1024 * 1024, 1024),
            download_link_seconds=integer("DOWNLOAD_LINK_SECONDS", 300, 10),
            orphan_minutes=integer("ORPHAN_MINUTES", 60, 5),
            review_window_days=integer("REVIEW_WINDOW_DAYS", 30, 1),
            room_opens_minutes=integer("ROOM_OPENS_MINUTES", 10, 0),
            care_period_days=integer("CARE_PERIOD_DAYS", 90, 0),
            room_grace_minutes=integer("ROOM_GRACE_MINUTES", 15, 0),
            room_ticket_seconds=integer("ROOM_TICKET_SECONDS", 60, 5),
            signalling_url=signalling_url,
            signalling_bind=text("SIGNALLING_BIND", DEFAULT_SIGNALLING_BIND),
            stun_urls=stun_urls,
            turn_urls=turn_urls,
            turn_secret=turn_secret,
            turn_ttl_seconds=integer("TURN_TTL_SECONDS", 3600, 60),
            signalling_max_message_bytes=integer("SIGNALLING_MAX_MESSAGE_BYTES", 64 * 1024, 1024),
            signalling_messages_per_second=integer("SIGNALLING_MESSAGES_PER_SECOND", 20, 1),
            signalling_burst=integer("SIGNALLING_BURST", 60, 1),
            signalling_heartbeat_seconds=integer("SIGNALLING_HEARTBEAT_SECONDS", 20, 1),
            signalling_channel_prefix=text("SIGNALLING_CHANNEL_PREFIX", "hellodoctor"),
            twilio_account_sid=twilio["account_sid"],
            twilio_auth_token=twilio["auth_token"],
            twilio_from=twilio["from"],
            feed_shows_patient_names=feed_names in ("true", "1", "yes"),
            feed_requests_per_minute=integer("FEED_REQUESTS_PER_MINUTE", 30, 1),
            phi_keys=environ.get("HELLODOCTOR_PHI_KEYS") or None,
            phi_current_key=text("PHI_CURRENT_KEY", "") or None,
            phi_index_key=environ.get("HELLODOCTOR_PHI_INDEX_KEY") or None,
            phi_previous_index_keys=environ.get("HELLODOCTOR_PHI_PREVIOUS_INDEX_KEYS") or None,
            require_https=text("REQUIRE_HTTPS", "").lower() in ("true", "1", "yes"),
            waitlist_offer_minutes=integer("WAITLIST_OFFER_MINUTES", 15, 1),
            cache_url=cache_url,
            cache_seconds=integer("CACHE_SECONDS", 30, 1),
            retention_delivered_events_days=integer("RETENTION_DELIVERED_EVENTS_DAYS", 30, 0),
            retention_dead_letters_days=integer("RETENTION_DEAD_LETTERS_DAYS", 90, 0),
            retention_audit_log_years=integer("RETENTION_AUDIT_LOG_YEARS", 6, 6),
            retention_lapsed_holds_days=integer("RETENTION_LAPSED_HOLDS_DAYS", 90, 0),
            retention_unverified_accounts_days=integer("RETENTION_UNVERIFIED_ACCOUNTS_DAYS", 30, 0),
        )
        problems.extend(_phi_problems(settings))
        if problems:
            raise ConfigurationError("; ".join(problems))
        return settings


def _phi_problems(settings: Settings) -> list[str]:
    """What keeps the key ring of health data from being used (never quoting a key)."""
    if settings.require_https and not settings.trusted_proxies:
        return [
            "HELLODOCTOR_REQUIRE_HTTPS needs HELLODOCTOR_TRUSTED_PROXIES: only the proxy's "
            "X-Forwarded-Proto says whether the client spoke https"
        ]
    if settings.phi_keys is None and settings.phi_index_key is None:
        if settings.is_production:
            return [
                "production needs HELLODOCTOR_PHI_KEYS and HELLODOCTOR_PHI_INDEX_KEY: health "
                "data is encrypted at rest (docs/encryption.md; hellodoctor keys generate)"
            ]
        return []
    if settings.phi_keys is None or settings.phi_index_key is None:
        if settings.phi_previous_index_keys:
            return ["HELLODOCTOR_PHI_PREVIOUS_INDEX_KEYS needs HELLODOCTOR_PHI_INDEX_KEY"]
        return ["HELLODOCTOR_PHI_KEYS and HELLODOCTOR_PHI_INDEX_KEY go together"]
    from hellodoctor_adapters.crypto import KeyRingError, key_ring_from_text

    try:
        key_ring_from_text(
            settings.phi_keys,
            settings.phi_current_key,
            settings.phi_index_key,
            settings.phi_previous_index_keys,
        )
    except KeyRingError as error:
        return [f"HELLODOCTOR_PHI_KEYS: {error}"]
    return []
