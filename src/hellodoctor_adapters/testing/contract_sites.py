"""The hospital-sites contract: a doctor's windows name the hospitals they are at (only
hospitals that list them), an appointment is stored with the hospital of its window (none for
telemedicine), and the no-double-booking rule spans all of a doctor's hospitals. And where a
patient stays: every admission is a stored record, closed by the discharge.

Part of ``UnitOfWorkContract``; needs only ``uow_factory``.
"""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from hellodoctor_adapters.memory.services import ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.testing.contract_hospitals import ADMIN, H1, H2, hospital, staff
from hellodoctor_adapters.testing.fixtures import MONDAY, seed, state_of
from hellodoctor_domain.errors import ConcurrencyError, InvalidValue, NotFound, SlotUnavailable
from hellodoctor_domain.model.appointment import Appointment
from hellodoctor_domain.model.availability import Availability, LocalWindow, Weekday, WorkingDay
from hellodoctor_domain.model.hospitals import BedType
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentType,
    DoctorId,
    HospitalId,
    PatientId,
    TimeRange,
)
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.hospitals import Admission, Hospitals
from hellodoctor_domain.use_cases.scheduling import BookingRequest, Scheduling

D1 = DoctorId("d1")
TUESDAY = MONDAY + timedelta(days=1)


def _week(morning: HospitalId | None, afternoon: HospitalId | None) -> Availability:
    """Every weekday 09:00-12:00 at ``morning``, 12:00-17:00 at ``afternoon``."""
    return Availability(
        D1,
        "UTC",
        [WorkingDay(day, [LocalWindow(time(9), time(12))], hospital_id=morning) for day in Weekday]
        + [
            WorkingDay(day, [LocalWindow(time(12), time(17))], hospital_id=afternoon)
            for day in Weekday
        ],
        minimum_notice=timedelta(0),
    )


class HospitalSitesContract:
    @pytest.fixture
    def scheduling(self, uow_factory: UnitOfWorkFactory) -> Scheduling:
        seed(uow_factory)
        clock = ManualClock(MONDAY)
        hospitals = Hospitals(uow_factory, clock)
        hospitals.register(ADMIN, hospital("h1"))
        hospitals.register(ADMIN, hospital("h2", city="Mumbai"))
        hospitals.affiliate(ADMIN, H1, D1)
        hospitals.affiliate(ADMIN, H2, D1)
        return Scheduling(uow_factory, clock, SequentialIds("apt"), OfflinePaymentGateway())

    @staticmethod
    def _book(
        scheduling: Scheduling,
        hour: int,
        patient: str = "p1",
        kind: AppointmentType = AppointmentType.IN_PERSON,
    ) -> Appointment:
        return scheduling.book(
            Actor.patient(PatientId(patient)),
            BookingRequest(
                doctor_id=D1,
                patient_id=PatientId(patient),
                start=TUESDAY + timedelta(hours=hour),
                appointment_type=kind,
            ),
        )

    def test_windows_naming_hospitals_round_trip(self, scheduling: Scheduling) -> None:
        written = scheduling.define_availability(ADMIN, _week(H1, H2))
        read = scheduling.availability(D1)
        assert state_of(read) == state_of(written)
        assert read.hospitals == {H1, H2}

    def test_windows_at_a_hospital_not_listing_the_doctor_are_refused(
        self, scheduling: Scheduling
    ) -> None:
        with pytest.raises(InvalidValue, match="not affiliated"):
            scheduling.define_availability(ADMIN, _week(H1, HospitalId("nowhere")))
        stranger = Availability(
            DoctorId("d2"),
            "UTC",
            [WorkingDay(Weekday.MONDAY, [LocalWindow(time(9), time(12))], hospital_id=H1)],
        )
        with pytest.raises(InvalidValue, match="not affiliated"):
            scheduling.define_availability(ADMIN, stranger)

    def test_an_appointment_is_stored_at_its_windows_hospital(
        self, scheduling: Scheduling, uow_factory: UnitOfWorkFactory
    ) -> None:
        scheduling.define_availability(ADMIN, _week(H1, H2))
        morning = self._book(scheduling, 9)
        afternoon = self._book(scheduling, 13, "p2")
        online = self._book(scheduling, 14, "p3", AppointmentType.TELEMEDICINE)
        with uow_factory() as uow:
            assert uow.appointments.get(morning.id).hospital_id == H1
            assert uow.appointments.get(afternoon.id).hospital_id == H2
            assert uow.appointments.get(online.id).hospital_id is None
        moved = scheduling.reschedule(
            Actor.patient(PatientId("p1")),
            morning.id,
            TUESDAY + timedelta(hours=15),
        )
        assert moved.hospital_id == H2
        with uow_factory() as uow:
            assert uow.appointments.get(moved.id).hospital_id == H2

    def test_a_booking_at_one_hospital_blocks_that_time_at_another(
        self, scheduling: Scheduling
    ) -> None:
        scheduling.define_availability(ADMIN, _week(H1, H2))
        taken = self._book(scheduling, 10)
        assert taken.hospital_id == H1
        # The doctor now spends mornings at the other hospital: the calendar is still one.
        scheduling.define_availability(ADMIN, _week(H2, H1))
        with pytest.raises(SlotUnavailable):
            self._book(scheduling, 10, "p2")
        free = scheduling.free_slots(
            D1, TimeRange(TUESDAY + timedelta(hours=9), TUESDAY + timedelta(hours=12))
        )
        assert TUESDAY + timedelta(hours=10) not in {slot.time.start for slot in free}


