"""The next free slot summary follows the calendar (issue 16): the outbox consumer
``FreeSlotsRefresher``, fed by the storage's own outbox through the relay, refreshes a doctor's
summary after a booking, a cancellation and an availability change (time off), on every storage.

Part of each storage's contract module; needs only ``uow_factory``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.outbox import event_of
from hellodoctor_adapters.registry import storage_delivery
from hellodoctor_adapters.relay import DirectTransport
from hellodoctor_adapters.testing.fixtures import MONDAY, at, doctor, every_day, patient
from hellodoctor_domain.model.availability import AvailabilityChanged, TimeOff
from hellodoctor_domain.model.values import Actor, DoctorId, Money, PatientId, UserId
from hellodoctor_domain.ports.outbox import OutboxEntry
from hellodoctor_domain.ports.search import DoctorSearch, SearchSort
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.delivery import Relay
from hellodoctor_domain.use_cases.scheduling import BookingRequest, Scheduling
from hellodoctor_domain.use_cases.search import DoctorFinder, FreeSlotsRefresher

ADMIN = Actor.admin(UserId("admin"))
D1 = DoctorId("d1")
P1 = PatientId("p1")
# 30-minute slots 08:00-18:00 UTC every day, 2 hours' notice: at 06:00 on Monday the first
# slot is 08:00 that day.
FIRST = at(8)
SECOND = at(8, 30)


class FreeSlotsRefreshContract:
    def test_the_summary_follows_bookings_cancellations_and_hours(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        clock = ManualClock(at(6))
        scheduling = Scheduling(uow_factory, clock, SequentialIds("a"), OfflinePaymentGateway())
        finder = DoctorFinder(uow_factory, clock, scheduling)
        refreshed: list[DoctorId] = []
        refresher = FreeSlotsRefresher(finder, refreshed.append)
        offered = storage_delivery(uow_factory)
        assert offered is not None, "every storage offers its outbox's delivery"

        def handle(entry: OutboxEntry) -> None:
            refresher.handle(entry.id, event_of(entry.event_type, dict(entry.payload)))

        relay = Relay(offered[0], DirectTransport(handle), clock)

        def next_free() -> datetime | None:
            done = relay.run_once()
            assert done.failed == done.dead == 0, done
            with uow_factory() as uow:
                hits = uow.directory.search(DoctorSearch(sort=SearchSort.EARLIEST), clock.now())
            return hits[0].next_free if hits else None

        scheduling.register_doctor(ADMIN, doctor("d1", Money(0, "EUR")))
        scheduling.register_patient(patient("p1"))
        hours = every_day(D1, slot_length=timedelta(minutes=30))
        scheduling.define_availability(ADMIN, hours)
        assert next_free() == FIRST  # the hours' own event made the first summary
        booked = scheduling.book(
            Actor.patient(P1), BookingRequest(doctor_id=D1, patient_id=P1, start=FIRST)
        )
        assert next_free() == SECOND
        scheduling.cancel(Actor.patient(P1), booked.id)
        assert next_free() == FIRST
        monday_off = (*hours.time_off, TimeOff(MONDAY.date(), MONDAY.date()))
        scheduling.define_availability(
            ADMIN,
            every_day(D1, slot_length=hours.slot_length, time_off=monday_off),
        )
        assert next_free() == at(8, day=1)  # Tuesday's first slot
        assert set(refreshed) == {D1}
        # A redelivered event recomputes the same summary: nothing changes.
        assert relay.run_once().claimed == 0
        refresher.handle("again", AvailabilityChanged(occurred_at=clock.now(), doctor_id=D1))
        assert next_free() == at(8, day=1)
