"""Appointment statistics on MongoDB: aggregation pipelines, the server doing the counting.

A visit's day is a balanced tree of ``$cond`` s over the report's day bounds in exact microseconds
(``time.start_us``), computed in the domain in the report's time zone; lead times are the
visit's start less ``created_at`` (a BSON date, so milliseconds), summed per group.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from pymongo.collection import Collection

from hellodoctor_adapters.mongodb.documents import Document, to_micros
from hellodoctor_adapters.mongodb.store import MongoStore, translated
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


class MongoAppointmentStatistics(AppointmentStatistics):
    def __init__(self, store: MongoStore) -> None:
        self._appointments: Collection[Document] = store.collection("appointments")
        self._payments: Collection[Document] = store.collection("payments")

    @staticmethod
    def _scoped(doctors: Sequence[DoctorId] | None) -> Document:
        return {} if doctors is None else {"doctor_id": {"$in": [d.value for d in doctors]}}

    @translated
    def status_counts(
        self, doctors: Sequence[DoctorId] | None, days: Sequence[LocalDay]
    ) -> list[StatusCount]:
        if not days:
            return []
        start = "$time.start_us"
        day = _day_of(start, days)
        lead_ms = {"$subtract": [{"$divide": [start, 1000]}, {"$toLong": "$created_at"}]}
        pipeline: list[Document] = [
            {
                "$match": {
                    **self._scoped(doctors),
                    "time.start_us": {
                        "$gte": to_micros(days[0].start),
                        "$lt": to_micros(days[-1].end),
                    },
                }
            },
            {
                "$group": {
                    "_id": {"day": day, "status": "$status"},
                    "count": {"$sum": 1},
                    "lead_ms": {"$sum": lead_ms},
                }
            },
        ]
        found = [
            StatusCount(
                date.fromisoformat(group["_id"]["day"]),
                AppointmentStatus(group["_id"]["status"]),
                int(group["count"]),
                round(group["lead_ms"] / 1000),
            )
            for group in self._appointments.aggregate(pipeline)
        ]
        return sorted(found, key=lambda c: (c.day, c.status))

    @translated
    def booked_seconds(
        self, doctors: Sequence[DoctorId] | None, days: Sequence[LocalDay]
    ) -> list[tuple[DoctorId, date, int]]:
        if not days:
            return []
        pipeline: list[Document] = [
            {
                "$match": {
                    **self._scoped(doctors),
                    "status": {"$in": sorted(s.value for s in BOOKED_STATUSES)},
                    "time.start_us": {
                        "$gte": to_micros(days[0].start),
                        "$lt": to_micros(days[-1].end),
                    },
                }
            },
            {
                "$group": {
                    "_id": {"doctor": "$doctor_id", "day": _day_of("$time.start_us", days)},
                    "us": {"$sum": {"$subtract": ["$time.end_us", "$time.start_us"]}},
                }
            },
        ]
        return sorted(
            (
                DoctorId(group["_id"]["doctor"]),
                date.fromisoformat(group["_id"]["day"]),
                int(group["us"]) // 1_000_000,
            )
            for group in self._appointments.aggregate(pipeline)
        )

    @translated
    def patient_mix(
        self, doctors: Sequence[DoctorId] | None, start: datetime, end: datetime
    ) -> PatientMix:
        since, until = to_micros(start), to_micros(end)
        pipeline: list[Document] = [
            {
                "$match": {
                    **self._scoped(doctors),
                    "status": {"$ne": AppointmentStatus.EXPIRED.value},
                    "time.start_us": {"$lt": until},
                }
            },
            {
                "$group": {
                    "_id": "$patient_id",
                    "first": {"$min": "$time.start_us"},
                    "last": {"$max": "$time.start_us"},
                }
            },
            {"$match": {"last": {"$gte": since}}},
            {
                "$group": {
                    "_id": None,
                    "new": {"$sum": {"$cond": [{"$gte": ["$first", since]}, 1, 0]}},
                    "seen": {"$sum": 1},
                }
            },
        ]
        for mix in self._appointments.aggregate(pipeline):
            return PatientMix(int(mix["new"]), int(mix["seen"]) - int(mix["new"]))
        return PatientMix()

    @translated
    def revenue(
        self, doctors: Sequence[DoctorId] | None, days: Sequence[LocalDay]
    ) -> tuple[list[MoneyByDay], list[MoneyByDay]]:
        if not days:
            return [], []
        bounds = {"$gte": to_micros(days[0].start), "$lt": to_micros(days[-1].end)}
        scope: list[Document] = [{"$match": {"purpose": PaymentPurpose.APPOINTMENT.value}}]
        if doctors is not None:
            scope += [
                {
                    "$lookup": {
                        "from": self._appointments.name,
                        "localField": "appointment_id",
                        "foreignField": "_id",
                        "as": "_visit",
                    }
                },
                {"$match": {"_visit.doctor_id": {"$in": [d.value for d in doctors]}}},
            ]
        taken = [
            *scope,
            {"$match": {"succeeded_us": bounds}},
            _money_group(_day_of("$succeeded_us", days), "$amount"),
        ]
        back = [
            *scope,
            {"$unwind": "$refunds"},
            {"$match": {"refunds.recorded_us": bounds}},
            _money_group(
                _day_of("$refunds.recorded_us", days),
                {"$add": ["$refunds.card", "$refunds.wallet"]},
            ),
        ]
        return self._money(taken), self._money(back)

    def _money(self, pipeline: list[Document]) -> list[MoneyByDay]:
        return sorted(
            (
                date.fromisoformat(group["_id"]["day"]),
                PaymentMethod(group["_id"]["method"]),
                group["_id"]["currency"],
                int(group["amount"]),
            )
            for group in self._payments.aggregate(pipeline)
        )


def _day_of(field: str, days: Sequence[LocalDay]) -> Document | str:
    """The local day an instant in microseconds falls on (documents already lie within
    ``days``, which are contiguous and in order): a balanced tree of ``$cond`` s, log2(days)
    comparisons a document rather than up to one per day."""
    if len(days) == 1:
        return days[0].day.isoformat()
    middle = len(days) // 2
    return {
        "$cond": [
            {"$lt": [field, to_micros(days[middle].start)]},
            _day_of(field, days[:middle]),
            _day_of(field, days[middle:]),
        ]
    }


def _money_group(day: Document | str, amount: object) -> Document:
    return {
        "$group": {
            "_id": {"day": day, "method": "$method", "currency": "$currency"},
            "amount": {"$sum": amount},
        }
    }
