"""Use cases of the clinic's day (issue 17, item 3 and the day view of item 4): a booked
patient is checked in (arrived), called in (in consultation), then seen (``Scheduling.complete``);
the waiting room lists who is in today; the doctor's day lists every visit of a local date with
the patient's name, age and reason.

Who: the visit's doctor, admins and the front desk (receptionists of a hospital the doctor
works at, item 4) move visits along and read a doctor's day; a patient never does (a
patient's own visit is ``AccessDenied``, anyone else's ``NotFound``, as is another hospital's
doctor to a receptionist). Health data (names, ages, reasons) is read here only for those.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from attrs import define

from hellodoctor_domain.errors import AccessDenied, NotFound
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus, VisitStage
from hellodoctor_domain.model.policy import is_party
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    DoctorId,
    Role,
    TimeRange,
    time_zone,
    utc,
)
from hellodoctor_domain.ports.runtime import Clock
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.retry import retrying
from hellodoctor_domain.use_cases.staff import DESK_ROLES, desk_hospitals

# The waiting room: who has arrived and is not yet seen, and who is with the doctor.
WAITING_STAGES = frozenset({VisitStage.ARRIVED, VisitStage.IN_CONSULTATION})
# A day lists what was or is planned; lapsed and expired holds are left out.
_SHOWN = frozenset(
    {
        AppointmentStatus.HELD,
        AppointmentStatus.BOOKED,
        AppointmentStatus.COMPLETED,
        AppointmentStatus.NO_SHOW,
        AppointmentStatus.CANCELLED,
    }
)


@define(frozen=True)
class DayEntry:
    """One visit of the day, with what the desk and the doctor need to know of its patient."""

    appointment: Appointment
    patient_name: str
    age: int | None  # in whole years on the day, when the date of birth is known
    local_start: datetime
    local_end: datetime


@define(frozen=True)
class DayView:
    doctor: Doctor
    day: date
    time_zone: str
    entries: tuple[DayEntry, ...]


def age_on(born: date | None, day: date) -> int | None:
    if born is None:
        return None
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def day_range(day: date, zone: str) -> TimeRange:
    """The local calendar day ``day`` in ``zone`` as UTC instants (23 or 25 hours on a
    daylight-saving change)."""
    where = time_zone(zone)
    start = datetime.combine(day, time(0), tzinfo=where)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=where)
    return TimeRange(utc(start), utc(end))


class ClinicDay:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, retries: int = 3) -> None:
        self._uow = uow
        self._clock = clock
        self._retries = retries

    # -- moving a visit along ------------------------------------------------------------

    def check_in(self, actor: Actor, appointment_id: AppointmentId) -> Appointment:
        """The patient is at the desk: booked -> arrived."""
        return self._step(actor, appointment_id, Appointment.check_in)

    def start_consultation(self, actor: Actor, appointment_id: AppointmentId) -> Appointment:
        """The doctor calls the patient in: arrived -> in consultation."""
        return self._step(actor, appointment_id, Appointment.start_consultation)

    def _step(
        self,
        actor: Actor,
        appointment_id: AppointmentId,
        transition: Callable[[Appointment, datetime], None],
    ) -> Appointment:
        def attempt() -> Appointment:
            with self._uow() as uow:
                appointment = uow.appointments.get(appointment_id)
                _require_staff_of(uow, actor, appointment.doctor_id, appointment)
                transition(appointment, self._clock.now())
                uow.appointments.update(appointment)
                uow.commit()
                return appointment

        return retrying(attempt, retries=self._retries)

    # -- reading the day -----------------------------------------------------------------

    def day(self, actor: Actor, doctor_id: DoctorId, day: date | None = None) -> DayView:
        """Every visit of the doctor starting on ``day`` (default: today), local to the
        doctor's zone, by start, with the patient's name and age."""
        with self._uow() as uow:
            _require_staff_of(uow, actor, doctor_id)
            doctor = uow.doctors.get(doctor_id)
            zone = time_zone(doctor.time_zone)
            day = day or self._clock.now().astimezone(zone).date()
            span = day_range(day, doctor.time_zone)
            found = [
                a
                for a in uow.appointments.for_doctor(doctor_id, span, active_only=False)
                if span.contains_instant(a.time.start) and a.status in _SHOWN
            ]
            entries = tuple(_entry(uow, a, day, doctor.time_zone) for a in found)
        return DayView(doctor, day, doctor.time_zone, entries)

    def waiting_room(self, actor: Actor, doctor_id: DoctorId) -> DayView:
        """Today's visits of the doctor whose patient has arrived and is not yet seen, or is
        with the doctor, in order of arrival."""
        today = self.day(actor, doctor_id)
        waiting = sorted(
            (e for e in today.entries if e.appointment.stage in WAITING_STAGES),
            key=lambda e: (e.appointment.arrived_at, e.appointment.id.value),
        )
        return DayView(today.doctor, today.day, today.time_zone, tuple(waiting))


def _entry(uow: UnitOfWork, appointment: Appointment, day: date, zone: str) -> DayEntry:
    patient: Patient = uow.patients.get(appointment.patient_id)
    where = time_zone(zone)
    return DayEntry(
        appointment,
        patient.name,
        age_on(patient.date_of_birth, day),
        appointment.time.start.astimezone(where),
        appointment.time.end.astimezone(where),
    )


def _require_staff_of(
    uow: UnitOfWork, actor: Actor, doctor_id: DoctorId, appointment: Appointment | None = None
) -> None:
    """The doctor themself, an admin, or the front desk (receptionists and hospital
    administrators) of a hospital the doctor works at. A patient is refused; a patient who is
    not a party to the appointment learns nothing of it (``NotFound``), nor does the desk of
    other hospitals."""
    if actor.role is Role.ADMIN or (actor.role is Role.DOCTOR and actor.doctor_id == doctor_id):
        return
    if actor.role in DESK_ROLES:
        if desk_hospitals(uow, actor, doctor_id):
            return
        raise NotFound(
            f"no appointment {appointment.id}" if appointment else f"no doctor {doctor_id}"
        )
    if appointment is not None and not is_party(actor, appointment):
        raise NotFound(f"no appointment {appointment.id}")
    raise AccessDenied("only the doctor, the desk or an admin may do this")
