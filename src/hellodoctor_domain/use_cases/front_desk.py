"""The front desk (issue 17, item 4): a hospital's receptionists find a patient (or register
a walk-in on the spot), book them with a doctor who works there, let them pay at the clinic,
and record the money as collected (cash or the card terminal), by whom and when.

Who: the hospital's receptionists (``receptionist`` accounts it names), its administrators and
platform admins — the hospital's desk (``Hospital.staffs_desk``). Anyone else's hospital, and a
doctor who does not work there, is ``NotFound``; patients and doctors are ``AccessDenied``.
The desk reads identifying fields only (name, date of birth, phone, e-mail): never health data,
so a search is not a record access and is not audited (docs/clinic_day.md).
"""

from __future__ import annotations

from datetime import date

from attrs import define, evolve

from hellodoctor_domain.errors import (
    AccessDenied,
    AlreadyExists,
    ConcurrencyError,
    InvalidValue,
    NotFound,
    PaymentAlreadyStarted,
    PaymentNotAllowed,
)
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.hospitals import Hospital
from hellodoctor_domain.model.payments import Collection, Payment, PaymentId, PaymentMethod
from hellodoctor_domain.model.profiles import Patient
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    DoctorId,
    HospitalId,
    Money,
    PatientId,
    Role,
)
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.scheduling import PatientSearch
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.profiles import EARLIEST_BIRTH, check_phone
from hellodoctor_domain.use_cases.retry import retrying
from hellodoctor_domain.use_cases.scheduling import BookingRequest, Scheduling
from hellodoctor_domain.use_cases.staff import desk_hospitals

MAX_SEARCH = 50  # patients one search returns at most


@define(frozen=True)
class DeskBooking:
    """A booking made at the desk: the appointment and, when it is paid at the clinic, its
    payment (due until collected)."""

    appointment: Appointment
    payment: Payment | None


