"""The front desk contract (issue 17, item 4): what every storage does for a hospital's
receptionists — finds patients by name, phone, e-mail and date of birth (bounded, by name),
keeps a hospital's receptionists and a payment's collection (how, who, when), records a
collection once however many desks race, and lets the collected money reach the revenue
report.

Part of ``UnitOfWorkContract``; needs only ``uow_factory``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from attrs import evolve

from hellodoctor_adapters.memory import SequentialIds
from hellodoctor_adapters.testing.clinic import ADMIN, FEES, Clinic
from hellodoctor_adapters.testing.contract_hospitals import hospital, staff
from hellodoctor_adapters.testing.fixtures import MONDAY, seed, state_of
from hellodoctor_domain.errors import IllegalPaymentTransition, InvalidValue, NotFound
from hellodoctor_domain.model.appointment import AppointmentStatus
from hellodoctor_domain.model.hospitals import Affiliation
from hellodoctor_domain.model.payments import Collection, PaymentMethod, PaymentStatus
from hellodoctor_domain.model.profiles import Patient
from hellodoctor_domain.model.values import (
    DoctorId,
    EmailAddress,
    HospitalId,
    PatientId,
    Role,
)
from hellodoctor_domain.ports.scheduling import PatientSearch
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.analytics import Analytics
from hellodoctor_domain.use_cases.clinic_day import ClinicDay
from hellodoctor_domain.use_cases.front_desk import FrontDesk
from hellodoctor_domain.use_cases.hospitals import Hospitals
from hellodoctor_domain.use_cases.scheduling import BookingRequest

H1, H2 = HospitalId("h1"), HospitalId("h2")


def _names(found: list[Patient]) -> list[str]:
    return [p.name for p in found]


class FrontDeskStorageContract:
    def test_the_desk_finds_patients_by_any_identifying_field(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        people = (
            Patient(
                PatientId("q1"),
                "Grace Hopper",
                date(1906, 12, 9),
                "+442079460001",
                EmailAddress("Grace@Example.org"),
            ),
            Patient(PatientId("q2"), "grace o'malley", date(1990, 1, 2), "+442079460002"),
            Patient(PatientId("q3"), "Ada 100% Lovelace", date(1815, 12, 10), "+442079460003"),
            Patient(PatientId("q4"), "Alan Turing", date(1912, 6, 23), "+442079460001"),
        )
        with uow_factory() as uow:
            for person in people:
                uow.patients.add(person)
            uow.commit()

        def search(**criteria: object) -> list[str]:
            with uow_factory() as uow:
                return _names(list(uow.patients.search(PatientSearch(**criteria))))  # type: ignore[arg-type]

        # A fragment, any case, ordered by name regardless of case.
        assert search(name="GRACE") == ["Grace Hopper", "grace o'malley"]
        assert search(name="race", limit=1) == ["Grace Hopper"]
        # LIKE's wildcards are letters like any other.
        assert search(name="100%") == ["Ada 100% Lovelace"]
        assert search(name="_") == []
        assert search(phone="+442079460001") == ["Alan Turing", "Grace Hopper"]
        assert search(email="grace@example.ORG") == ["Grace Hopper"]
        assert search(email="grace@example") == []  # the whole address only
        assert search(date_of_birth=date(1912, 6, 23)) == ["Alan Turing"]
        # Every criterion must match.
        assert search(phone="+442079460001", date_of_birth=date(1906, 12, 9)) == ["Grace Hopper"]
        assert search(name="alan", phone="+442079460002") == []

    def test_a_hospital_keeps_its_receptionists(self, uow_factory: UnitOfWorkFactory) -> None:
        seed(uow_factory)
        written = hospital("h1")
        written.appoint_receptionist(staff(uow_factory, "rcp-1", Role.RECEPTIONIST).user_id, MONDAY)
        with uow_factory() as uow:
            uow.hospitals.add(written)
            uow.commit()
        with uow_factory() as uow:
            stored = uow.hospitals.get(H1)
        assert stored.receptionists == written.receptionists
        assert state_of(evolve(stored, version=0)) == state_of(evolve(written, version=0))

    @pytest.fixture
    def clinic(self, uow_factory: UnitOfWorkFactory) -> Clinic:
        clinic = Clinic(uow_factory)
        hospitals = Hospitals(uow_factory, clinic.clock)
        hospitals.register(ADMIN, evolve(hospital("h1"), doctors=(Affiliation(DoctorId("d1")),)))
        hospitals.register(
            ADMIN, evolve(hospital("h2", city="Mumbai"), doctors=(Affiliation(DoctorId("d2")),))
        )
        return clinic

    def _desk(self, clinic: Clinic) -> FrontDesk:
        return FrontDesk(clinic.uow, clinic.clock, SequentialIds("desk"), clinic.scheduling)

    def test_the_desk_books_to_pay_at_the_clinic_and_collects_once(self, clinic: Clinic) -> None:
        uow_factory = clinic.uow
        hospitals = Hospitals(uow_factory, clinic.clock)
        receptionist = staff(uow_factory, "rcp-1", Role.RECEPTIONIST)
        hospitals.appoint_receptionist(ADMIN, H1, receptionist.user_id)
        desk = self._desk(clinic)
        walk_in = desk.register_walk_in(
            receptionist, H1, "Walk In", "+442079460009", date(1980, 5, 17)
        )
        found = desk.search_patients(receptionist, H1, PatientSearch(phone="+442079460009"))
        assert [p.id for p in found] == [walk_in.id]

        request = BookingRequest(
            doctor_id=DoctorId("d1"), patient_id=walk_in.id, start=clinic.slot()
        )
        booking = desk.book(receptionist, H1, request, pay_at_clinic=True)
        assert booking.appointment.status is AppointmentStatus.BOOKED
        assert booking.appointment.price == FEES["d1"]  # the doctor's fee, never the caller's
        assert booking.payment is not None
        assert (booking.payment.method, booking.payment.status) == (
            PaymentMethod.OFFLINE,
            PaymentStatus.REQUIRES_PAYMENT,
        )
        # A receptionist of the other hospital knows nothing of this doctor nor this visit.
        other = staff(uow_factory, "rcp-2", Role.RECEPTIONIST)
        hospitals.appoint_receptionist(ADMIN, H2, other.user_id)
        with pytest.raises(NotFound):
            desk.book(other, H2, evolve(request, start=clinic.slot(index=2)), pay_at_clinic=True)
        with pytest.raises(NotFound):
            clinic.scheduling.book(other, evolve(request, start=clinic.slot(index=2)))
        with pytest.raises(NotFound):
            desk.record_collection(other, booking.appointment.id, Collection.CASH)
        with pytest.raises(NotFound):
            ClinicDay(uow_factory, clinic.clock).day(other, DoctorId("d1"))

        collected = desk.record_collection(
            receptionist, booking.appointment.id, Collection.CARD_TERMINAL
        )
        with uow_factory() as uow:
            stored = uow.payments.get(collected.id)
        assert (stored.status, stored.collected_via, stored.collected_by, stored.succeeded_at) == (
            PaymentStatus.SUCCEEDED,
            Collection.CARD_TERMINAL,
            receptionist.user_id,
            clinic.clock.now(),
        )
        with pytest.raises(IllegalPaymentTransition):
            desk.record_collection(receptionist, booking.appointment.id, Collection.CASH)
        # The money reaches the revenue report, as paid at the clinic.
        report = Analytics(uow_factory).revenue(ADMIN, MONDAY.date(), MONDAY.date(), "UTC")
        assert [(line.method, line.gross) for line in report.lines] == [
            (PaymentMethod.OFFLINE, booking.appointment.price.minor_units)
        ]
        # The desk sees its doctor's day, with the walk-in's name.
        day = ClinicDay(uow_factory, clinic.clock).day(
            receptionist, DoctorId("d1"), request.start.date()
        )
        assert [e.patient_name for e in day.entries] == ["Walk In"]

    def test_racing_desks_record_a_collection_once(self, clinic: Clinic) -> None:
        desk = self._desk(clinic)
        booking = desk.book(
            ADMIN,
            H1,
            BookingRequest(
                doctor_id=DoctorId("d1"), patient_id=PatientId("p1"), start=clinic.slot()
            ),
            pay_at_clinic=True,
        )

        def collect(_: int) -> str:
            try:
                desk.record_collection(ADMIN, booking.appointment.id, Collection.CASH)
            except IllegalPaymentTransition:
                return "refused"
            return "recorded"

        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(collect, range(8)))
        assert sorted(outcomes) == ["recorded"] + ["refused"] * 7
        with clinic.uow() as uow:
            payment = uow.payments.for_appointment(booking.appointment.id)
        assert payment is not None
        assert payment.status is PaymentStatus.SUCCEEDED
        assert payment.collected_via is Collection.CASH

    def test_a_search_needs_a_criterion_and_stays_bounded(self, clinic: Clinic) -> None:
        desk = self._desk(clinic)
        with pytest.raises(InvalidValue):
            desk.search_patients(ADMIN, H1, PatientSearch())
        with pytest.raises(InvalidValue):
            desk.search_patients(ADMIN, H1, PatientSearch(name="a"))
        with pytest.raises(InvalidValue):
            desk.search_patients(ADMIN, H1, PatientSearch(name="Patient", limit=51))
        assert len(desk.search_patients(ADMIN, H1, PatientSearch(name="patient", limit=2))) == 2
