"""A Hypothesis state machine over insurance claims: random submissions (and resubmissions for
an appointment already claimed), reviews, adjudications (valid and invalid) and payments,
checking after every step, against what storage holds, that:

* every item's approved amount is between zero and its claim, and the claim's approved total
  is the sum of its items';
* the status matches the amounts: approved = all of it, partially approved = some,
  rejected = none and a reason; paid only after approval, with something to pay;
* an item approved below its claim says why;
* an appointment has at most one claim, and every refusal the machine predicted happened.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hellodoctor_adapters.memory.services import ManualClock, SequentialIds
from hellodoctor_adapters.testing.contract_hospitals import ADMIN
from hellodoctor_adapters.testing.contract_insurance import EUR, PATIENT, POL1, insured, items
from hellodoctor_adapters.testing.fixtures import MONDAY
from hellodoctor_domain.errors import AlreadyExists, IllegalStateChange, InvalidValue
from hellodoctor_domain.model.insurance import ClaimStatus, Decision
from hellodoctor_domain.model.values import AppointmentId, ClaimId, Money
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.insurance import Insurance

APPOINTMENTS = tuple(AppointmentId(f"a{index}") for index in range(1, 4))


def make_claims_machine(
    new_uow_factory: Callable[[], UnitOfWorkFactory],
    insurance_type: type[Insurance] = Insurance,
) -> type[RuleBasedStateMachine]:
    """A machine class whose every run starts from ``new_uow_factory()`` with the contract's
    insured patient; ``insurance_type`` lets a test swap in a deliberately broken one."""

    class ClaimsMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            uow_factory = new_uow_factory()
            insured(uow_factory)
            self.uow = uow_factory
            self.insurance = insurance_type(
                uow_factory, ManualClock(MONDAY), SequentialIds("claim")
            )
            self.claims: dict[AppointmentId, ClaimId] = {}

        def _status(self, key: ClaimId) -> ClaimStatus:
            return self.insurance.claim(ADMIN, key).status

        @rule(
            appointment=st.sampled_from(APPOINTMENTS),
            amounts=st.lists(st.integers(1, 10_000), min_size=1, max_size=3),
        )
        def submit(self, appointment: AppointmentId, amounts: list[int]) -> None:
            if appointment in self.claims:  # a resubmission: storage refuses it
                try:
                    self.insurance.claim_appointment(PATIENT, POL1, appointment, items(*amounts))
                except AlreadyExists:
                    return
                raise AssertionError(f"a second claim for {appointment} was stored")
            claim = self.insurance.claim_appointment(PATIENT, POL1, appointment, items(*amounts))
            self.claims[appointment] = claim.id

        @precondition(lambda self: bool(self.claims))
        @rule(data=st.data())
        def review(self, data: st.DataObject) -> None:
            key = data.draw(st.sampled_from(sorted(self.claims.values())))
            before = self._status(key)
            try:
                self.insurance.review(ADMIN, key)
            except IllegalStateChange:
                assert before is not ClaimStatus.SUBMITTED, f"{key} could not be reviewed"
                return
            assert before is ClaimStatus.SUBMITTED, f"a {before} claim went under review"

        @precondition(lambda self: bool(self.claims))
        @rule(data=st.data(), with_reason=st.booleans())
        def adjudicate(self, data: st.DataObject, with_reason: bool) -> None:
            key = data.draw(st.sampled_from(sorted(self.claims.values())))
            claim = self.insurance.claim(ADMIN, key)
            decisions = []
            valid = True
            for item in claim.items:
                claimed = item.claimed.minor_units
                # Now and then more than was claimed, which must be refused.
                approved = data.draw(st.integers(0, claimed + 100))
                reason = data.draw(st.sampled_from(["", "over the tariff"]))
                valid &= approved <= claimed and (approved == claimed or bool(reason))
                decisions.append(Decision(Money(approved, EUR), reason))
            rejecting = all(d.approved.is_zero for d in decisions)
            valid &= with_reason or not rejecting
            try:
                self.insurance.adjudicate(
                    ADMIN, key, decisions, reason="not covered" if with_reason else ""
                )
            except IllegalStateChange:
                assert claim.status is not ClaimStatus.UNDER_REVIEW, f"{key} was not decidable"
                return
            except InvalidValue:
                assert not valid, f"valid decisions on {key} were refused"
                return
            assert claim.status is ClaimStatus.UNDER_REVIEW, f"a {claim.status} claim was decided"
            assert valid, f"invalid decisions on {key} were accepted: {decisions}"

        @precondition(lambda self: bool(self.claims))
        @rule(data=st.data())
        def pay(self, data: st.DataObject) -> None:
            key = data.draw(st.sampled_from(sorted(self.claims.values())))
            before = self._status(key)
            try:
                self.insurance.pay(ADMIN, key)
            except IllegalStateChange:
                return
            assert before in (ClaimStatus.APPROVED, ClaimStatus.PARTIALLY_APPROVED), (
                f"a {before} claim was paid"
            )

        @invariant()
        def amounts_add_up(self) -> None:
            with self.uow() as uow:
                stored = uow.claims.of_policy(POL1)
            seen = [c.appointment_id for c in stored]
            assert len(seen) == len(set(seen)), f"an appointment has two claims: {seen}"
            for claim in stored:
                approved = [item.approved for item in claim.items]
                claimed = claim.claimed_total.minor_units
                if claim.status in (ClaimStatus.SUBMITTED, ClaimStatus.UNDER_REVIEW):
                    assert approved == [None] * len(approved), f"{claim.id} decided early"
                    continue
                for item in claim.items:
                    assert item.approved is not None, f"{claim.id} has an undecided item"
                    assert 0 <= item.approved.minor_units <= item.claimed.minor_units, (
                        f"{claim.id} approved {item.approved} of {item.claimed}"
                    )
                    if item.approved != item.claimed:
                        assert item.reason, f"{claim.id} cut an item without saying why"
                total = sum(a.minor_units for a in approved if a is not None)
                assert claim.approved_total.minor_units == total, f"{claim.id} total is off"
                if claim.status is ClaimStatus.APPROVED:
                    assert total == claimed, f"{claim.id} approved {total} of {claimed}"
                elif claim.status is ClaimStatus.PARTIALLY_APPROVED:
                    assert 0 < total < claimed, f"{claim.id} partially approved {total}"
                elif claim.status is ClaimStatus.REJECTED:
                    assert total == 0, f"{claim.id} rejected yet approved {total}"
                    assert claim.reason, f"{claim.id} rejected without a reason"
                else:  # paid
                    assert total > 0, f"{claim.id} paid with nothing approved"
                    assert claim.paid_at is not None, f"{claim.id} paid at no time"

    return ClaimsMachine
