"""HelloDoctor's domain: doctors' availability and appointments that can never double-book.

Pure Python (standard library and attrs). Storage, payments, notifications and time come in
through the ports in :mod:`hellodoctor_domain.ports`; the use cases live in
:mod:`hellodoctor_domain.use_cases.scheduling`.
"""

from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus, Cancellation
from hellodoctor_domain.model.availability import (
    Availability,
    ExtraHours,
    LocalWindow,
    TimeOff,
    Weekday,
    WorkingDay,
)
from hellodoctor_domain.model.policy import CancellationPolicy
from hellodoctor_domain.model.profiles import Doctor, EmergencyContact, Patient
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    AppointmentType,
    DoctorId,
    EmailAddress,
    Money,
    PatientId,
    Role,
    TimeRange,
    UserId,
    VisitKind,
)
from hellodoctor_domain.use_cases.scheduling import (
    BookingRequest,
    FreeSlot,
    Scheduling,
    SchedulingSettings,
)

__all__ = [
    "Actor",
    "Appointment",
    "AppointmentId",
    "AppointmentStatus",
    "AppointmentType",
    "Availability",
    "BookingRequest",
    "Cancellation",
    "CancellationPolicy",
    "Doctor",
    "DoctorId",
    "EmailAddress",
    "EmergencyContact",
    "ExtraHours",
    "FreeSlot",
    "LocalWindow",
    "Money",
    "Patient",
    "PatientId",
    "Role",
    "Scheduling",
    "SchedulingSettings",
    "TimeOff",
    "TimeRange",
    "UserId",
    "VisitKind",
    "Weekday",
    "WorkingDay",
]
