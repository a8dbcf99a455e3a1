"""What a booking asks for (``Scheduling.book``), and its fingerprint: the same
``Idempotency-Key`` sent with a different request is refused by comparing fingerprints."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from attrs import define

from hellodoctor_domain.model.values import (
    AppointmentType,
    DoctorId,
    PatientId,
    VisitKind,
    utc,
)


@define(frozen=True, kw_only=True)
class BookingRequest:
    doctor_id: DoctorId
    patient_id: PatientId
    start: datetime
    length: timedelta | None = None
    appointment_type: AppointmentType = AppointmentType.IN_PERSON
    visit_kind: VisitKind = VisitKind.REGULAR
    reason: str = ""
    # A client-chosen key (an HTTP Idempotency-Key): retrying with it returns the first result.
    idempotency_key: str | None = None
    # What else the caller's request said (the desk's hospital and pay_at_clinic): part of the
    # fingerprint, so the same key sent with another of those is refused.
    context: str = ""

    def fingerprint(self) -> str:
        """What was asked, so a key reused for a different request is refused."""
        length = "" if self.length is None else str(self.length.total_seconds())
        # Without a context the parts are those of the records already stored.
        context = (self.context,) if self.context else ()
        parts = (
            self.doctor_id.value,
            self.patient_id.value,
            utc(self.start).isoformat(),
            length,
            self.appointment_type.value,
            self.visit_kind.value,
            self.reason,
            *context,
        )
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


__all__ = ["BookingRequest"]
