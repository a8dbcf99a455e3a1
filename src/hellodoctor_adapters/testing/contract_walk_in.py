"""Claiming a walk-in's profile (issue 17, item 4), on every storage: the desk's one-time code
is kept as a digest on the profile, claimed once (a second claim, or a racing one, is
refused), the profile linked to the claiming account in the same unit of work, and both steps
audited.

Part of ``UnitOfWorkContract``; needs only ``uow_factory``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest

from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.testing.clinic import ADMIN
from hellodoctor_adapters.testing.contract_hospitals import hospital, staff
from hellodoctor_adapters.testing.fixtures import MONDAY, appointment, at, doctor
from hellodoctor_domain.errors import (
    AccessDenied,
    InvalidOneTimeSecret,
    NotFound,
    WalkInClaimRefused,
)
from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.model.profiles import Patient
from hellodoctor_domain.model.values import (
    Actor,
    EmailAddress,
    HospitalId,
    PatientId,
    Role,
    UserId,
)
from hellodoctor_domain.ports.records import AuditQuery
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.front_desk import FrontDesk
from hellodoctor_domain.use_cases.hospitals import Hospitals
from hellodoctor_domain.use_cases.scheduling import Scheduling
from hellodoctor_domain.use_cases.walk_in_claims import SUBJECT, WalkInClaims

H1 = HospitalId("h1")


def _account(uow_factory: UnitOfWorkFactory, key: str) -> Actor:
    """A registered patient account with its own, unused profile."""
    email = EmailAddress(f"{key}@example.org")
    profile = Patient(PatientId(f"own-{key}"), f"Own {key}", email=email)
    account = Account(
        UserId(key), email, Role.PATIENT, AccountStatus.ACTIVE, MONDAY, patient_id=profile.id
    )
    with uow_factory() as uow:
        uow.patients.add(profile)
        uow.accounts.add(account)
        uow.commit()
    return account.actor()


class WalkInClaimContract:
    def test_a_walk_in_is_claimed_once_by_one_account(self, uow_factory: UnitOfWorkFactory) -> None:
        clock = ManualClock(MONDAY)
        hospitals = Hospitals(uow_factory, clock)
        hospitals.register(ADMIN, hospital("h1"))
        receptionist = staff(uow_factory, "rcp-1", Role.RECEPTIONIST)
        hospitals.appoint_receptionist(ADMIN, H1, receptionist.user_id)
        scheduling = Scheduling(uow_factory, clock, SequentialIds("a"), OfflinePaymentGateway())
        desk = FrontDesk(uow_factory, clock, SequentialIds("w"), scheduling)
        walk_in = desk.register_walk_in(
            receptionist, H1, "Walk In", "+442079460009", date(1980, 5, 17)
        )
        claims = WalkInClaims(uow_factory, clock)
        stale = claims.issue(receptionist, H1, walk_in.id)
        issued = claims.issue(receptionist, H1, walk_in.id)  # replaces the first
        assert issued.expires_at == MONDAY + timedelta(hours=24)
        with pytest.raises(NotFound):  # another hospital's desk, or none
            claims.issue(staff(uow_factory, "rcp-2", Role.RECEPTIONIST), H1, walk_in.id)
        with uow_factory() as uow:
            stored = uow.patients.get(walk_in.id).walk_in_claim
        assert stored is not None
        assert issued.code.split(".")[-1] not in repr(stored)  # only its digest is kept
        assert stored.digest not in issued.code

        alice, bob = _account(uow_factory, "alice"), _account(uow_factory, "bob")
        for wrong in (stale.code, issued.code + "x", "nobody.secret", "no-separator"):
            with pytest.raises(InvalidOneTimeSecret):
                claims.claim(alice, wrong)

        # Alice and Bob both hold the code and claim at once: one of them gets the profile.
        def claim(actor: Actor) -> str:
            try:
                claims.claim(actor, issued.code)
            except WalkInClaimRefused:
                return "refused"
            return actor.user_id.value

        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = sorted(pool.map(claim, (alice, bob)))
        assert outcomes in (["alice", "refused"], ["bob", "refused"])
        winner = alice if "alice" in outcomes else bob
        with uow_factory() as uow:
            account = uow.accounts.get(winner.user_id)
            profile = uow.patients.get(walk_in.id)
            left = uow.patients.get(PatientId(f"own-{winner.user_id.value}"))
            audited = uow.audit.search(AuditQuery(patient_id=walk_in.id))
        assert account.patient_id == walk_in.id
        assert profile.walk_in_claim is not None
        assert profile.walk_in_claim.claimed_by == winner.user_id
        assert profile.email == account.email
        assert left.email is None  # the unused profile it left
        assert (audited[0].entry.subject, audited[0].entry.user_id) == (
            SUBJECT,
            winner.user_id,
        )
        # Claimed: claiming again (anyone) and issuing a new code are refused.
        for actor in (alice, bob):
            with pytest.raises(WalkInClaimRefused):
                claims.claim(actor, issued.code)
        with pytest.raises(WalkInClaimRefused):
            claims.issue(receptionist, H1, walk_in.id)

    def test_a_lapsed_code_and_a_profile_in_use_are_refused(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        clock = ManualClock(MONDAY)
        claims = WalkInClaims(uow_factory, clock)
        with uow_factory() as uow:
            uow.hospitals.add(hospital("h1"))
            for key in ("w1", "w2"):
                uow.patients.add(Patient(PatientId(key), f"Walk {key}"))
            uow.commit()
        first = claims.issue(ADMIN, H1, PatientId("w1"))
        carol = _account(uow_factory, "carol")
        clock.advance(timedelta(hours=24))
        with pytest.raises(InvalidOneTimeSecret):
            claims.claim(carol, first.code)
        # A profile with visits is in use: merging two histories is not built.
        second = claims.issue(ADMIN, H1, PatientId("w2"))
        with uow_factory() as uow:
            uow.doctors.add(doctor("dw"))
            uow.appointments.add(
                appointment("aw", at(9, day=1), doctor_key="dw", patient_key="own-carol")
            )
            uow.commit()
        with pytest.raises(WalkInClaimRefused):
            claims.claim(carol, second.code)
        with pytest.raises(AccessDenied):  # only a patient account claims a profile
            claims.claim(ADMIN, second.code)
