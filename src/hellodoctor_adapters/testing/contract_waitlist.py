"""The waitlist contract (issue 17 item 1): what every storage keeps of an entry, in join
order, written at the version read; and the offer -- the entry's move to ``offered`` and the
freed time's hold -- landing together or not at all, to exactly one waiting patient.

Part of each storage's contract module; needs only ``uow_factory``. The real races (two
cancellations offering to one entry at once) are in ``tests/contract/test_waitlist_race.py``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
from attrs import evolve

from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.testing.contract_events import Outbox
from hellodoctor_adapters.testing.fixtures import MONDAY, at, doctor, every_day, patient, state_of
from hellodoctor_domain.errors import ConcurrencyError, HoldExpired, IllegalTransition, NotFound
from hellodoctor_domain.model.appointment import AppointmentStatus
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    DoctorId,
    Money,
    PatientId,
    TimeRange,
    UserId,
)
from hellodoctor_domain.model.waitlist import (
    DayPart,
    WaitlistEntry,
    WaitlistEntryId,
    WaitlistStatus,
)
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.scheduling import BookingRequest, Scheduling
from hellodoctor_domain.use_cases.waitlist import JoinRequest, Waitlist, WaitlistSettings

ADMIN = Actor.admin(UserId("admin"))
OFFER_FOR = timedelta(minutes=15)


def entry(key: str, patient_key: str = "p1", joined_minute: int = 0) -> WaitlistEntry:
    return WaitlistEntry(
        id=WaitlistEntryId(key),
        patient_id=PatientId(patient_key),
        doctor_id=DoctorId("d1"),
        first_day=date(2030, 1, 7),
        last_day=date(2030, 1, 9),
        window_start=8 * 60,
        window_end=12 * 60,
        joined_at=MONDAY + timedelta(minutes=joined_minute),
    )


def open_clinic(
    uow_factory: UnitOfWorkFactory, fee: Money | None = None
) -> tuple[Scheduling, Waitlist, ManualClock]:
    """Doctor ``d1`` (UTC, 30-minute slots 08:00-18:00, the fee given), patients p1-p3; the
    clock at 06:00 on MONDAY."""
    clock = ManualClock(at(6))
    scheduling = Scheduling(uow_factory, clock, SequentialIds("apt"), OfflinePaymentGateway())
    scheduling.register_doctor(ADMIN, doctor("d1", fee or Money(0, "EUR")))
    scheduling.define_availability(
        ADMIN, every_day(DoctorId("d1"), slot_length=timedelta(minutes=30))
    )
    for key in ("p1", "p2", "p3"):
        scheduling.register_patient(patient(key))
    waitlist = Waitlist(uow_factory, clock, SequentialIds("wl"), WaitlistSettings(OFFER_FOR))
    return scheduling, waitlist, clock


def join(waitlist: Waitlist, patient_key: str, part: DayPart = DayPart.MORNING) -> WaitlistEntry:
    start, end = part.minutes
    return waitlist.join(
        Actor.patient(PatientId(patient_key)),
        JoinRequest(
            patient_id=PatientId(patient_key),
            doctor_id=DoctorId("d1"),
            first_day=date(2030, 1, 8),
            last_day=date(2030, 1, 10),
            window_start=start,
            window_end=end,
        ),
    )


def book(scheduling: Scheduling, patient_key: str, hour: int, day: int = 1) -> TimeRange:
    booked = scheduling.book(
        Actor.patient(PatientId(patient_key)),
        BookingRequest(
            doctor_id=DoctorId("d1"), patient_id=PatientId(patient_key), start=at(hour, day=day)
        ),
    )
    return booked.time


class WaitlistStorageContract:
    def test_an_entry_round_trips_and_is_written_at_the_version_read(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        open_clinic(uow_factory)
        made = entry("w1")
        with uow_factory() as uow:
            uow.waitlist.add(made)
            uow.commit()
        with uow_factory() as uow:
            read = uow.waitlist.get(WaitlistEntryId("w1"))
        assert state_of(read) == state_of(made)
        time = TimeRange.starting_at(at(9, day=1), timedelta(minutes=30))
        offered = evolve(read)
        offered.offer(AppointmentId("any"), time, at(6, 15), at(6))  # storage does not check it
        with uow_factory() as uow:
            uow.waitlist.update(offered)
            uow.commit()
        with pytest.raises(ConcurrencyError), uow_factory() as uow:
            uow.waitlist.update(evolve(read, status=WaitlistStatus.LEFT))  # read before
            uow.commit()
        with uow_factory() as uow:
            stored = uow.waitlist.get(WaitlistEntryId("w1"))
        assert state_of(stored) == state_of(evolve(offered, version=2))
        assert stored.offered_time == time
        assert stored.offer_expires_at == at(6, 15)
        with pytest.raises(NotFound), uow_factory() as uow:
            uow.waitlist.get(WaitlistEntryId("nobody"))

    def test_entries_come_in_join_order_and_filter(self, uow_factory: UnitOfWorkFactory) -> None:
        open_clinic(uow_factory)
        with uow_factory() as uow:
            # Added out of join order; w3 joined first.
            uow.waitlist.add(entry("w1", "p1", joined_minute=5))
            uow.waitlist.add(entry("w2", "p2", joined_minute=9))
            uow.waitlist.add(entry("w3", "p2", joined_minute=1))
            uow.commit()
        with uow_factory() as uow:
            waiting = [e.id.value for e in uow.waitlist.waiting_for(DoctorId("d1"))]
            of_p2 = [e.id.value for e in uow.waitlist.search(patient_id=PatientId("p2"))]
            w2 = uow.waitlist.get(WaitlistEntryId("w2"))
            w2.leave(at(7))
            uow.waitlist.update(w2)
            uow.commit()
        assert waiting == ["w3", "w1", "w2"]
        assert of_p2 == ["w3", "w2"]
        with uow_factory() as uow:
            assert [e.id.value for e in uow.waitlist.waiting_for(DoctorId("d1"))] == ["w3", "w1"]
            left = uow.waitlist.search(statuses=frozenset({WaitlistStatus.LEFT}))
            assert [e.id.value for e in left] == ["w2"]
            assert uow.waitlist.search(doctor_id=DoctorId("d2")) == []

    def test_a_freed_time_is_offered_to_the_first_matching_patient_as_a_hold(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        scheduling, waitlist, clock = open_clinic(uow_factory)
        time = book(scheduling, "p3", 9)
        join(waitlist, "p1", DayPart.AFTERNOON)  # first, but waits for afternoons
        second = join(waitlist, "p2")
        join(waitlist, "p3")
        assert waitlist.offer_freed(DoctorId("d1"), time) is None  # not free yet
        with uow_factory() as uow:
            (booked,) = uow.appointments.for_doctor(DoctorId("d1"), time)
        scheduling.cancel(Actor.patient(PatientId("p3")), booked.id)
        offered = waitlist.offer_freed(DoctorId("d1"), time)
        assert offered is not None
        assert offered.id == second.id
        assert offered.offer_expires_at == clock.now() + OFFER_FOR
        with uow_factory() as uow:
            stored = uow.waitlist.get(second.id)
            assert stored.offered_appointment_id is not None
            hold = uow.appointments.get(stored.offered_appointment_id)
            assert uow.waitlist.offered_with(hold.id) is not None
        assert (hold.status, hold.patient_id, hold.time) == (
            AppointmentStatus.HELD,
            PatientId("p2"),
            time,
        )
        assert hold.hold_expires_at == stored.offer_expires_at
        # The time is held: offering it again (a redelivered event) offers nothing.
        assert waitlist.offer_freed(DoctorId("d1"), time) is None
        with uow_factory() as uow:
            assert uow.waitlist.get(WaitlistEntryId("wl-3")).status is WaitlistStatus.WAITING

    def test_an_entry_is_offered_one_time_only(self, uow_factory: UnitOfWorkFactory) -> None:
        scheduling, waitlist, _ = open_clinic(uow_factory)
        first, second = book(scheduling, "p3", 9), book(scheduling, "p3", 10)
        only = join(waitlist, "p1")
        for start in (first, second):
            with uow_factory() as uow:
                (booked,) = uow.appointments.for_doctor(DoctorId("d1"), start)
            scheduling.cancel(ADMIN, booked.id)
        assert waitlist.offer_freed(DoctorId("d1"), first) is not None
        assert waitlist.offer_freed(DoctorId("d1"), second) is None  # nobody else waits
        with uow_factory() as uow:
            held = [
                a
                for a in uow.appointments.for_patient(PatientId("p1"))
                if a.status is AppointmentStatus.HELD
            ]
            assert [a.time for a in held] == [first]
            assert uow.waitlist.get(only.id).offered_time == first

    def test_a_busy_patient_is_passed_over(self, uow_factory: UnitOfWorkFactory) -> None:
        scheduling, waitlist, _ = open_clinic(uow_factory)
        time = book(scheduling, "p3", 9)
        scheduling.register_doctor(ADMIN, doctor("d2"))
        scheduling.define_availability(
            ADMIN, every_day(DoctorId("d2"), slot_length=timedelta(minutes=30))
        )
        # p1 sees another doctor at that very time.
        scheduling.book(
            Actor.patient(PatientId("p1")),
            BookingRequest(doctor_id=DoctorId("d2"), patient_id=PatientId("p1"), start=time.start),
        )
        join(waitlist, "p1")
        join(waitlist, "p2")
        with uow_factory() as uow:
            (booked,) = uow.appointments.for_doctor(DoctorId("d1"), time)
        scheduling.cancel(ADMIN, booked.id)
        offered = waitlist.offer_freed(DoctorId("d1"), time)
        assert offered is not None
        assert offered.patient_id == PatientId("p2")

    def test_accept_books_and_decline_offers_to_the_next(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        scheduling, waitlist, clock = open_clinic(uow_factory)
        time = book(scheduling, "p3", 9)
        first, second = join(waitlist, "p1"), join(waitlist, "p2")
        with uow_factory() as uow:
            (booked,) = uow.appointments.for_doctor(DoctorId("d1"), time)
        scheduling.cancel(ADMIN, booked.id)
        waitlist.offer_freed(DoctorId("d1"), time)
        p1, p2 = Actor.patient(PatientId("p1")), Actor.patient(PatientId("p2"))
        with pytest.raises(NotFound):
            waitlist.decline(p2, first.id)  # someone else's entry does not exist for them
        assert waitlist.decline(p1, first.id).status is WaitlistStatus.DECLINED
        with pytest.raises(IllegalTransition):
            waitlist.accept(p1, first.id)
        # The declined hold is cancelled; its cancellation's event offers it to p2.
        assert waitlist.offer_freed(DoctorId("d1"), time) is not None
        clock.advance(timedelta(minutes=5))
        appointment = waitlist.accept(p2, second.id)
        assert appointment.status is AppointmentStatus.BOOKED  # a free visit: booked at once
        with uow_factory() as uow:
            assert uow.waitlist.get(second.id).status is WaitlistStatus.BOOKED
            assert uow.appointments.get(appointment.id).status is AppointmentStatus.BOOKED

    def test_a_lapsed_offer_expires_and_a_paid_offer_stays_held_until_paid(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        scheduling, waitlist, clock = open_clinic(uow_factory, Money(4000, "EUR"))
        early, late = book(scheduling, "p3", 9), book(scheduling, "p3", 10)
        first, second = join(waitlist, "p1"), join(waitlist, "p2")
        for time in (early, late):
            with uow_factory() as uow:
                (held,) = uow.appointments.for_doctor(DoctorId("d1"), time)
            scheduling.cancel(ADMIN, held.id)
            waitlist.offer_freed(DoctorId("d1"), time)
        accepted = waitlist.accept(Actor.patient(PatientId("p2")), second.id)
        assert accepted.status is AppointmentStatus.HELD  # paid through POST /payments
        clock.advance(OFFER_FOR)
        assert waitlist.lapse_offers() == [first.id]
        with pytest.raises(IllegalTransition):
            waitlist.accept(Actor.patient(PatientId("p1")), first.id)
        with uow_factory() as uow:
            assert uow.waitlist.get(first.id).status is WaitlistStatus.EXPIRED
            assert uow.waitlist.get(second.id).status is WaitlistStatus.BOOKED
            assert uow.waitlist.lapsed_offers(clock.now(), 10) == []

    def test_accepting_after_the_hold_lapsed_is_refused(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        scheduling, waitlist, clock = open_clinic(uow_factory, Money(4000, "EUR"))
        time = book(scheduling, "p3", 9)
        waiting = join(waitlist, "p1")
        with uow_factory() as uow:
            (held,) = uow.appointments.for_doctor(DoctorId("d1"), time)
        scheduling.cancel(ADMIN, held.id)
        waitlist.offer_freed(DoctorId("d1"), time)
        clock.advance(OFFER_FOR)
        with pytest.raises(HoldExpired):
            waitlist.accept(Actor.patient(PatientId("p1")), waiting.id)
        with uow_factory() as uow:
            assert uow.waitlist.get(waiting.id).status is WaitlistStatus.EXPIRED
        # The expiry sweep frees the hold; its event offers the time on (nobody waits).
        assert len(scheduling.expire_holds()) == 1
        assert waitlist.offer_freed(DoctorId("d1"), time) is None

    def test_the_offer_event_is_written_with_the_hold(
        self, uow_factory: UnitOfWorkFactory, outbox: Outbox
    ) -> None:
        scheduling, waitlist, _ = open_clinic(uow_factory)
        time = book(scheduling, "p3", 9)
        join(waitlist, "p1")
        with uow_factory() as uow:
            (booked,) = uow.appointments.for_doctor(DoctorId("d1"), time)
        scheduling.cancel(ADMIN, booked.id)
        offered = waitlist.offer_freed(DoctorId("d1"), time)
        assert offered is not None
        assert offered.offered_appointment_id is not None
        hold = offered.offered_appointment_id.value
        assert ("appointment", hold, "AppointmentOffered") in outbox()
        assert ("appointment", hold, "AppointmentHeld") not in outbox()  # one notice, the offer

    def test_the_worker_sweep_passes_a_lapsed_offer_on_once(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        scheduling, waitlist, clock = open_clinic(uow_factory)
        time = book(scheduling, "p3", 9)
        first, second = join(waitlist, "p1"), join(waitlist, "p2")
        with uow_factory() as uow:
            (booked,) = uow.appointments.for_doctor(DoctorId("d1"), time)
        scheduling.cancel(ADMIN, booked.id)
        offered = waitlist.offer_freed(DoctorId("d1"), time)
        assert offered is not None
        assert offered.id == first.id
        assert waitlist.sweep_lapsed_offers() == []  # the offer still runs
        clock.advance(OFFER_FOR)
        # Four workers at once: one lapses the offer and offers the time to the next patient.
        with ThreadPoolExecutor(max_workers=4) as pool:
            swept = [
                made
                for done in pool.map(lambda _: waitlist.sweep_lapsed_offers(), range(4))
                for made in done
            ]
        assert swept == [second.id]
        assert waitlist.sweep_lapsed_offers() == []
        with uow_factory() as uow:
            assert uow.waitlist.get(first.id).status is WaitlistStatus.EXPIRED
            assert uow.waitlist.get(second.id).status is WaitlistStatus.OFFERED
            holds = uow.appointments.for_doctor(DoctorId("d1"), time, active_only=False)
        assert sorted((a.patient_id.value, a.status) for a in holds if a.id != booked.id) == [
            ("p1", AppointmentStatus.EXPIRED),
            ("p2", AppointmentStatus.HELD),
        ]
