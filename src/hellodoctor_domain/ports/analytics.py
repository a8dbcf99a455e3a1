"""The storage port of analytics: counts computed by the database (SQL ``GROUP BY``, MongoDB
aggregation pipelines), never by loading appointments into Python."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import date, datetime

from hellodoctor_domain.model.analytics import LocalDay, PatientMix, StatusCount
from hellodoctor_domain.model.payments import PaymentMethod
from hellodoctor_domain.model.values import DoctorId


class AppointmentStatistics(abc.ABC):
    """``doctors``: the doctors whose appointments count (``None``: every doctor)."""

    @abc.abstractmethod
    def status_counts(
        self, doctors: Sequence[DoctorId] | None, days: Sequence[LocalDay]
    ) -> list[StatusCount]:
        """Per day (by when the visit starts, within the day's bounds) and status: how many,
        and the sum of their lead times in seconds. Days and statuses without any are left
        out; ``days`` are contiguous and in order."""

    @abc.abstractmethod
    def patient_mix(
        self, doctors: Sequence[DoctorId] | None, start: datetime, end: datetime
    ) -> PatientMix:
        """Patients with a visit (not a lapsed hold) starting in ``[start, end)``: ``new``
        if they had none with these doctors before ``start``, ``returning`` otherwise."""

    @abc.abstractmethod
    def revenue(
        self, doctors: Sequence[DoctorId] | None, days: Sequence[LocalDay]
    ) -> tuple[list[MoneyByDay], list[MoneyByDay]]:
        """Visits' money (payments whose purpose is an appointment; wallet top-ups are not
        revenue), summed in minor units per day, method and currency: first what payments took,
        by the day they succeeded; then what refunds gave back, by the day each was recorded
        (the payment's method). Days with nothing are left out."""

    @abc.abstractmethod
    def booked_seconds(
        self, doctors: Sequence[DoctorId] | None, days: Sequence[LocalDay]
    ) -> list[tuple[DoctorId, date, int]]:
        """Per doctor and day (by when the visit starts, within the day's bounds): the summed
        length in seconds of the visits whose status is one of ``BOOKED_STATUSES`` (booked,
        completed, no-show). Doctors and days without any are left out."""


MoneyByDay = tuple[date, PaymentMethod, str, int]
