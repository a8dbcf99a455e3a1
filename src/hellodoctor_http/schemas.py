"""What the API accepts (attrs request classes, structured by cattrs) and what it answers
(domain objects turned into JSON-ready dicts).

Request classes hold only what a client may decide. Prices, statuses, roles and, for
patients, the patient are never among them: they come from the doctor's fee, the state
machine and the token.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from attrs import define, field

from hellodoctor_domain import (
    Appointment,
    AppointmentType,
    Availability,
    Doctor,
    DoctorId,
    ExtraHours,
    FreeSlot,
    LocalWindow,
    Money,
    TimeOff,
    VisitKind,
    Weekday,
    WorkingDay,
)
from hellodoctor_domain.errors import InvalidValue

# -- requests -------------------------------------------------------------------------------

MAX_TEXT = 1000


def _short_text(_instance: object, attribute: Any, value: str) -> None:
    if len(value) > MAX_TEXT:
        raise InvalidValue(f"{attribute.name} is at most {MAX_TEXT} characters")


@define(frozen=True)
class WindowBody:
    start: time
    end: time


@define(frozen=True)
class WorkingDayBody:
    weekday: str
    hours: tuple[WindowBody, ...]
    breaks: tuple[WindowBody, ...] = ()


@define(frozen=True)
class TimeOffBody:
    first_day: date
    last_day: date
    window: WindowBody | None = None
    reason: str = ""


@define(frozen=True)
class ExtraHoursBody:
    day: date
    window: WindowBody


@define(frozen=True)
class AvailabilityBody:
    weekly: tuple[WorkingDayBody, ...]
    time_zone: str | None = None
    slot_minutes: int = 30
    buffer_minutes: int = 0
    minimum_notice_minutes: int = 120
    booking_horizon_days: int = 90
    max_slots_per_visit: int = 4
    time_off: tuple[TimeOffBody, ...] = ()
    extra_hours: tuple[ExtraHoursBody, ...] = ()

    def to_domain(self, doctor: Doctor) -> Availability:
        def window(body: WindowBody) -> LocalWindow:
            return LocalWindow(body.start, body.end)

        return Availability(
            doctor.id,
            self.time_zone or doctor.time_zone,
            [
                WorkingDay(
                    _weekday(day.weekday),
                    [window(w) for w in day.hours],
                    breaks=[window(w) for w in day.breaks],
                )
                for day in self.weekly
            ],
            slot_length=timedelta(minutes=self.slot_minutes),
            buffer=timedelta(minutes=self.buffer_minutes),
            minimum_notice=timedelta(minutes=self.minimum_notice_minutes),
            booking_horizon=timedelta(days=self.booking_horizon_days),
            max_slots_per_visit=self.max_slots_per_visit,
            time_off=[
                TimeOff(
                    off.first_day,
                    off.last_day,
                    window(off.window) if off.window else None,
                    off.reason,
                )
                for off in self.time_off
            ],
            extra_hours=[ExtraHours(extra.day, window(extra.window)) for extra in self.extra_hours],
        )


def _weekday(name: str) -> Weekday:
    try:
        return Weekday[name.strip().upper()]
    except KeyError:
        raise InvalidValue(f"{name!r} is not a weekday (monday ... sunday)") from None


@define(frozen=True)
class BookingBody:
    """A patient's booking: for themself, so no patient field at all."""

    doctor_id: str
    start: datetime
    type: str = AppointmentType.IN_PERSON.value
    reason: str = field(default="", validator=_short_text)
    length_minutes: int | None = None
    visit_kind: str = VisitKind.REGULAR.value


@define(frozen=True)
class StaffBookingBody:
    """A doctor (into their own calendar) or an admin books for a named patient."""

    doctor_id: str
    patient_id: str
    start: datetime
    type: str = AppointmentType.IN_PERSON.value
    reason: str = field(default="", validator=_short_text)
    length_minutes: int | None = None
    visit_kind: str = VisitKind.REGULAR.value


@define(frozen=True)
class CancelBody:
    reason: str = field(default="", validator=_short_text)


@define(frozen=True)
class RescheduleBody:
    start: datetime


@define(frozen=True)
class EmptyBody:
    """Actions that take no input still refuse input they do not understand."""


# -- responses ------------------------------------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def money(amount: Money) -> dict[str, Any]:
    return {"minor_units": amount.minor_units, "currency": amount.currency, "text": str(amount)}


def doctor_json(doctor: Doctor) -> dict[str, Any]:
    return {
        "id": doctor.id.value,
        "name": doctor.name,
        "specialty": doctor.specialty,
        "registration_number": doctor.registration_number,
        "qualifications": list(doctor.qualifications),
        "languages": list(doctor.languages),
        "time_zone": doctor.time_zone,
        "consultation_fee": money(doctor.consultation_fee),
        "accepting_bookings": doctor.accepting_bookings,
    }


def _window(window: LocalWindow) -> dict[str, str]:
    return {"start": window.start.strftime("%H:%M"), "end": window.end.strftime("%H:%M")}


def _minutes(duration: timedelta) -> int:
    return int(duration.total_seconds() // 60)


def availability_json(availability: Availability) -> dict[str, Any]:
    return {
        "doctor_id": availability.doctor_id.value,
        "time_zone": availability.time_zone,
        "weekly": [
            {
                "weekday": day.weekday.name.lower(),
                "hours": [_window(w) for w in day.hours],
                "breaks": [_window(w) for w in day.breaks],
            }
            for day in availability.weekly
        ],
        "slot_minutes": _minutes(availability.slot_length),
        "buffer_minutes": _minutes(availability.buffer),
        "minimum_notice_minutes": _minutes(availability.minimum_notice),
        "booking_horizon_days": availability.booking_horizon.days,
        "max_slots_per_visit": availability.max_slots_per_visit,
        "time_off": [
            {
                "first_day": off.first_day.isoformat(),
                "last_day": off.last_day.isoformat(),
                "window": _window(off.window) if off.window else None,
                "reason": off.reason,
            }
            for off in availability.time_off
        ],
        "extra_hours": [
            {"day": extra.day.isoformat(), "window": _window(extra.window)}
            for extra in availability.extra_hours
        ],
        "version": availability.version,
    }


def slot_json(slot: FreeSlot) -> dict[str, Any]:
    return {
        "start": iso(slot.time.start),
        "end": iso(slot.time.end),
        "local_start": slot.local_start.isoformat(),
        "local_end": slot.local_end.isoformat(),
    }


def appointment_json(appointment: Appointment) -> dict[str, Any]:
    cancellation = appointment.cancellation
    return {
        "id": appointment.id.value,
        "doctor_id": appointment.doctor_id.value,
        "patient_id": appointment.patient_id.value,
        "start": iso(appointment.time.start),
        "end": iso(appointment.time.end),
        "status": appointment.status.value,
        "type": appointment.appointment_type.value,
        "visit_kind": appointment.visit_kind.value,
        "reason": appointment.reason,
        "price": money(appointment.price),
        "hold_expires_at": iso(appointment.hold_expires_at),
        "created_at": iso(appointment.created_at),
        "cancellation": None
        if cancellation is None
        else {
            "by": cancellation.by.value,
            "reason": cancellation.reason,
            "at": iso(cancellation.at),
            "refund": money(cancellation.refund),
        },
        "version": appointment.version,
    }


def parse_enum(kind: type[Any], value: str, field: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidValue(f"{field} is one of {allowed}, not {value!r}") from None


def doctor_id(value: str) -> DoctorId:
    return DoctorId(value)
