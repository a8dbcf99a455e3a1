"""The access rule of clinical records, as a table: each row is a situation and the answer
the rule must give (model/record_access.py; docs/records.md has the same table)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from attrs import evolve

from hellodoctor_domain.model.appointment import AppointmentStatus
from hellodoctor_domain.model.audit import (
    GENESIS,
    AuditAction,
    AuditEntry,
    AuditOutcome,
    SealedEntry,
    verify_chain,
)
from hellodoctor_domain.model.consent import Consent, ConsentId, ConsentScope
from hellodoctor_domain.model.record_access import (
    AccessBasis,
    AccessFacts,
    RecordAccess,
    RecordAction,
    Visit,
)
from hellodoctor_domain.model.values import (
    Actor,
    DoctorId,
    HospitalId,
    PatientId,
    Role,
    UserId,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
PATIENT = PatientId("pat-1")
DOCTOR = DoctorId("doc-1")
OTHER_DOCTOR = DoctorId("doc-2")
HOSPITAL = HospitalId("hos-1")

READ, WRITE = RecordAction.READ, RecordAction.WRITE


def visit(status: AppointmentStatus, ended_days_ago: float, doctor: DoctorId = DOCTOR) -> Visit:
    return Visit(doctor, status, NOW - timedelta(days=ended_days_ago))


def consent(
    *,
    doctor: DoctorId | None = DOCTOR,
    hospital: HospitalId | None = None,
    scope: ConsentScope = ConsentScope.READ,
    until_days: float = 30,
    revoked_days_ago: float | None = None,
    patient: PatientId = PATIENT,
) -> Consent:
    return Consent(
        ConsentId("con-1"),
        patient,
        scope,
        "second opinion",
        granted_at=NOW - timedelta(days=10),
        until=NOW + timedelta(days=until_days),
        doctor_id=doctor,
        hospital_id=hospital,
        revoked_at=None if revoked_days_ago is None else NOW - timedelta(days=revoked_days_ago),
    )


PATIENT_ACTOR = Actor.patient(PATIENT)
OTHER_PATIENT = Actor.patient(PatientId("pat-2"))
DOCTOR_ACTOR = Actor.doctor(DOCTOR)
ADMIN = Actor.admin(UserId("adm-1"))
HOSPITAL_ADMIN = Actor(Role.HOSPITAL_ADMIN, UserId("ha-1"))

B, C, N = AppointmentStatus.BOOKED, AppointmentStatus.COMPLETED, AppointmentStatus.CANCELLED
HELD, NO_SHOW = AppointmentStatus.HELD, AppointmentStatus.NO_SHOW

CASES: list[tuple[str, Actor, RecordAction, AccessFacts, AccessBasis | None]] = [
    ("patient reads own", PATIENT_ACTOR, READ, AccessFacts(), AccessBasis.OWN),
    ("patient never writes", PATIENT_ACTOR, WRITE, AccessFacts(), None),
    ("another patient", OTHER_PATIENT, READ, AccessFacts(), None),
    ("doctor, no relationship", DOCTOR_ACTOR, READ, AccessFacts(), None),
    ("doctor, booked visit", DOCTOR_ACTOR, READ, AccessFacts((visit(B, -3),)), AccessBasis.CARE),
    ("doctor writes, booked", DOCTOR_ACTOR, WRITE, AccessFacts((visit(B, -3),)), AccessBasis.CARE),
    ("completed 10 days ago", DOCTOR_ACTOR, READ, AccessFacts((visit(C, 10),)), AccessBasis.CARE),
    ("completed 90 days ago", DOCTOR_ACTOR, READ, AccessFacts((visit(C, 90),)), AccessBasis.CARE),
    ("completed 91 days ago", DOCTOR_ACTOR, READ, AccessFacts((visit(C, 91),)), None),
    ("cancelled visit", DOCTOR_ACTOR, READ, AccessFacts((visit(N, -3),)), None),
    ("held (unpaid) visit", DOCTOR_ACTOR, READ, AccessFacts((visit(HELD, -3),)), None),
    ("no-show", DOCTOR_ACTOR, READ, AccessFacts((visit(NO_SHOW, 1),)), None),
    (
        "another doctor's visit",
        DOCTOR_ACTOR,
        READ,
        AccessFacts((visit(B, -3, OTHER_DOCTOR),)),
        None,
    ),
    (
        "consent to doctor",
        DOCTOR_ACTOR,
        READ,
        AccessFacts(consents=(consent(),)),
        AccessBasis.CONSENT,
    ),
    ("read consent, write", DOCTOR_ACTOR, WRITE, AccessFacts(consents=(consent(),)), None),
    (
        "read-write consent, write",
        DOCTOR_ACTOR,
        WRITE,
        AccessFacts(consents=(consent(scope=ConsentScope.READ_WRITE),)),
        AccessBasis.CONSENT,
    ),
    ("expired consent", DOCTOR_ACTOR, READ, AccessFacts(consents=(consent(until_days=-1),)), None),
    (
        "revoked consent",
        DOCTOR_ACTOR,
        READ,
        AccessFacts(consents=(consent(revoked_days_ago=1),)),
        None,
    ),
    (
        "consent to another doctor",
        DOCTOR_ACTOR,
        READ,
        AccessFacts(consents=(consent(doctor=OTHER_DOCTOR),)),
        None,
    ),
    (
        "consent for another patient",
        DOCTOR_ACTOR,
        READ,
        AccessFacts(consents=(consent(patient=PatientId("pat-2")),)),
        None,
    ),
    (
        "consent to my hospital",
        DOCTOR_ACTOR,
        READ,
        AccessFacts(
            consents=(consent(doctor=None, hospital=HOSPITAL),),
            doctor_hospitals=frozenset({HOSPITAL}),
        ),
        AccessBasis.CONSENT,
    ),
    (
        "consent to a hospital I am not at",
        DOCTOR_ACTOR,
        READ,
        AccessFacts(consents=(consent(doctor=None, hospital=HOSPITAL),)),
        None,
    ),
    ("admin reads nothing", ADMIN, READ, AccessFacts((visit(B, -3),), (consent(),)), None),
    ("hospital admin reads nothing", HOSPITAL_ADMIN, READ, AccessFacts(), None),
]


@pytest.mark.parametrize(
    ("actor", "action", "facts", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_the_access_rule(
    actor: Actor, action: RecordAction, facts: AccessFacts, expected: AccessBasis | None
) -> None:
    decision = RecordAccess().decide(actor, PATIENT, action, facts, NOW)
    assert decision.allowed is (expected is not None)
    assert decision.basis is expected


def test_the_care_period_is_configurable() -> None:
    facts = AccessFacts((visit(C, 20),))
    assert (
        not RecordAccess(timedelta(days=14)).decide(DOCTOR_ACTOR, PATIENT, READ, facts, NOW).allowed
    )
    assert RecordAccess(timedelta(days=30)).decide(DOCTOR_ACTOR, PATIENT, READ, facts, NOW).allowed


def test_a_consent_names_a_doctor_or_a_hospital_not_both() -> None:
    with pytest.raises(ValueError, match="either"):
        consent(doctor=DOCTOR, hospital=HOSPITAL)
    with pytest.raises(ValueError, match="either"):
        consent(doctor=None, hospital=None)


def _entry(n: int) -> AuditEntry:
    return AuditEntry(
        NOW + timedelta(seconds=n),
        UserId("doc-1"),
        Role.DOCTOR,
        PATIENT,
        "records",
        AuditAction.READ,
        AuditOutcome.ALLOWED,
        "care",
    )


def _chain(length: int) -> list[SealedEntry]:
    chain: list[SealedEntry] = []
    for n in range(1, length + 1):
        chain.append(SealedEntry.seal(_entry(n), n, chain[-1].hash if chain else GENESIS))
    return chain


def test_an_intact_chain_verifies_and_a_changed_entry_is_found() -> None:
    chain = _chain(5)
    assert verify_chain(chain) is None
    changed = list(chain)
    tampered = evolve(changed[2].entry, outcome=AuditOutcome.DENIED)
    changed[2] = SealedEntry(3, tampered, changed[2].previous_hash, changed[2].hash)
    assert verify_chain(changed) == 3
    assert verify_chain(chain[:2] + chain[3:]) == 4  # one removed
    assert verify_chain([chain[1], chain[0], *chain[2:]]) == 2  # reordered


@pytest.mark.parametrize(
    ("actor", "reason", "basis"),
    [
        (Actor.patient(PATIENT), None, AccessBasis.OWN),
        (Actor.patient(PatientId("pat-2")), None, None),
        (Actor.admin(UserId("admin-1")), "letter of 3 Jan", AccessBasis.REQUEST),
        (Actor.admin(UserId("admin-1")), "  ", None),
        (Actor.admin(UserId("admin-1")), None, None),
        # A doctor in care reads records, but never takes the whole file away.
        (Actor.doctor(DOCTOR), "asked", None),
    ],
)
def test_who_may_export_a_patients_data(
    actor: Actor, reason: str | None, basis: AccessBasis | None
) -> None:
    facts = AccessFacts((visit(AppointmentStatus.BOOKED, -1),))
    decision = RecordAccess().decide_export(actor, PATIENT, facts, NOW, reason)
    assert (decision.allowed, decision.basis) == (basis is not None, basis)
