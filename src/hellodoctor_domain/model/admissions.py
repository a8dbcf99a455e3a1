"""A patient's stay in a hospital bed: admitted (a bed of its type in its ward occupied) and,
later, discharged (the bed freed). The bed count is the storage's atomic ledger; this record
says whose stay it was, where and when, for the hospital's administrators and the patient.

::

    admitted --discharge--> discharged
"""

from __future__ import annotations

from datetime import datetime

from attrs import define, field

from hellodoctor_domain.errors import IllegalStateChange
from hellodoctor_domain.model.events import Aggregate
from hellodoctor_domain.model.hospitals import BedType
from hellodoctor_domain.model.values import AdmissionId, HospitalId, PatientId, UserId, utc


def _optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


@define(eq=False)
class AdmissionRecord(Aggregate):
    id: AdmissionId
    hospital_id: HospitalId
    patient_id: PatientId
    ward_code: str
    bed_type: BedType
    admitted_at: datetime = field(converter=utc)
    admitted_by: UserId
    discharged_at: datetime | None = field(default=None, converter=_optional_utc)
    discharged_by: UserId | None = None
    version: int = 0

    @property
    def is_open(self) -> bool:
        return self.discharged_at is None

    def occupies(self, ward_code: str, bed_type: BedType) -> bool:
        return self.is_open and (self.ward_code, self.bed_type) == (ward_code, bed_type)

    def discharge(self, *, by: UserId, at: datetime) -> None:
        if not self.is_open:
            raise IllegalStateChange(f"admission {self.id}", "discharged", "discharged")
        self.discharged_at = utc(at)
        self.discharged_by = by


__all__ = ["AdmissionRecord"]
