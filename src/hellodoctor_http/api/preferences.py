"""My notification preferences, my calendar feed, and the feed itself.

``GET``/``PUT /api/v1/me/notification-preferences``: channels (e-mail, SMS), reminders on or
off, language, my own time zone, my SMS number -- parsed with ``phonenumbers`` and kept in
E.164 form (a number that is not valid anywhere is 422 naming ``phone``).

``POST /api/v1/me/calendar-feed`` makes a private feed URL (shown once: only the token's digest
is stored; asking again replaces it), ``DELETE`` revokes it. ``GET /api/v1/calendar/{token}.ics``
needs no sign-in (calendar apps cannot send one): the token is the credential, an unknown or
revoked one is 404, every request is counted per token and per client address (429 past
``HELLODOCTOR_FEED_REQUESTS_PER_MINUTE``), and an unchanged feed is 304 on ``If-None-Match``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import falcon
import phonenumbers

from hellodoctor_adapters.mail.calendar import calendar, calendar_event
from hellodoctor_domain.errors import NotFound, TooManyAttempts
from hellodoctor_domain.model.notifications import (
    Channel,
    NotificationPreferences,
    PhoneNumber,
    feed_digest,
)
from hellodoctor_domain.model.values import Role
from hellodoctor_domain.use_cases.preferences import CalendarFeedView, Preferences
from hellodoctor_http.api import Resource
from hellodoctor_http.api.accounts import client_address
from hellodoctor_http.api.doctors import ZONE_PATTERN
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import FieldRefused, items, request_body, text, wire, wire_values
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    STRING,
    Operation,
    Param,
    Route,
    answer,
)

LANGUAGE_PATTERN = "^[a-z]{2,3}(-[A-Z]{2})?$"
# What new_token() makes: 32 random bytes, URL-safe base64 (43 characters).
TOKEN_PATTERN = "^[A-Za-z0-9_-]{20,64}$"
# What a phone number may be written with before phonenumbers judges it: + and digits, with
# spaces, brackets, dots, dashes or slashes between.
PHONE_PATTERN = "^\\+[0-9][0-9 ()./-]{3,30}$"


@request_body
class PreferencesBody:
    channels: tuple[str, ...] = items(
        2, each={"type": "string", "enum": wire_values(Channel)}, description="email, sms"
    )
    reminders: bool = wire(description="Reminders before each visit.")
    language: str = text(8, pattern=LANGUAGE_PATTERN, description="e.g. en, pt-BR.")
    time_zone: str | None = text(
        64,
        default=None,
        pattern=ZONE_PATTERN,
        description="IANA zone for the times in your messages (default: the doctor's).",
    )
    phone: str | None = text(
        32,
        default=None,
        pattern=PHONE_PATTERN,
        validator=lambda _body, _attribute, value: e164(value),
        description="For SMS, with its country code (+44 7911 123456); kept as E.164.",
    )


def e164(raw: str | None) -> PhoneNumber | None:
    """The number in E.164 form, or 422 naming ``phone``: it must carry its country code and
    be a valid number there (``phonenumbers``)."""
    if raw is None:
        return None
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        raise FieldRefused("phone", "not a phone number with its country code (+...)") from None
    if not phonenumbers.is_valid_number(parsed):
        raise FieldRefused("phone", "not a valid phone number")
    return PhoneNumber(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def preferences_json(chosen: NotificationPreferences) -> dict[str, Any]:
    return {
        "channels": sorted(chosen.channels),
        "reminders": chosen.reminders,
        "language": chosen.language,
        "time_zone": chosen.time_zone,
        "phone": None if chosen.phone is None else chosen.phone.value,
    }


SCHEMAS: dict[str, Any] = {
    "NotificationPreferences": answer(
        channels={"type": "array", "items": {"enum": wire_values(Channel)}},
        reminders={"type": "boolean"},
        language=STRING,
        time_zone={"type": ["string", "null"]},
        phone={"type": ["string", "null"], "description": "E.164"},
    ),
    "CalendarFeed": answer(
        url={**STRING, "description": "Subscribe to it; it is shown only now."},
    ),
}


class _Preferenced(Resource):
    def preferences(self) -> Preferences:
        built = self.components.preferences
        if built is None:  # components assembled by hand, without bootstrap
            raise NotFound("notification preferences are not configured")
        return built


class MyPreferences(_Preferenced):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        write_json(resp, preferences_json(self.preferences().preferences(require_actor(req))))

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        body = self.body(req, PreferencesBody)
        chosen = self.preferences().set_preferences(
            actor,
            channels=frozenset(Channel(each) for each in body.channels),
            reminders=body.reminders,
            language=body.language,
            time_zone=body.time_zone,
            phone=e164(body.phone),
        )
        write_json(resp, preferences_json(chosen))


class MyCalendarFeed(_Preferenced):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        token = self.preferences().create_feed(require_actor(req))
        write_json(resp, {"url": f"{self.settings.public_url}{API}/calendar/{token}.ics"})
        resp.status = falcon.HTTP_201
        resp.set_header("Cache-Control", "no-store")

    def on_delete(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.preferences().revoke_feed(require_actor(req))
        resp.status = falcon.HTTP_204


class CalendarFeedFile(_Preferenced):
    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        now = self.components.clock.now()
        throttle = self.components.feed_throttle
        if throttle is not None:
            keys = [
                f"feed:{feed_digest(token)}",
                f"feed-address:{client_address(req, self.settings.trusted_proxies)}",
            ]
            wait = throttle.blocked_for(keys, now)
            if wait is not None:
                raise TooManyAttempts(max(1, int(wait.total_seconds())))
            throttle.failed(keys, now)  # every request counts, answered or not
        view = self.preferences().feed(token)
        body = feed_ics(view, self.settings.feed_shows_patient_names, stamp=now)
        version = body_key(view, self.settings.feed_shows_patient_names)
        etag = f'"{hashlib.sha256(version).hexdigest()[:32]}"'
        resp.set_header("ETag", etag)
        resp.set_header(
            "Last-Modified", format_datetime(view.changed_at.astimezone(UTC), usegmt=True)
        )
        resp.set_header("Cache-Control", "private, max-age=300")
        if etag in (req.get_header("If-None-Match") or "").replace(" ", "").split(","):
            resp.status = falcon.HTTP_304
            return
        resp.content_type = "text/calendar; charset=utf-8"
        resp.data = body


def body_key(view: CalendarFeedView, names: bool) -> bytes:
    """What the feed's ETag covers: every appointment's id, version and status (a move or a
    cancellation bumps the version), and whether names are shown."""
    parts = [f"{view.account.id}:{names}"] + [
        f"{each.id}:{each.version}:{each.status}" for each in view.appointments
    ]
    return "\n".join(parts).encode()


def feed_ics(view: CalendarFeedView, show_patient_names: bool, *, stamp: datetime) -> bytes:
    """The feed: one VEVENT per appointment (UID and SEQUENCE as in the mails), cancelled ones
    kept as STATUS:CANCELLED, each in its doctor's zone with that zone's VTIMEZONE."""
    entries = []
    for appointment in view.appointments:
        doctor = view.doctors[appointment.doctor_id]
        if view.account.role is Role.PATIENT:
            summary = f"Appointment with {doctor.name}"
        elif show_patient_names:
            summary = f"Appointment: {view.patients[appointment.patient_id].name}"
        else:
            summary = "Appointment"  # privacy default: a doctor's calendar may be seen by others
        entries.append(calendar_event(appointment, doctor, summary, stamp=stamp))
    feed = calendar(entries)
    feed.add("x-wr-calname", "HelloDoctor appointments")
    feed.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    return bytes(feed.to_ical())


_TOKEN = Param(
    "token",
    "path",
    {"type": "string", "minLength": 20, "maxLength": 64, "pattern": TOKEN_PATTERN},
    "The feed's secret token, from the URL POST /api/v1/me/calendar-feed gave",
    required=True,
)

ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/me/notification-preferences",
        MyPreferences,
        {
            "get": Operation(
                "My notification preferences (the defaults until I change them)",
                "bearer",
                "any signed-in account, for itself",
                response="NotificationPreferences",
                problems=("not-found",),
                tag="notifications",
            ),
            "put": Operation(
                "Replace my notification preferences (SMS needs a phone number)",
                "bearer",
                "any signed-in account, for itself",
                response="NotificationPreferences",
                body=PreferencesBody,
                problems=(*BODY_PROBLEMS, "not-found", "invalid-value", "concurrent-update"),
                tag="notifications",
            ),
        },
    ),
    Route(
        f"{API}/me/calendar-feed",
        MyCalendarFeed,
        {
            "post": Operation(
                "Make my private calendar feed URL (shown once; replaces any earlier one)",
                "bearer",
                "patient, doctor (for themself)",
                ok=201,
                response="CalendarFeed",
                problems=("access-denied", "not-found"),
                tag="notifications",
            ),
            "delete": Operation(
                "Revoke my calendar feed: its URL stops working",
                "bearer",
                "patient, doctor (for themself)",
                ok=204,
                problems=("not-found",),
                tag="notifications",
            ),
        },
    ),
    Route(
        f"{API}/calendar/{{token}}.ics",
        CalendarFeedFile,
        {
            "get": Operation(
                "A private iCalendar feed of the owner's appointments (cancelled ones as "
                "STATUS:CANCELLED); 304 on If-None-Match",
                "public",
                "the URL's holder (the token is the credential); rate limited",
                response_type="text/calendar",
                params=(_TOKEN,),
                problems=("not-found", "too-many-requests"),
                headers=("ETag", "Last-Modified", "Cache-Control"),
                not_modified=True,
                tag="notifications",
            )
        },
    ),
)
