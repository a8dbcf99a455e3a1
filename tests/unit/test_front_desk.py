"""The front desk in the domain (issue 17, item 4): who staffs a hospital's desk, a payment
collected at the clinic once, receptionists invited by the hospital's own administrators,
walk-ins, and a visit in another hospital's hours left to that hospital's desk."""

from __future__ import annotations

from datetime import date, time

import pytest
from attrs import evolve

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory, SequentialIds
from hellodoctor_adapters.testing.clinic import ADMIN, FEES, Clinic
from hellodoctor_adapters.testing.contract_hospitals import hospital, staff
from hellodoctor_adapters.testing.fixtures import MONDAY
from hellodoctor_domain import BookingRequest, DoctorId, EmailAddress, Role, UserId
from hellodoctor_domain.errors import (
    AccessDenied,
    IllegalPaymentTransition,
    InvalidValue,
    NotFound,
    SeriesConflict,
)
from hellodoctor_domain.model.availability import Availability, LocalWindow, Weekday, WorkingDay
from hellodoctor_domain.model.hospitals import Affiliation, ReceptionistAppointed
from hellodoctor_domain.model.payments import (
    Collection,
    Payment,
    PaymentId,
    PaymentMethod,
    PaymentStatus,
)
from hellodoctor_domain.model.recurrence import Recurrence
from hellodoctor_domain.model.values import Actor, AppointmentId, HospitalId, Money, PatientId
from hellodoctor_domain.use_cases.clinic_day import ClinicDay
from hellodoctor_domain.use_cases.front_desk import FrontDesk
from hellodoctor_domain.use_cases.hospitals import Hospitals
from hellodoctor_domain.use_cases.series import AT_ANOTHER_HOSPITAL, SeriesBooking, SeriesRequest
from hellodoctor_domain.use_cases.staff import StaffPlace

from .test_identity import World

H1, H2 = HospitalId("h1"), HospitalId("h2")
DESK = UserId("rcp-1")


def _payment(method: PaymentMethod) -> Payment:
    return Payment.start(
        id=PaymentId("pay-1"),
        patient_id=PatientId("p1"),
        appointment_id=AppointmentId("a1"),
        method=method,
        amount=Money(5000, "EUR"),
        wallet_part=Money.zero("EUR"),
        now=MONDAY,
    )


def test_an_offline_payment_is_collected_once_naming_how_who_and_when() -> None:
    payment = _payment(PaymentMethod.OFFLINE)
    payment.record_collection(Collection.CASH, DESK, MONDAY)
    assert (payment.status, payment.collected_via, payment.collected_by, payment.succeeded_at) == (
        PaymentStatus.SUCCEEDED,
        Collection.CASH,
        DESK,
        MONDAY,
    )
    assert payment.taken.is_zero  # nothing moved through the system: no refund of it here
    with pytest.raises(IllegalPaymentTransition):
        payment.record_collection(Collection.CARD_TERMINAL, DESK, MONDAY)
    with pytest.raises(IllegalPaymentTransition):
        _payment(PaymentMethod.CARD).record_collection(Collection.CASH, DESK, MONDAY)
    with pytest.raises(InvalidValue):
        evolve(_payment(PaymentMethod.OFFLINE), collected_via=Collection.CASH)  # by nobody


def test_the_desk_is_its_receptionists_administrators_and_admins() -> None:
    place = hospital("h1")
    place.appoint_receptionist(DESK, MONDAY)
    place.appoint_receptionist(DESK, MONDAY)  # again: nothing new
    assert place.receptionists == (DESK,)
    assert [type(e) for e in place.events] == [ReceptionistAppointed]
    place.appoint(UserId("ha-1"), MONDAY)
    assert place.staffs_desk(Actor(Role.RECEPTIONIST, DESK))
    assert place.staffs_desk(Actor(Role.HOSPITAL_ADMIN, UserId("ha-1")))
    assert place.staffs_desk(ADMIN)
    assert not place.staffs_desk(Actor(Role.RECEPTIONIST, UserId("rcp-2")))
    # The administrator's account id named as a receptionist's is still not the desk's role.
    assert not place.staffs_desk(Actor(Role.INSURER, DESK))
    assert not place.staffs_desk(Actor.patient(PatientId("p1")))
    assert StaffPlace(hospital_id=H1, desk=True).role is Role.RECEPTIONIST
    with pytest.raises(InvalidValue):
        StaffPlace(scheme_id=None, hospital_id=None, desk=True)


