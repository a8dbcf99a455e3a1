"""A walk through the scheduling core on the in-memory adapters: ``hellodoctor-demo``.

Stands in for the API until the HTTP entry point lands: registers two doctors in different
time zones, publishes their hours, lists free slots, books, shows a double booking refused,
reschedules and cancels with the policy's refund.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hellodoctor_adapters.memory import (
    InMemoryEventPublisher,
    InMemoryUnitOfWorkFactory,
    SequentialIds,
    SystemClock,
)
from hellodoctor_domain import (
    Actor,
    Availability,
    BookingRequest,
    Doctor,
    DoctorId,
    LocalWindow,
    Money,
    Patient,
    PatientId,
    Scheduling,
    TimeRange,
    UserId,
    Weekday,
    WorkingDay,
)
from hellodoctor_domain.errors import SlotUnavailable


def weekdays(start: time, end: time, lunch: tuple[time, time]) -> list[WorkingDay]:
    return [
        WorkingDay(day, [LocalWindow(start, end)], breaks=[LocalWindow(*lunch)])
        for day in (
            Weekday.MONDAY,
            Weekday.TUESDAY,
            Weekday.WEDNESDAY,
            Weekday.THURSDAY,
            Weekday.FRIDAY,
        )
    ]


def build() -> tuple[Scheduling, InMemoryEventPublisher]:
    publisher = InMemoryEventPublisher()
    scheduling = Scheduling(
        InMemoryUnitOfWorkFactory(publisher=publisher), SystemClock(), SequentialIds("apt")
    )
    admin = Actor.admin(UserId("admin"))
    for doctor_id, name, specialty, zone, fee in [
        ("dr-okafor", "Dr Ada Okafor", "Cardiology", "Europe/London", Money(8000, "GBP")),
        ("dr-reyes", "Dr Luis Reyes", "General practice", "America/New_York", Money(0, "USD")),
    ]:
        scheduling.register_doctor(
            admin,
            Doctor(
                DoctorId(doctor_id),
                name,
                specialty,
                f"REG-{doctor_id}",
                fee,
                zone,
                languages=["en"],
            ),
        )
        scheduling.define_availability(
            admin,
            Availability(
                DoctorId(doctor_id),
                zone,
                weekdays(time(9), time(17), (time(12), time(13))),
                slot_length=timedelta(minutes=30),
                buffer=timedelta(minutes=10),
            ),
        )
    scheduling.register_patient(Patient(PatientId("pat-1"), "Grace Hopper"))
    scheduling.register_patient(Patient(PatientId("pat-2"), "Alan Turing"))
    return scheduling, publisher


def main() -> None:
    scheduling, publisher = build()
    now = datetime.now(UTC)
    week = TimeRange(now, now + timedelta(days=7))
    for doctor_id in ("dr-okafor", "dr-reyes"):
        slots = scheduling.free_slots(DoctorId(doctor_id), week, display_zone="Asia/Kolkata")
        print(f"{doctor_id}: {len(slots)} free slots this week; first three (Asia/Kolkata):")
        for slot in slots[:3]:
            print(f"  {slot.local_start:%a %d %b %H:%M %Z} - {slot.local_end:%H:%M}")

    first = scheduling.free_slots(DoctorId("dr-okafor"), week)[0]
    grace = Actor.patient(PatientId("pat-1"))
    alan = Actor.patient(PatientId("pat-2"))
    held = scheduling.book(
        grace,
        BookingRequest(
            doctor_id=DoctorId("dr-okafor"), patient_id=PatientId("pat-1"), start=first.time.start
        ),
    )
    print(f"booked {held.id}: {held.status}, {held.price}, hold until {held.hold_expires_at}")
    try:
        scheduling.book(
            alan,
            BookingRequest(
                doctor_id=DoctorId("dr-okafor"),
                patient_id=PatientId("pat-2"),
                start=first.time.start,
            ),
        )
    except SlotUnavailable as refused:
        print(f"second booking of the same slot refused: {refused}")
    booked = scheduling.confirm(held.id)
    print(f"payment confirmed: {booked.status}")
    later = scheduling.free_slots(DoctorId("dr-okafor"), week)[3]
    moved = scheduling.reschedule(grace, held.id, later.time.start)
    print(f"rescheduled to {moved.time.start:%a %H:%M} UTC")
    cancelled = scheduling.cancel(grace, held.id, "feeling better")
    assert cancelled.cancellation is not None
    print(f"cancelled; refund by policy: {cancelled.cancellation.refund}")
    print("events:", ", ".join(type(event).__name__ for event in publisher.published))


if __name__ == "__main__":
    main()
