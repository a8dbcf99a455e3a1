"""My notification preferences and my calendar feed over HTTP: defaults, replacement with the
phone number parsed into E.164, refusals; the feed's URL shown once, its token the only
credential (replaced, revoked, unknown: 404), its iCalendar content (one UID per visit,
SEQUENCE, cancelled ones kept, local times right on a daylight-saving day), ETag/304 and its
rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from attrs import evolve

from hellodoctor_domain import (
    AppointmentId,
    DoctorId,
    EmailAddress,
    Money,
    PatientId,
    Role,
    TimeRange,
    UserId,
)
from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_http.app import create_app
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.testing import FEE_DOCTOR, NOW, Headers, ValidatingClient

API = "/api/v1"
PREFERENCES = f"{API}/me/notification-preferences"
FEED = f"{API}/me/calendar-feed"
PROBLEM = "https://hellodoctor.dev/problems/"
# Sunday 31 March 2030: London moves to BST at 01:00 UTC. 09:00 UTC is 10:00 local that day;
# on Monday 25 March (GMT) 10:00 local is 10:00 UTC.
DST_DAY = datetime(2030, 3, 31, 9, 0, tzinfo=UTC)
WINTER_DAY = datetime(2030, 3, 25, 10, 0, tzinfo=UTC)


@pytest.fixture
def accounts(components: Components) -> Components:
    """Accounts behind the test tokens: patient pat-1 and the fee doctor (London)."""
    with components.storage() as uow:
        uow.accounts.add(
            Account(
                UserId("acct-pat-1"),
                EmailAddress("pat1@example.org"),
                Role.PATIENT,
                AccountStatus.ACTIVE,
                NOW,
                patient_id=PatientId("pat-1"),
            )
        )
        uow.accounts.add(
            Account(
                UserId(f"acct-{FEE_DOCTOR}"),
                EmailAddress("fee@example.org"),
                Role.DOCTOR,
                AccountStatus.ACTIVE,
                NOW,
                doctor_id=DoctorId(FEE_DOCTOR),
            )
        )
        for key, start, status in (
            ("appt-dst", DST_DAY, AppointmentStatus.BOOKED),
            ("appt-winter", WINTER_DAY, AppointmentStatus.BOOKED),
        ):
            uow.appointments.add(
                Appointment(
                    id=AppointmentId(key),
                    doctor_id=DoctorId(FEE_DOCTOR),
                    patient_id=PatientId("pat-1"),
                    time=TimeRange.starting_at(start, timedelta(minutes=30)),
                    price=Money(8000, "GBP"),
                    status=status,
                    created_at=NOW,
                )
            )
        uow.commit()
    return components


def _feed_path(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


# -- preferences ----------------------------------------------------------------------------


def test_preferences_start_as_the_defaults(
    client: ValidatingClient, accounts: Components, as_patient: Headers
) -> None:
    answer = client.simulate_get(PREFERENCES, headers=as_patient())
    assert answer.status_code == 200
    assert answer.json == {
        "channels": ["email"],
        "reminders": True,
        "language": "en",
        "time_zone": None,
        "phone": None,
    }


def test_preferences_are_replaced_and_the_phone_kept_as_e164(
    client: ValidatingClient, accounts: Components, as_patient: Headers
) -> None:
    chosen = {
        "channels": ["sms", "email"],
        "reminders": False,
        "language": "pt-BR",
        "time_zone": "America/Sao_Paulo",
        "phone": "+44 7911 123456",
    }
    saved = client.simulate_put(PREFERENCES, json=chosen, headers=as_patient())
    assert saved.status_code == 200, saved.text
    expected = {**chosen, "channels": ["email", "sms"], "phone": "+447911123456"}
    assert saved.json == expected
    assert client.simulate_get(PREFERENCES, headers=as_patient()).json == expected
    # Replaced whole: what is left out goes back to its default.
    again = {"channels": ["email"], "reminders": True, "language": "en"}
    assert client.simulate_put(PREFERENCES, json=again, headers=as_patient()).json == {
        **again,
        "time_zone": None,
        "phone": None,
    }


@pytest.mark.parametrize(
    ("body", "problem", "field"),
    [
        ({"channels": ["sms"]}, "invalid-value", None),  # SMS without a number
        ({"channels": ["email"], "phone": "12345"}, "validation-error", "phone"),
        ({"channels": ["email"], "phone": "+44 1234"}, "validation-error", "phone"),
        ({"channels": ["pigeon"]}, "validation-error", "channels[0]"),
        ({"channels": ["email"], "time_zone": "Mars/Olympus"}, "invalid-value", None),
        ({"channels": ["email"], "language": "english"}, "validation-error", "language"),
        ({"channels": ["email"], "role": "admin"}, "validation-error", None),
    ],
)
def test_bad_preferences_are_refused_naming_why(
    client: ValidatingClient,
    accounts: Components,
    as_patient: Headers,
    body: dict[str, object],
    problem: str,
    field: str | None,
) -> None:
    sent = {"reminders": True, "language": "en", **body}
    refused = client.simulate_put(PREFERENCES, json=sent, headers=as_patient())
    assert refused.status_code == 422, refused.text
    assert refused.json["type"] == PROBLEM + problem
    if field is not None:
        assert field in [error["field"] for error in refused.json["errors"]]
    default = client.simulate_get(PREFERENCES, headers=as_patient()).json
    assert default["channels"] == ["email"]  # nothing was saved


def test_preferences_need_a_sign_in(client: ValidatingClient) -> None:
    assert client.simulate_get(PREFERENCES).status_code == 401


# -- the calendar feed ----------------------------------------------------------------------


def _events(body: bytes) -> dict[str, icalendar.Event]:
    parsed = icalendar.Calendar.from_ical(body)
    return {str(event["uid"]): event for event in parsed.walk("VEVENT")}


def test_the_feed_lists_my_visits_in_the_doctors_local_time_across_daylight_saving(
    client: ValidatingClient, accounts: Components, as_patient: Headers
) -> None:
    made = client.simulate_post(FEED, headers=as_patient())
    assert made.status_code == 201
    assert made.headers["cache-control"] == "no-store"
    feed = client.simulate_get(_feed_path(made.json["url"]))
    assert feed.status_code == 200
    assert feed.headers["content-type"].startswith("text/calendar")
    parsed = icalendar.Calendar.from_ical(feed.content)
    assert [zone["tzid"] for zone in parsed.walk("VTIMEZONE")] == ["Europe/London"]
    events = _events(feed.content)
    assert set(events) == {"appt-dst@hellodoctor", "appt-winter@hellodoctor"}
    for key, moment in (("appt-dst", DST_DAY), ("appt-winter", WINTER_DAY)):
        start = events[f"{key}@hellodoctor"].decoded("dtstart")
        assert start == moment  # the same instant...
        local = start.astimezone(ZoneInfo("Europe/London"))
        assert (local.hour, local.minute) == (10, 0)  # ...10:00 on the clinic's clock both days
        assert str(events[f"{key}@hellodoctor"]["summary"]) == f"Appointment with Dr {FEE_DOCTOR}"
    assert events["appt-dst@hellodoctor"].decoded("dtstart").utcoffset() == timedelta(hours=1)
    assert events["appt-winter@hellodoctor"].decoded("dtstart").utcoffset() == timedelta(0)


def test_a_cancelled_visit_stays_in_the_feed_as_cancelled_with_a_higher_sequence(
    client: ValidatingClient, accounts: Components, as_patient: Headers
) -> None:
    path = _feed_path(client.simulate_post(FEED, headers=as_patient()).json["url"])
    first = client.simulate_get(path)
    before = _events(first.content)["appt-winter@hellodoctor"]
    cancelled = client.simulate_post(
        f"{API}/appointments/appt-winter/cancel", json={"reason": "away"}, headers=as_patient()
    )
    assert cancelled.status_code == 200, cancelled.text
    after = client.simulate_get(path)
    event = _events(after.content)["appt-winter@hellodoctor"]
    assert str(event["status"]) == "CANCELLED"
    assert str(_events(after.content)["appt-dst@hellodoctor"]["status"]) == "CONFIRMED"
    assert int(event["sequence"]) > int(before["sequence"])
    assert after.headers["etag"] != first.headers["etag"]


def test_an_unchanged_feed_is_304_on_its_etag(
    client: ValidatingClient, accounts: Components, as_patient: Headers
) -> None:
    path = _feed_path(client.simulate_post(FEED, headers=as_patient()).json["url"])
    first = client.simulate_get(path)
    etag = first.headers["etag"]
    assert first.headers["last-modified"]
    unchanged = client.simulate_get(path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    other = client.simulate_get(path, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


def test_a_new_feed_replaces_the_old_url_and_revoking_ends_it(
    client: ValidatingClient, accounts: Components, as_patient: Headers
) -> None:
    old = _feed_path(client.simulate_post(FEED, headers=as_patient()).json["url"])
    new = _feed_path(client.simulate_post(FEED, headers=as_patient()).json["url"])
    assert old != new
    assert client.simulate_get(old).status_code == 404
    assert client.simulate_get(new).status_code == 200
    assert client.simulate_delete(FEED, headers=as_patient()).status_code == 204
    gone = client.simulate_get(new)
    assert gone.status_code == 404
    assert gone.json["type"] == PROBLEM + "not-found"
    assert client.simulate_delete(FEED, headers=as_patient()).status_code == 404
    unknown = f"{API}/calendar/{'A' * 43}.ics"
    assert client.simulate_get(unknown).status_code == 404


def test_a_doctors_feed_says_appointment_not_the_patients_name(
    client: ValidatingClient, accounts: Components, as_doctor: Headers
) -> None:
    path = _feed_path(client.simulate_post(FEED, headers=as_doctor()).json["url"])
    events = _events(client.simulate_get(path).content)
    assert {str(event["summary"]) for event in events.values()} == {"Appointment"}


def test_a_clinic_may_show_patients_names_in_doctors_feeds(
    client: ValidatingClient, accounts: Components, as_doctor: Headers
) -> None:
    shown = evolve(accounts, settings=evolve(accounts.settings, feed_shows_patient_names=True))
    named = ValidatingClient(create_app(shown))
    path = _feed_path(named.simulate_post(FEED, headers=as_doctor()).json["url"])
    events = _events(named.simulate_get(path).content)
    assert {str(event["summary"]) for event in events.values()} == {"Appointment: Patient pat-1"}


def test_only_patients_and_doctors_have_feeds(
    client: ValidatingClient, accounts: Components, as_admin: Headers
) -> None:
    refused = client.simulate_post(FEED, headers=as_admin())
    assert refused.status_code == 403


def test_the_feed_is_rate_limited(
    client: ValidatingClient, accounts: Components, as_patient: Headers
) -> None:
    path = _feed_path(client.simulate_post(FEED, headers=as_patient()).json["url"])
    allowed = accounts.settings.feed_requests_per_minute
    answers = [client.simulate_get(path).status_code for _ in range(allowed + 1)]
    assert answers == [200] * allowed + [429]
    # Guessing other tokens is counted too, from the same address.
    limited = client.simulate_get(path)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
