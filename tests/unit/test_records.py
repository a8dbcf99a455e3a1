"""The records use cases on the reference storage: who reads and writes what, corrections as
revisions, derived history and prescriptions, consents, and one audit entry per access."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from attrs import evolve

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory
from hellodoctor_adapters.memory.services import ManualClock, SequentialIds
from hellodoctor_adapters.testing.fixtures import MONDAY, appointment, seed
from hellodoctor_domain.errors import AccessDenied, InvalidValue, NotFound
from hellodoctor_domain.model.appointment import AppointmentStatus
from hellodoctor_domain.model.audit import AuditAction, AuditOutcome, RequestContext
from hellodoctor_domain.model.consent import ConsentScope
from hellodoctor_domain.model.records import (
    Diagnosis,
    DiagnosisStatus,
    MedicalRecord,
    Prescription,
    RecordId,
    RecordKind,
    Vital,
    VitalSign,
)
from hellodoctor_domain.model.values import Actor, DoctorId, PatientId, UserId
from hellodoctor_domain.ports.records import AuditQuery
from hellodoctor_domain.use_cases.records import ConsentGrant, Records

P1, P2 = PatientId("p1"), PatientId("p2")
D1, D2 = DoctorId("d1"), DoctorId("d2")
GRACE, ADA = Actor.patient(P1), Actor.patient(P2)
DR1, DR2 = Actor.doctor(D1), Actor.doctor(D2)
ADMIN = Actor.admin(UserId("root"))
CONTEXT = RequestContext("req-1", "198.51.100.4")


@pytest.fixture
def storage() -> InMemoryUnitOfWorkFactory:
    factory = InMemoryUnitOfWorkFactory()
    seed(factory)
    with factory() as uow:  # d1 sees p1 on Monday: a care relationship
        uow.appointments.add(appointment("a1", MONDAY + timedelta(hours=9)))
        uow.commit()
    return factory


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY + timedelta(hours=10))


@pytest.fixture
def records(storage: InMemoryUnitOfWorkFactory, clock: ManualClock) -> Records:
    return Records(storage, clock, SequentialIds("rec"))


def draft(patient: PatientId = P1, **changes: object) -> MedicalRecord:
    built = MedicalRecord(
        RecordId("ignored"),
        patient,
        DoctorId("ignored"),
        RecordKind.CONSULTATION,
        MONDAY,
        diagnoses=[Diagnosis("I10", "Hypertension", DiagnosisStatus.CHRONIC)],
        vitals=[Vital(VitalSign.SYSTOLIC, 150, "mm[Hg]")],
        prescriptions=[
            Prescription("Amlodipine", "5 mg", "daily", date(2030, 1, 7)),
            Prescription("Ibuprofen", "400 mg", "as needed", date(2029, 1, 1), date(2029, 1, 5)),
        ],
        allergies=["latex"],
    )
    return evolve(built, **changes)


def audit(storage: InMemoryUnitOfWorkFactory) -> list[tuple[str, str, str, str]]:
    with storage() as uow:
        return [
            (s.entry.user_id.value, s.entry.subject, s.entry.action.value, s.entry.outcome.value)
            for s in uow.audit.chain()
        ]


def test_a_doctor_in_care_writes_and_the_patient_reads(
    records: Records, storage: InMemoryUnitOfWorkFactory
) -> None:
    written = records.write(DR1, draft(), CONTEXT)
    assert (written.id.value, written.author_id, written.revision) == ("rec-1", D1, 1)
    assert [r.id for r in records.of_patient(GRACE, P1)] == [written.id]
    assert [r.id for r in records.of_patient(DR1, P1)] == [written.id]
    assert audit(storage) == [
        ("d1", "record:rec-1", "write", "allowed"),
        ("p1", "records", "read", "allowed"),
        ("d1", "records", "read", "allowed"),
    ]
    with storage() as uow:
        first = uow.audit.chain()[0].entry
    assert (first.request_id, first.client_address, first.purpose) == (
        "req-1",
        "198.51.100.4",
        "care",
    )


@pytest.mark.parametrize("actor", [DR2, ADA, ADMIN], ids=["other doctor", "other patient", "admin"])
def test_anyone_else_is_told_the_patient_does_not_exist_and_is_audited(
    records: Records, storage: InMemoryUnitOfWorkFactory, actor: Actor
) -> None:
    records.write(DR1, draft())
    for read in (records.of_patient, records.history, records.prescriptions):
        with pytest.raises(NotFound, match="no patient p1"):
            read(actor, P1)
    with pytest.raises(NotFound, match="no patient p1"):
        records.versions(actor, P1, RecordId("rec-1"))
    denied = [row for row in audit(storage) if row[3] == "denied"]
    assert len(denied) == 4
    assert {row[0] for row in denied} == {actor.user_id.value}


def test_an_unknown_patient_is_the_same_answer(records: Records) -> None:
    with pytest.raises(NotFound, match="no patient nobody"):
        records.of_patient(DR1, PatientId("nobody"))


def test_patients_never_write(records: Records, storage: InMemoryUnitOfWorkFactory) -> None:
    with pytest.raises(NotFound):
        records.write(GRACE, draft())
    assert audit(storage) == [("p1", "records", "write", "denied")]


def test_a_correction_is_a_new_revision_and_both_are_kept(records: Records) -> None:
    first = records.write(DR1, draft())
    records.correct(DR1, P1, first.id, evolve(first, notes="BP re-measured"), "wrong arm")
    versions = records.versions(GRACE, P1, first.id)
    assert [(v.revision, v.notes, v.correction_reason) for v in versions] == [
        (1, "", None),
        (2, "BP re-measured", "wrong arm"),
    ]
    (latest,) = records.of_patient(GRACE, P1)
    assert latest.revision == 2


def test_a_record_of_another_patient_is_not_found_and_audited(
    records: Records, storage: InMemoryUnitOfWorkFactory
) -> None:
    first = records.write(DR1, draft())
    with pytest.raises(NotFound, match="no record"):
        records.versions(ADA, P2, first.id)
    assert audit(storage)[-1] == ("p2", "record:rec-1", "read", "denied")


def test_history_and_active_prescriptions_are_derived(records: Records) -> None:
    records.write(DR1, draft())
    history = records.history(GRACE, P1)
    assert set(history.allergies) == {"penicillin", "latex"}
    assert [d.code for d in history.chronic_conditions] == ["I10"]
    assert [p.medication for p in history.current_medications] == ["Amlodipine"]
    assert [p.medication for p in records.prescriptions(DR1, P1)] == ["Amlodipine"]


def test_care_ends_90_days_after_a_completed_visit(
    records: Records, storage: InMemoryUnitOfWorkFactory, clock: ManualClock
) -> None:
    with storage() as uow:
        visit = uow.appointments.get(appointment("a1", MONDAY).id)
        visit.status = AppointmentStatus.COMPLETED
        uow.appointments.update(visit)
        uow.commit()
    clock.advance(timedelta(days=89))
    assert records.of_patient(DR1, P1) == []
    clock.advance(timedelta(days=2))
    with pytest.raises(NotFound):
        records.of_patient(DR1, P1)


def test_a_consent_lets_a_doctor_in_until_revoked(
    records: Records, clock: ManualClock, storage: InMemoryUnitOfWorkFactory
) -> None:
    with pytest.raises(NotFound):
        records.of_patient(DR2, P1)
    grant = ConsentGrant(ConsentScope.READ, clock.now() + timedelta(days=7), "second opinion", D2)
    consent = records.grant(GRACE, P1, grant)
    assert records.of_patient(DR2, P1) == []
    with pytest.raises(NotFound):
        records.write(DR2, draft())  # read-only consent
    assert [c.id for c in records.consents(GRACE, P1)] == [consent.id]
    records.revoke(GRACE, P1, consent.id)
    with pytest.raises(NotFound):
        records.of_patient(DR2, P1)
    with storage() as uow:
        purposes = [s.entry.purpose for s in uow.audit.chain() if s.entry.user_id.value == "d2"]
    assert purposes == ["none", f"consent:{consent.id}:second opinion", "none", "none"]


def test_only_the_patient_or_an_admin_manages_consents(
    records: Records, clock: ManualClock
) -> None:
    grant = ConsentGrant(ConsentScope.READ, clock.now() + timedelta(days=7), "referral", D2)
    for outsider in (DR1, ADA):
        with pytest.raises(NotFound):
            records.grant(outsider, P1, grant)
        with pytest.raises(NotFound):
            records.consents(outsider, P1)
    assert records.grant(ADMIN, P1, grant).patient_id == P1
    with pytest.raises(NotFound):
        records.grant(GRACE, P1, evolve(grant, doctor_id=DoctorId("nobody")))
    with pytest.raises(InvalidValue):
        records.grant(GRACE, P1, evolve(grant, until=clock.now() - timedelta(days=1)))


def test_the_patient_sees_their_access_log_and_the_admin_searches_and_verifies(
    records: Records,
) -> None:
    records.write(DR1, draft())
    with pytest.raises(NotFound):
        records.of_patient(DR2, P1)
    mine = records.access_log(GRACE)
    assert [(s.entry.user_id.value, s.entry.outcome) for s in mine] == [
        ("d2", AuditOutcome.DENIED),
        ("d1", AuditOutcome.ALLOWED),
    ]
    assert records.access_log(ADA) == []
    with pytest.raises(AccessDenied):
        records.access_log(DR1)
    denied = records.search_audit(ADMIN, AuditQuery(outcome=AuditOutcome.DENIED))
    assert [s.entry.action for s in denied] == [AuditAction.READ]
    with pytest.raises(AccessDenied):
        records.search_audit(DR1, AuditQuery())
    assert records.verify_audit(ADMIN, page=1) == (2, None)
