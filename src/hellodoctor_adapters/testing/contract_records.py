"""The clinical records contract: record revisions are append-only (a second revision with
the same number is refused, whoever writes it), consents round-trip with compare-and-set
updates, and the audit log keeps exactly the entries of committed units of work, in one hash
chain that verifies — and that stops verifying at the entry someone changed behind the
adapter's back (``tamper_audit``: each storage's subclass says how to change a stored entry
with the database's own tools, bypassing the adapter).

Subclass ``RecordStorageContract`` with ``uow_factory`` and ``tamper_audit`` fixtures.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from attrs import evolve

from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError, NotFound
from hellodoctor_domain.model.audit import (
    AuditAction,
    AuditEntry,
    AuditOutcome,
    verify_chain,
)
from hellodoctor_domain.model.consent import Consent, ConsentId, ConsentScope
from hellodoctor_domain.model.emergency import (
    EmergencyCard,
    EmergencyCardId,
    EmergencyGrant,
    EmergencyGrantId,
    token_digest,
)
from hellodoctor_domain.model.profiles import Patient
from hellodoctor_domain.model.records import (
    Diagnosis,
    DiagnosisStatus,
    Interpretation,
    LabResult,
    MedicalRecord,
    Prescription,
    RecordId,
    RecordKind,
    Vital,
    VitalSign,
)
from hellodoctor_domain.model.values import (
    AppointmentId,
    DoctorId,
    HospitalId,
    PatientId,
    Role,
    UserId,
)
from hellodoctor_domain.ports.records import AuditLog, AuditQuery
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory

NOW = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # the night Europe/London moves its clocks
P1, P2 = PatientId("pat-1"), PatientId("pat-2")
D1 = DoctorId("doc-1")

TamperAudit = Callable[[int], None]


def a_record(key: str = "rec-1", patient: PatientId = P1, minutes: int = 0) -> MedicalRecord:
    return MedicalRecord(
        RecordId(key),
        patient,
        D1,
        RecordKind.CONSULTATION,
        NOW + timedelta(minutes=minutes),
        appointment_id=AppointmentId("apt-1"),
        hospital_id=HospitalId("hos-1"),
        diagnoses=[Diagnosis("E11.9", "Type 2 diabetes", DiagnosisStatus.CHRONIC)],
        symptoms=["thirst"],
        vitals=[Vital(VitalSign.TEMPERATURE, 37.2, "Cel")],
        prescriptions=[Prescription("Metformin", "500 mg", "twice daily", date(2026, 3, 29))],
        lab_results=[LabResult("HbA1c", "7.1", "%", "4.0-5.6", Interpretation.HIGH)],
        allergies=["penicillin"],
        notes="Reviewed diet.",
        attachments=["doc-9"],
        follow_up=date(2026, 6, 1),
    )


def a_consent(key: str = "con-1", patient: PatientId = P1) -> Consent:
    return Consent(
        ConsentId(key),
        patient,
        ConsentScope.READ,
        "second opinion",
        NOW,
        NOW + timedelta(days=30),
        doctor_id=D1,
    )


def an_entry(
    n: int, patient: PatientId = P1, outcome: AuditOutcome = AuditOutcome.ALLOWED
) -> AuditEntry:
    return AuditEntry(
        NOW + timedelta(seconds=n),
        UserId("doc-1"),
        Role.DOCTOR,
        patient,
        f"record:rec-{n}",
        AuditAction.READ,
        outcome,
        "care",
        request_id=f"req-{n}",
        client_address="203.0.113.7",
    )


def same_record(a: MedicalRecord, b: MedicalRecord) -> bool:
    from attrs import asdict

    return asdict(a) == asdict(b)


class RecordStorageContract:
    @pytest.fixture
    def patients(self, uow_factory: UnitOfWorkFactory) -> None:
        with uow_factory() as uow:
            uow.patients.add(Patient(P1, "Grace Hopper"))
            uow.patients.add(Patient(P2, "Ada Lovelace"))
            uow.commit()

    # -- records ----------------------------------------------------------------------------

    def test_a_record_round_trips_whole(
        self, uow_factory: UnitOfWorkFactory, patients: None
    ) -> None:
        record = a_record()
        with uow_factory() as uow:
            uow.records.add(record)
            uow.commit()
        with uow_factory() as uow:
            (stored,) = uow.records.revisions(record.id)
            mine = uow.records.of_patient(P1)
            theirs = uow.records.of_patient(P2)
        assert same_record(stored, record)
        assert [r.id for r in mine] == [record.id]
        assert theirs == []

    def test_a_correction_is_a_new_revision_and_both_are_kept(
        self, uow_factory: UnitOfWorkFactory, patients: None
    ) -> None:
        first = a_record()
        second = first.correct(
            evolve(first, notes="Corrected dose."), D1, "typo", NOW + timedelta(hours=1)
        )
        with uow_factory() as uow:
            uow.records.add(first)
            uow.records.add(second)
            uow.commit()
        with uow_factory() as uow:
            revisions = uow.records.revisions(first.id)
        assert [(r.revision, r.notes) for r in revisions] == [
            (1, "Reviewed diet."),
            (2, "Corrected dose."),
        ]
        assert revisions[1].correction_reason == "typo"

    def test_a_revision_number_is_taken_once(
        self, uow_factory: UnitOfWorkFactory, patients: None
    ) -> None:
        record = a_record()
        with uow_factory() as uow:
            uow.records.add(record)
            uow.commit()
        with pytest.raises(AlreadyExists), uow_factory() as uow:
            uow.records.add(evolve(a_record(), notes="another first revision"))
            uow.commit()
        with uow_factory() as uow:
            assert [r.notes for r in uow.records.revisions(record.id)] == ["Reviewed diet."]

    def test_racing_corrections_of_one_revision_keep_exactly_one(
        self, uow_factory: UnitOfWorkFactory, patients: None
    ) -> None:
        first = a_record()
        with uow_factory() as uow:
            uow.records.add(first)
            uow.commit()

        def correct(n: int) -> bool:
            try:
                with uow_factory() as uow:
                    uow.records.add(first.correct(evolve(first, notes=f"fix {n}"), D1, "fix", NOW))
                    uow.commit()
            except (AlreadyExists, ConcurrencyError):
                return False
            return True

        with ThreadPoolExecutor(4) as pool:
            wins = list(pool.map(correct, range(4)))
        assert wins.count(True) == 1
        with uow_factory() as uow:
            assert [r.revision for r in uow.records.revisions(first.id)] == [1, 2]

    def test_an_unknown_record_is_not_found(self, uow_factory: UnitOfWorkFactory) -> None:
        with pytest.raises(NotFound), uow_factory() as uow:
            uow.records.revisions(RecordId("nope"))

    def test_a_rolled_back_record_is_not_kept(
        self, uow_factory: UnitOfWorkFactory, patients: None
    ) -> None:
        with uow_factory() as uow:
            uow.records.add(a_record())
        with uow_factory() as uow:
            assert uow.records.of_patient(P1) == []

    # -- consents ---------------------------------------------------------------------------

    def test_a_consent_round_trips_and_revokes_by_compare_and_set(
        self, uow_factory: UnitOfWorkFactory, patients: None
    ) -> None:
        with uow_factory() as uow:
            uow.consents.add(a_consent())
            uow.consents.add(a_consent("con-2", P2))
            uow.commit()
        with uow_factory() as uow:
            consent = uow.consents.get(ConsentId("con-1"))
            consent.revoke(NOW + timedelta(days=1))
            uow.consents.update(consent)
            uow.commit()
        with uow_factory() as uow:
            mine = uow.consents.of_patient(P1)
        assert [(c.id.value, c.revoked_at, c.version) for c in mine] == [
            ("con-1", NOW + timedelta(days=1), 2)
        ]
        assert mine[0].doctor_id == D1
        assert mine[0].until == NOW + timedelta(days=30)
        stale = a_consent()
        stale.version = 1
        with pytest.raises(ConcurrencyError), uow_factory() as uow:
            uow.consents.update(stale)
            uow.commit()

    def test_an_unknown_consent_is_not_found(self, uow_factory: UnitOfWorkFactory) -> None:
        with pytest.raises(NotFound), uow_factory() as uow:
            uow.consents.get(ConsentId("nope"))

    # -- the audit log ----------------------------------------------------------------------

    def test_the_audit_log_keeps_committed_entries_in_one_chain(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        for n in (1, 2, 3):
            with uow_factory() as uow:
                uow.audit.append(an_entry(n, P1 if n != 2 else P2))
                uow.commit()
        with uow_factory() as uow:
            uow.audit.append(an_entry(99))  # rolled back
        with uow_factory() as uow:
            chain = uow.audit.chain()
            assert [s.sequence for s in chain] == [1, 2, 3]
            assert [s.entry for s in chain] == [an_entry(1), an_entry(2, P2), an_entry(3)]
            assert verify_chain(chain) is None
            assert [s.sequence for s in uow.audit.search(AuditQuery(patient_id=P1))] == [3, 1]
            assert [s.sequence for s in uow.audit.search(AuditQuery(limit=1))] == [3]
            assert uow.audit.search(AuditQuery(before_sequence=3, patient_id=P1))[0].sequence == 1
            since = uow.audit.search(AuditQuery(since=NOW + timedelta(seconds=2)))
            assert [s.sequence for s in since] == [3, 2]

    def test_audit_search_filters_by_outcome_and_user(self, uow_factory: UnitOfWorkFactory) -> None:
        with uow_factory() as uow:
            uow.audit.append(an_entry(1))
            uow.audit.append(an_entry(2, outcome=AuditOutcome.DENIED))
            uow.commit()
        with uow_factory() as uow:
            denied = uow.audit.search(AuditQuery(outcome=AuditOutcome.DENIED))
            nobody = uow.audit.search(AuditQuery(user_id=UserId("someone-else")))
        assert [s.sequence for s in denied] == [2]
        assert nobody == []

    def test_racing_appends_never_fork_the_chain(self, uow_factory: UnitOfWorkFactory) -> None:
        def append(n: int) -> None:
            with uow_factory() as uow:
                uow.audit.append(an_entry(n))
                uow.commit()

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(append, range(1, 9)))
        with uow_factory() as uow:
            chain = uow.audit.chain()
        assert [s.sequence for s in chain] == list(range(1, 9))
        assert verify_chain(chain) is None

    def test_a_changed_entry_breaks_the_chain_there(
        self, uow_factory: UnitOfWorkFactory, tamper_audit: TamperAudit
    ) -> None:
        for n in (1, 2, 3):
            with uow_factory() as uow:
                uow.audit.append(an_entry(n))
                uow.commit()
        tamper_audit(2)  # e.g. the outcome of entry 2 rewritten with the database's own tools
        with uow_factory() as uow:
            chain = uow.audit.chain()
        assert chain[1].entry != an_entry(2)  # the change is really there
        assert verify_chain(chain) == 2

    def test_the_adapter_offers_no_way_to_change_or_remove_an_entry(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        with uow_factory() as uow:
            log = uow.audit
        public = {name for name in dir(log) if not name.startswith("_")}
        # Beyond the port: at most the buffer of a storage that appends at commit.
        assert public - set(dir(AuditLog)) <= {"flush", "pending"}
        assert {"append", "search", "chain"} <= public
        assert not public & {"update", "delete", "remove", "replace", "clear"}


class EmergencyStorageContract:
    """Break-glass grants (review queue, compare-and-set review, their event in the outbox's
    reach), emergency cards (one per token digest), the lookup of a patient by health ID."""

    @pytest.fixture
    def emergency_patients(self, uow_factory: UnitOfWorkFactory) -> None:
        with uow_factory() as uow:
            uow.patients.add(Patient(P1, "Grace Hopper", health_id="NHS-1", blood_group="O+"))
            uow.patients.add(Patient(P2, "Ada Lovelace"))
            uow.commit()

    def test_a_patient_is_found_by_health_id(
        self, uow_factory: UnitOfWorkFactory, emergency_patients: None
    ) -> None:
        with uow_factory() as uow:
            assert uow.emergency_grants.patient_with_health_id("NHS-1") == P1
            assert uow.emergency_grants.patient_with_health_id("NHS-2") is None
            assert uow.patients.get(P1).blood_group == "O+"
            twin = uow.patients.get(P2)
            twin.health_id = "NHS-1"
            uow.patients.update(twin)
            uow.commit()
        with uow_factory() as uow:  # two patients with one ID: nobody is found
            assert uow.emergency_grants.patient_with_health_id("NHS-1") is None
            assert uow.patients.get(P1).blood_group == "O+"

    def test_grants_wait_for_review_oldest_first(
        self, uow_factory: UnitOfWorkFactory, emergency_patients: None
    ) -> None:
        with uow_factory() as uow:
            for n, patient in ((2, P2), (1, P1)):
                uow.emergency_grants.add(
                    EmergencyGrant.open(
                        EmergencyGrantId(f"em-{n}"),
                        patient,
                        D1,
                        "collapsed",
                        NOW + timedelta(minutes=n),
                    )
                )
            uow.commit()
        with uow_factory() as uow:
            assert [g.id.value for g in uow.emergency_grants.unreviewed()] == ["em-1", "em-2"]
            grant = uow.emergency_grants.get(EmergencyGrantId("em-1"))
            grant.review(UserId("root"), "fine", NOW + timedelta(hours=2))
            uow.emergency_grants.update(grant)
            uow.commit()
        with uow_factory() as uow:
            assert [g.id.value for g in uow.emergency_grants.unreviewed()] == ["em-2"]
            stored = uow.emergency_grants.get(EmergencyGrantId("em-1"))
        assert (stored.reviewed_by, stored.review_note, stored.version) == (
            UserId("root"),
            "fine",
            2,
        )
        assert stored.expires_at == NOW + timedelta(minutes=1, hours=1)
        stale = evolve(stored, version=1)
        with pytest.raises(ConcurrencyError), uow_factory() as uow:
            uow.emergency_grants.update(stale)
            uow.commit()

    def test_a_card_is_found_by_its_token_digest_once(
        self, uow_factory: UnitOfWorkFactory, emergency_patients: None
    ) -> None:
        card = EmergencyCard(EmergencyCardId("card-1"), P1, token_digest("secret"), NOW)
        with uow_factory() as uow:
            uow.emergency_cards.add(card)
            uow.commit()
        with pytest.raises(AlreadyExists), uow_factory() as uow:
            uow.emergency_cards.add(evolve(card, id=EmergencyCardId("card-2")))
            uow.commit()
        with uow_factory() as uow:
            found = uow.emergency_cards.with_digest(token_digest("secret"))
            assert found is not None
            found.revoke(NOW + timedelta(days=1))
            uow.emergency_cards.update(found)
            uow.commit()
        with uow_factory() as uow:
            assert uow.emergency_cards.with_digest(token_digest("other")) is None
            (mine,) = uow.emergency_cards.of_patient(P1)
            assert uow.emergency_cards.of_patient(P2) == []
        assert (mine.id, mine.revoked_at, mine.active) == (card.id, NOW + timedelta(days=1), False)
