"""How each person wants to be told: channels, reminders, language, their own time zone and
SMS number (``NotificationPreferences``), and their private calendar feed (``CalendarFeed``).

A phone number here is already E.164 (``+`` and up to 15 digits): the boundary parses what a
person types (``phonenumbers`` in the HTTP layer) and hands the domain the canonical form; the
value object refuses anything else. A calendar feed's token is a secret like a refresh token:
only its SHA-256 digest is stored, and the URL is shown once, when it is made.
"""

from __future__ import annotations

import enum
import hashlib
import re
from datetime import datetime

from attrs import define, field

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.values import UserId, time_zone, utc

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_LANGUAGE = re.compile(r"[a-z]{2,3}(-[A-Z]{2})?")
LANGUAGES = ("en",)  # the languages templates exist for; others fall back to English


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"


@define(frozen=True)
class PhoneNumber:
    """A phone number in E.164 form, e.g. ``+447700900123``."""

    value: str

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.value, str) or not _E164.fullmatch(self.value):
            raise InvalidValue(f"{self.value!r} is not an E.164 phone number (+ and digits)")

    def __str__(self) -> str:
        return self.value


def _channels(values: object) -> frozenset[Channel]:
    if isinstance(values, str):
        raise InvalidValue("channels is a list, not one string")
    return frozenset(Channel(value) for value in values)  # type: ignore[attr-defined]


def _language(_instance: object, _attribute: object, value: str) -> None:
    if not isinstance(value, str) or not _LANGUAGE.fullmatch(value):
        raise InvalidValue(f"{value!r} is not a language tag such as 'en' or 'pt-BR'")


def _optional_zone(_instance: object, _attribute: object, value: str | None) -> None:
    if value is not None:
        time_zone(value)


@define(eq=False)
class NotificationPreferences:
    """One account's choices. Without a stored row everyone has the defaults: e-mail only,
    reminders on, English, times in the doctor's zone."""

    account_id: UserId
    channels: frozenset[Channel] = field(default=frozenset({Channel.EMAIL}), converter=_channels)
    reminders: bool = True
    language: str = field(default="en", validator=_language)
    # The person's own zone for the times in their messages (None: the doctor's zone).
    time_zone: str | None = field(default=None, validator=_optional_zone)
    phone: PhoneNumber | None = None  # where SMS go
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if Channel.SMS in self.channels and self.phone is None:
            raise InvalidValue("SMS needs a phone number")

    def wants(self, channel: Channel) -> bool:
        return channel in self.channels

    def zone_or(self, fallback: str) -> str:
        return self.time_zone or fallback


def feed_digest(token: str) -> str:
    """What is stored of a feed token: its SHA-256 (the token has 256 bits of entropy, so no
    salt is needed, and the digest is the lookup key)."""
    return hashlib.sha256(token.encode()).hexdigest()


@define(eq=False)
class CalendarFeed:
    """An account's private iCalendar subscription: one per account; regenerating replaces the
    digest (the old URL stops working), revoking deletes it."""

    account_id: UserId
    digest: str = field(repr=False)
    created_at: datetime = field(converter=utc)
