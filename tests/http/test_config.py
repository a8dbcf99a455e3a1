"""Settings come from the environment in one place and refuse an unsafe production."""

from __future__ import annotations

import logging

import pytest

from hellodoctor_domain import Role
from hellodoctor_http.config import (
    DEFAULT_DATABASE_URL,
    ConfigurationError,
    Settings,
    stripe_gateway_available,
)

STRONG = "k" * 40


def test_development_defaults_generate_a_key_and_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        first = Settings.from_environ({})
    second = Settings.from_environ({})
    assert first.database_url == DEFAULT_DATABASE_URL
    assert first.jwt_secret_generated
    assert len(first.jwt_secret) >= 32
    assert first.jwt_secret != second.jwt_secret
    assert "HELLODOCTOR_JWT_SECRET" in caplog.text
    assert first.jwt_secret not in repr(first)
    assert first.max_body_bytes == 64 * 1024
    assert first.bcrypt_cost == 12


@pytest.mark.parametrize("secret", [None, "", "short-key"])
def test_production_refuses_a_missing_or_weak_key(secret: str | None) -> None:
    environ = {"HELLODOCTOR_ENV": "production"}
    if secret is not None:
        environ["HELLODOCTOR_JWT_SECRET"] = secret
    with pytest.raises(ConfigurationError, match="HELLODOCTOR_JWT_SECRET"):
        Settings.from_environ(environ)


def test_production_refuses_a_low_bcrypt_cost() -> None:
    with pytest.raises(ConfigurationError, match="BCRYPT_COST"):
        Settings.from_environ(
            {
                "HELLODOCTOR_ENV": "production",
                "HELLODOCTOR_JWT_SECRET": STRONG,
                "HELLODOCTOR_BCRYPT_COST": "10",
            }
        )


def test_every_setting_is_read() -> None:
    settings = Settings.from_environ(
        {
            "HELLODOCTOR_ENV": "production",
            "HELLODOCTOR_JWT_SECRET": STRONG,
            "HELLODOCTOR_DATABASE_URL": "postgresql://db/hd",
            "HELLODOCTOR_JWT_ISSUER": "iss",
            "HELLODOCTOR_JWT_AUDIENCE": "aud",
            "HELLODOCTOR_CORS_ORIGINS": "https://a.example, https://b.example",
            "HELLODOCTOR_MAX_BODY_BYTES": "2048",
            "HELLODOCTOR_HOLD_MINUTES": "10",
            "HELLODOCTOR_REDIS_URL": "redis://127.0.0.1:6379/0",
            "HELLODOCTOR_BCRYPT_COST": "13",
            "HELLODOCTOR_REQUIRE_TOTP_FOR": "doctor,admin",
            "HELLODOCTOR_BIND": "0.0.0.0:9000",
            "HELLODOCTOR_PUBLIC_URL": "https://app.example/",
            "HELLODOCTOR_TRUSTED_PROXIES": "10.0.0.0/8, ::1",
            "HELLODOCTOR_SMTP_HOST": "smtp.example",
            "HELLODOCTOR_SMTP_PORT": "465",
            "HELLODOCTOR_SMTP_USERNAME": "mailer",
            "HELLODOCTOR_SMTP_PASSWORD": "smtp-secret",
            "HELLODOCTOR_SMTP_SECURITY": "tls",
            "HELLODOCTOR_MAIL_FROM": "Clinic <no-reply@app.example>",
            "HELLODOCTOR_MAIL_DIR": "/tmp/elsewhere",
            # Test-only keys (32 bytes of 0x01, 0x02, 0x03): docs/encryption.md.
            "HELLODOCTOR_PHI_KEYS": "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=",
            "HELLODOCTOR_PHI_CURRENT_KEY": "k1",
            "HELLODOCTOR_PHI_INDEX_KEY": "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=",
            "HELLODOCTOR_REQUIRE_HTTPS": "true",
        }
    )
    assert settings.is_production
    assert (settings.phi_current_key, settings.require_https) == ("k1", True)
    assert "AQEBAQ" not in repr(settings)
    assert not settings.jwt_secret_generated
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert (settings.max_body_bytes, settings.hold_minutes, settings.bcrypt_cost) == (2048, 10, 13)
    assert settings.require_totp_for == {Role.DOCTOR, Role.ADMIN}
    assert (settings.jwt_issuer, settings.jwt_audience, settings.bind) == (
        "iss",
        "aud",
        "0.0.0.0:9000",
    )
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.password_link == "https://app.example/set-password"
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "::1/128"]
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_security) == (
        "smtp.example",
        465,
        "tls",
    )
    assert (settings.smtp_username, settings.mail_from) == (
        "mailer",
        "Clinic <no-reply@app.example>",
    )
    assert str(settings.mail_folder) == "/tmp/elsewhere"
    assert "smtp-secret" not in repr(settings)


