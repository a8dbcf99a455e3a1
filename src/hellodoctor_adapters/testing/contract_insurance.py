"""The insurance contract: schemes, policies and claims round-trip, updates are
compare-and-set, a claim is never stored twice for one appointment however many submissions
race, and an insurer sees only the claims of its schemes.

Part of ``UnitOfWorkContract``; needs only ``uow_factory``.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from hellodoctor_adapters.memory.services import ManualClock, SequentialIds
from hellodoctor_adapters.testing.contract_documents import document
from hellodoctor_adapters.testing.contract_hospitals import ADMIN, staff
from hellodoctor_adapters.testing.fixtures import MONDAY, appointment, seed, state_of
from hellodoctor_domain.errors import (
    AlreadyExists,
    ConcurrencyError,
    IllegalStateChange,
    InvalidValue,
    NotFound,
)
from hellodoctor_domain.model.appointment import AppointmentStatus
from hellodoctor_domain.model.documents import DocumentId, Owner
from hellodoctor_domain.model.insurance import (
    Claim,
    ClaimItem,
    ClaimStatus,
    Decision,
    Policy,
    Scheme,
)
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    Money,
    PatientId,
    PolicyId,
    Role,
    SchemeId,
    VisitKind,
)
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.insurance import Insurance

EUR = "EUR"
S1, S2 = SchemeId("s1"), SchemeId("s2")
POL1 = PolicyId("pol1")
PATIENT = Actor.patient(PatientId("p1"))


def scheme(key: str = "s1", **limits: int) -> Scheme:
    return Scheme(
        SchemeId(key),
        "Acme Mutual",
        f"Plan {key}",
        (VisitKind.REGULAR, VisitKind.FOLLOW_UP),
        limits.get("copay", 20),
        Money(limits.get("limit", 100_000), EUR),
    )


def items(*amounts: int) -> tuple[ClaimItem, ...]:
    return tuple(
        ClaimItem(f"service {index}", ("Z00.0",), Money(amount, EUR))
        for index, amount in enumerate(amounts)
    )


def insured(uow_factory: UnitOfWorkFactory) -> Insurance:
    """Patients p1..p3, schemes s1 and s2, policy pol1 of p1 under s1, and completed
    appointments a1..a3 of p1 (80.00 EUR each)."""
    seed(uow_factory)
    with uow_factory() as uow:
        for index in range(1, 4):
            uow.appointments.add(
                appointment(
                    f"a{index}",
                    MONDAY.replace(hour=8 + index),
                    status=AppointmentStatus.COMPLETED,
                    price=Money(8000, EUR),
                )
            )
        uow.commit()
    insurance = Insurance(uow_factory, ManualClock(MONDAY), SequentialIds("c"))
    insurance.create_scheme(ADMIN, scheme("s1"))
    insurance.create_scheme(ADMIN, scheme("s2"))
    policy = Policy(POL1, PatientId("p1"), S1, "ACME-1", date(2030, 1, 1), date(2030, 12, 31))
    insurance.add_policy(PATIENT, policy)
    return insurance


class InsuranceStorageContract:
    @pytest.fixture
    def insurance(self, uow_factory: UnitOfWorkFactory) -> Insurance:
        return insured(uow_factory)

    def test_schemes_and_policies_round_trip(
        self, insurance: Insurance, uow_factory: UnitOfWorkFactory
    ) -> None:
        expected = scheme("s1")
        expected.version = 1
        with uow_factory() as uow:
            assert state_of(uow.schemes.get(S1)) == state_of(expected)
            assert [p.id for p in uow.policies.of_patient(PatientId("p1"))] == [POL1]
            assert uow.policies.of_patient(PatientId("p2")) == []
        assert [s.id for s in insurance.schemes()] == [S1, S2]

    def test_a_claim_round_trips_through_its_states(
        self, insurance: Insurance, uow_factory: UnitOfWorkFactory
    ) -> None:
        claim = insurance.claim_appointment(PATIENT, POL1, AppointmentId("a1"), items(5000, 3000))
        insurance.review(ADMIN, claim.id)
        decided = insurance.adjudicate(
            ADMIN, claim.id, [Decision(Money(5000, EUR)), Decision(Money(1000, EUR), "capped")]
        )
        assert decided.status is ClaimStatus.PARTIALLY_APPROVED
        paid = insurance.pay(ADMIN, claim.id)
        with uow_factory() as uow:
            read = uow.claims.get(claim.id)
        assert state_of(read) == state_of(paid)
        assert read.approved_total == Money(6000, EUR)
        assert read.status is ClaimStatus.PAID
        assert read.paid_at == MONDAY

    def test_a_stale_claim_update_is_refused(
        self, insurance: Insurance, uow_factory: UnitOfWorkFactory
    ) -> None:
        claim = insurance.claim_appointment(PATIENT, POL1, AppointmentId("a1"), items(5000))
        with uow_factory() as uow:
            stale = uow.claims.get(claim.id)
        insurance.review(ADMIN, claim.id)
        stale.review(by=ADMIN.user_id, at=MONDAY)
        with pytest.raises(ConcurrencyError), uow_factory() as uow:
            uow.claims.update(stale)
            uow.commit()

    def test_racing_claims_for_one_appointment_store_one(
        self, insurance: Insurance, uow_factory: UnitOfWorkFactory
    ) -> None:
        threads = 12
        barrier = threading.Barrier(threads)

        def submit(_: int) -> str:
            barrier.wait()
            try:
                insurance.claim_appointment(PATIENT, POL1, AppointmentId("a2"), items(8000))
            except AlreadyExists:
                return "refused"
            return "stored"

        with ThreadPoolExecutor(threads) as pool:
            outcomes = list(pool.map(submit, range(threads)))
        assert outcomes.count("stored") == 1
        with pytest.raises(AlreadyExists):  # and a later resubmission too
            insurance.claim_appointment(PATIENT, POL1, AppointmentId("a2"), items(100))
        with uow_factory() as uow:
            assert len(uow.claims.of_policy(POL1)) == 1

    def test_an_insurer_reviews_only_its_schemes_claims(
        self, insurance: Insurance, uow_factory: UnitOfWorkFactory
    ) -> None:
        mine, other = (
            staff(uow_factory, "ins1", Role.INSURER),
            staff(uow_factory, "ins2", Role.INSURER),
        )
        insurance.appoint_insurer(ADMIN, S1, mine.user_id)
        insurance.appoint_insurer(ADMIN, S2, other.user_id)
        claim = insurance.claim_appointment(PATIENT, POL1, AppointmentId("a1"), items(5000))
        assert [c.id for c in insurance.claims_of_scheme(mine, S1)] == [claim.id]
        for refused in (
            lambda: insurance.review(other, claim.id),
            lambda: insurance.claim(other, claim.id),
            lambda: insurance.claims_of_scheme(other, S1),
            lambda: insurance.claim(Actor.patient(PatientId("p2")), claim.id),
        ):
            with pytest.raises(NotFound):
                refused()
        insurance.review(mine, claim.id)
        with pytest.raises(InvalidValue):  # a rejection says why
            insurance.adjudicate(mine, claim.id, [Decision(Money(0, EUR), "not covered")])
        rejected = insurance.adjudicate(
            mine, claim.id, [Decision(Money(0, EUR), "not covered")], reason="not covered"
        )
        assert rejected.status is ClaimStatus.REJECTED
        assert rejected.reason == "not covered"
        assert insurance.claim(PATIENT, claim.id).status is ClaimStatus.REJECTED

    def test_eligibility_counts_what_the_year_used(
        self, insurance: Insurance, uow_factory: UnitOfWorkFactory
    ) -> None:
        with uow_factory() as uow:
            small = scheme("s1", limit=10_000)
            small.version = 1
            uow.schemes.update(small)
            uow.commit()
        before = insurance.eligibility(PATIENT, AppointmentId("a1"), POL1)
        assert (before.covered, before.copay, before.insurer_pays) == (
            True,
            Money(1600, EUR),
            Money(6400, EUR),
        )
        claim: Claim = insurance.claim_appointment(PATIENT, POL1, AppointmentId("a1"), items(6400))
        insurance.review(ADMIN, claim.id)
        insurance.adjudicate(ADMIN, claim.id, [Decision(Money(6400, EUR))])
        after = insurance.eligibility(PATIENT, AppointmentId("a2"), POL1)
        assert after.remaining_limit == Money(3600, EUR)
        assert (after.insurer_pays, after.copay) == (Money(3600, EUR), Money(4400, EUR))


class ClaimAttachmentsContract:
    """A claim carries documents of its patient, stored with it; its scheme's insurer sees
    them, anyone else is told the claim does not exist."""

    def test_attachments_are_the_patients_documents_stored_with_the_claim(
        self, insurance: Insurance, uow_factory: UnitOfWorkFactory
    ) -> None:
        reviewer = staff(uow_factory, "ins1", Role.INSURER)
        outsider = staff(uow_factory, "ins2", Role.INSURER)
        insurance.appoint_insurer(ADMIN, S1, reviewer.user_id)
        with uow_factory() as uow:
            uow.documents.add(document("doc-1"))
            uow.documents.add(document("doc-2"))
            uow.documents.add(document("doc-other", Owner.patient(PatientId("p2"))))
            uow.commit()
        claim = insurance.claim_appointment(PATIENT, POL1, AppointmentId("a1"), items(5000))
        insurance.attach(PATIENT, claim.id, DocumentId("doc-1"))
        insurance.attach(PATIENT, claim.id, DocumentId("doc-1"))  # again: nothing changes
        attached = insurance.attach(ADMIN, claim.id, DocumentId("doc-2"))
        assert attached.attachments == (DocumentId("doc-1"), DocumentId("doc-2"))
        for refused in (
            lambda: insurance.attach(PATIENT, claim.id, DocumentId("doc-other")),
            lambda: insurance.attach(PATIENT, claim.id, DocumentId("doc-none")),
            lambda: insurance.attach(
                Actor.patient(PatientId("p2")), claim.id, DocumentId("doc-other")
            ),
            lambda: insurance.attach(reviewer, claim.id, DocumentId("doc-1")),
            lambda: insurance.attachments(outsider, claim.id),
            lambda: insurance.attachments(Actor.patient(PatientId("p2")), claim.id),
        ):
            with pytest.raises(NotFound):
                refused()
        with uow_factory() as uow:
            read = uow.claims.get(claim.id)
        assert state_of(read) == state_of(attached)
        seen = insurance.attachments(reviewer, claim.id)
        assert [d.id.value for d in seen] == ["doc-1", "doc-2"]
        insurance.review(reviewer, claim.id)
        insurance.adjudicate(reviewer, claim.id, [Decision(Money(5000, EUR))])
        with pytest.raises(IllegalStateChange):  # decided: nothing more is sent
            insurance.attach(PATIENT, claim.id, DocumentId("doc-1"))
