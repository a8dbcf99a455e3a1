"""Where a staff account works: a hospital administrator's account is appointed to its
hospital, a receptionist's to its hospital's front desk, an insurer's to its scheme, in the
unit of work that makes the account (``Identity.invite_staff`` over the API,
``Identity.create_admin`` from the command line). The desk's reach: ``desk_hospitals``."""

from __future__ import annotations

from datetime import datetime

from attrs import define

from hellodoctor_domain.errors import InvalidValue, NotFound
from hellodoctor_domain.model.appointment import Appointment
from hellodoctor_domain.model.hospitals import Hospital
from hellodoctor_domain.model.policy import is_party
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    DoctorId,
    HospitalId,
    Role,
    SchemeId,
    UserId,
)
from hellodoctor_domain.ports.unit_of_work import UnitOfWork

# Who staffs a hospital's front desk (besides platform admins): its receptionists and its
# administrators (``Hospital.staffs_desk``).
DESK_ROLES = frozenset({Role.RECEPTIONIST, Role.HOSPITAL_ADMIN})


@define(frozen=True)
class StaffPlace:
    """A hospital (the account administers it, or with ``desk`` works at its front desk) or an
    insurance scheme (the account reviews its claims): exactly one of the two."""

    hospital_id: HospitalId | None = None
    scheme_id: SchemeId | None = None
    desk: bool = False  # a receptionist of the hospital rather than its administrator

    def __attrs_post_init__(self) -> None:
        if (self.hospital_id is None) == (self.scheme_id is None):
            raise InvalidValue("a staff account works at one hospital or for one scheme")
        if self.desk and self.hospital_id is None:
            raise InvalidValue("a receptionist works at a hospital")

    @property
    def role(self) -> Role:
        if self.desk:
            return Role.RECEPTIONIST
        return Role.HOSPITAL_ADMIN if self.hospital_id is not None else Role.INSURER

    def apply(self, uow: UnitOfWork, user_id: UserId, now: datetime) -> None:
        """Appoint ``user_id`` there (``NotFound`` for an unknown hospital or scheme)."""
        if self.hospital_id is not None:
            hospital = uow.hospitals.get(self.hospital_id)
            if self.desk:
                hospital.appoint_receptionist(user_id, now)
            else:
                hospital.appoint(user_id, now)
            uow.hospitals.update(hospital)
            return
        assert self.scheme_id is not None
        scheme = uow.schemes.get(self.scheme_id)
        scheme.insurers = (*scheme.insurers, user_id)
        uow.schemes.update(scheme)


def desk_hospitals(uow: UnitOfWork, actor: Actor, doctor_id: DoctorId) -> list[Hospital]:
    """The hospitals whose desk ``actor`` staffs (a receptionist, or a hospital administrator)
    and where ``doctor_id`` works (hospitals are few: the list is read whole,
    docs/clinic_day.md)."""
    if actor.role is Role.RECEPTIONIST:
        return [
            h
            for h in uow.hospitals.list()
            if actor.user_id in h.receptionists and h.employs(doctor_id)
        ]
    if actor.role is Role.HOSPITAL_ADMIN:
        return [
            h for h in uow.hospitals.list() if h.administered_by(actor) and h.employs(doctor_id)
        ]
    return []


def require_desk_of(uow: UnitOfWork, actor: Actor, doctor_id: DoctorId) -> list[Hospital]:
    """A receptionist acts only for the doctors of their hospitals: anyone else's doctor is
    ``NotFound`` to them. Returns those hospitals."""
    hospitals = desk_hospitals(uow, actor, doctor_id)
    if not hospitals:
        raise NotFound(f"no doctor {doctor_id}")
    return hospitals


def require_desk_site(hospitals: list[Hospital], site: HospitalId | None) -> None:
    """A receptionist books a visit at their hospital, or in hours that name no hospital; a
    visit in the doctor's hours at another hospital is that hospital's desk's."""
    if site is not None and site not in {h.id for h in hospitals}:
        raise InvalidValue("this visit falls in the doctor's hours at another hospital")


def party_or_desk(
    actor: Actor, uow: UnitOfWork, appointment_id: AppointmentId
) -> tuple[Appointment, bool]:
    """Load an appointment to cancel or move: for one of its parties, or (``True``) for the
    front desk of a hospital its doctor works at, when the visit is not in the doctor's hours
    at another hospital. To anyone else it is ``NotFound``, as for an unknown id."""
    appointment = uow.appointments.get(appointment_id)
    if actor.role not in DESK_ROLES:
        if not is_party(actor, appointment):
            raise NotFound(f"no appointment {appointment_id}")
        return appointment, False
    desks = desk_hospitals(uow, actor, appointment.doctor_id)
    site = appointment.hospital_id
    if not desks or (site is not None and site not in {h.id for h in desks}):
        raise NotFound(f"no appointment {appointment_id}")
    return appointment, True
