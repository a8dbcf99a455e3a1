"""Reports over appointments, computed by the storage: a doctor sees their own, a hospital's
administrators their hospital's doctors', platform admins any doctor's, any hospital's or the
whole platform's. A report someone may not see does not exist for them (``NotFound``)."""

from __future__ import annotations

from datetime import date

from hellodoctor_domain.errors import AccessDenied, NotFound
from hellodoctor_domain.model.analytics import (
    AppointmentReport,
    RevenueReport,
    UtilisationReport,
    available_seconds,
    local_days,
    revenue_lines,
    utilisation_lines,
)
from hellodoctor_domain.model.values import Actor, DoctorId, HospitalId, Role, TimeRange
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.hospitals import managed_hospital


class Analytics:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    def appointments(
        self,
        actor: Actor,
        first: date,
        last: date,
        zone: str,
        *,
        doctor_id: DoctorId | None = None,
        hospital_id: HospitalId | None = None,
    ) -> AppointmentReport:
        days = local_days(first, last, zone)
        with self._uow() as uow:
            doctors = self._scope(uow, actor, doctor_id, hospital_id)
            counts = uow.statistics.status_counts(doctors, days)
            patients = uow.statistics.patient_mix(doctors, days[0].start, days[-1].end)
        return AppointmentReport(zone, days, tuple(counts), patients)

    def revenue(
        self,
        actor: Actor,
        first: date,
        last: date,
        zone: str,
        *,
        doctor_id: DoctorId | None = None,
        hospital_id: HospitalId | None = None,
    ) -> RevenueReport:
        days = local_days(first, last, zone)
        with self._uow() as uow:
            doctors = self._scope(uow, actor, doctor_id, hospital_id)
            gross, refunded = uow.statistics.revenue(doctors, days)
        return RevenueReport(zone, days, revenue_lines(gross, refunded))

    def utilisation(
        self,
        actor: Actor,
        first: date,
        last: date,
        zone: str,
        *,
        doctor_id: DoctorId | None = None,
        hospital_id: HospitalId | None = None,
    ) -> UtilisationReport:
        """Booked minutes over available minutes per doctor and local day. The booked side is
        summed by the storage; the available side is each doctor's working time (in their own
        zone) expanded here, bounded by doctors times days, not by appointments."""
        days = local_days(first, last, zone)
        period = TimeRange(days[0].start, days[-1].end)
        with self._uow() as uow:
            doctors = self._scope(uow, actor, doctor_id, hospital_id)
            booked = uow.statistics.booked_seconds(doctors, days)
            everyone = doctors if doctors is not None else [d.id for d in uow.doctors.list()]
            hours_of = uow.availability.many(everyone)
        available: dict[DoctorId, dict[date, int]] = {}
        # Doctors on the same hours (zone, week, time off, extra hours) share one expansion.
        expanded: dict[tuple[object, ...], dict[date, int]] = {}
        for doctor, hours in hours_of.items():
            shape = (hours.time_zone, hours.weekly, hours.time_off, hours.extra_hours)
            if shape not in expanded:
                segments = [
                    (segment.start, segment.end)
                    for day in hours.local_days(period)
                    for segment in hours.working_segments(day)
                ]
                expanded[shape] = available_seconds(segments, days)
            available[doctor] = expanded[shape]
        return UtilisationReport(zone, days, utilisation_lines(booked, available))

    @staticmethod
    def _scope(
        uow: UnitOfWork,
        actor: Actor,
        doctor_id: DoctorId | None,
        hospital_id: HospitalId | None,
    ) -> list[DoctorId] | None:
        if doctor_id is not None and hospital_id is not None:
            raise AccessDenied("a report is of one doctor, one hospital, or the platform")
        if doctor_id is not None:
            if actor.role is not Role.ADMIN and actor.doctor_id != doctor_id:
                raise NotFound(f"no doctor {doctor_id}")
            uow.doctors.get(doctor_id)
            return [doctor_id]
        if hospital_id is not None:
            hospital = managed_hospital(uow, actor, hospital_id)
            return [affiliation.doctor_id for affiliation in hospital.doctors]
        if actor.role is not Role.ADMIN:
            raise AccessDenied("only a platform admin sees the whole platform's report")
        return None
