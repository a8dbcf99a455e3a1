"""The waitlist over the in-memory store (the reference adapter). The unit of work holds the
store's lock throughout, so an entry's compare-and-set and the offer's hold are one step."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from attrs import evolve

from hellodoctor_adapters.memory.store import _Journalled
from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError, NotFound
from hellodoctor_domain.model.values import AppointmentId, DoctorId, PatientId
from hellodoctor_domain.model.waitlist import WaitlistEntry, WaitlistEntryId, WaitlistStatus
from hellodoctor_domain.ports.waitlist import WaitlistRepository


def _join_order(entry: WaitlistEntry) -> tuple[datetime, str]:
    return entry.joined_at, entry.id.value


class InMemoryWaitlistRepository(_Journalled, WaitlistRepository):
    def _table(self) -> dict[WaitlistEntryId, WaitlistEntry]:
        return self._store.waitlist

    def _add(self, entry: WaitlistEntry) -> None:
        if entry.id in self._table():
            raise AlreadyExists(f"waitlist entry {entry.id} exists")
        if entry.patient_id not in self._store.patients:
            raise NotFound(f"no patient {entry.patient_id}")
        if entry.doctor_id not in self._store.doctors:
            raise NotFound(f"no doctor {entry.doctor_id}")
        self._put(self._table(), entry.id, evolve(entry, version=1))

    def _get(self, entry_id: WaitlistEntryId) -> WaitlistEntry:
        try:
            return evolve(self._table()[entry_id])
        except KeyError:
            raise NotFound(f"no waitlist entry {entry_id}") from None

    def _update(self, entry: WaitlistEntry) -> None:
        stored = self._table().get(entry.id)
        if stored is None:
            raise NotFound(f"no waitlist entry {entry.id}")
        if stored.version != entry.version:
            raise ConcurrencyError(f"waitlist entry {entry.id} changed since it was read")
        self._put(self._table(), entry.id, evolve(entry, version=entry.version + 1))

    def _select(self, keep: object, limit: int) -> list[WaitlistEntry]:
        found = sorted((e for e in self._table().values() if keep(e)), key=_join_order)  # type: ignore[operator]
        return [evolve(e) for e in found[:limit]]

    def _waiting_for(self, doctor_id: DoctorId, limit: int) -> Sequence[WaitlistEntry]:
        return self._select(
            lambda e: e.doctor_id == doctor_id and e.status is WaitlistStatus.WAITING, limit
        )

    def _search(
        self,
        doctor_id: DoctorId | None,
        patient_id: PatientId | None,
        statuses: frozenset[WaitlistStatus] | None,
        limit: int,
    ) -> Sequence[WaitlistEntry]:
        return self._select(
            lambda e: (
                (doctor_id is None or e.doctor_id == doctor_id)
                and (patient_id is None or e.patient_id == patient_id)
                and (statuses is None or e.status in statuses)
            ),
            limit,
        )

    def _lapsed_offers(self, now: datetime, limit: int) -> Sequence[WaitlistEntry]:
        lapsed = [e for e in self._table().values() if e.offer_lapsed(now)]
        lapsed.sort(key=lambda e: (e.offer_expires_at, e.id.value))
        return [evolve(e) for e in lapsed[:limit]]

    def _offered_with(self, appointment_id: AppointmentId) -> WaitlistEntry | None:
        for entry in self._table().values():
            if entry.offered_appointment_id == appointment_id:
                return evolve(entry)
        return None
