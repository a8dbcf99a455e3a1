"""The front desk changing bookings (issue 17's leftovers), on every storage: an
``Idempotency-Key`` on the desk's booking and on a series (the first answer replayed, another
request refused, the record written with the booking), and the desk cancelling (refunded in
full, as the clinic's cancellation) and moving its doctors' visits, another hospital's desk
knowing nothing of them.

Part of ``UnitOfWorkContract``; needs only ``uow_factory``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import time, timedelta

import pytest
from attrs import evolve

from hellodoctor_adapters.memory import SequentialIds
from hellodoctor_adapters.testing.clinic import ADMIN, FEES, Clinic
from hellodoctor_adapters.testing.contract_hospitals import hospital, staff
from hellodoctor_domain.errors import IdempotencyKeyReused, NotFound
from hellodoctor_domain.model.appointment import AppointmentStatus
from hellodoctor_domain.model.hospitals import Affiliation
from hellodoctor_domain.model.payments import PaymentMethod
from hellodoctor_domain.model.recurrence import Recurrence
from hellodoctor_domain.model.values import Actor, DoctorId, HospitalId, Money, PatientId, Role
from hellodoctor_domain.ports.scheduling import AppointmentQuery
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.front_desk import FrontDesk
from hellodoctor_domain.use_cases.hospitals import Hospitals
from hellodoctor_domain.use_cases.scheduling import BookingRequest
from hellodoctor_domain.use_cases.series import SeriesBooking, SeriesRequest

H1, H2 = HospitalId("h1"), HospitalId("h2")


class DeskChangesContract:
    @pytest.fixture
    def desk_clinic(self, uow_factory: UnitOfWorkFactory) -> tuple[Clinic, Actor, Actor]:
        """The clinic of ``testing.clinic``; hospital h1 employs d1, h2 employs d2, and each
        has a receptionist (answered in that order)."""
        clinic = Clinic(uow_factory)
        hospitals = Hospitals(uow_factory, clinic.clock)
        desks = []
        for key, doctor in ((H1, "d1"), (H2, "d2")):
            hospitals.register(
                ADMIN, evolve(hospital(key.value), doctors=(Affiliation(DoctorId(doctor)),))
            )
            desk = staff(uow_factory, f"rcp-{key.value}", Role.RECEPTIONIST)
            hospitals.appoint_receptionist(ADMIN, key, desk.user_id)
            desks.append(desk)
        return clinic, desks[0], desks[1]

    def test_a_desk_booking_with_a_key_replays_and_refuses_another_request(
        self, desk_clinic: tuple[Clinic, Actor, Actor]
    ) -> None:
        clinic, mine, _ = desk_clinic
        desk = FrontDesk(clinic.uow, clinic.clock, SequentialIds("desk"), clinic.scheduling)
        request = BookingRequest(
            doctor_id=DoctorId("d1"),
            patient_id=PatientId("p1"),
            start=clinic.slot(),
            idempotency_key="desk-1",
        )
        first = desk.book(mine, H1, request, pay_at_clinic=True)
        again = desk.book(mine, H1, request, pay_at_clinic=True)
        assert first.payment is not None
        assert again.payment is not None
        assert (again.appointment.id, again.payment.id) == (first.appointment.id, first.payment.id)
        assert again.appointment.status is AppointmentStatus.BOOKED
        for other, pay_at_clinic in (
            (evolve(request, start=clinic.slot(index=2)), True),
            (request, False),
        ):
            with pytest.raises(IdempotencyKeyReused):
                desk.book(mine, H1, other, pay_at_clinic=pay_at_clinic)
        # The patient's own booking API with the desk's key is another request too.
        with pytest.raises(IdempotencyKeyReused):
            clinic.scheduling.book(mine, request)
        with clinic.uow() as uow:
            stored = uow.appointments.search(AppointmentQuery(doctor_id=DoctorId("d1")))
        assert [a.id for a in stored] == [first.appointment.id]

    def test_a_series_with_a_key_is_booked_once(self, uow_factory: UnitOfWorkFactory) -> None:
        clinic = Clinic(uow_factory)
        series = SeriesBooking(uow_factory, clinic.clock, SequentialIds("s"), clinic.scheduling)
        patient = Actor.patient(PatientId("p1"))
        first_day = clinic.slot().date()
        request = SeriesRequest(
            doctor_id=DoctorId("d2"),
            patient_id=PatientId("p1"),
            first_day=first_day,
            at=time(9),
            recurrence=Recurrence.weekly(first_day.weekday(), 3),
            idempotency_key="series-1",
        )
        first = series.book(patient, request)
        again = series.book(patient, request)
        assert again.id == first.id
        assert [a.id for a in again.occurrences] == [a.id for a in first.occurrences]
        for other in (
            evolve(request, reason="another"),
            evolve(request, recurrence=Recurrence.weekly(first_day.weekday(), 2)),
            evolve(request, first_day=first_day + timedelta(days=1)),
        ):
            with pytest.raises(IdempotencyKeyReused):
                series.book(patient, other)
        single = BookingRequest(
            doctor_id=DoctorId("d2"),
            patient_id=PatientId("p1"),
            start=first.occurrences[0].time.start,
            idempotency_key="series-1",
        )
        with pytest.raises(IdempotencyKeyReused):
            clinic.scheduling.book(patient, single)
        with uow_factory() as uow:
            stored = uow.appointments.search(AppointmentQuery(patient_id=PatientId("p1")))
        assert len(stored) == 3
        assert {a.series_id for a in stored} == {first.id}

    def test_the_desk_cancels_refunding_in_full_and_moves_only_its_doctors_visits(
        self, desk_clinic: tuple[Clinic, Actor, Actor]
    ) -> None:
        clinic, mine, theirs = desk_clinic
        for patient in ("p1", "p2"):
            clinic.top_up(patient, FEES["d1"].minor_units)
        held = clinic.hold("p1", "d1")
        clinic.pay(held, PaymentMethod.WALLET)
        other = clinic.hold("p2", "d1", index=2)
        clinic.pay(other, PaymentMethod.WALLET)
        # Two hours before: the patient cancelling would get half back.
        clinic.clock.set(held.time.start - timedelta(hours=2))
        with pytest.raises(NotFound):
            clinic.scheduling.cancel(theirs, held.id, "not ours")
        with pytest.raises(NotFound):
            clinic.scheduling.reschedule(theirs, other.id, clinic.slot(index=4))
        moved = clinic.scheduling.reschedule(mine, other.id, clinic.slot(index=4))
        assert moved.time.start == clinic.slot(index=4)
        cancelled = clinic.scheduling.cancel(mine, held.id, "the doctor is ill")
        assert cancelled.status is AppointmentStatus.CANCELLED
        assert cancelled.cancellation is not None
        assert (cancelled.cancellation.by, cancelled.cancellation.refund) == (
            Role.RECEPTIONIST,
            FEES["d1"],
        )
        assert clinic.balance("p1") == FEES["d1"]
        assert clinic.balance("p2") == Money.zero("EUR")
        # The desk reads nothing through this power.
        with pytest.raises(NotFound):
            clinic.scheduling.appointment(mine, held.id)

    def test_the_desk_books_a_series_with_its_own_doctors_only(
        self, desk_clinic: tuple[Clinic, Actor, Actor]
    ) -> None:
        clinic, mine, theirs = desk_clinic
        series = SeriesBooking(clinic.uow, clinic.clock, SequentialIds("s"), clinic.scheduling)
        first_day = clinic.slot().date()
        request = SeriesRequest(
            doctor_id=DoctorId("d1"),
            patient_id=PatientId("p3"),
            first_day=first_day,
            at=time(9),
            recurrence=Recurrence.weekly(first_day.weekday(), 2),
        )
        with pytest.raises(NotFound):
            series.book(theirs, request)
        booked = series.book(mine, request)
        assert [a.patient_id for a in booked.occurrences] == [PatientId("p3")] * 2
        assert series.series(mine, booked.id).id == booked.id
        with pytest.raises(NotFound):
            series.series(theirs, booked.id)
        assert len(series.cancel_from(mine, booked.id)) == 2

    def test_concurrent_retries_of_a_keyed_series_book_it_once(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        clinic = Clinic(uow_factory)
        series = SeriesBooking(uow_factory, clinic.clock, SequentialIds("s"), clinic.scheduling)
        first_day = clinic.slot().date()
        request = SeriesRequest(
            doctor_id=DoctorId("d2"),
            patient_id=PatientId("p1"),
            first_day=first_day,
            at=time(9),
            recurrence=Recurrence.weekly(first_day.weekday(), 3),
            idempotency_key="series-race",
        )
        patient = Actor.patient(PatientId("p1"))
        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(lambda _: series.book(patient, request).id, range(4)))
        with uow_factory() as uow:
            stored = uow.appointments.search(AppointmentQuery(patient_id=PatientId("p1")))
        assert len(stored) == 3
        assert set(answers) == {a.series_id for a in stored}
