"""Hospitals and bed counts over the in-memory store (the reference adapter).

The unit of work holds the store's lock throughout, so each bed count's range check and its
write are one atomic step, the in-memory analogue of the databases' conditional writes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from attrs import evolve

from hellodoctor_adapters.memory.store import _Journalled
from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError, NoBedAvailable, NotFound
from hellodoctor_domain.model.admissions import AdmissionRecord
from hellodoctor_domain.model.hospitals import BedType, Hospital
from hellodoctor_domain.model.transfers import Transfer
from hellodoctor_domain.model.values import AdmissionId, HospitalId, PatientId, TransferId
from hellodoctor_domain.ports.hospitals import (
    AdmissionRepository,
    BedCount,
    BedLedger,
    HospitalRepository,
    TransferRepository,
)


class InMemoryHospitalRepository(_Journalled, HospitalRepository):
    def _add(self, hospital: Hospital) -> None:
        table = self._store.hospitals
        if hospital.id in table:
            raise AlreadyExists(f"hospital {hospital.id} exists")
        if any(h.registration_number == hospital.registration_number for h in table.values()):
            raise AlreadyExists(f"registration number {hospital.registration_number} is taken")
        self._put(table, hospital.id, evolve(hospital, version=1))

    def _get(self, hospital_id: HospitalId) -> Hospital:
        try:
            return evolve(self._store.hospitals[hospital_id])
        except KeyError:
            raise NotFound(f"no hospital {hospital_id}") from None

    def _update(self, hospital: Hospital) -> None:
        stored = self._store.hospitals.get(hospital.id)
        if stored is None:
            raise NotFound(f"no hospital {hospital.id}")
        if stored.version != hospital.version:
            raise ConcurrencyError(f"hospital {hospital.id} changed since it was read")
        stored = evolve(hospital, version=hospital.version + 1)
        self._put(self._store.hospitals, hospital.id, stored)

    def _list(self, city: str | None) -> Sequence[Hospital]:
        wanted = None if city is None else city.casefold()
        return [
            evolve(h)
            for _, h in sorted(self._store.hospitals.items())
            if wanted is None or h.address.city.casefold() == wanted
        ]


BedKey = tuple[HospitalId, str, BedType]


class InMemoryBedLedger(_Journalled, BedLedger):
    def provide(
        self, hospital_id: HospitalId, ward_code: str, bed_type: BedType, capacity: int
    ) -> None:
        key = (hospital_id, ward_code, bed_type)
        occupied = self._store.beds[key].occupied if key in self._store.beds else 0
        self._change(key, BedCount(ward_code, bed_type, capacity, occupied))

    def occupy(self, hospital_id: HospitalId, ward_code: str, bed_type: BedType) -> None:
        self._move((hospital_id, ward_code, bed_type), +1)

    def release(self, hospital_id: HospitalId, ward_code: str, bed_type: BedType) -> None:
        self._move((hospital_id, ward_code, bed_type), -1)

    def counts(self, hospital_id: HospitalId) -> list[BedCount]:
        mine = [(key, count) for key, count in self._store.beds.items() if key[0] == hospital_id]
        return [count for _, count in sorted(mine, key=lambda item: (item[0][1], item[0][2]))]

    def _move(self, key: BedKey, delta: int) -> None:
        count = self._store.beds.get(key)
        if count is None:
            raise NoBedAvailable(f"ward {key[1]} of {key[0]} has no {key[2]} beds")
        self._change(key, evolve(count, occupied=count.occupied + delta))

    def _change(self, key: BedKey, count: BedCount) -> None:
        if not 0 <= count.occupied <= count.capacity:
            raise NoBedAvailable(
                f"ward {key[1]} of {key[0]} would have {count.occupied} of {count.capacity} "
                f"{key[2]} beds occupied"
            )
        self._put(self._store.beds, key, count)


class InMemoryTransferRepository(_Journalled, TransferRepository):
    def _add(self, transfer: Transfer) -> None:
        if transfer.id in self._store.transfers:
            raise AlreadyExists(f"transfer {transfer.id} exists")
        self._put(self._store.transfers, transfer.id, evolve(transfer, version=1))

    def _get(self, transfer_id: TransferId) -> Transfer:
        try:
            return evolve(self._store.transfers[transfer_id])
        except KeyError:
            raise NotFound(f"no transfer {transfer_id}") from None

    def _update(self, transfer: Transfer) -> None:
        stored = self._store.transfers.get(transfer.id)
        if stored is None:
            raise NotFound(f"no transfer {transfer.id}")
        if stored.version != transfer.version:
            raise ConcurrencyError(f"transfer {transfer.id} changed since it was read")
        stored = evolve(transfer, version=transfer.version + 1)
        self._put(self._store.transfers, transfer.id, stored)

    def _of_hospital(self, hospital_id: HospitalId) -> Sequence[Transfer]:
        found = [
            evolve(t)
            for t in self._store.transfers.values()
            if hospital_id in (t.from_hospital_id, t.to_hospital_id)
        ]
        return sorted(found, key=lambda t: (t.history[0].at, t.id))


class InMemoryAdmissionRepository(_Journalled, AdmissionRepository):
    def _add(self, admission: AdmissionRecord) -> None:
        if admission.id in self._store.admissions:
            raise AlreadyExists(f"admission {admission.id} exists")
        self._put(self._store.admissions, admission.id, evolve(admission, version=1))

    def _get(self, admission_id: AdmissionId) -> AdmissionRecord:
        try:
            return evolve(self._store.admissions[admission_id])
        except KeyError:
            raise NotFound(f"no admission {admission_id}") from None

    def _update(self, admission: AdmissionRecord) -> None:
        stored = self._store.admissions.get(admission.id)
        if stored is None:
            raise NotFound(f"no admission {admission.id}")
        if stored.version != admission.version:
            raise ConcurrencyError(f"admission {admission.id} changed since it was read")
        stored = evolve(admission, version=admission.version + 1)
        self._put(self._store.admissions, admission.id, stored)

    def _of_hospital(self, hospital_id: HospitalId) -> Sequence[AdmissionRecord]:
        return self._where(lambda a: a.hospital_id == hospital_id)

    def _of_patient(self, patient_id: PatientId) -> Sequence[AdmissionRecord]:
        return self._where(lambda a: a.patient_id == patient_id)

    def _where(self, wanted: Callable[[AdmissionRecord], bool]) -> list[AdmissionRecord]:
        found = [evolve(a) for a in self._store.admissions.values() if wanted(a)]
        return sorted(found, key=lambda a: (a.admitted_at, a.id.value))
