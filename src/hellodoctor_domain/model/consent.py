"""Consent: a patient lets a doctor, or every doctor of a hospital, read (or read and write)
their clinical records until a moment, for a stated purpose; they may revoke it at any time.

A consent is *live* from when it was granted until ``until`` or its revocation, whichever
comes first. Revoking is final (a new consent is a new grant) and is recorded, not deleted, so
the audit log can always say on what basis an access was allowed.
"""

from __future__ import annotations

import enum
from datetime import datetime

from attrs import define, field

from hellodoctor_domain.errors import IllegalStateChange, InvalidValue
from hellodoctor_domain.model.events import Aggregate
from hellodoctor_domain.model.values import (
    DoctorId,
    HospitalId,
    PatientId,
    _Identifier,
    utc,
)


class ConsentId(_Identifier):
    """Identity of a consent."""


class ConsentScope(enum.StrEnum):
    READ = "read"
    READ_WRITE = "read_write"


def _optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


@define(eq=False)
class Consent(Aggregate):
    id: ConsentId
    patient_id: PatientId
    scope: ConsentScope
    purpose: str
    granted_at: datetime = field(converter=utc)
    until: datetime = field(converter=utc)
    doctor_id: DoctorId | None = None
    hospital_id: HospitalId | None = None
    revoked_at: datetime | None = field(default=None, converter=_optional_utc)
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if (self.doctor_id is None) == (self.hospital_id is None):
            raise InvalidValue("a consent names either a doctor or a hospital")
        if not self.purpose.strip() or len(self.purpose) > 500:
            raise InvalidValue("a consent states its purpose (at most 500 characters)")
        if self.until <= self.granted_at:
            raise InvalidValue("a consent must end after it is granted")

    def live_at(self, now: datetime) -> bool:
        moment = utc(now)
        revoked = self.revoked_at is not None and self.revoked_at <= moment
        return self.granted_at <= moment < self.until and not revoked

    def allows_writing(self) -> bool:
        return self.scope is ConsentScope.READ_WRITE

    def revoke(self, now: datetime) -> None:
        if self.revoked_at is not None:
            raise IllegalStateChange(f"consent {self.id}", "revoked", "revoked")
        self.revoked_at = utc(now)
