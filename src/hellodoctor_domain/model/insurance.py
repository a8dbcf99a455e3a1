"""Insurance: schemes (who pays, what they cover, the co-pay share, a yearly limit), a
patient's policies under a scheme, the eligibility of an appointment, and claims.

A claim lists line items (a service, its diagnosis codes, the amount claimed). Its insurer
reviews it and adjudicates every item: the approved amount is between zero and the amount
claimed, and an item approved below its claim says why. The claim's approved total is always
the sum of its items' approved amounts.

```
submitted --review--> under_review --adjudicate--> approved | partially_approved | rejected
approved, partially_approved --pay--> paid
```
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import ClassVar

from attrs import define, field

from hellodoctor_domain.errors import IllegalStateChange, InvalidValue, NotFound
from hellodoctor_domain.model.documents import Document, DocumentId, Owner
from hellodoctor_domain.model.events import Aggregate, DomainEvent
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
    VisitKind,
)


def _text(_instance: object, attribute: object, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(f"{getattr(attribute, 'name', 'value')} must be a non-blank string")


@define(eq=False)
class Scheme(Aggregate):
    """What a payer covers: visit kinds, the patient's co-pay share (whole percent) and how
    much it pays per policy and calendar year. ``insurers`` are the accounts (role
    ``insurer``) that review its claims."""

    id: SchemeId
    payer: str = field(validator=_text)
    name: str = field(validator=_text)
    covered_kinds: tuple[VisitKind, ...]
    copay_percent: int
    yearly_limit: Money
    insurers: tuple[UserId, ...] = ()
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if not 0 <= self.copay_percent <= 100:
            raise InvalidValue("a co-pay share is a whole percentage from 0 to 100")
        if self.yearly_limit.minor_units < 0:
            raise InvalidValue("a yearly limit cannot be negative")

    def reviewed_by(self, actor: Actor) -> bool:
        """Platform admins see every scheme's claims; an insurer only those of its schemes."""
        if actor.role is Role.ADMIN:
            return True
        return actor.role is Role.INSURER and actor.user_id in self.insurers


@define(eq=False)
class Policy(Aggregate):
    id: PolicyId
    patient_id: PatientId
    scheme_id: SchemeId
    policy_number: str = field(validator=_text)
    valid_from: date
    valid_until: date  # inclusive
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if self.valid_until < self.valid_from:
            raise InvalidValue("a policy ends on or after the day it starts")

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_until


@define(frozen=True)
class Eligibility:
    """What a policy would do for one visit, shown before payment."""

    covered: bool
    reason: str  # why not, when not covered; empty otherwise
    price: Money
    copay: Money  # the patient's share
    insurer_pays: Money
    remaining_limit: Money  # of the policy's year, before this visit


def eligibility(
    scheme: Scheme,
    policy: Policy,
    visit_kind: VisitKind,
    price: Money,
    on: date,
    used_this_year: Money,
) -> Eligibility:
    """Covered when the policy is valid ``on`` the visit's day and the scheme covers its kind;
    the insurer pays the price less the co-pay, up to what is left of the yearly limit."""
    remaining = Money(
        max(0, scheme.yearly_limit.minor_units - used_this_year.minor_units), price.currency
    )
    refusal = None
    if price.currency != scheme.yearly_limit.currency:
        refusal = "the scheme pays in another currency"
    elif not policy.valid_on(on):
        refusal = "the policy is not valid that day"
    elif visit_kind not in scheme.covered_kinds:
        refusal = f"{visit_kind} visits are not covered"
    if refusal is not None:
        return Eligibility(False, refusal, price, price, Money.zero(price.currency), remaining)
    share = price - price.share(scheme.copay_percent)
    pays = Money(min(share.minor_units, remaining.minor_units), price.currency)
    return Eligibility(True, "", price, price - pays, pays, remaining)


class ClaimStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    PARTIALLY_APPROVED = "partially_approved"
    REJECTED = "rejected"
    PAID = "paid"

    @property
    def settled(self) -> bool:
        """Adjudicated with money owed (or paid already): counts against the yearly limit."""
        return self in (ClaimStatus.APPROVED, ClaimStatus.PARTIALLY_APPROVED, ClaimStatus.PAID)


@define(frozen=True)
class ClaimItem:
    service: str = field(validator=_text)
    diagnosis_codes: tuple[str, ...]
    claimed: Money
    approved: Money | None = None  # once adjudicated
    reason: str = ""  # why it was approved below its claim

    def __attrs_post_init__(self) -> None:
        if self.claimed.minor_units <= 0:
            raise InvalidValue("a claimed amount is positive")
        if self.approved is not None:
            if self.approved.currency != self.claimed.currency:
                raise InvalidValue("an item is approved in the currency it was claimed in")
            if not 0 <= self.approved.minor_units <= self.claimed.minor_units:
                raise InvalidValue("an approved amount is between zero and the amount claimed")
            if self.approved.minor_units < self.claimed.minor_units and not self.reason.strip():
                raise InvalidValue("an item approved below its claim says why")


@define(frozen=True)
class Decision:
    """The insurer's verdict on one item (by position)."""

    approved: Money
    reason: str = ""


@define(frozen=True, kw_only=True)
class ClaimEvent(DomainEvent):
    aggregate_type: ClassVar[str] = "claim"

    claim_id: ClaimId
    scheme_id: SchemeId

    @property
    def aggregate_id(self) -> str:
        return self.claim_id.value


@define(frozen=True, kw_only=True)
class ClaimSubmitted(ClaimEvent):
    claimed: Money


@define(frozen=True, kw_only=True)
class ClaimMoved(ClaimEvent):
    status: ClaimStatus
    by: UserId
    approved: Money


