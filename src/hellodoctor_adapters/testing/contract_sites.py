"""The hospital-sites contract: a doctor's windows name the hospitals they are at (only
hospitals that list them), an appointment is stored with the hospital of its window (none for
telemedicine), and the no-double-booking rule spans all of a doctor's hospitals.

Part of ``UnitOfWorkContract``; needs only ``uow_factory``.
"""

from __future__ import annotations

from datetime import time, timedelta

import pytest

from hellodoctor_adapters.memory.services import ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.testing.contract_hospitals import ADMIN, H1, H2, hospital
from hellodoctor_adapters.testing.fixtures import MONDAY, seed, state_of
from hellodoctor_domain.errors import InvalidValue, SlotUnavailable
from hellodoctor_domain.model.appointment import Appointment
from hellodoctor_domain.model.availability import Availability, LocalWindow, Weekday, WorkingDay
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentType,
    DoctorId,
    HospitalId,
    PatientId,
    TimeRange,
)
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.hospitals import Hospitals
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
