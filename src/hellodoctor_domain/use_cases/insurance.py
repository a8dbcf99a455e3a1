"""What may be asked about insurance.

Platform admins create schemes and appoint their insurers (accounts with the ``insurer``
role). A patient records their own policies, asks what a policy would pay for one of their
appointments, and claims for a completed appointment; a hospital's administrators claim for a
stay there. A scheme's insurers review, adjudicate and pay its claims. Anyone without a right
to know a claim, policy or scheme exists is told it does not (``NotFound``).

Reading claims (their items carry ICD-10 codes) and policies is reading health data: each
read, allowed or refused, is an audit entry committed with it (``access_audit``), subject
``claim:<id>`` or ``policies``; so are the insurers' decisions (action ``write``).
"""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from hellodoctor_domain.errors import AccessDenied, InvalidValue, NotFound
from hellodoctor_domain.model.appointment import AppointmentStatus
from hellodoctor_domain.model.audit import AuditAction, RequestContext
from hellodoctor_domain.model.documents import Document, DocumentId
from hellodoctor_domain.model.insurance import (
    Claim,
    ClaimItem,
    Decision,
    Eligibility,
    Policy,
    Scheme,
    eligibility,
)
from hellodoctor_domain.model.policy import is_party
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    ClaimId,
    HospitalId,
    Money,
    PatientId,
    PolicyId,
    Role,
    SchemeId,
    UserId,
)
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.access_audit import REFUSED, audit_access
from hellodoctor_domain.use_cases.hospitals import managed_hospital
from hellodoctor_domain.use_cases.records import NO_CONTEXT