def test_production_refuses_links_over_plain_http() -> None:
    with pytest.raises(ConfigurationError, match="PUBLIC_URL"):
        Settings.from_environ(
            {
                "HELLODOCTOR_ENV": "production",
                "HELLODOCTOR_JWT_SECRET": STRONG,
                "HELLODOCTOR_PUBLIC_URL": "http://app.example",
            }
        )


def test_every_problem_is_listed_at_once() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environ(
            {
                "HELLODOCTOR_ENV": "staging",
                "HELLODOCTOR_CORS_ORIGINS": "*",
                "HELLODOCTOR_MAX_BODY_BYTES": "lots",
                "HELLODOCTOR_REQUIRE_TOTP_FOR": "root",
                "HELLODOCTOR_TRUSTED_PROXIES": "proxy.example",
                "HELLODOCTOR_SMTP_SECURITY": "ssl3",
                "HELLODOCTOR_PUBLIC_URL": "app.example",
            }
        )
    message = str(refused.value)
    for name in (
        "ENV",
        "CORS_ORIGINS",
        "MAX_BODY_BYTES",
        "REQUIRE_TOTP_FOR",
        "JWT_SECRET",
        "TRUSTED_PROXIES",
        "SMTP_SECURITY",
        "PUBLIC_URL",
    ):
        assert f"HELLODOCTOR_{name}" in message


def test_payment_settings_are_read() -> None:
    settings = Settings.from_environ(
        {
            "HELLODOCTOR_CURRENCIES": "eur, GBP",
            "HELLODOCTOR_SMALLEST_TOP_UP": "500",
            "HELLODOCTOR_LARGEST_TOP_UP": "50000",
        }
    )
    assert settings.currencies == ("EUR", "GBP")
    assert (settings.smallest_top_up, settings.largest_top_up) == (500, 50_000)
    assert not settings.uses_stripe  # the offline gateway: pay at the clinic


def test_payment_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environ(
            {
                "HELLODOCTOR_CURRENCIES": "GBP,pounds",
                "HELLODOCTOR_SMALLEST_TOP_UP": "900",
                "HELLODOCTOR_LARGEST_TOP_UP": "800",
                "HELLODOCTOR_STRIPE_SECRET_KEY": "sk_test_only_half",
                "HELLODOCTOR_STRIPE_API_BASE": "localhost:8420",
            }
        )
    message = str(refused.value)
    assert "'POUNDS'" in message
    assert "HELLODOCTOR_LARGEST_TOP_UP is below" in message
    assert "go together" in message
    assert "HELLODOCTOR_STRIPE_API_BASE" in message
    assert "sk_test_only_half" not in message


def test_stripe_keys_need_the_stripe_adapter() -> None:
    """Until the Stripe adapter is part of the build, its keys are refused at start-up rather
    than taking card payments nobody can make."""
    environ = {
        "HELLODOCTOR_STRIPE_SECRET_KEY": "sk_test_123",
        "HELLODOCTOR_STRIPE_WEBHOOK_SECRET": "whsec_123",
    }
    if stripe_gateway_available():
        settings = Settings.from_environ(environ)
        assert settings.uses_stripe
        assert "sk_test_123" not in repr(settings)
        assert "whsec_123" not in repr(settings)
    else:
        with pytest.raises(ConfigurationError, match="no Stripe gateway"):
            Settings.from_environ(environ)


def test_telemedicine_settings_are_read() -> None:
    settings = Settings.from_environ(
        {
            "HELLODOCTOR_ROOM_OPENS_MINUTES": "5",
            "HELLODOCTOR_ROOM_GRACE_MINUTES": "0",
            "HELLODOCTOR_ROOM_TICKET_SECONDS": "30",
            "HELLODOCTOR_SIGNALLING_URL": "wss://rooms.example.org/",
            "HELLODOCTOR_SIGNALLING_BIND": "0.0.0.0:9001",
            "HELLODOCTOR_STUN_URLS": "stun:a.example:3478, stun:b.example:3478",
            "HELLODOCTOR_TURN_URLS": "turns:t.example:5349",
            "HELLODOCTOR_TURN_SECRET": "coturn-secret",
            "HELLODOCTOR_TURN_TTL_SECONDS": "600",
            "HELLODOCTOR_SIGNALLING_MAX_MESSAGE_BYTES": "8192",
            "HELLODOCTOR_SIGNALLING_MESSAGES_PER_SECOND": "5",
            "HELLODOCTOR_SIGNALLING_BURST": "10",
            "HELLODOCTOR_SIGNALLING_HEARTBEAT_SECONDS": "15",
            "HELLODOCTOR_SIGNALLING_CHANNEL_PREFIX": "clinic-a",
        }
    )
    assert (settings.room_opens_minutes, settings.room_grace_minutes) == (5, 0)
    assert settings.room_ticket_seconds == 30
    assert settings.signalling_url == "wss://rooms.example.org"
    assert settings.signalling_bind == "0.0.0.0:9001"
    assert settings.stun_urls == ("stun:a.example:3478", "stun:b.example:3478")
    assert (settings.turn_urls, settings.turn_ttl_seconds) == (("turns:t.example:5349",), 600)
    assert settings.turn_secret == "coturn-secret"
    assert "coturn-secret" not in repr(settings)
    assert (settings.signalling_max_message_bytes, settings.signalling_burst) == (8192, 10)
    assert settings.signalling_messages_per_second == 5
    assert settings.signalling_heartbeat_seconds == 15
    assert settings.signalling_channel_prefix == "clinic-a"


