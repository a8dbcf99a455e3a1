"""Each person's notification preferences, and their private calendar feed.

Preferences belong to the signed-in account (any role): reading gives the defaults when none
were saved; saving replaces them whole, compare-and-set. A calendar feed is for patients and
doctors (the people with appointments): creating one makes a fresh secret token and stores only
its digest, replacing any earlier feed (the old URL stops working); revoking deletes it. The
token is the only credential of the feed URL, so an unknown or revoked one is simply not found.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from attrs import define

from hellodoctor_domain.errors import AccessDenied, NotFound
from hellodoctor_domain.model.accounts import Account, AccountStatus, new_token
from hellodoctor_domain.model.appointment import Appointment
from hellodoctor_domain.model.notifications import (
    CalendarFeed,
    Channel,
    NotificationPreferences,
    PhoneNumber,
    feed_digest,
)
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.values import Actor, DoctorId, PatientId, Role
from hellodoctor_domain.ports.runtime import Clock
from hellodoctor_domain.ports.scheduling import AppointmentQuery
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.retry import retrying

FEED_ROLES = (Role.PATIENT, Role.DOCTOR)
FEED_PAST = timedelta(days=90)  # how far back a feed reaches
FEED_LIMIT = 1000  # appointments in one feed at most, the soonest-starting first


@define(frozen=True)
class CalendarFeedView:
    """What a feed shows: its owner and their appointments (from ``FEED_PAST`` ago on), with
    the doctors (for their zones and names) and patients (for doctors' feeds) they name."""

    account: Account
    appointments: list[Appointment]
    doctors: dict[DoctorId, Doctor]
    patients: dict[PatientId, Patient]
    # When the newest change among them happened (Last-Modified): the feed's own creation
    # when nothing is newer.
    changed_at: datetime


class Preferences:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def preferences(self, actor: Actor) -> NotificationPreferences:
        with self._uow() as uow:
            _account(uow, actor)
            stored = uow.notification_preferences.get(actor.user_id)
        return stored or NotificationPreferences(actor.user_id)

    def set_preferences(
        self,
        actor: Actor,
        *,
        channels: frozenset[Channel],
        reminders: bool,
        language: str,
        time_zone: str | None,
        phone: PhoneNumber | None,
    ) -> NotificationPreferences:
        """Replace the account's preferences (``InvalidValue`` for SMS without a number, an
        unknown zone or a malformed language)."""

        def attempt() -> NotificationPreferences:
            with self._uow() as uow:
                _account(uow, actor)
                stored = uow.notification_preferences.get(actor.user_id)
                chosen = NotificationPreferences(
                    actor.user_id,
                    channels,
                    reminders,
                    language,
                    time_zone,
                    phone,
                    version=stored.version if stored else 0,
                )
                uow.notification_preferences.save(chosen)
                uow.commit()
            return chosen

        return retrying(attempt)

    def create_feed(self, actor: Actor) -> str:
        """A new secret feed token for the actor (shown once; only its digest is stored),
        replacing any earlier feed."""
        if actor.role not in FEED_ROLES:
            raise AccessDenied("only patients and doctors have appointment calendars")
        token = new_token()
        with self._uow() as uow:
            _account(uow, actor)
            uow.calendar_feeds.put(
                CalendarFeed(actor.user_id, feed_digest(token), self._clock.now())
            )
            uow.commit()
        return token

    def revoke_feed(self, actor: Actor) -> None:
        """The feed URL stops working; ``NotFound`` if there was none."""
        with self._uow() as uow:
            if not uow.calendar_feeds.remove(actor.user_id):
                raise NotFound("you have no calendar feed")
            uow.commit()

    def feed(self, token: str) -> CalendarFeedView:
        """The feed whose token this is; ``NotFound`` for an unknown or revoked token, or an
        account no longer active."""
        with self._uow() as uow:
            feed = uow.calendar_feeds.by_digest(feed_digest(token))
            if feed is None:
                raise NotFound("no such calendar")
            try:
                account = uow.accounts.get(feed.account_id)
            except NotFound:
                raise NotFound("no such calendar") from None
            if account.status is not AccountStatus.ACTIVE or account.role not in FEED_ROLES:
                raise NotFound("no such calendar")
            query = AppointmentQuery(
                patient_id=account.patient_id,
                doctor_id=account.doctor_id,
                starts_from=self._clock.now() - FEED_PAST,
                limit=FEED_LIMIT,
            )
            appointments = list(uow.appointments.search(query))
            doctors = {
                key: uow.doctors.get(key) for key in {each.doctor_id for each in appointments}
            }
            patients = (
                {key: uow.patients.get(key) for key in {each.patient_id for each in appointments}}
                if account.role is Role.DOCTOR
                else {}
            )
        changed = [feed.created_at, *(_changed_at(each) for each in appointments)]
        return CalendarFeedView(account, appointments, doctors, patients, max(changed))


def _account(uow: UnitOfWork, actor: Actor) -> Account:
    """The actor's own account (404 when the token outlived it)."""
    return uow.accounts.get(actor.user_id)


def _changed_at(appointment: Appointment) -> datetime:
    """The latest change the appointment itself dates (made, or cancelled); a move is dated
    nowhere, which is why the feed's ETag (over every version), not this, decides a 304."""
    if appointment.cancellation is not None:
        return max(appointment.created_at, appointment.cancellation.at)
    return appointment.created_at