class AdmissionRecordsContract:
    """Each admission is a stored stay (patient, hospital, ward, bed type, admitted and
    discharged instants) listed for the hospital's administrators and for the patient."""

    def test_a_stay_is_recorded_from_admission_to_discharge(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        seed(uow_factory)
        clock = ManualClock(MONDAY)
        hospitals = Hospitals(uow_factory, clock, SequentialIds("a"))
        hospitals.register(ADMIN, hospital("h1"))
        hospitals.register(ADMIN, hospital("h2", city="Mumbai"))
        p1, p2 = PatientId("p1"), PatientId("p2")
        first = hospitals.admit(ADMIN, Admission(H1, "icu", BedType.ICU, p1))
        clock.advance(timedelta(hours=1))
        hospitals.admit(ADMIN, Admission(H1, "w1", BedType.GENERAL, p2))
        hospitals.admit(ADMIN, Admission(H2, "w1", BedType.GENERAL, p1))
        with uow_factory() as uow:
            read = uow.admissions.get(first.id)
        assert state_of(read) == state_of(first)
        assert read.is_open
        clock.advance(timedelta(days=2))
        hospitals.discharge(ADMIN, Admission(H1, "icu", BedType.ICU, p1))
        stays = hospitals.admissions(ADMIN, H1)
        assert [(s.patient_id, s.ward_code) for s in stays] == [(p1, "icu"), (p2, "w1")]
        assert stays[0].discharged_at == MONDAY + timedelta(days=2, hours=1)
        assert stays[0].discharged_by == ADMIN.user_id
        assert stays[1].is_open
        mine = hospitals.admissions_of(Actor.patient(p1), p1)
        assert [(s.hospital_id, s.is_open) for s in mine] == [(H1, False), (H2, True)]
        with pytest.raises(NotFound):
            hospitals.admissions_of(Actor.patient(p2), p1)
        stranger = staff(uow_factory, "ha-x")
        with pytest.raises(NotFound):
            hospitals.admissions(stranger, H1)

    def test_a_stale_stay_update_is_refused(self, uow_factory: UnitOfWorkFactory) -> None:
        seed(uow_factory)
        hospitals = Hospitals(uow_factory, ManualClock(MONDAY), SequentialIds("a"))
        hospitals.register(ADMIN, hospital("h1"))
        stay = hospitals.admit(ADMIN, Admission(H1, "icu", BedType.ICU, PatientId("p1")))
        with uow_factory() as uow:
            stale = uow.admissions.get(stay.id)
        hospitals.discharge(ADMIN, Admission(H1, "icu", BedType.ICU, PatientId("p1")))
        stale.discharge(by=ADMIN.user_id, at=MONDAY)
        with pytest.raises(ConcurrencyError), uow_factory() as uow:
            uow.admissions.update(stale)
            uow.commit()
