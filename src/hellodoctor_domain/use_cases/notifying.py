"""The notification consumer: turns delivered events into messages to the people concerned.

Each (recipient, outbox entry) is taken in the inbox before its message is sent and finished
after, so a redelivered entry -- the relay retried, the broker redelivered -- sends nothing
again (``ports/outbox.py``). A message is never sent for a state that no longer holds: a
"booked" or "rescheduled" notice whose appointment has since been cancelled, expired or moved
is dropped (the later event tells the newer truth).

Reminders: when a visit is booked or moved, the consumer schedules one reminder per configured
lead time (24 h and 1 h before by default) in the outbox, due then and tied to the
appointment's version; when one falls due it is sent only if the appointment is still booked
at that version -- cancelled or moved since, and it is silently dropped.

Preferences: each recipient's (found by their account's e-mail) choose the channels (e-mail,
SMS when an SMS sender is configured and they gave a number), whether reminders come at all,
and the zone the times are written in (their own, else the doctor's). Each channel has its own
inbox key, so a redelivery after an SMS failed re-sends the SMS, not the e-mail.
"""

from __future__ import annotations

from datetime import timedelta

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentHeld,
    AppointmentHoldExpired,
    AppointmentMarkedNoShow,
    AppointmentReminderDue,
    AppointmentRescheduled,
    DomainEvent,
)
from hellodoctor_domain.model.notifications import Channel, NotificationPreferences, PhoneNumber
from hellodoctor_domain.model.payments import PaymentSucceeded
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.values import AppointmentId, EmailAddress, Role, TimeRange, UserId
from hellodoctor_domain.model.waitlist import AppointmentOffered
from hellodoctor_domain.ports.notifications import (
    AppointmentMessenger,
    AppointmentNotice,
    NoticeKind,
    SmsMessage,
    SmsSender,
    sms_text,
)
from hellodoctor_domain.ports.outbox import Inbox, OutboxDelivery
from hellodoctor_domain.ports.runtime import Clock
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

CONSUMER = "notifications"
_NOBODY = UserId("-")  # the owner of default preferences no account stored

# Event type -> (notice kind, who is told).
_BOTH = (Role.PATIENT, Role.DOCTOR)
_NOTICES: dict[type[DomainEvent], tuple[NoticeKind, tuple[Role, ...]]] = {
    AppointmentHeld: (NoticeKind.HELD, (Role.PATIENT,)),
    AppointmentBooked: (NoticeKind.BOOKED, _BOTH),
    AppointmentRescheduled: (NoticeKind.RESCHEDULED, _BOTH),
    AppointmentCancelled: (NoticeKind.CANCELLED, _BOTH),
    AppointmentHoldExpired: (NoticeKind.HOLD_EXPIRED, (Role.PATIENT,)),
    AppointmentMarkedNoShow: (NoticeKind.NO_SHOW, (Role.PATIENT,)),
    PaymentSucceeded: (NoticeKind.PAYMENT_RECEIVED, (Role.PATIENT,)),
    AppointmentReminderDue: (NoticeKind.REMINDER, (Role.PATIENT,)),
    AppointmentOffered: (NoticeKind.OFFERED, (Role.PATIENT,)),
}
DEFAULT_REMINDERS = (timedelta(hours=24), timedelta(hours=1))
# Notices about a state that must still hold when they are sent: (status, time) as the event.
_CURRENT_ONLY = {
    NoticeKind.HELD: AppointmentStatus.HELD,
    NoticeKind.BOOKED: AppointmentStatus.BOOKED,
    NoticeKind.RESCHEDULED: AppointmentStatus.BOOKED,
    NoticeKind.OFFERED: AppointmentStatus.HELD,
}


