"""The storage port of hospitals: the hospital repository, the bed ledger, transfers and
patients' admissions."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from attrs import define

from hellodoctor_domain.model.admissions import AdmissionRecord
from hellodoctor_domain.model.hospitals import BedType, Hospital
from hellodoctor_domain.model.transfers import Transfer
from hellodoctor_domain.model.values import AdmissionId, HospitalId, PatientId, TransferId
from hellodoctor_domain.ports.repository import EntityRepository


class HospitalRepository(EntityRepository[Hospital, HospitalId]):
    """Hospitals by id; ``AlreadyExists`` for a taken id or registration number."""

    def list(self, city: str | None = None) -> list[Hospital]:
        """Every hospital (in one city, compared case-insensitively), by id."""
        return self._all_seen(self._list(city))

    @abc.abstractmethod
    def _list(self, city: str | None) -> Sequence[Hospital]: ...


@define(frozen=True)
class BedCount:
    """How many beds of one type a ward has, and how many are occupied."""

    ward_code: str
    bed_type: BedType
    capacity: int
    occupied: int

    @property
    def free(self) -> int:
        return self.capacity - self.occupied


class BedLedger(abc.ABC):
    """Occupied-bed counts per ``(hospital, ward, bed type)``, each kept within
    ``0 <= occupied <= capacity`` by the storage itself: one atomic conditional write per
    change (a CHECK constraint on the counts row, a conditional single-document update, the
    lock), never a read in Python followed by a write. The change belongs to the unit of work:
    it is undone if the unit of work does not commit."""

    @abc.abstractmethod
    def provide(
        self, hospital_id: HospitalId, ward_code: str, bed_type: BedType, capacity: int
    ) -> None:
        """Set the capacity (creating the count at zero occupied); ``NoBedAvailable`` when more
        beds than that are occupied."""

    @abc.abstractmethod
    def occupy(self, hospital_id: HospitalId, ward_code: str, bed_type: BedType) -> None:
        """One more bed occupied; ``NoBedAvailable`` when none is free (or none exists)."""

    @abc.abstractmethod
    def release(self, hospital_id: HospitalId, ward_code: str, bed_type: BedType) -> None:
        """One bed fewer occupied; ``NoBedAvailable`` when none is occupied."""

    @abc.abstractmethod
    def counts(self, hospital_id: HospitalId) -> list[BedCount]:
        """The hospital's counts, by ward and bed type."""


class TransferRepository(EntityRepository[Transfer, TransferId]):
    """Transfers by id, and those into or out of one hospital."""

    def of_hospital(self, hospital_id: HospitalId) -> list[Transfer]:
        """Transfers from or to ``hospital_id``, oldest request first."""
        return self._all_seen(self._of_hospital(hospital_id))

    @abc.abstractmethod
    def _of_hospital(self, hospital_id: HospitalId) -> Sequence[Transfer]: ...


class AdmissionRepository(EntityRepository[AdmissionRecord, AdmissionId]):
    """Patients' stays by id, and those of one hospital or one patient."""

    def of_hospital(self, hospital_id: HospitalId) -> list[AdmissionRecord]:
        """The hospital's admissions, oldest first."""
        return self._all_seen(self._of_hospital(hospital_id))

    def of_patient(self, patient_id: PatientId) -> list[AdmissionRecord]:
        """The patient's admissions in every hospital, oldest first."""
        return self._all_seen(self._of_patient(patient_id))

    @abc.abstractmethod
    def _of_hospital(self, hospital_id: HospitalId) -> Sequence[AdmissionRecord]: ...

    @abc.abstractmethod
    def _of_patient(self, patient_id: PatientId) -> Sequence[AdmissionRecord]: ...
