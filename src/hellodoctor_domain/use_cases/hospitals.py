"""What may be asked about hospitals: platform admins register them and appoint their
administrators; a hospital's administrators admit and discharge patients there; anyone reads
a profile and the free-bed numbers. Someone who may not manage a hospital is told it does not
exist (``NotFound``), as for any record they have no right to know about. A stay (ward, bed
type) is health data: reading or writing one is an audit entry committed with it
(``access_audit``; subject ``admission:<id>``, purpose ``hospital:<id>``, ``admin`` or ``own``)."""

from __future__ import annotations

import uuid

from attrs import define

from hellodoctor_domain.errors import AccessDenied, InvalidValue, NotFound
from hellodoctor_domain.model.admissions import AdmissionRecord
from hellodoctor_domain.model.audit import AuditAction, RequestContext
from hellodoctor_domain.model.availability import Availability
from hellodoctor_domain.model.hospitals import (
    BedType,
    Hospital,
    PatientAdmitted,
    PatientDischarged,
)
from hellodoctor_domain.model.values import (
    Actor,
    AdmissionId,
    DoctorId,
    HospitalId,
    PatientId,
    Role,
    UserId,
)
from hellodoctor_domain.ports.hospitals import BedCount
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.access_audit import audit_access
from hellodoctor_domain.use_cases.records import NO_CONTEXT


@define(frozen=True)
class Admission:
    """A patient taking (or leaving) a bed of ``bed_type`` in ward ``ward_code``."""

    hospital_id: HospitalId
    ward_code: str
    bed_type: BedType
    patient_id: PatientId


