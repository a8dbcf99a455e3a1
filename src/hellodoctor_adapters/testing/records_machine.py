"""A Hypothesis state machine over clinical records: random consents granted and revoked,
appointments booked, completed and cancelled, time passing, and reads and writes by random
actors. After every access it checks that the answer (allowed or 404) is what a small,
separately written model of the rules says, and that the access left exactly one new audit
entry, by that actor, with that outcome; at the end of each step the audit chain verifies.

``make_records_machine(new_uow_factory)`` builds the machine on any storage;
``records_type`` lets a test swap in a deliberately broken use case to prove the machine
notices.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from attrs import define, evolve
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hellodoctor_adapters.memory.services import ManualClock, SequentialIds
from hellodoctor_adapters.testing.contract_hospitals import hospital
from hellodoctor_adapters.testing.fixtures import MONDAY, appointment, seed
from hellodoctor_domain.errors import NotFound, SlotUnavailable
from hellodoctor_domain.model.appointment import AppointmentStatus
from hellodoctor_domain.model.audit import AuditOutcome, verify_chain
from hellodoctor_domain.model.consent import ConsentId, ConsentScope
from hellodoctor_domain.model.hospitals import Affiliation
from hellodoctor_domain.model.records import (
    MedicalRecord,
    Prescription,
    RecordId,
    RecordKind,
)
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    DoctorId,
    HospitalId,
    PatientId,
    UserId,
)
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.records import ConsentGrant, Records

PATIENTS = (PatientId("p1"), PatientId("p2"))
DOCTORS = (DoctorId("d1"), DoctorId("d2"), DoctorId("d3"))
HOSPITAL = HospitalId("h1")  # d3 works there
CARE_PERIOD = timedelta(days=90)
ACTORS = (
    *(Actor.patient(p) for p in PATIENTS),
    *(Actor.doctor(d) for d in DOCTORS),
    Actor.admin(UserId("root")),
)


@define
class ModelVisit:
    doctor: DoctorId
    patient: PatientId
    status: AppointmentStatus
    end: datetime


@define
class ModelConsent:
    patient: PatientId
    doctor: DoctorId | None
    hospital: HospitalId | None
    scope: ConsentScope
    granted_at: datetime
    until: datetime
    revoked_at: datetime | None = None


def draft(patient: PatientId) -> MedicalRecord:
    return MedicalRecord(
        RecordId("new"),
        patient,
        DoctorId("author"),
        RecordKind.PRESCRIPTION,
        MONDAY,
        prescriptions=[Prescription("Amoxicillin", "500 mg", "3x daily", date(2030, 1, 7))],
    )


def make_records_machine(
    new_uow_factory: Callable[[], UnitOfWorkFactory],
    records_type: type[Records] = Records,
) -> type[RuleBasedStateMachine]:
    class RecordsMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.uow = new_uow_factory()
            seed(self.uow, doctors=3, patients=2)
            with self.uow() as uow:
                uow.hospitals.add(evolve(hospital("h1"), doctors=(Affiliation(DOCTORS[2]),)))
                uow.commit()
            self.clock = ManualClock(MONDAY)
            self.records = records_type(self.uow, self.clock, SequentialIds("rec"))
            self.visits: dict[AppointmentId, ModelVisit] = {}
            self.consents: dict[ConsentId, ModelConsent] = {}
            self.audited = 0

        # -- the model of the rules, written apart from model/record_access.py ----------

        def allowed(self, actor: Actor, patient: PatientId, write: bool) -> bool:
            now = self.clock.now()
            if actor.patient_id is not None:
                return actor.patient_id == patient and not write
            doctor = actor.doctor_id
            if doctor is None:
                return False
            for visit in self.visits.values():
                if visit.doctor != doctor or visit.patient != patient:
                    continue
                if visit.status is AppointmentStatus.BOOKED:
                    return True
                if visit.status is AppointmentStatus.COMPLETED and (
                    visit.end <= now <= visit.end + CARE_PERIOD
                ):
                    return True
            for consent in self.consents.values():
                names_me = consent.doctor == doctor or (
                    consent.hospital == HOSPITAL and doctor == DOCTORS[2]
                )
                live = consent.granted_at <= now < consent.until and (
                    consent.revoked_at is None or consent.revoked_at > now
                )
                if (
                    consent.patient == patient
                    and names_me
                    and live
                    and (not write or consent.scope is ConsentScope.READ_WRITE)
                ):
                    return True
            return False

        def _log_length(self) -> int:
            with self.uow() as uow:
                return len(uow.audit.chain())

        def _last_entry_is(self, actor: Actor, outcome: AuditOutcome) -> None:
            with self.uow() as uow:
                chain = uow.audit.chain()
            assert len(chain) == self.audited + 1, (
                f"{len(chain) - self.audited} audit entries for one access"
            )
            last = chain[-1].entry
            assert (last.user_id, last.outcome) == (actor.user_id, outcome), last
            self.audited += 1

        # -- the world changes ----------------------------------------------------------

        @rule(
            doctor=st.sampled_from(DOCTORS),
            patient=st.sampled_from(PATIENTS),
            days=st.integers(-100, 10),
        )
        def book(self, doctor: DoctorId, patient: PatientId, days: int) -> None:
            key = AppointmentId(f"a{len(self.visits) + 1}")
            start = self.clock.now() + timedelta(days=days, minutes=len(self.visits))
            booked = appointment(
                key.value, start, 1, doctor_key=doctor.value, patient_key=patient.value
            )
            try:
                with self.uow() as uow:
                    uow.appointments.add(booked)
                    uow.commit()
            except SlotUnavailable:  # pragma: no cover - starts differ in the minute
                return
            self.visits[key] = ModelVisit(doctor, patient, booked.status, booked.time.end)

        @precondition(lambda self: bool(self.visits))
        @rule(data=st.data(), completed=st.booleans())
        def end_visit(self, data: st.DataObject, completed: bool) -> None:
            key = data.draw(st.sampled_from(sorted(self.visits)))
            status = AppointmentStatus.COMPLETED if completed else AppointmentStatus.CANCELLED
            with self.uow() as uow:
                stored = uow.appointments.get(key)
                stored.status = status
                uow.appointments.update(stored)
                uow.commit()
            self.visits[key].status = status

        @rule(
            patient=st.sampled_from(PATIENTS),
            grantee=st.sampled_from((*DOCTORS, HOSPITAL)),
            scope=st.sampled_from(ConsentScope),
            days=st.integers(1, 60),
        )
        def grant(
            self,
            patient: PatientId,
            grantee: DoctorId | HospitalId,
            scope: ConsentScope,
            days: int,
        ) -> None:
            doctor = grantee if isinstance(grantee, DoctorId) else None
            where = grantee if isinstance(grantee, HospitalId) else None
            until = self.clock.now() + timedelta(days=days)
            consent = self.records.grant(
                Actor.patient(patient),
                patient,
                ConsentGrant(scope, until, "care elsewhere", doctor, where),
            )
            self.consents[consent.id] = ModelConsent(
                patient, doctor, where, scope, self.clock.now(), until
            )
            self._last_entry_is(Actor.patient(patient), AuditOutcome.ALLOWED)

        @precondition(lambda self: any(c.revoked_at is None for c in self.consents.values()))
        @rule(data=st.data())
        def revoke(self, data: st.DataObject) -> None:
            live = sorted(k for k, c in self.consents.items() if c.revoked_at is None)
            key = data.draw(st.sampled_from(live))
            patient = self.consents[key].patient
            self.records.revoke(Actor.patient(patient), patient, key)
            self.consents[key].revoked_at = self.clock.now()
            self._last_entry_is(Actor.patient(patient), AuditOutcome.ALLOWED)

        @rule(hours=st.integers(1, 24 * 45))
        def time_passes(self, hours: int) -> None:
            self.clock.advance(timedelta(hours=hours))

        # -- accesses -------------------------------------------------------------------

        @rule(
            actor=st.sampled_from(ACTORS),
            patient=st.sampled_from(PATIENTS),
            what=st.sampled_from(("records", "history", "prescriptions")),
        )
        def read(self, actor: Actor, patient: PatientId, what: str) -> None:
            expected = self.allowed(actor, patient, write=False)
            call = {
                "records": self.records.of_patient,
                "history": self.records.history,
                "prescriptions": self.records.prescriptions,
            }[what]
            try:
                call(actor, patient)
            except NotFound:
                assert not expected, f"{actor} was refused {what} of {patient}"
                self._last_entry_is(actor, AuditOutcome.DENIED)
                return
            assert expected, f"{actor} read {what} of {patient}"
            self._last_entry_is(actor, AuditOutcome.ALLOWED)

        @rule(actor=st.sampled_from(ACTORS), patient=st.sampled_from(PATIENTS))
        def write(self, actor: Actor, patient: PatientId) -> None:
            expected = self.allowed(actor, patient, write=True)
            try:
                self.records.write(actor, draft(patient))
            except NotFound:
                assert not expected, f"{actor} was refused writing for {patient}"
                self._last_entry_is(actor, AuditOutcome.DENIED)
                return
            assert expected, f"{actor} wrote a record of {patient}"
            self._last_entry_is(actor, AuditOutcome.ALLOWED)

        @invariant()
        def the_audit_chain_holds(self) -> None:
            with self.uow() as uow:
                chain = uow.audit.chain()
            assert len(chain) == self.audited
            assert verify_chain(chain) is None

    return RecordsMachine
