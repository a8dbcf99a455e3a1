"""Appointment statistics over the in-memory store (the reference adapter): the plain Python
computation every database's query must agree with (the contract suite compares them)."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime

from hellodoctor_adapters.memory.store import InMemoryStore
from hellodoctor_domain.model.analytics import (
    BOOKED_STATUSES,
    LocalDay,
    PatientMix,
    StatusCount,
)
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.payments import PaymentMethod, PaymentPurpose
from hellodoctor_domain.model.values import DoctorId, PatientId
from hellodoctor_domain.ports.analytics import AppointmentStatistics, MoneyByDay


class InMemoryAppointmentStatistics(AppointmentStatistics):
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    def _of(self, doctors: Sequence[DoctorId] | None) -> list[Appointment]:
        wanted = None if doctors is None else set(doctors)
        return [
            a for a in self._store.appointments.values() if wanted is None or a.doctor_id in wanted
        ]

    def status_counts(
        self, doctors: Sequence[DoctorId] | None, days: Sequence[LocalDay]
    ) -> list[StatusCount]:
        if not days:
            return []
        ends = [d.end for d in days]
        counts: Counter[tuple[date, AppointmentStatus]] = Counter()
        leads: Counter[tuple[date, AppointmentStatus]] = Counter()
        for appointment in self._of(doctors):
            start = appointment.time.start
            if not days[0].start <= start < days[-1].end:
                continue
            key = (days[bisect_right(ends, start)].day, appointment.status)
            counts[key] += 1
            leads[key] += int((start - appointment.created_at).total_seconds())
        return [
            StatusCount(day, status, counts[(day, status)], leads[(day, status)])
            for day, status in sorted(counts)
        ]

    def patient_mix(
        self, doctors: Sequence[DoctorId] | None, start: datetime, end: datetime
    ) -> PatientMix:
        first_seen: dict[PatientId, datetime] = {}
        in_period: set[PatientId] = set()
        for appointment in self._of(doctors):
            at = appointment.time.start
            if appointment.status is AppointmentStatus.EXPIRED or at >= end:
                continue
            first_seen[appointment.patient_id] = min(at, first_seen.get(appointment.patient_id, at))
            if at >= start:
                in_period.add(appointment.patient_id)
        new = sum(1 for patient in in_period if first_seen[patient] >= start)
        return PatientMix(new, len(in_period) - new)

    def booked_seconds(
        self, doctors: Sequence[DoctorId] | None, days: Sequence[LocalDay]
    ) -> list[tuple[DoctorId, date, int]]:
        if not days:
            return []
        ends = [d.end for d in days]
        seconds: Counter[tuple[str, date]] = Counter()
        for appointment in self._of(doctors):
            start = appointment.time.start
            if appointment.status not in BOOKED_STATUSES:
                continue
            if not days[0].start <= start < days[-1].end:
                continue
            key = (appointment.doctor_id.value, days[bisect_right(ends, start)].day)
            seconds[key] += int(appointment.time.duration.total_seconds())
        return [(DoctorId(doctor), day, total) for (doctor, day), total in sorted(seconds.items())]

    def revenue(
        self, doctors: Sequence[DoctorId] | None, days: Sequence[LocalDay]
    ) -> tuple[list[MoneyByDay], list[MoneyByDay]]:
        if not days:
            return [], []
        ends = [d.end for d in days]
        wanted = None if doctors is None else set(doctors)
        gross: Counter[tuple[date, PaymentMethod, str]] = Counter()
        refunded: Counter[tuple[date, PaymentMethod, str]] = Counter()

        def day_of(moment: datetime) -> date | None:
            if not days[0].start <= moment < days[-1].end:
                return None
            return days[bisect_right(ends, moment)].day

        for payment in self._store.payments.values():
            if payment.purpose is not PaymentPurpose.APPOINTMENT or payment.appointment_id is None:
                continue
            if wanted is not None:
                visit = self._store.appointments.get(payment.appointment_id)
                if visit is None or visit.doctor_id not in wanted:
                    continue
            currency = payment.amount.currency
            taken = None if payment.succeeded_at is None else day_of(payment.succeeded_at)
            if taken is not None:
                gross[(taken, payment.method, currency)] += payment.amount.minor_units
            for refund in payment.refunds:
                back = day_of(refund.recorded_at)
                if back is not None:
                    amount = refund.card.minor_units + refund.wallet.minor_units
                    refunded[(back, payment.method, currency)] += amount
        return (
            [(*key, total) for key, total in sorted(gross.items())],
            [(*key, total) for key, total in sorted(refunded.items())],
        )
