"""Appointment statistics over SQLAlchemy Core: one ``GROUP BY`` query per figure, the
database doing the counting.

A visit's day is found by a balanced tree of ``CASE`` s over the report's day bounds
(computed in the domain in the report's time zone, so daylight-saving days are right on SQLite
too, which knows no time zones) and answered as the day's index; the bucketing runs in a
subquery so the outer query groups by its result. Lead times are summed in seconds:
``EXTRACT(EPOCH ...)`` on PostgreSQL, ``julianday`` differences on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.schema import appointments, payment_refunds, payments
from hellodoctor_domain.model.analytics import (
    BOOKED_STATUSES,
    LocalDay,
    PatientMix,
    StatusCount,
)
from hellodoctor_domain.model.appointment import AppointmentStatus
from hellodoctor_domain.model.payments import PaymentMethod, PaymentPurpose
from hellodoctor_domain.model.values import DoctorId
from hellodoctor_domain.ports.analytics import AppointmentStatistics, MoneyByDay

_EXPIRED = AppointmentStatus.EXPIRED.value


class SqlAppointmentStatistics(AppointmentStatistics):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def _scoped(self, doctors: Sequence[DoctorId] | None) -> list[sa.ColumnElement[bool]]:
        if doctors is None:
            return []
        return [appointments.c.doctor_id.in_([d.value for d in doctors])]

    def _lead_seconds(self) -> sa.ColumnElement[Any]:
        start, booked = appointments.c.starts_at, appointments.c.created_at
        if self._connection.dialect.name == "postgresql":
            return sa.func.extract("epoch", start - booked)
        return (sa.func.julianday(start) - sa.func.julianday(booked)) * 86400

    def _seconds_between(
        self, later: sa.ColumnElement[Any], earlier: sa.ColumnElement[Any]
    ) -> sa.ColumnElement[Any]:
        if self._connection.dialect.name == "postgresql":
            return sa.func.extract("epoch", later - earlier)
        return (sa.func.julianday(later) - sa.func.julianday(earlier)) * 86400

    def booked_seconds(
        self, doctors: Sequence[DoctorId] | None, days: Sequence[LocalDay]
    ) -> list[tuple[DoctorId, date, int]]:
        if not days:
            return []
        start = appointments.c.starts_at
        day = _day_of(start, days)
        bucketed = (
            sa.select(
                appointments.c.doctor_id.label("doctor"),
                day.label("day"),
                self._seconds_between(appointments.c.ends_at, start).label("seconds"),
            )
            .where(
                start >= days[0].start,
                start < days[-1].end,
                appointments.c.status.in_(sorted(s.value for s in BOOKED_STATUSES)),
                *self._scoped(doctors),
            )
            .subquery()
        )
        query = sa.select(
            bucketed.c.doctor, bucketed.c.day, sa.func.sum(bucketed.c.seconds)
        ).group_by(bucketed.c.doctor, bucketed.c.day)
        with translated_errors():
            rows = self._connection.execute(query).all()
        # A platform month is 30,000 rows of 1,000 doctors and 30 days: each id and day is
        # built once and the rows sorted by their plain values (a validated ``DoctorId`` per
        # row, then sorted by attrs' comparisons, cost more than the query at 10^6).
        ids = {doctor: DoctorId(doctor) for doctor in {row[0] for row in rows}}
        return [
            (ids[doctor], days[day].day, round(total or 0))
            for doctor, day, total in sorted(rows, key=lambda row: (row[0], row[1]))
        ]

    def status_counts(
        self, doctors: Sequence[DoctorId] | None, days: Sequence[LocalDay]
    ) -> list[StatusCount]:
        if not days:
            return []
        start = appointments.c.starts_at
        # Days are contiguous and in order: the first bound a start falls before is its day.
        day = _day_of(start, days)
        bucketed = (
            sa.select(
                day.label("day"),
                appointments.c.status.label("status"),
                self._lead_seconds().label("lead"),
            )
            .where(start >= days[0].start, start < days[-1].end, *self._scoped(doctors))
            .subquery()
        )
        query = sa.select(
            bucketed.c.day,
            bucketed.c.status,
            sa.func.count().label("count"),
            sa.func.sum(bucketed.c.lead).label("lead"),
        ).group_by(bucketed.c.day, bucketed.c.status)
        with translated_errors():
            rows = self._connection.execute(query).mappings().all()
        found = [
            StatusCount(
                days[row["day"]].day,
                AppointmentStatus(row["status"]),
                int(row["count"]),
                round(row["lead"] or 0),
            )
            for row in rows
        ]
        return sorted(found, key=lambda c: (c.day, c.status))

    def patient_mix(
        self, doctors: Sequence[DoctorId] | None, start: datetime, end: datetime
    ) -> PatientMix:
        starts = appointments.c.starts_at
        patients = (
            sa.select(
                appointments.c.patient_id,
                sa.func.min(starts).label("first"),
            )
            .where(starts < end, appointments.c.status != _EXPIRED, *self._scoped(doctors))
            .group_by(appointments.c.patient_id)
            .having(sa.func.max(starts) >= start)
            .subquery()
        )
        query = sa.select(
            sa.func.coalesce(sa.func.sum(sa.case((patients.c.first >= start, 1), else_=0)), 0),
            sa.func.count(),
        )
        with translated_errors():
            new, seen = self._connection.execute(query).one()
        return PatientMix(int(new), int(seen) - int(new))

    def revenue(
        self, doctors: Sequence[DoctorId] | None, days: Sequence[LocalDay]
    ) -> tuple[list[MoneyByDay], list[MoneyByDay]]:
        if not days:
            return [], []
        visits = payments.c.purpose == PaymentPurpose.APPOINTMENT.value
        scope: list[sa.ColumnElement[bool]] = []
        if doctors is not None:
            of_doctors = sa.select(appointments.c.id).where(*self._scoped(doctors))
            scope.append(payments.c.appointment_id.in_(of_doctors))
        taken = _summed(
            sa.select(payments.c.method, payments.c.currency),
            payments.c.succeeded_at,
            payments.c.amount_minor_units,
            days,
        ).where(visits, *scope)
        back = (
            _summed(
                sa.select(payments.c.method, payments.c.currency),
                payment_refunds.c.recorded_at,
                payment_refunds.c.card_minor_units + payment_refunds.c.wallet_minor_units,
                days,
            )
            .select_from(payment_refunds.join(payments))
            .where(visits, *scope)
        )
        return self._money(taken, days), self._money(back, days)

    def _money(self, bucketed: sa.Select[Any], days: Sequence[LocalDay]) -> list[MoneyByDay]:
        inner = bucketed.subquery()
        query = sa.select(
            inner.c.day, inner.c.method, inner.c.currency, sa.func.sum(inner.c.amount)
        ).group_by(inner.c.day, inner.c.method, inner.c.currency)
        with translated_errors():
            rows = self._connection.execute(query).all()
        return sorted(
            (days[day].day, PaymentMethod(method), currency, int(total))
            for day, method, currency, total in rows
        )


def _summed(
    select: sa.Select[Any],
    moment: sa.ColumnElement[Any],
    amount: sa.ColumnElement[Any],
    days: Sequence[LocalDay],
) -> sa.Select[Any]:
    """``select`` with the local day of ``moment`` (as ``day``, its index in ``days``) and
    ``amount``, within ``days``."""
    day = _day_of(moment, days)
    return select.add_columns(day.label("day"), amount.label("amount")).where(
        moment >= days[0].start, moment < days[-1].end
    )


def _day_of(
    moment: sa.ColumnElement[Any], days: Sequence[LocalDay], first: int = 0
) -> sa.ColumnElement[Any]:
    """The index in ``days`` of the local day ``moment`` falls on (rows already lie within
    ``days``, which are contiguous and in order): a balanced tree of ``CASE`` s, so a row takes
    log2(days) comparisons, not up to one per day (a year's report: 9, not 365). An integer,
    not the day's ISO text: a narrower key to group by (PostgreSQL then hashes a platform
    month's 30,000 groups instead of sorting 84,000 rows)."""
    if len(days) == 1:
        return sa.literal(first, sa.Integer)
    middle = len(days) // 2
    return sa.case(
        (moment < days[middle].start, _day_of(moment, days[:middle], first)),
        else_=_day_of(moment, days[middle:], first + middle),
    )
