"""iCalendar entries for appointments (``icalendar``): one UID per appointment, SEQUENCE its
stored version (raised by every change), times in the doctor's zone with its VTIMEZONE, and a
cancelled visit as STATUS:CANCELLED (METHOD:CANCEL when mailed as a cancellation).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

import icalendar

from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.profiles import Doctor

PRODUCT = "-//HelloDoctor//Appointments//EN"
UID_DOMAIN = "hellodoctor"

_ENDED = {AppointmentStatus.CANCELLED, AppointmentStatus.EXPIRED}


def appointment_uid(appointment: Appointment) -> str:
    return f"{appointment.id}@{UID_DOMAIN}"


def calendar_event(
    appointment: Appointment, doctor: Doctor, summary: str, *, stamp: datetime
) -> icalendar.Event:
    zone = ZoneInfo(doctor.time_zone)
    event = icalendar.Event()
    event.add("uid", appointment_uid(appointment))
    event.add("sequence", appointment.version)
    event.add("dtstamp", stamp)
    event.add("dtstart", appointment.time.start.astimezone(zone))
    event.add("dtend", appointment.time.end.astimezone(zone))
    event.add("summary", summary)
    event.add("status", "CANCELLED" if appointment.status in _ENDED else "CONFIRMED")
    return event


def calendar(events: Iterable[icalendar.Event], *, method: str | None = None) -> icalendar.Calendar:
    """A calendar of ``events`` with the VTIMEZONE of every zone they use."""
    found = icalendar.Calendar()
    found.add("prodid", PRODUCT)
    found.add("version", "2.0")
    if method:
        found.add("method", method)
    for event in events:
        found.add_component(event)
    found.add_missing_timezones()
    return found
