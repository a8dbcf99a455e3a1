"""Claiming a walk-in's profile (issue 17, item 4; docs/clinic_day.md).

* ``issue``: the front desk of a hospital (its receptionists, its administrators, platform
  admins) gives a walk-in -- a profile with no account, so no e-mail -- a one-time code,
  valid for ``CLAIM_CODE_LIFETIME``; issuing again replaces the previous code. The code is
  answered once, to hand over; only its digest is kept.
* ``claim``: a signed-in patient account submits the code; the walk-in's profile becomes the
  account's (``Account.patient_id``), with the account's e-mail. Allowed when the account's
  own profile is unused: no appointment, no payment, no waitlist entry (a registration made
  before or after the visit, before anything was booked with it). Merging two histories is
  not built: an account whose profile is in use is refused (``WalkInClaimRefused``), as is a
  profile claimed already, by anyone. The profile's write is a compare-and-set, so of two
  accounts claiming it at once exactly one wins; the unused profile the account leaves keeps
  no e-mail (the desk's search by e-mail finds the claimed profile only).

Both are audited (``AuditEntry``, subject ``walk-in-claim``) in the unit of work of the write.
A wrong, malformed, lapsed or replaced code is ``InvalidOneTimeSecret``, one answer for all.
"""

from __future__ import annotations

from datetime import datetime

from attrs import define

from hellodoctor_domain.errors import (
    AccessDenied,
    InvalidOneTimeSecret,
    NotFound,
    WalkInClaimRefused,
)
from hellodoctor_domain.model.audit import AuditAction, AuditOutcome, RequestContext
from hellodoctor_domain.model.profiles import Patient
from hellodoctor_domain.model.values import Actor, HospitalId, PatientId, Role
from hellodoctor_domain.model.walk_in import WalkInClaim, read_code
from hellodoctor_domain.ports.payments import PaymentQuery
from hellodoctor_domain.ports.runtime import Clock
from hellodoctor_domain.ports.scheduling import AppointmentQuery
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.records import audit_entry
from hellodoctor_domain.use_cases.retry import retrying

SUBJECT = "walk-in-claim"
_NO_CONTEXT = RequestContext()


@define(frozen=True)
class IssuedClaimCode:
    """The code to hand the walk-in (shown once) and when it lapses."""

    patient_id: PatientId
    code: str
    expires_at: datetime


class WalkInClaims:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, *, retries: int = 3) -> None:
        self._uow = uow
        self._clock = clock
        self._retries = retries

    def issue(
        self,
        actor: Actor,
        hospital_id: HospitalId,
        patient_id: PatientId,
        context: RequestContext = _NO_CONTEXT,
    ) -> IssuedClaimCode:
        """A new code for a walk-in's profile (the previous one, if any, stops working)."""
        if actor.role in (Role.PATIENT, Role.DOCTOR, Role.INSURER):
            raise AccessDenied("this is the front desk's")

        def attempt() -> IssuedClaimCode:
            now = self._clock.now()
            with self._uow() as uow:
                hospital = uow.hospitals.get(hospital_id)
                if not hospital.staffs_desk(actor):
                    raise NotFound(f"no hospital {hospital_id}")
                patient = uow.patients.get(patient_id)
                claim = patient.walk_in_claim
                if patient.email is not None or (claim is not None and claim.claimed_by):
                    raise WalkInClaimRefused(f"patient {patient_id} has an account")
                patient.walk_in_claim, code = WalkInClaim.issue(patient_id, actor.user_id, now)
                uow.patients.update(patient)
                _audit(uow, actor, patient_id, AuditAction.WRITE, "issued", now, context)
                uow.commit()
                return IssuedClaimCode(patient_id, code, patient.walk_in_claim.expires_at)

        return retrying(attempt, retries=self._retries)

    def claim(self, actor: Actor, code: str, context: RequestContext = _NO_CONTEXT) -> Patient:
        """The walk-in's profile, now the signed-in patient account's."""
        if actor.role is not Role.PATIENT:
            raise AccessDenied("a patient account claims a walk-in's profile")
        patient_id, secret = read_code(code)

        def attempt() -> Patient:
            now = self._clock.now()
            with self._uow() as uow:
                walk_in = _with_code(uow, patient_id, secret)
                claim = walk_in.walk_in_claim
                assert claim is not None
                account = uow.accounts.get(actor.user_id)
                if claim.claimed_by is not None and not (
                    # MongoDB: a crash after the profile's write and before the account's
                    # leaves the claimant unlinked; their retry links them (docs/mongodb.md).
                    claim.claimed_by == account.id and account.patient_id != walk_in.id
                ):
                    raise WalkInClaimRefused("this profile has been claimed already")
                if claim.claimed_by is None and now >= claim.expires_at:
                    raise InvalidOneTimeSecret("that code is no longer valid; ask for a new one")
                own = account.patient_id
                if own is not None and own != walk_in.id:
                    left = uow.patients.get(own)
                    _require_unused(uow, left)
                    left.email = None
                    uow.patients.update(left)
                if claim.claimed_by is None:
                    walk_in.walk_in_claim = claim.claimed(account.id, now)
                    walk_in.email = walk_in.email or account.email
                    # The compare-and-set that decides between accounts claiming at once.
                    uow.patients.update(walk_in)
                account.patient_id = walk_in.id
                uow.accounts.update(account)
                claimed_by = f"claimed by {account.id.value}"
                _audit(uow, actor, walk_in.id, AuditAction.GRANT, claimed_by, now, context)
                uow.commit()
                return walk_in

        return retrying(attempt, retries=self._retries)


def _with_code(uow: UnitOfWork, patient_id: PatientId, secret: str) -> Patient:
    try:
        patient = uow.patients.get(patient_id)
    except NotFound:
        raise InvalidOneTimeSecret("that code is not valid") from None
    claim = patient.walk_in_claim
    if claim is None or not claim.matches(secret):
        raise InvalidOneTimeSecret("that code is not valid")
    return patient


def _require_unused(uow: UnitOfWork, patient: Patient) -> None:
    """The account's own profile holds nothing yet: merging two histories is not built."""
    if (
        uow.appointments.search(AppointmentQuery(patient_id=patient.id, limit=1))
        or uow.payments.search(PaymentQuery(patient_id=patient.id, limit=1))
        or uow.waitlist.search(patient_id=patient.id, limit=1)
    ):
        raise WalkInClaimRefused(
            "your profile already has appointments or payments: ask the desk to merge them"
        )


def _audit(
    uow: UnitOfWork,
    actor: Actor,
    patient_id: PatientId,
    action: AuditAction,
    what: str,
    now: datetime,
    context: RequestContext,
) -> None:
    uow.audit.append(
        audit_entry(
            actor,
            patient_id,
            SUBJECT,
            action,
            AuditOutcome.ALLOWED,
            f"walk-in claim code {what}",
            now,
            context,
        )
    )


__all__ = ["IssuedClaimCode", "WalkInClaims"]
