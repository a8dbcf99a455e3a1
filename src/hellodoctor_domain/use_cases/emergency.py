"""Emergency access: break-glass by a doctor (health ID + reason -> one hour of the critical
view, audited as ``emergency``, announced through the outbox, queued for the admins' review),
and the patient's emergency card (a revocable token that shows the critical view to whoever
holds it). Neither ever reaches the records themselves."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from attrs import define, evolve

from hellodoctor_domain.errors import AccessDenied, NotFound
from hellodoctor_domain.model.audit import AuditAction, AuditOutcome, RequestContext
from hellodoctor_domain.model.emergency import (
    CriticalView,
    EmergencyCard,
    EmergencyCardId,
    EmergencyGrant,
    EmergencyGrantId,
    critical_view,
    token_digest,
)
from hellodoctor_domain.model.profiles import EmergencyContact
from hellodoctor_domain.model.values import Actor, PatientId, Role, UserId
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.records import NO_CONTEXT, audit_entry

CRITICAL_VIEW = "critical-view"


@define(frozen=True)
class EmergencyProfile:
    """What a patient keeps for emergencies on their profile."""

    health_id: str | None
    blood_group: str | None
    allergies: tuple[str, ...] = ()
    emergency_contacts: tuple[EmergencyContact, ...] = ()


def new_token() -> str:
    return secrets.token_hex(32)


class EmergencyAccess:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        tokens: Callable[[], str] = new_token,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._tokens = tokens

    # -- break-glass ------------------------------------------------------------------------

    def break_glass(
        self, actor: Actor, health_id: str, reason: str, context: RequestContext = NO_CONTEXT
    ) -> tuple[EmergencyGrant, CriticalView]:
        if actor.role is not Role.DOCTOR or actor.doctor_id is None:
            raise AccessDenied("only a doctor may use emergency access")
        now = self._clock.now()
        with self._uow() as uow:
            patient_id = uow.emergency_grants.patient_with_health_id(health_id)
            if patient_id is None:
                raise NotFound("no patient has that health ID")
            grant = EmergencyGrant.open(
                EmergencyGrantId(self._ids.new_id()), patient_id, actor.doctor_id, reason, now
            )
            uow.emergency_grants.add(grant)
            view = self._view(uow, patient_id)
            self._audit(
                uow, actor, patient_id, AuditOutcome.ALLOWED, f"emergency:{reason}", context
            )
            uow.commit()
        return grant, view

    def view(
        self, actor: Actor, grant_id: EmergencyGrantId, context: RequestContext = NO_CONTEXT
    ) -> CriticalView:
        """The critical view again, by the doctor who holds a live grant; anyone else, or
        after the hour, ``NotFound`` (audited as refused)."""
        now = self._clock.now()
        with self._uow() as uow:
            grant = uow.emergency_grants.get(grant_id)
            if actor.doctor_id != grant.doctor_id or not grant.live_at(now):
                self._audit(uow, actor, grant.patient_id, AuditOutcome.DENIED, "none", context)
                uow.commit()
                raise NotFound(f"no emergency access {grant_id}")
            view = self._view(uow, grant.patient_id)
            purpose = f"emergency:{grant.reason}"
            self._audit(uow, actor, grant.patient_id, AuditOutcome.ALLOWED, purpose, context)
            uow.commit()
        return view

    def review_queue(self, actor: Actor, limit: int = 100) -> list[EmergencyGrant]:
        self._admin(actor)
        with self._uow() as uow:
            return uow.emergency_grants.unreviewed(limit)

    def review(self, actor: Actor, grant_id: EmergencyGrantId, note: str) -> EmergencyGrant:
        self._admin(actor)
        with self._uow() as uow:
            grant = uow.emergency_grants.get(grant_id)
            grant.review(actor.user_id, note, self._clock.now())
            uow.emergency_grants.update(grant)
            uow.commit()
        return grant

    # -- the patient's own emergency profile ------------------------------------------------

    def my_critical_view(self, actor: Actor, context: RequestContext = NO_CONTEXT) -> CriticalView:
        """What a card or a break-glass would show of me (audited as my own read)."""
        patient_id = self._patient(actor)
        with self._uow() as uow:
            view = self._view(uow, patient_id)
            entry = audit_entry(
                actor,
                patient_id,
                "profile",
                AuditAction.READ,
                AuditOutcome.ALLOWED,
                "own",
                self._clock.now(),
                context,
            )
            uow.audit.append(entry)
            uow.commit()
        return view

    def update_profile(
        self, actor: Actor, changes: EmergencyProfile, context: RequestContext = NO_CONTEXT
    ) -> CriticalView:
        """The patient sets their health ID, blood group, allergies and emergency contacts."""
        patient_id = self._patient(actor)
        with self._uow() as uow:
            patient = uow.patients.get(patient_id)
            updated = evolve(
                patient,
                health_id=changes.health_id,
                blood_group=changes.blood_group,
                allergies=changes.allergies,
                emergency_contacts=changes.emergency_contacts,
            )
            uow.patients.update(updated)
            entry = audit_entry(
                actor,
                patient_id,
                "profile",
                AuditAction.WRITE,
                AuditOutcome.ALLOWED,
                "own",
                self._clock.now(),
                context,
            )
            uow.audit.append(entry)
            view = self._view(uow, patient_id)
            uow.commit()
        return view

    # -- the emergency card -----------------------------------------------------------------

    def issue_card(self, actor: Actor) -> tuple[EmergencyCard, str]:
        """A new card (and its token, shown once); the patient's older cards stop working."""
        patient_id = self._patient(actor)
        now = self._clock.now()
        token = self._tokens()
        with self._uow() as uow:
            uow.patients.get(patient_id)
            self._revoke_cards(uow, patient_id)
            card = EmergencyCard(
                EmergencyCardId(self._ids.new_id()), patient_id, token_digest(token), now
            )
            uow.emergency_cards.add(card)
            uow.commit()
        return card, token

    def revoke_cards(self, actor: Actor) -> int:
        patient_id = self._patient(actor)
        with self._uow() as uow:
            revoked = self._revoke_cards(uow, patient_id)
            uow.commit()
        return revoked

    def card_view(self, token: str, context: RequestContext = NO_CONTEXT) -> CriticalView:
        """Public: the critical view for whoever holds a live card's token."""
        with self._uow() as uow:
            card = uow.emergency_cards.with_digest(token_digest(token))
            if card is None or not card.active:
                raise NotFound("no such emergency card")
            view = self._view(uow, card.patient_id)
            holder = Actor(
                Role.PATIENT, UserId(f"emergency-card:{card.id}"), patient_id=card.patient_id
            )
            purpose = "emergency card"
            self._audit(uow, holder, card.patient_id, AuditOutcome.ALLOWED, purpose, context)
            uow.commit()
        return view

    # -- internals --------------------------------------------------------------------------

    def _view(self, uow: UnitOfWork, patient_id: PatientId) -> CriticalView:
        patient = uow.patients.get(patient_id)
        today = self._clock.now().date()
        return critical_view(patient, uow.records.of_patient(patient_id), today)

    def _audit(
        self,
        uow: UnitOfWork,
        actor: Actor,
        patient_id: PatientId,
        outcome: AuditOutcome,
        purpose: str,
        context: RequestContext,
    ) -> None:
        entry = audit_entry(
            actor,
            patient_id,
            CRITICAL_VIEW,
            AuditAction.EMERGENCY,
            outcome,
            purpose,
            self._clock.now(),
            context,
        )
        uow.audit.append(entry)

    def _revoke_cards(self, uow: UnitOfWork, patient_id: PatientId) -> int:
        revoked = 0
        for card in uow.emergency_cards.of_patient(patient_id):
            if card.active:
                card.revoke(self._clock.now())
                uow.emergency_cards.update(card)
                revoked += 1
        return revoked

    @staticmethod
    def _admin(actor: Actor) -> None:
        if actor.role is not Role.ADMIN:
            raise AccessDenied("only an admin reviews emergency access")

    @staticmethod
    def _patient(actor: Actor) -> PatientId:
        if actor.role is not Role.PATIENT or actor.patient_id is None:
            raise AccessDenied("only a patient has an emergency card")
        return actor.patient_id
