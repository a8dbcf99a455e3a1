"""Break-glass mails, sent by the consumer: when a doctor takes emergency access to a
patient's critical view, the patient is told (who, when, why, until when), and so is the
platform's security mailbox when one is configured (``HELLODOCTOR_SECURITY_EMAIL``); the
access also waits in the admins' review queue (``use_cases/emergency.py``).

Each recipient has its own inbox key, so a redelivered event mails each of them once, and a
failed mail to one is retried without repeating the other's.
"""

from __future__ import annotations

from datetime import timedelta

from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.emergency import EmergencyAccessGranted
from hellodoctor_domain.model.events import DomainEvent
from hellodoctor_domain.model.values import EmailAddress
from hellodoctor_domain.ports.notifications import Notification, Notifier
from hellodoctor_domain.ports.outbox import Inbox
from hellodoctor_domain.ports.runtime import Clock
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory

CONSUMER = "emergency-mail"


class EmergencyMailer:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        notifier: Notifier,
        inbox: Inbox,
        security_email: EmailAddress | None = None,
        *,
        lease: timedelta = timedelta(minutes=5),
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._notifier = notifier
        self._inbox = inbox
        self._security_email = security_email
        self._lease = lease

    def handle(self, entry_id: str, event: DomainEvent) -> int:
        """Mail each recipient once; how many mails were sent now. Raises when a mail could
        not be sent (the relay retries; recipients already mailed are not mailed again)."""
        if not isinstance(event, EmergencyAccessGranted):
            return 0
        sent = 0
        for recipient, notification in self.compose(event).items():
            key = f"{CONSUMER}/{recipient}"
            if not self._inbox.begin(key, entry_id, self._clock.now(), self._lease):
                continue
            try:
                self._notifier.send(notification)
            except BaseException:
                self._inbox.forget(key, entry_id)
                raise
            self._inbox.finish(key, entry_id, self._clock.now())
            sent += 1
        return sent

    def compose(self, event: EmergencyAccessGranted) -> dict[str, Notification]:
        with self._uow() as uow:
            try:
                patient = uow.patients.get(event.patient_id)
                doctor = uow.doctors.get(event.doctor_id)
            except NotFound:
                return {}
        until = event.expires_at.strftime("%d %b %Y %H:%M UTC")
        at = event.occurred_at.strftime("%d %b %Y %H:%M UTC")
        found: dict[str, Notification] = {}
        if patient.email is not None:
            found["patient"] = Notification(
                patient.email,
                "Emergency access to your medical information",
                f"{doctor.name} used emergency access to your critical medical information "
                f"(blood group, allergies, conditions, medications, emergency contacts) at "
                f"{at}, until {until}. Reason given: {event.reason}\n"
                "Every such access is reviewed. You can see it in your access log.",
                "emergency_access",
            )
        if self._security_email is not None:
            found["security"] = Notification(
                self._security_email,
                "Break-glass access to review",
                f"{doctor.name} ({event.doctor_id}) took emergency access to patient "
                f"{event.patient_id} at {at}, until {until}. Reason: {event.reason}\n"
                f"Review grant {event.grant_id} in the emergency-access queue.",
                "emergency_access_review",
            )
        return found
