"""Erasure on request (GDPR Art. 17) where the law allows it: an admin erases a patient's
personal data on the patient's documented request.

What goes: the profile's name (a pseudonym instead), date of birth, phone, e-mail, health ID,
blood group, emergency contacts, allergies, language and zone; the account's e-mail becomes a
pseudonymous, undeliverable address, its password and two-factor secret are dropped, the SMS
number of its notification settings too (and SMS with it), its calendar feed is revoked, it is
disabled and every session ends. A walk-in code the desk issued and nobody used is void: whoever
held it could otherwise claim the erased profile, records and all.
What stays, by law, under the same opaque ids: the audit trail (HIPAA §164.316: six years;
append-only and hash-chained, a changed entry would break the chain), the money ledger
(payments, wallet entries, claims: accounting and tax law), and clinical records (medical-
records retention law: a legal hold). Those keep naming the patient id only, which after the
erasure leads to nobody. docs/retention.md has the table and why.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from attrs import define

from hellodoctor_domain.errors import InvalidValue, NotFound
from hellodoctor_domain.model.accounts import AccountStatus
from hellodoctor_domain.model.audit import AuditAction, AuditOutcome, RequestContext
from hellodoctor_domain.model.notifications import Channel, NotificationPreferences
from hellodoctor_domain.model.values import Actor, EmailAddress, PatientId, Role, UserId
from hellodoctor_domain.ports.preferences import NotificationPreferencesRepository
from hellodoctor_domain.ports.runtime import Clock
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.records import NO_CONTEXT, audit_entry

SUBJECT = "erasure"


def pseudonym(patient_id: PatientId) -> str:
    """A stable stand-in for the erased person (the same id always gives the same one)."""
    return "erased-" + hashlib.sha256(patient_id.value.encode()).hexdigest()[:16]


@define(frozen=True)
class ErasureDone:
    patient_id: PatientId
    pseudonym: str
    erased_at: datetime
    account_erased: bool


class Erasure:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def erase(
        self,
        actor: Actor,
        patient_id: PatientId,
        reason: str,
        context: RequestContext = NO_CONTEXT,
    ) -> ErasureDone:
        """Only an admin, saying on what request; anyone else is told there is no patient."""
        if actor.role is not Role.ADMIN:
            raise NotFound(f"no patient {patient_id}")
        if not reason.strip():
            raise InvalidValue("say which request of the patient this erasure answers")
        now = self._clock.now()
        name = pseudonym(patient_id)
        with self._uow() as uow:
            patient = uow.patients.get(patient_id)
            account = uow.accounts.by_email(patient.email) if patient.email else None
            if account is not None and account.patient_id != patient_id:
                account = None
            patient.name = name
            patient.date_of_birth = None
            patient.phone = None
            patient.email = None
            patient.health_id = None
            patient.emergency_contacts = ()
            patient.allergies = ()
            patient.blood_group = None
            patient.language = None
            patient.time_zone = None
            if patient.walk_in_claim is not None and patient.walk_in_claim.claimed_by is None:
                patient.walk_in_claim = None
            uow.patients.update(patient)
            if account is not None:
                account.email = EmailAddress(f"{name}@erased.invalid")
                account.status = AccountStatus.DISABLED
                account.password_hash = None
                account.totp_secret = None
                account.totp_enabled = False
                uow.accounts.update(account)
                uow.refresh_tokens.revoke_account(account.id, now)
                _forget_sms_phone(uow.notification_preferences, account.id)
                uow.calendar_feeds.remove(account.id)
            uow.audit.append(
                audit_entry(
                    actor,
                    patient_id,
                    SUBJECT,
                    AuditAction.WRITE,
                    AuditOutcome.ALLOWED,
                    f"erasure:{reason.strip()}",
                    now,
                    context,
                )
            )
            uow.commit()
        return ErasureDone(patient_id, name, now, account is not None)


def _forget_sms_phone(preferences: NotificationPreferencesRepository, account_id: UserId) -> None:
    """The notification settings keep their choices but lose the phone number (and SMS)."""
    chosen = preferences.get(account_id)
    if chosen is None or chosen.phone is None:
        return
    preferences.save(
        NotificationPreferences(
            chosen.account_id,
            chosen.channels - {Channel.SMS},
            chosen.reminders,
            chosen.language,
            chosen.time_zone,
            None,
            chosen.version,
        )
    )