class Insurance:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    # -- schemes and policies ----------------------------------------------------------

    def create_scheme(self, actor: Actor, scheme: Scheme) -> Scheme:
        _require_admin(actor, "create insurance schemes")
        with self._uow() as uow:
            uow.schemes.add(scheme)
            uow.commit()
        return scheme

    def appoint_insurer(self, actor: Actor, scheme_id: SchemeId, user_id: UserId) -> Scheme:
        _require_admin(actor, "appoint insurers")
        with self._uow() as uow:
            scheme = uow.schemes.get(scheme_id)
            if uow.accounts.get(user_id).role is not Role.INSURER:
                raise InvalidValue(f"account {user_id} is not an insurer's")
            if user_id not in scheme.insurers:
                scheme.insurers = (*scheme.insurers, user_id)
                uow.schemes.update(scheme)
            uow.commit()
        return scheme

    def schemes(self) -> list[Scheme]:
        with self._uow() as uow:
            return uow.schemes.every()

    def add_policy(self, actor: Actor, policy: Policy) -> Policy:
        """A patient records their own policy (an admin anyone's)."""
        _require_patient_or_admin(actor, policy.patient_id)
        with self._uow() as uow:
            uow.schemes.get(policy.scheme_id)
            uow.patients.get(policy.patient_id)
            uow.policies.add(policy)
            uow.commit()
        return policy

    def policies(
        self, actor: Actor, patient_id: PatientId, context: RequestContext = NO_CONTEXT
    ) -> list[Policy]:
        _require_patient_or_admin(actor, patient_id)
        purpose = "admin" if actor.role is Role.ADMIN else "own"
        with self._uow() as uow:
            found = uow.policies.of_patient(patient_id)
            now = self._clock.now()
            audit_access(uow, actor, [(patient_id, "policies")], purpose, now, context)
            uow.commit()
            return found

    # -- eligibility and claims --------------------------------------------------------

    def eligibility(
        self, actor: Actor, appointment_id: AppointmentId, policy_id: PolicyId
    ) -> Eligibility:
        """What the policy would pay for the appointment, before payment: covered or why
        not, the patient's co-pay, the insurer's part and what is left of the yearly limit."""
        with self._uow() as uow:
            appointment = uow.appointments.get(appointment_id)
            if not is_party(actor, appointment):
                raise NotFound(f"no appointment {appointment_id}")
            policy = _policy_of(uow, policy_id, appointment.patient_id)
            scheme = uow.schemes.get(policy.scheme_id)
            zone = ZoneInfo(uow.doctors.get(appointment.doctor_id).time_zone)
            day = appointment.time.start.astimezone(zone).date()
            used = _used_in_year(uow.claims.of_policy(policy.id), day.year, appointment.price)
            return eligibility(scheme, policy, appointment.visit_kind, appointment.price, day, used)

    def claim_appointment(
        self,
        actor: Actor,
        policy_id: PolicyId,
        appointment_id: AppointmentId,
        items: Sequence[ClaimItem],
        context: RequestContext = NO_CONTEXT,
    ) -> Claim:
        """The patient (or an admin) claims for a completed appointment; once per
        appointment, decided by storage (``AlreadyExists``)."""
        with self._uow() as uow:
            appointment = uow.appointments.get(appointment_id)
            if not (actor.role is Role.ADMIN or actor.patient_id == appointment.patient_id):
                raise NotFound(f"no appointment {appointment_id}")
            if appointment.status is not AppointmentStatus.COMPLETED:
                raise InvalidValue("only a completed appointment can be claimed for")
            policy = _policy_of(uow, policy_id, appointment.patient_id)
            claim = self._new_claim(policy, items, appointment_id=appointment_id)
            uow.claims.add(claim)
            purpose = "admin" if actor.role is Role.ADMIN else "own"
            self._wrote(uow, actor, claim, purpose, context)
            uow.commit()
        return claim

    def claim_stay(
        self,
        actor: Actor,
        hospital_id: HospitalId,
        policy_id: PolicyId,
        items: Sequence[ClaimItem],
        context: RequestContext = NO_CONTEXT,
    ) -> Claim:
        """A hospital's administrators claim for a patient's stay there."""
        with self._uow() as uow:
            managed_hospital(uow, actor, hospital_id)
            policy = uow.policies.get(policy_id)
            claim = self._new_claim(policy, items, hospital_id=hospital_id)
            uow.claims.add(claim)
            purpose = "admin" if actor.role is Role.ADMIN else f"hospital:{hospital_id}"
            self._wrote(uow, actor, claim, purpose, context)
            uow.commit()
        return claim

    def claim(self, actor: Actor, claim_id: ClaimId, context: RequestContext = NO_CONTEXT) -> Claim:
        """The claim, for its patient, its hospital's administrators, its scheme's insurers
        and admins."""
        with self._uow() as uow:
            claim = self._audited(uow, actor, uow.claims.get(claim_id), context)
            uow.commit()
            return claim

    def _audited(
        self,
        uow: UnitOfWork,
        actor: Actor,
        claim: Claim,
        context: RequestContext,
        action: AuditAction = AuditAction.READ,
    ) -> Claim:
        """``claim`` if ``actor`` may see it, its access audited; a refusal is audited and
        committed, then ``NotFound``."""
        purpose = _purpose(uow, actor, claim)
        read = [(claim.patient_id, f"claim:{claim.id}")]
        audit_access(uow, actor, read, purpose, self._clock.now(), context, action)
        if purpose == REFUSED:
            uow.commit()
            raise NotFound(f"no claim {claim.id}")
        return claim

    def attach(self, actor: Actor, claim_id: ClaimId, document_id: DocumentId) -> Claim:
        """The claim's patient (or an admin) sends one of the patient's documents with it;
        anyone else, or a document not the patient's, is told it does not exist. Attaching
        one again changes nothing."""
        with self._uow() as uow:
            claim = uow.claims.get(claim_id)
            if not (actor.role is Role.ADMIN or actor.patient_id == claim.patient_id):
                raise NotFound(f"no claim {claim_id}")
            document = uow.documents.get(document_id)
            if claim.attach(document, by=actor.user_id, at=self._clock.now()):
                uow.claims.update(claim)
                uow.commit()
        return claim

    def attachments(
        self, actor: Actor, claim_id: ClaimId, context: RequestContext = NO_CONTEXT
    ) -> list[Document]:
        """The documents sent with a claim, for whoever may see the claim (its scheme's
        insurers included); one deleted since is left out."""
        with self._uow() as uow:
            claim = self._audited(uow, actor, uow.claims.get(claim_id), context)
            uow.commit()
            found = []
            for document_id in claim.attachments:
                try:
                    found.append(uow.documents.get(document_id))
                except NotFound:
                    continue
            return found

    def claims_of_scheme(
        self, actor: Actor, scheme_id: SchemeId, context: RequestContext = NO_CONTEXT
    ) -> list[Claim]:
        """The scheme's claims, for its insurers and admins: one audit entry per claim."""
        with self._uow() as uow:
            if not uow.schemes.get(scheme_id).reviewed_by(actor):
                raise NotFound(f"no scheme {scheme_id}")
            found = uow.claims.of_scheme(scheme_id)
            purpose = "admin" if actor.role is Role.ADMIN else f"insurer:{scheme_id}"
            read = [(claim.patient_id, f"claim:{claim.id}") for claim in found]
            audit_access(uow, actor, read, purpose, self._clock.now(), context)
            uow.commit()
            return found

    def review(
        self, actor: Actor, claim_id: ClaimId, context: RequestContext = NO_CONTEXT
    ) -> Claim:
        with self._uow() as uow:
            claim = self._reviewable(uow, actor, claim_id, context)
            claim.review(by=actor.user_id, at=self._clock.now())
            self._decided(uow, actor, claim, context)
        return claim

    def adjudicate(
        self,
        actor: Actor,
        claim_id: ClaimId,
        decisions: Sequence[Decision],
        reason: str = "",
        context: RequestContext = NO_CONTEXT,
    ) -> Claim:
        with self._uow() as uow:
            claim = self._reviewable(uow, actor, claim_id, context)
            claim.adjudicate(decisions, reason=reason, by=actor.user_id, at=self._clock.now())
            self._decided(uow, actor, claim, context)
        return claim

    def pay(self, actor: Actor, claim_id: ClaimId, context: RequestContext = NO_CONTEXT) -> Claim:
        with self._uow() as uow:
            claim = self._reviewable(uow, actor, claim_id, context)
            claim.pay(by=actor.user_id, at=self._clock.now())
            self._decided(uow, actor, claim, context)
        return claim

    def _reviewable(
        self, uow: UnitOfWork, actor: Actor, claim_id: ClaimId, context: RequestContext
    ) -> Claim:
        """The claim, if ``actor`` reviews its scheme; a refusal is audited (``denied``) and
        committed, then ``NotFound``."""
        claim = uow.claims.get(claim_id)
        if not uow.schemes.get(claim.scheme_id).reviewed_by(actor):
            refused = [(claim.patient_id, f"claim:{claim.id}")]
            now = self._clock.now()
            audit_access(uow, actor, refused, REFUSED, now, context, AuditAction.WRITE)
            uow.commit()
            raise NotFound(f"no claim {claim_id}")
        return claim

    def _wrote(
        self, uow: UnitOfWork, actor: Actor, claim: Claim, purpose: str, context: RequestContext
    ) -> None:
        written = [(claim.patient_id, f"claim:{claim.id}")]
        now = self._clock.now()
        audit_access(uow, actor, written, purpose, now, context, AuditAction.WRITE)

    def _decided(
        self, uow: UnitOfWork, actor: Actor, claim: Claim, context: RequestContext
    ) -> None:
        """An insurer's (or admin's) step on a claim: stored with its audit entry."""
        uow.claims.update(claim)
        purpose = "admin" if actor.role is Role.ADMIN else f"insurer:{claim.scheme_id}"
        self._wrote(uow, actor, claim, purpose, context)
        uow.commit()

    def _new_claim(
        self,
        policy: Policy,
        items: Sequence[ClaimItem],
        *,
        appointment_id: AppointmentId | None = None,
        hospital_id: HospitalId | None = None,
    ) -> Claim:
        if any(item.approved is not None for item in items):
            raise InvalidValue("a claim is submitted without decisions")
        return Claim.submit(
            Claim(
                ClaimId(f"clm-{self._ids.new_id()}"),
                policy.id,
                policy.scheme_id,
                policy.patient_id,
                tuple(items),
                self._clock.now(),
                appointment_id=appointment_id,
                hospital_id=hospital_id,
            )
        )