class NotificationConsumer:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        inbox: Inbox,
        messenger: AppointmentMessenger,
        clock: Clock,
        *,
        outbox: OutboxDelivery | None = None,
        reminders: tuple[timedelta, ...] = DEFAULT_REMINDERS,
        lease: timedelta = timedelta(minutes=5),
        sms: SmsSender | None = None,
    ) -> None:
        """``outbox`` is where reminders are scheduled (none without it); ``reminders`` how
        long before a visit each is sent; ``sms`` the text-message channel (none without
        it: SMS preferences are then ignored)."""
        self._sms = sms
        self._uow = uow
        self._inbox = inbox
        self._outbox = outbox
        self._reminders = reminders
        self._messenger = messenger
        self._clock = clock
        self._lease = lease

    def handle(self, entry_id: str, event: DomainEvent) -> int:
        """Send what ``event`` (outbox entry ``entry_id``) calls for, each message once;
        returns how many were sent now. Raises when one could not be (retried later)."""
        sent = 0
        for notice in self.notices(event):
            for channel in sorted(notice.channels):
                if channel is Channel.SMS and (self._sms is None or notice.phone is None):
                    continue
                # E-mail keeps the key it always had; other channels have their own.
                suffix = "" if channel is Channel.EMAIL else f"-{channel.value}"
                key = f"{CONSUMER}{suffix}:{notice.recipient.value}"
                if not self._inbox.begin(key, entry_id, self._clock.now(), self._lease):
                    continue
                try:
                    self._send(channel, notice)
                except BaseException:
                    self._inbox.forget(key, entry_id)
                    raise
                self._inbox.finish(key, entry_id, self._clock.now())
                sent += 1
        return sent

    def _send(self, channel: Channel, notice: AppointmentNotice) -> None:
        if channel is Channel.EMAIL:
            self._messenger.send(notice)
            return
        assert self._sms is not None
        assert notice.phone is not None
        kind = f"appointment-{notice.kind.value}"
        self._sms.send(SmsMessage(notice.phone, sms_text(notice), kind))

    def notices(self, event: DomainEvent) -> list[AppointmentNotice]:
        """The messages ``event`` calls for, given the appointment as it is now (and, for a
        booking or a move, its reminders scheduled)."""
        found = _NOTICES.get(type(event))
        appointment_id = getattr(event, "appointment_id", None)
        if found is None or not isinstance(appointment_id, AppointmentId):
            return []  # not about a visit (a wallet top-up...), or no one to tell
        kind, recipients = found
        with self._uow() as uow:
            appointment = uow.appointments.get(appointment_id)
            doctor = uow.doctors.get(appointment.doctor_id)
            patient = uow.patients.get(appointment.patient_id)
            chosen = _preferences(uow, doctor, patient)
            leads = self._reminders
            if appointment.hospital_id is not None:
                minutes = uow.hospitals.get(appointment.hospital_id).reminder_minutes
                if minutes is not None:  # the hospital's own, else the platform's
                    leads = tuple(timedelta(minutes=m) for m in minutes)
        time: TimeRange | None = getattr(event, "time", None)
        if not _still_true(event, appointment, time):
            return []
        if isinstance(event, AppointmentBooked | AppointmentRescheduled):
            # Idempotent (keyed by version and lead time): a redelivery schedules nothing new.
            self._schedule_reminders(appointment, leads)
        emails = {Role.PATIENT: patient.email, Role.DOCTOR: doctor.email}
        # What each recipient chose (the defaults when they chose nothing): reminders off means
        # none; a channel list with neither channel usable sends nothing.
        keep = [
            role
            for role in recipients
            if emails[role] is not None
            and (kind is not NoticeKind.REMINDER or chosen[role].reminders)
        ]
        return [
            AppointmentNotice(
                kind=kind,
                recipient=role,
                email=email,
                appointment=appointment,
                doctor=doctor,
                patient=patient,
                time=time or appointment.time,
                previous_time=getattr(event, "previous_time", None),
                refund=getattr(event, "refund", None),
                amount=getattr(event, "amount", None),
                hold_expires_at=getattr(event, "hold_expires_at", None),
                before=getattr(event, "before", None),
                zone=chosen[role].time_zone,
                language=chosen[role].language,
                channels=chosen[role].channels,
                phone=chosen[role].phone
                or (_patient_phone(patient) if role is Role.PATIENT else None),
            )
            for role in keep
            if (email := emails[role]) is not None
        ]

    def _schedule_reminders(self, appointment: Appointment, leads: tuple[timedelta, ...]) -> None:
        """One reminder per lead time still ahead, tied to the appointment's version."""
        if self._outbox is None:
            return
        now = self._clock.now()
        for before in leads:
            due = appointment.time.start - before
            if due <= now:
                continue
            reminder = AppointmentReminderDue(
                occurred_at=due,
                appointment_id=appointment.id,
                doctor_id=appointment.doctor_id,
                patient_id=appointment.patient_id,
                time=appointment.time,
                version=appointment.version,
                before=before,
            )
            key = (
                f"reminder/{appointment.id}/{appointment.version}/{before // timedelta(minutes=1)}"
            )
            self._outbox.schedule(reminder, due, key)


def _still_true(event: DomainEvent, appointment: Appointment, time: TimeRange | None) -> bool:
    if isinstance(event, AppointmentReminderDue):
        booked = appointment.status is AppointmentStatus.BOOKED
        return booked and appointment.version == event.version
    found = _NOTICES.get(type(event))
    status = _CURRENT_ONLY.get(found[0]) if found else None
    if status is None:
        return True
    return appointment.status is status and (time is None or appointment.time == time)


def _preferences(
    uow: UnitOfWork, doctor: Doctor, patient: Patient
) -> dict[Role, NotificationPreferences]:
    """Each recipient's stored preferences, found through their account; the defaults when
    there is no account or nothing stored."""
    found: dict[Role, NotificationPreferences] = {}
    for role, email in ((Role.PATIENT, patient.email), (Role.DOCTOR, doctor.email)):
        account = None if email is None else uow.accounts.by_email(EmailAddress(email.value))
        stored = None if account is None else uow.notification_preferences.get(account.id)
        found[role] = stored or NotificationPreferences(account.id if account else _NOBODY)
    return found


def _patient_phone(patient: Patient) -> PhoneNumber | None:
    """The profile's phone, if it is already in E.164 form (SMS need a canonical number)."""
    try:
        return None if patient.phone is None else PhoneNumber(patient.phone)
    except InvalidValue:
        return None