def test_telemedicine_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_environ(
            {
                "HELLODOCTOR_SIGNALLING_URL": "http://rooms.example.org",
                "HELLODOCTOR_STUN_URLS": "https://stun.example",
                "HELLODOCTOR_TURN_URLS": "turn:t.example:3478",
                "HELLODOCTOR_ROOM_TICKET_SECONDS": "1",
            }
        )
    message = str(refused.value)
    for variable in ("SIGNALLING_URL", "STUN_URLS", "TURN_SECRET", "ROOM_TICKET_SECONDS"):
        assert f"HELLODOCTOR_{variable}" in message


def test_reminder_lead_times_are_whole_positive_minutes() -> None:
    assert Settings.from_environ({}).reminder_minutes == (1440, 60)
    assert Settings.from_environ({"HELLODOCTOR_REMINDER_MINUTES": "120"}).reminder_minutes == (120,)
    assert Settings.from_environ({"HELLODOCTOR_REMINDER_MINUTES": ""}).reminder_minutes == ()
    for wrong in ("soon", "60,-5"):
        with pytest.raises(ConfigurationError, match="HELLODOCTOR_REMINDER_MINUTES"):
            Settings.from_environ({"HELLODOCTOR_REMINDER_MINUTES": wrong})


def test_a_broker_url_must_be_amqp() -> None:
    assert Settings.from_environ({}).broker_url is None
    with pytest.raises(ConfigurationError, match="HELLODOCTOR_BROKER_URL"):
        Settings.from_environ({"HELLODOCTOR_BROKER_URL": "redis://localhost"})


def test_twilio_settings_go_together_and_make_the_sms_sender() -> None:
    from hellodoctor_adapters.sms import TwilioSms
    from hellodoctor_http.bootstrap import sms_for

    none = Settings.from_environ({})
    assert not none.sends_sms
    assert sms_for(none) is None
    with pytest.raises(ConfigurationError, match="HELLODOCTOR_TWILIO_AUTH_TOKEN"):
        Settings.from_environ({"HELLODOCTOR_TWILIO_ACCOUNT_SID": "AC" + "0" * 32})
    settings = Settings.from_environ(
        {
            "HELLODOCTOR_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
            "HELLODOCTOR_TWILIO_AUTH_TOKEN": "twilio-secret-token",
            "HELLODOCTOR_TWILIO_FROM": "+15005550006",
        }
    )
    assert settings.sends_sms
    assert "twilio-secret-token" not in repr(settings)
    assert isinstance(sms_for(settings), TwilioSms)


def test_feed_settings() -> None:
    assert Settings.from_environ({}).feed_shows_patient_names is False
    shown = Settings.from_environ(
        {
            "HELLODOCTOR_FEED_SHOWS_PATIENT_NAMES": "true",
            "HELLODOCTOR_FEED_REQUESTS_PER_MINUTE": "5",
        }
    )
    assert (shown.feed_shows_patient_names, shown.feed_requests_per_minute) == (True, 5)
    with pytest.raises(ConfigurationError, match="FEED_SHOWS_PATIENT_NAMES"):
        Settings.from_environ({"HELLODOCTOR_FEED_SHOWS_PATIENT_NAMES": "perhaps"})


def test_the_waitlist_offer_time_is_read_and_positive() -> None:
    base = {"HELLODOCTOR_JWT_SECRET": STRONG}
    assert Settings.from_environ(base).waitlist_offer_minutes == 15
    read = Settings.from_environ({**base, "HELLODOCTOR_WAITLIST_OFFER_MINUTES": "30"})
    assert read.waitlist_offer_minutes == 30
    with pytest.raises(ConfigurationError):
        Settings.from_environ({**base, "HELLODOCTOR_WAITLIST_OFFER_MINUTES": "0"})


def test_cache_settings() -> None:
    assert Settings.from_environ({}).cache_url is None
    settings = Settings.from_environ(
        {"HELLODOCTOR_CACHE_URL": "redis://127.0.0.1:6379/2", "HELLODOCTOR_CACHE_SECONDS": "10"}
    )
    assert (settings.cache_url, settings.cache_seconds) == ("redis://127.0.0.1:6379/2", 10)
    with pytest.raises(ConfigurationError, match="HELLODOCTOR_CACHE_URL"):
        Settings.from_environ({"HELLODOCTOR_CACHE_URL": "memcached://x"})
