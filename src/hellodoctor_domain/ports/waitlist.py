"""The storage port of the waitlist (issue 17 item 1)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import datetime

from hellodoctor_domain.model.values import AppointmentId, DoctorId, PatientId
from hellodoctor_domain.model.waitlist import WaitlistEntry, WaitlistEntryId, WaitlistStatus
from hellodoctor_domain.ports.repository import EntityRepository


class WaitlistRepository(EntityRepository[WaitlistEntry, WaitlistEntryId]):
    """Waitlist entries by id. ``update`` is a compare-and-set on ``version``: of two offers
    racing for one waiting entry (two cancellations at once) exactly one lands, the other gets
    ``ConcurrencyError`` and, its unit of work rolled back, holds nothing. An offer's update
    and its hold's insert belong to one unit of work (one transaction on SQL; on MongoDB the
    entry's conditional write is flushed before the held appointment, docs/mongodb.md)."""

    def waiting_for(self, doctor_id: DoctorId, limit: int = 200) -> list[WaitlistEntry]:
        """The doctor's entries still ``waiting``, in join order (``joined_at``, then id)."""
        return self._all_seen(self._waiting_for(doctor_id, limit))

    def search(
        self,
        *,
        doctor_id: DoctorId | None = None,
        patient_id: PatientId | None = None,
        statuses: frozenset[WaitlistStatus] | None = None,
        limit: int = 200,
    ) -> list[WaitlistEntry]:
        """Entries matching every filter given, in join order."""
        return self._all_seen(self._search(doctor_id, patient_id, statuses, limit))

    def lapsed_offers(self, now: datetime, limit: int) -> list[WaitlistEntry]:
        """``offered`` entries whose offer expired at or before ``now``, oldest first."""
        return self._all_seen(self._lapsed_offers(now, limit))

    def offered_with(self, appointment_id: AppointmentId) -> WaitlistEntry | None:
        """The entry whose offer is held by that appointment, if any."""
        return self._seen_if_any(self._offered_with(appointment_id))

    @abc.abstractmethod
    def _waiting_for(self, doctor_id: DoctorId, limit: int) -> Sequence[WaitlistEntry]: ...

    @abc.abstractmethod
    def _search(
        self,
        doctor_id: DoctorId | None,
        patient_id: PatientId | None,
        statuses: frozenset[WaitlistStatus] | None,
        limit: int,
    ) -> Sequence[WaitlistEntry]: ...

    @abc.abstractmethod
    def _lapsed_offers(self, now: datetime, limit: int) -> Sequence[WaitlistEntry]: ...

    @abc.abstractmethod
    def _offered_with(self, appointment_id: AppointmentId) -> WaitlistEntry | None: ...