def test_a_hospitals_own_administrator_invites_its_receptionists() -> None:
    world = World()
    hospitals = Hospitals(world.uow, world.clock)
    hospitals.register(ADMIN, evolve(hospital("h1"), departments=(), wards=()))
    hospitals.register(ADMIN, evolve(hospital("h2", city="Mumbai"), departments=(), wards=()))
    manager = staff(world.uow, "ha-1")
    hospitals.appoint_administrator(ADMIN, H1, manager.user_id)
    made = world.identity.invite_staff(
        manager, EmailAddress("desk@example.org"), StaffPlace(hospital_id=H1, desk=True)
    )
    assert made.role is Role.RECEPTIONIST
    assert hospitals.get(H1).receptionists == (made.id,)
    with pytest.raises(NotFound):  # another hospital's
        world.identity.invite_staff(
            manager, EmailAddress("desk2@example.org"), StaffPlace(hospital_id=H2, desk=True)
        )
    with pytest.raises(AccessDenied):  # administrators stay the platform admins' to add
        world.identity.invite_staff(
            manager, EmailAddress("boss@example.org"), StaffPlace(hospital_id=H1)
        )
    with pytest.raises(AccessDenied):
        world.identity.invite_staff(
            Actor(Role.RECEPTIONIST, made.id),
            EmailAddress("desk3@example.org"),
            StaffPlace(hospital_id=H1, desk=True),
        )


@pytest.fixture
def clinic() -> Clinic:
    """d1 works at both hospitals: Mondays at h2, every other day at no hospital named."""
    clinic = Clinic(InMemoryUnitOfWorkFactory())
    hospitals = Hospitals(clinic.uow, clinic.clock)
    for key, city in (("h1", "Pune"), ("h2", "Mumbai")):
        hospitals.register(
            ADMIN, evolve(hospital(key, city=city), doctors=(Affiliation(DoctorId("d1")),))
        )
    days = [
        WorkingDay(
            day, [LocalWindow(time(8), time(18))], hospital_id=H2 if day is Weekday.MONDAY else None
        )
        for day in Weekday
    ]
    clinic.scheduling.define_availability(
        ADMIN, Availability(DoctorId("d1"), "UTC", days, version=1)
    )
    receptionist = staff(clinic.uow, "rcp-1", Role.RECEPTIONIST)
    hospitals.appoint_receptionist(ADMIN, H1, receptionist.user_id)
    return clinic


def test_a_visit_in_another_hospitals_hours_is_that_hospitals_desks(clinic: Clinic) -> None:
    desk = FrontDesk(clinic.uow, clinic.clock, SequentialIds("desk"), clinic.scheduling)
    receptionist = Actor(Role.RECEPTIONIST, DESK)
    monday_at_h2 = MONDAY.replace(day=14, hour=9)
    request = BookingRequest(
        doctor_id=DoctorId("d1"), patient_id=PatientId("p1"), start=monday_at_h2
    )
    with pytest.raises(InvalidValue):
        desk.book(receptionist, H1, request, pay_at_clinic=True)
    tuesday = desk.book(
        receptionist, H1, evolve(request, start=monday_at_h2.replace(day=15)), pay_at_clinic=False
    )
    assert tuesday.payment is None  # held, for the patient to pay as they like
    assert tuesday.appointment.price == FEES["d1"]


def test_a_walk_in_has_a_real_phone_and_a_past_birth_date(clinic: Clinic) -> None:
    desk = FrontDesk(clinic.uow, clinic.clock, SequentialIds("desk"), clinic.scheduling)
    receptionist = Actor(Role.RECEPTIONIST, DESK)
    for phone, born in (("020 7946 0958", date(1980, 1, 1)), ("+442079460958", date(2031, 1, 1))):
        with pytest.raises(InvalidValue):
            desk.register_walk_in(receptionist, H1, "Walk In", phone, born)
    with pytest.raises(AccessDenied):
        desk.register_walk_in(
            Actor.patient(PatientId("p1")), H1, "Walk In", "+442079460958", date(1980, 1, 1)
        )
    with pytest.raises(NotFound):
        desk.register_walk_in(receptionist, H2, "Walk In", "+442079460958", date(1980, 1, 1))