class Hospitals:
    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator | None = None
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    def register(self, actor: Actor, hospital: Hospital) -> Hospital:
        """A platform admin registers a hospital; every ward's beds start free."""
        if actor.role is not Role.ADMIN:
            raise AccessDenied("only a platform admin may register hospitals")
        Hospital.register(hospital, self._clock.now())
        with self._uow() as uow:
            uow.hospitals.add(hospital)
            for ward in hospital.wards:
                for beds in ward.beds:
                    uow.beds.provide(hospital.id, ward.code, beds.bed_type, beds.capacity)
            uow.commit()
        return hospital

    def appoint_administrator(
        self, actor: Actor, hospital_id: HospitalId, user_id: UserId
    ) -> Hospital:
        """A platform admin names the account (role ``hospital_admin``) that manages it."""
        if actor.role is not Role.ADMIN:
            raise AccessDenied("only a platform admin may appoint hospital administrators")
        with self._uow() as uow:
            hospital = uow.hospitals.get(hospital_id)
            account = uow.accounts.get(user_id)
            if account.role is not Role.HOSPITAL_ADMIN:
                raise InvalidValue(f"account {user_id} is not a hospital administrator's")
            hospital.appoint(user_id, self._clock.now())
            uow.hospitals.update(hospital)
            uow.commit()
        return hospital

    def appoint_receptionist(
        self, actor: Actor, hospital_id: HospitalId, user_id: UserId
    ) -> Hospital:
        """A platform admin or the hospital's administrators name an account (role
        ``receptionist``) that staffs its front desk (issue 17); anyone else's hospital is
        ``NotFound`` to a hospital administrator."""
        if actor.role not in (Role.ADMIN, Role.HOSPITAL_ADMIN):
            raise AccessDenied("only the hospital's administrators appoint its receptionists")
        with self._uow() as uow:
            hospital = uow.hospitals.get(hospital_id)
            if not hospital.administered_by(actor):
                raise NotFound(f"no hospital {hospital_id}")
            account = uow.accounts.get(user_id)
            if account.role is not Role.RECEPTIONIST:
                raise InvalidValue(f"account {user_id} is not a receptionist's")
            hospital.appoint_receptionist(user_id, self._clock.now())
            uow.hospitals.update(hospital)
            uow.commit()
        return hospital

    def set_reminders(
        self, actor: Actor, hospital_id: HospitalId, minutes: tuple[int, ...] | None
    ) -> Hospital:
        """The hospital's administrators choose when reminders of visits there go out (None:
        the platform's setting)."""
        with self._uow() as uow:
            hospital = managed_hospital(uow, actor, hospital_id)
            hospital.set_reminders(minutes)
            uow.hospitals.update(hospital)
            uow.commit()
        return hospital

    def get(self, hospital_id: HospitalId) -> Hospital:
        with self._uow() as uow:
            return uow.hospitals.get(hospital_id)

    def in_city(self, city: str | None = None) -> list[Hospital]:
        """Every hospital, or those in ``city``."""
        with self._uow() as uow:
            return uow.hospitals.list(city)

    def affiliate(
        self,
        actor: Actor,
        hospital_id: HospitalId,
        doctor_id: DoctorId,
        department_code: str | None = None,
    ) -> Hospital:
        """The hospital's administrators (or an admin) name a doctor who works there."""
        with self._uow() as uow:
            hospital = managed_hospital(uow, actor, hospital_id)
            uow.doctors.get(doctor_id)  # NotFound for an unknown doctor
            hospital.affiliate(doctor_id, department_code, self._clock.now())
            uow.hospitals.update(hospital)
            uow.commit()
        return hospital

    def doctors_at(
        self, hospital_id: HospitalId | None = None, city: str | None = None
    ) -> frozenset[DoctorId]:
        """The doctors of a hospital and/or of the hospitals in a city (for the doctor search:
        ``DoctorQuery.among``)."""
        with self._uow() as uow:
            found = [uow.hospitals.get(hospital_id)] if hospital_id else uow.hospitals.list(city)
        return frozenset(
            a.doctor_id
            for h in found
            if city is None or h.address.city.casefold() == city.casefold()
            for a in h.doctors
        )

    def beds(self, hospital_id: HospitalId) -> list[BedCount]:
        """Public: capacity and occupancy per ward and bed type, numbers only."""
        with self._uow() as uow:
            uow.hospitals.get(hospital_id)  # NotFound for an unknown hospital
            return uow.beds.counts(hospital_id)

    def admit(
        self, actor: Actor, admission: Admission, context: RequestContext = NO_CONTEXT
    ) -> AdmissionRecord:
        """Occupy a free bed (``NoBedAvailable`` when none is) and record the stay."""
        now = self._clock.now()
        record = AdmissionRecord(
            AdmissionId(f"adm-{self._ids.new_id() if self._ids else uuid.uuid4().hex}"),
            admission.hospital_id,
            admission.patient_id,
            admission.ward_code,
            admission.bed_type,
            now,
            actor.user_id,
        )
        with self._uow() as uow:
            hospital = managed_hospital(uow, actor, admission.hospital_id)
            hospital.ward(admission.ward_code)
            uow.patients.get(admission.patient_id)
            uow.beds.occupy(admission.hospital_id, admission.ward_code, admission.bed_type)
            uow.admissions.add(record)
            written = [(record.patient_id, f"admission:{record.id}")]
            purpose = _hospital_purpose(actor, hospital.id)
            audit_access(uow, actor, written, purpose, now, context, AuditAction.WRITE)
            hospital.record(
                PatientAdmitted(
                    occurred_at=self._clock.now(),
                    hospital_id=hospital.id,
                    patient_id=admission.patient_id,
                    ward_code=admission.ward_code,
                    bed_type=admission.bed_type,
                )
            )
            uow.commit()
        return record

    def discharge(
        self, actor: Actor, admission: Admission, context: RequestContext = NO_CONTEXT
    ) -> None:
        """Free the bed (``NoBedAvailable`` when none of that kind is occupied) and close the
        patient's open stay in that ward and bed type (the earliest, if several). A stay
        closed concurrently fails its compare-and-set (``ConcurrencyError``), and the bed
        count with it."""
        with self._uow() as uow:
            hospital = managed_hospital(uow, actor, admission.hospital_id)
            hospital.ward(admission.ward_code)
            stays = [
                a
                for a in uow.admissions.of_patient(admission.patient_id)
                if a.hospital_id == admission.hospital_id
                and a.occupies(admission.ward_code, admission.bed_type)
            ]
            if stays:
                stays[0].discharge(by=actor.user_id, at=self._clock.now())
                uow.admissions.update(stays[0])
            written = [(admission.patient_id, f"admission:{stay.id}") for stay in stays[:1]]
            purpose = _hospital_purpose(actor, hospital.id)
            now = self._clock.now()
            audit_access(uow, actor, written, purpose, now, context, AuditAction.WRITE)
            uow.beds.release(admission.hospital_id, admission.ward_code, admission.bed_type)
            hospital.record(
                PatientDischarged(
                    occurred_at=self._clock.now(),
                    hospital_id=hospital.id,
                    patient_id=admission.patient_id,
                    ward_code=admission.ward_code,
                    bed_type=admission.bed_type,
                )
            )
            uow.commit()

    def admissions(
        self, actor: Actor, hospital_id: HospitalId, context: RequestContext = NO_CONTEXT
    ) -> list[AdmissionRecord]:
        """The hospital's stays, for its administrators (``NotFound`` for anyone else); one
        audit entry per stay."""
        with self._uow() as uow:
            managed_hospital(uow, actor, hospital_id)
            found = uow.admissions.of_hospital(hospital_id)
            read = [(stay.patient_id, f"admission:{stay.id}") for stay in found]
            purpose = _hospital_purpose(actor, hospital_id)
            audit_access(uow, actor, read, purpose, self._clock.now(), context)
            uow.commit()
            return found

    def admissions_of(
        self, actor: Actor, patient_id: PatientId, context: RequestContext = NO_CONTEXT
    ) -> list[AdmissionRecord]:
        """A patient's stays in every hospital, for the patient and admins."""
        if actor.role is not Role.ADMIN and actor.patient_id != patient_id:
            raise NotFound(f"no patient {patient_id}")
        with self._uow() as uow:
            found = uow.admissions.of_patient(patient_id)
            purpose = "admin" if actor.role is Role.ADMIN else "own"
            read = [(patient_id, "admissions")]
            audit_access(uow, actor, read, purpose, self._clock.now(), context)
            uow.commit()
            return found


def _hospital_purpose(actor: Actor, hospital_id: HospitalId) -> str:
    return "admin" if actor.role is Role.ADMIN else f"hospital:{hospital_id}"


def managed_hospital(uow: UnitOfWork, actor: Actor, hospital_id: HospitalId) -> Hospital:
    """The hospital, if ``actor`` manages it; ``NotFound`` (not "forbidden") otherwise."""
    hospital = uow.hospitals.get(hospital_id)
    if not hospital.administered_by(actor):
        raise NotFound(f"no hospital {hospital_id}")
    return hospital


def require_affiliated(uow: UnitOfWork, availability: Availability) -> None:
    """Every hospital a doctor's windows name must list the doctor (``InvalidValue``
    otherwise, also for an unknown hospital: the doctor is not affiliated with it either)."""
    for hospital_id in sorted(availability.hospitals, key=str):
        try:
            hospital = uow.hospitals.get(hospital_id)
        except NotFound:
            hospital = None
        if hospital is None or availability.doctor_id not in {
            a.doctor_id for a in hospital.doctors
        }:
            raise InvalidValue(
                f"doctor {availability.doctor_id} is not affiliated with hospital {hospital_id}"
            )