class FrontDesk:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        scheduling: Scheduling,
        *,
        accept_offline: bool = True,
        retries: int = 3,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._scheduling = scheduling
        self._accept_offline = accept_offline
        self._retries = retries

    # -- patients --------------------------------------------------------------------------

    def search_patients(
        self, actor: Actor, hospital_id: HospitalId, query: PatientSearch
    ) -> list[Patient]:
        """Patients matching every given criterion (at least one), up to ``query.limit``
        (1 to ``MAX_SEARCH``), by name: any registered patient, since the desk books people
        who have never been there."""
        if query.is_empty:
            raise InvalidValue("give a name, a phone, an e-mail or a date of birth")
        if query.name is not None and len(query.name.strip()) < 2:
            raise InvalidValue("a name to search for has at least two letters")
        if not 1 <= query.limit <= MAX_SEARCH:
            raise InvalidValue(f"a search returns 1 to {MAX_SEARCH} patients")
        with self._uow() as uow:
            _desk(uow, actor, hospital_id)
            return list(uow.patients.search(query))

    def register_walk_in(
        self,
        actor: Actor,
        hospital_id: HospitalId,
        name: str,
        phone: str,
        date_of_birth: date,
    ) -> Patient:
        """A patient who walked in, registered on the spot: a profile without an account
        (nobody can sign in as it; docs/clinic_day.md)."""
        check_phone(phone)
        if date_of_birth < EARLIEST_BIRTH:
            raise InvalidValue("date_of_birth cannot be before 1900")
        if date_of_birth > self._clock.now().date():
            raise InvalidValue("date_of_birth cannot be in the future")
        patient = Patient(
            PatientId(self._ids.new_id()), name.strip(), date_of_birth=date_of_birth, phone=phone
        )
        with self._uow() as uow:
            _desk(uow, actor, hospital_id)
            uow.patients.add(patient)
            uow.commit()
        return patient

    # -- booking and paying ---------------------------------------------------------------

    def book(
        self, actor: Actor, hospital_id: HospitalId, request: BookingRequest, *, pay_at_clinic: bool
    ) -> DeskBooking:
        """Book ``request`` (any patient, a doctor who works here; the price is the doctor's)
        through ``Scheduling.book`` as the desk. With ``pay_at_clinic`` a held booking is paid
        at the clinic at once: booked, its payment due until the desk collects it.

        With an idempotency key, the same request again answers the first booking (with its
        payment, however far it has got since); the key with another request (another
        hospital or ``pay_at_clinic`` too) is ``IdempotencyKeyReused``, as at
        ``Scheduling.book``, whose record is written with the booking."""
        with self._uow() as uow:
            hospital = _desk(uow, actor, hospital_id)
            if not hospital.employs(request.doctor_id):
                raise NotFound(f"no doctor {request.doctor_id}")
            uow.patients.get(request.patient_id)  # NotFound before any hold is taken
        if request.idempotency_key is not None:
            request = evolve(request, context=f"desk\x1f{hospital_id.value}\x1f{pay_at_clinic}")
        appointment = self._scheduling.book(actor, request)
        if not pay_at_clinic:
            return DeskBooking(appointment, None)
        if appointment.status is AppointmentStatus.HELD:
            payment, appointment = self.pay_at_clinic(actor, appointment.id)
            return DeskBooking(appointment, payment)
        if request.idempotency_key is None:  # booked at once: a free visit, nothing due
            return DeskBooking(appointment, None)
        with self._uow() as uow:  # a replay: the payment the first request started, if any
            found = uow.payments.for_appointment(appointment.id)
        return DeskBooking(appointment, found)

    def pay_at_clinic(
        self, actor: Actor, appointment_id: AppointmentId
    ) -> tuple[Payment, Appointment]:
        """The patient will pay at the clinic: an offline payment of the appointment's price,
        and the hold booked, in one unit of work. Asking again returns the same payment."""
        if not self._accept_offline:
            raise PaymentNotAllowed("this clinic does not take payment at the clinic")

        def attempt() -> tuple[Payment, Appointment]:
            with self._uow() as uow:
                appointment = uow.appointments.get(appointment_id)
                _desk_of_doctor(uow, actor, appointment.doctor_id, appointment.id)
                now = self._clock.now()
                existing = uow.payments.for_appointment(appointment_id)
                if existing is not None and existing.method is PaymentMethod.OFFLINE:
                    return existing, appointment
                if existing is not None:  # one payment per appointment (P6)
                    raise PaymentAlreadyStarted(
                        f"appointment {appointment_id} is being paid by {existing.method}"
                    )
                if appointment.status is not AppointmentStatus.HELD:
                    raise PaymentNotAllowed(f"appointment {appointment_id} is {appointment.status}")
                if appointment.hold_lapsed(now):
                    raise PaymentNotAllowed(f"the hold on {appointment_id} lapsed")
                payment = Payment.start(
                    id=PaymentId(self._ids.new_id()),
                    patient_id=appointment.patient_id,
                    appointment_id=appointment.id,
                    method=PaymentMethod.OFFLINE,
                    amount=appointment.price,
                    wallet_part=Money.zero(appointment.price.currency),
                    now=now,
                )
                uow.payments.add(payment)
                appointment.confirm(now)
                uow.appointments.update(appointment)
                uow.commit()
                return payment, appointment

        return retrying(attempt, retries=self._retries, retry_on=(ConcurrencyError, AlreadyExists))

    def record_collection(
        self, actor: Actor, appointment_id: AppointmentId, via: Collection
    ) -> Payment:
        """The desk took the money of the appointment's offline payment: it succeeds, naming
        how, who and when, by one compare-and-set write — a second collection (or a racing
        one, once it re-reads) is ``IllegalPaymentTransition``. It then counts in the revenue
        report and the payments list."""

        def attempt() -> Payment:
            with self._uow() as uow:
                appointment = uow.appointments.get(appointment_id)
                _desk_of_doctor(uow, actor, appointment.doctor_id, appointment.id)
                payment = uow.payments.for_appointment(appointment_id)
                if payment is None or payment.method is not PaymentMethod.OFFLINE:
                    raise PaymentNotAllowed(
                        f"appointment {appointment_id} has no payment due at the clinic"
                    )
                payment.record_collection(via, actor.user_id, self._clock.now())
                uow.payments.update(payment)
                uow.commit()
                return payment

        return retrying(attempt, retries=self._retries)


def _desk(uow: UnitOfWork, actor: Actor, hospital_id: HospitalId) -> Hospital:
    """The hospital, when ``actor`` staffs its desk; ``NotFound`` for anyone else's."""
    _not_for_patients_or_doctors(actor)
    hospital = uow.hospitals.get(hospital_id)
    if not hospital.staffs_desk(actor):
        raise NotFound(f"no hospital {hospital_id}")
    return hospital


def _desk_of_doctor(
    uow: UnitOfWork, actor: Actor, doctor_id: DoctorId, appointment_id: AppointmentId
) -> None:
    """``actor`` staffs the desk of a hospital ``doctor_id`` works at; else the appointment
    is ``NotFound`` to them."""
    _not_for_patients_or_doctors(actor)
    if actor.role is Role.ADMIN:
        return
    if actor.role is Role.RECEPTIONIST:
        allowed = bool(desk_hospitals(uow, actor, doctor_id))
    else:
        allowed = any(
            h.administered_by(actor) and h.employs(doctor_id) for h in uow.hospitals.list()
        )
    if not allowed:
        raise NotFound(f"no appointment {appointment_id}")


def _not_for_patients_or_doctors(actor: Actor) -> None:
    if actor.role in (Role.PATIENT, Role.DOCTOR, Role.INSURER):
        raise AccessDenied("this is the front desk's")