def test_generic_booking_keeps_staff_to_their_own_hospitals_and_insurers_out(
    clinic: Clinic,
) -> None:
    """``Scheduling.book`` itself (``POST /appointments``) holds hospital administrators to the
    desk's rule, as it holds receptionists: their own hospital's doctors only, and insurers
    never book."""
    hospitals = Hospitals(clinic.uow, clinic.clock)
    hospitals.register(ADMIN, evolve(hospital("h3", city="Delhi"), departments=(), wards=()))
    own, other = staff(clinic.uow, "ha-1"), staff(clinic.uow, "ha-3")
    hospitals.appoint_administrator(ADMIN, H1, own.user_id)
    hospitals.appoint_administrator(ADMIN, HospitalId("h3"), other.user_id)
    tuesday = BookingRequest(
        doctor_id=DoctorId("d1"), patient_id=PatientId("p1"), start=MONDAY.replace(day=15, hour=9)
    )
    with pytest.raises(NotFound):  # d1 does not work at h3
        clinic.scheduling.book(other, tuesday)
    with pytest.raises(AccessDenied):
        clinic.scheduling.book(Actor(Role.INSURER, UserId("ins-1")), tuesday)
    assert clinic.scheduling.book(own, tuesday).patient_id == PatientId("p1")


def test_another_hospitals_visits_are_not_the_desks_to_move_cancel_or_book_in_series(
    clinic: Clinic,
) -> None:
    receptionist = Actor(Role.RECEPTIONIST, DESK)
    monday_at_h2 = MONDAY.replace(day=14, hour=9)
    at_h2 = clinic.scheduling.book(
        ADMIN,
        BookingRequest(doctor_id=DoctorId("d1"), patient_id=PatientId("p2"), start=monday_at_h2),
    )
    with pytest.raises(NotFound):
        clinic.scheduling.cancel(receptionist, at_h2.id)
    tuesday = clinic.scheduling.book(
        receptionist,
        BookingRequest(
            doctor_id=DoctorId("d1"),
            patient_id=PatientId("p1"),
            start=monday_at_h2.replace(day=15),
        ),
    )
    with pytest.raises(InvalidValue):  # into the doctor's Monday hours at h2
        clinic.scheduling.reschedule(receptionist, tuesday.id, monday_at_h2.replace(hour=11))
    series = SeriesBooking(clinic.uow, clinic.clock, SequentialIds("s"), clinic.scheduling)
    with pytest.raises(SeriesConflict) as refused:
        series.book(
            receptionist,
            SeriesRequest(
                doctor_id=DoctorId("d1"),
                patient_id=PatientId("p3"),
                first_day=monday_at_h2.date(),
                at=time(13),
                recurrence=Recurrence.parse("FREQ=DAILY;COUNT=2"),
            ),
        )
    assert [reason for _, reason in refused.value.refusals] == [AT_ANOTHER_HOSPITAL]


def test_a_hospitals_administrators_see_its_doctors_day_as_its_desk_does(clinic: Clinic) -> None:
    """Hospital administrators staff their hospital's desk (``Hospital.staffs_desk``), so the
    day view, the waiting room and arrivals are theirs as they are the receptionists'; another
    hospital's administrator learns nothing of the doctor."""
    hospitals = Hospitals(clinic.uow, clinic.clock)
    hospitals.register(ADMIN, evolve(hospital("h3", city="Delhi"), departments=(), wards=()))
    own, other = staff(clinic.uow, "ha-1"), staff(clinic.uow, "ha-3")
    hospitals.appoint_administrator(ADMIN, H1, own.user_id)
    hospitals.appoint_administrator(ADMIN, HospitalId("h3"), other.user_id)
    tuesday = MONDAY.replace(day=15, hour=9)
    booked = clinic.scheduling.book(
        ADMIN, BookingRequest(doctor_id=DoctorId("d1"), patient_id=PatientId("p1"), start=tuesday)
    )
    day = ClinicDay(clinic.uow, clinic.clock)
    assert [e.appointment.id for e in day.day(own, DoctorId("d1"), tuesday.date()).entries] == [
        booked.id
    ]
    with pytest.raises(NotFound):
        day.day(other, DoctorId("d1"), tuesday.date())