def _require_admin(actor: Actor, what: str) -> None:
    if actor.role is not Role.ADMIN:
        raise AccessDenied(f"only a platform admin may {what}")


def _require_patient_or_admin(actor: Actor, patient_id: PatientId) -> None:
    if actor.role is not Role.ADMIN and actor.patient_id != patient_id:
        raise NotFound(f"no patient {patient_id}")


def _policy_of(uow: UnitOfWork, policy_id: PolicyId, patient: PatientId) -> Policy:
    policy = uow.policies.get(policy_id)
    if policy.patient_id != patient:
        raise NotFound(f"no policy {policy_id}")
    return policy


def _used_in_year(claims: Sequence[Claim], year: int, like: Money) -> Money:
    """What the policy's settled claims of ``year`` took of its limit."""
    used = Money.zero(like.currency)
    for claim in claims:
        if (
            claim.status.settled
            and claim.submitted_at.year == year
            and claim.currency == like.currency
        ):
            used += claim.approved_total
    return used


def _purpose(uow: UnitOfWork, actor: Actor, claim: Claim) -> str:
    """On what footing ``actor`` sees ``claim`` (the audit's purpose); ``none``: not at all."""
    if actor.role is Role.ADMIN:
        return "admin"
    if actor.patient_id == claim.patient_id:
        return "own"
    if actor.role is Role.INSURER and uow.schemes.get(claim.scheme_id).reviewed_by(actor):
        return f"insurer:{claim.scheme_id}"
    if (
        actor.role is Role.HOSPITAL_ADMIN
        and claim.hospital_id is not None
        and uow.hospitals.get(claim.hospital_id).administered_by(actor)
    ):
        return f"hospital:{claim.hospital_id}"
    return REFUSED
