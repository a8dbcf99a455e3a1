"""Claims' amounts always add up, on the in-memory reference storage, SQLite and MongoDB -- and
proof that the machine catches an implementation that lets them drift."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import FlakyFailure
from hypothesis.stateful import run_state_machine_as_test

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory
from hellodoctor_adapters.testing.claims_machine import make_claims_machine
from hellodoctor_domain.errors import IllegalStateChange
from hellodoctor_domain.model.insurance import Claim, ClaimStatus, Decision
from hellodoctor_domain.model.values import Actor, ClaimId
from hellodoctor_domain.use_cases.insurance import Insurance

TestInMemoryClaims = make_claims_machine(InMemoryUnitOfWorkFactory).TestCase


class TrustsTheClient(Insurance):
    """Deliberately broken: stores the approved amounts as the reviewer sent them, without
    the item's checks (more than claimed, no reason for a cut)."""

    def adjudicate(
        self, actor: Actor, claim_id: ClaimId, decisions: Sequence[Decision], reason: str = ""
    ) -> Claim:
        with self._uow() as uow:
            claim = uow.claims.get(claim_id)
            if claim.status is not ClaimStatus.UNDER_REVIEW:
                raise IllegalStateChange(f"claim {claim_id}", claim.status, "adjudicated")
            decided = []
            for item, decision in zip(claim.items, decisions, strict=True):
                copy = attrs.evolve(item)
                object.__setattr__(copy, "approved", decision.approved)  # no validation
                decided.append(copy)
            claim.items = tuple(decided)
            total, claimed = claim.approved_total, claim.claimed_total
            claim.status = (
                ClaimStatus.APPROVED
                if total.minor_units >= claimed.minor_units
                else ClaimStatus.PARTIALLY_APPROVED
            )
            uow.claims.update(claim)
            uow.commit()
        return claim


class PaysAnything(Insurance):
    """Deliberately broken: pays a claim whatever its state (a rejected one too)."""

    def pay(self, actor: Actor, claim_id: ClaimId) -> Claim:
        with self._uow() as uow:
            claim = uow.claims.get(claim_id)
            claim.status, claim.paid_at = ClaimStatus.PAID, self._clock.now()
            uow.claims.update(claim)
            uow.commit()
        return claim


@pytest.mark.parametrize("broken", [TrustsTheClient, PaysAnything])
def test_the_machine_catches_claims_whose_amounts_drift(broken: type[Insurance]) -> None:
    machine = make_claims_machine(InMemoryUnitOfWorkFactory, broken)
    with pytest.raises((AssertionError, FlakyFailure)) as caught:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=1000,
                stateful_step_count=20,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            ),
        )
    message = str(caught.value)
    caught_by = ("approved", "paid", "accepted", "without saying why")
    assert any(words in message for words in caught_by), message