@define(frozen=True, kw_only=True)
class ClaimDocumentAttached(ClaimEvent):
    document_id: DocumentId
    by: UserId


# More than any real claim sends: reports, bills, prescriptions.
MAX_ATTACHMENTS = 50


@define(eq=False)
class Claim(Aggregate):
    id: ClaimId
    policy_id: PolicyId
    scheme_id: SchemeId
    patient_id: PatientId
    items: tuple[ClaimItem, ...]
    submitted_at: datetime
    appointment_id: AppointmentId | None = None  # None: a hospital's claim for a stay
    hospital_id: HospitalId | None = None
    status: ClaimStatus = ClaimStatus.SUBMITTED
    reason: str = ""  # why it was rejected
    paid_at: datetime | None = None
    # Documents of the claim's patient sent with it (reports, bills), by id.
    attachments: tuple[DocumentId, ...] = ()
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if not self.items:
            raise InvalidValue("a claim lists at least one item")
        if len({item.claimed.currency for item in self.items}) != 1:
            raise InvalidValue("a claim's items share one currency")
        if self.appointment_id is None and self.hospital_id is None:
            raise InvalidValue("a claim is for an appointment or for a hospital stay")

    @classmethod
    def submit(cls, claim: Claim) -> Claim:
        claim.record(
            ClaimSubmitted(
                occurred_at=claim.submitted_at,
                claim_id=claim.id,
                scheme_id=claim.scheme_id,
                claimed=claim.claimed_total,
            )
        )
        return claim

    @property
    def currency(self) -> str:
        return self.items[0].claimed.currency

    @property
    def claimed_total(self) -> Money:
        return _sum((item.claimed for item in self.items), self.currency)

    @property
    def approved_total(self) -> Money:
        """The sum of the items' approved amounts (zero before adjudication)."""
        return _sum((item.approved for item in self.items if item.approved), self.currency)

    def attach(self, document: Document, *, by: UserId, at: datetime) -> bool:
        """Send ``document`` with the claim until it is decided; only the claim's patient's
        documents (another's is ``NotFound``: nobody learns it exists). ``False`` when it was
        already attached."""
        if document.owner != Owner.patient(self.patient_id):
            raise NotFound(f"no document {document.id}")
        if self.status not in (ClaimStatus.SUBMITTED, ClaimStatus.UNDER_REVIEW):
            raise IllegalStateChange(f"claim {self.id}", self.status, "given attachments")
        if document.id in self.attachments:
            return False
        if len(self.attachments) >= MAX_ATTACHMENTS:
            raise InvalidValue(f"a claim carries at most {MAX_ATTACHMENTS} attachments")
        self.attachments = (*self.attachments, document.id)
        self.record(
            ClaimDocumentAttached(
                occurred_at=at,
                claim_id=self.id,
                scheme_id=self.scheme_id,
                document_id=document.id,
                by=by,
            )
        )
        return True

    def review(self, *, by: UserId, at: datetime) -> None:
        self._move(ClaimStatus.UNDER_REVIEW, (ClaimStatus.SUBMITTED,), by, at, "under review")

    def adjudicate(
        self, decisions: Sequence[Decision], *, reason: str = "", by: UserId, at: datetime
    ) -> None:
        """One decision per item, in order. All approved in full: approved; none approved:
        rejected (``reason`` required); otherwise partially approved."""
        if self.status is not ClaimStatus.UNDER_REVIEW:
            raise IllegalStateChange(f"claim {self.id}", self.status, "adjudicated")
        if len(decisions) != len(self.items):
            raise InvalidValue(f"claim {self.id} has {len(self.items)} items to decide on")
        items = tuple(
            ClaimItem(item.service, item.diagnosis_codes, item.claimed, d.approved, d.reason)
            for item, d in zip(self.items, decisions, strict=True)
        )
        approved = _sum((item.approved for item in items if item.approved), self.currency)
        if approved.is_zero:
            if not reason.strip():
                raise InvalidValue("a rejection says why")
            outcome = ClaimStatus.REJECTED
        elif approved == _sum((item.claimed for item in items), self.currency):
            outcome = ClaimStatus.APPROVED
        else:
            outcome = ClaimStatus.PARTIALLY_APPROVED
        self.items = items
        self.reason = reason if outcome is ClaimStatus.REJECTED else ""
        self._move(outcome, (ClaimStatus.UNDER_REVIEW,), by, at, "adjudicated")

    def pay(self, *, by: UserId, at: datetime) -> None:
        allowed = (ClaimStatus.APPROVED, ClaimStatus.PARTIALLY_APPROVED)
        self._move(ClaimStatus.PAID, allowed, by, at, "paid")
        self.paid_at = at

    def _move(
        self,
        to: ClaimStatus,
        allowed: tuple[ClaimStatus, ...],
        by: UserId,
        at: datetime,
        action: str,
    ) -> None:
        if self.status not in allowed:
            raise IllegalStateChange(f"claim {self.id}", self.status, action)
        self.status = to
        self.record(
            ClaimMoved(
                occurred_at=at,
                claim_id=self.id,
                scheme_id=self.scheme_id,
                status=to,
                by=by,
                approved=self.approved_total,
            )
        )


def _sum(amounts: Iterable[Money], currency: str) -> Money:
    return sum(amounts, Money.zero(currency))


__all__ = [
    "Claim",
    "ClaimDocumentAttached",
    "ClaimEvent",
    "ClaimItem",
    "ClaimMoved",
    "ClaimStatus",
    "ClaimSubmitted",
    "Decision",
    "Eligibility",
    "Policy",
    "Scheme",
    "eligibility",
]
