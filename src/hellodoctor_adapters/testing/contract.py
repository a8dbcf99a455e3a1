"""The storage contract: what every unit of work and its repositories must do.

Subclass ``UnitOfWorkContract`` and override the ``uow_factory`` fixture to return a factory
over a fresh, empty, isolated store, and the ``outbox`` fixture (see ``contract_events``).
Refusals (``AlreadyExists``, ``ConcurrencyError``, ``SlotUnavailable``, ``NotFound`` for a
missing reference) may surface at the write or at ``commit``: the suite accepts either. The
factory is called from several threads at once by the race tests, so each call must give an
independent unit of work (its own connection).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest

from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.testing.contract_accounts import AccountsAndQueriesContract
from hellodoctor_adapters.testing.contract_analytics import AnalyticsContract, UtilisationContract
from hellodoctor_adapters.testing.contract_clinic_day import ClinicDayStorageContract
from hellodoctor_adapters.testing.contract_desk_changes import DeskChangesContract
from hellodoctor_adapters.testing.contract_documents import DocumentStorageContract
from hellodoctor_adapters.testing.contract_events import DomainEventsContract
from hellodoctor_adapters.testing.contract_failures import StoredValuesContract
from hellodoctor_adapters.testing.contract_front_desk import FrontDeskStorageContract
from hellodoctor_adapters.testing.contract_hospitals import (
    AffiliationContract,
    HospitalStorageContract,
    TransferStorageContract,
)
from hellodoctor_adapters.testing.contract_insurance import (
    ClaimAttachmentsContract,
    InsuranceStorageContract,
)
from hellodoctor_adapters.testing.contract_payments import PaymentStorageContract
from hellodoctor_adapters.testing.contract_preferences import PreferenceStorageContract
from hellodoctor_adapters.testing.contract_profiles import ProfileStorageContract
from hellodoctor_adapters.testing.contract_reviews import ReviewStorageContract
from hellodoctor_adapters.testing.contract_series import SeriesStorageContract
from hellodoctor_adapters.testing.contract_sites import (
    AdmissionRecordsContract,
    HospitalSitesContract,
)
from hellodoctor_adapters.testing.contract_walk_in import WalkInClaimContract
from hellodoctor_adapters.testing.fixtures import (
    MONDAY,
    appointment,
    at,
    doctor,
    every_day,
    patient,
    seed,
    state_of,
)
from hellodoctor_domain import (
    Actor,
    AppointmentId,
    AppointmentStatus,
    BookingRequest,
    Cancellation,
    DoctorId,
    Money,
    PatientId,
    Role,
    Scheduling,
    TimeRange,
    UserId,
)
from hellodoctor_domain.errors import (
    AlreadyExists,
    ConcurrencyError,
    NotFound,
    SlotUnavailable,
)
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory

WIDE = TimeRange(MONDAY - timedelta(days=2), MONDAY + timedelta(days=30))


def _stored(uow_factory: UnitOfWorkFactory, key: str) -> Any:
    with uow_factory() as uow:
        return uow.appointments.get(AppointmentId(key))


def _add(uow_factory: UnitOfWorkFactory, *appointments: Any) -> None:
    with uow_factory() as uow:
        for item in appointments:
            uow.appointments.add(item)
        uow.commit()


class UnitOfWorkContract(
    ProfileStorageContract,
    AccountsAndQueriesContract,
    PaymentStorageContract,
    StoredValuesContract,
    DomainEventsContract,
    DocumentStorageContract,
    HospitalStorageContract,
    TransferStorageContract,
    InsuranceStorageContract,
    AffiliationContract,
    ReviewStorageContract,
    AnalyticsContract,
    UtilisationContract,
    HospitalSitesContract,
    ClaimAttachmentsContract,
    AdmissionRecordsContract,
    PreferenceStorageContract,
    ClinicDayStorageContract,
    SeriesStorageContract,
    FrontDeskStorageContract,
    DeskChangesContract,
    WalkInClaimContract,
):
    """Behaviour suite for storage adapters. Override ``uow_factory`` and ``outbox``."""

    @pytest.fixture
    def uow_factory(self) -> UnitOfWorkFactory:
        raise NotImplementedError("override the uow_factory fixture with your adapter's factory")

    @pytest.fixture
    def seeded(self, uow_factory: UnitOfWorkFactory) -> UnitOfWorkFactory:
        seed(uow_factory)
        return uow_factory

    # -- transactions ----------------------------------------------------------------------

    def test_leaving_without_commit_rolls_back(self, seeded: UnitOfWorkFactory) -> None:
        with seeded() as uow:
            uow.doctors.add(doctor("d8"))
            uow.appointments.add(appointment("a1", at(9)))
        with pytest.raises(RuntimeError), seeded() as uow:
            uow.patients.add(patient("p8"))
            raise RuntimeError("the request failed half-way")
        with seeded() as uow:
            with pytest.raises(NotFound):
                uow.doctors.get(DoctorId("d8"))
            with pytest.raises(NotFound):
                uow.patients.get(PatientId("p8"))
            with pytest.raises(NotFound):
                uow.appointments.get(AppointmentId("a1"))
        # ...and the rolled-back appointment does not block its time.
        _add(seeded, appointment("a2", at(9)))

    def test_a_refused_write_leaves_the_rest_of_the_transaction_usable_only_to_roll_back(
        self, seeded: UnitOfWorkFactory
    ) -> None:
        _add(seeded, appointment("a1", at(9)))
        with pytest.raises(SlotUnavailable), seeded() as uow:
            uow.appointments.add(appointment("a2", at(11), patient_key="p2"))
            uow.appointments.add(appointment("a3", at(9), patient_key="p3"))
            uow.commit()
        with seeded() as uow, pytest.raises(NotFound):
            uow.appointments.get(AppointmentId("a2"))

    # -- appointments: storage ---------------------------------------------------------------

    def test_appointment_round_trips_with_every_field(self, seeded: UnitOfWorkFactory) -> None:
        held = appointment(
            "a1",
            at(9, 30),
            45,
            buffer_minutes=10,
            price=Money(2500, "EUR"),
            status=AppointmentStatus.HELD,
            hold_expires_at=at(8, 15),
        )
        held.reason = "chest pain, 2 days"
        _add(seeded, held)
        assert held.version == 1
        stored = _stored(seeded, "a1")
        assert state_of(stored) == state_of(held)
        assert stored.time.start.tzinfo is not None
        assert stored.blocked == TimeRange(at(9, 30), at(10, 25))

        stored.cancel(Cancellation(Role.PATIENT, UserId("u1"), "better", at(8), Money(0, "EUR")))
        with seeded() as uow:
            uow.appointments.update(stored)
            uow.commit()
        assert state_of(_stored(seeded, "a1")) == state_of(stored)
        assert stored.version == 2

    def test_appointment_ids_are_unique(self, seeded: UnitOfWorkFactory) -> None:
        _add(seeded, appointment("a1", at(9)))
        with pytest.raises(AlreadyExists):
            _add(seeded, appointment("a1", at(14), patient_key="p2"))

    def test_appointment_needs_a_known_doctor_and_patient(self, seeded: UnitOfWorkFactory) -> None:
        with pytest.raises(NotFound):
            _add(seeded, appointment("a1", at(9), doctor_key="ghost"))
        with pytest.raises(NotFound):
            _add(seeded, appointment("a2", at(9), patient_key="ghost"))

    def test_appointment_update_is_compare_and_set(self, seeded: UnitOfWorkFactory) -> None:
        _add(seeded, appointment("a1", at(9)))
        first, second = _stored(seeded, "a1"), _stored(seeded, "a1")
        first.complete(at(9, 5))
        with seeded() as uow:
            uow.appointments.update(first)
            uow.commit()
        second.mark_no_show(at(9, 5))
        with pytest.raises(ConcurrencyError), seeded() as uow:
            uow.appointments.update(second)
            uow.commit()
        assert _stored(seeded, "a1").status is AppointmentStatus.COMPLETED

    # -- appointments: the no-overlap guarantee ----------------------------------------------

    @pytest.mark.parametrize(
        ("start", "minutes", "buffer"),
        [
            pytest.param((9, 0), 30, 0, id="same-slot"),
            pytest.param((9, 15), 30, 0, id="starts-inside"),
            pytest.param((8, 45), 30, 0, id="ends-inside"),
            pytest.param((9, 10), 10, 0, id="inside"),
            pytest.param((8, 30), 90, 0, id="around"),
            pytest.param((9, 35), 30, 0, id="inside-existing-buffer"),
            pytest.param((8, 25), 30, 10, id="own-buffer-reaches-existing"),
        ],
    )
    def test_doctor_cannot_be_double_booked(
        self, seeded: UnitOfWorkFactory, start: tuple[int, int], minutes: int, buffer: int
    ) -> None:
        _add(seeded, appointment("a1", at(9), 30, buffer_minutes=10))
        clash = appointment("a2", at(*start), minutes, patient_key="p2", buffer_minutes=buffer)
        with pytest.raises(SlotUnavailable):
            _add(seeded, clash)
        with seeded() as uow, pytest.raises(NotFound):
            uow.appointments.get(AppointmentId("a2"))

    @pytest.mark.parametrize(
        ("start", "minutes", "buffer", "doctor_key"),
        [
            pytest.param((9, 40), 30, 0, "d1", id="right-after-buffer"),
            pytest.param((8, 30), 30, 0, "d1", id="ends-as-existing-starts"),
            pytest.param((8, 20), 30, 10, "d1", id="own-buffer-ends-as-existing-starts"),
            pytest.param((9, 0), 30, 0, "d2", id="same-time-other-doctor"),
        ],
    )
    def test_doctor_times_that_only_touch_are_both_kept(
        self,
        seeded: UnitOfWorkFactory,
        start: tuple[int, int],
        minutes: int,
        buffer: int,
        doctor_key: str,
    ) -> None:
        _add(seeded, appointment("a1", at(9), 30, buffer_minutes=10))
        _add(
            seeded,
            appointment(
                "a2",
                at(*start),
                minutes,
                patient_key="p2",
                buffer_minutes=buffer,
                doctor_key=doctor_key,
            ),
        )
        assert _stored(seeded, "a2").status is AppointmentStatus.BOOKED

    def test_patient_cannot_be_in_two_places(self, seeded: UnitOfWorkFactory) -> None:
        _add(seeded, appointment("a1", at(9), 30, doctor_key="d1", buffer_minutes=10))
        with pytest.raises(SlotUnavailable):
            _add(seeded, appointment("a2", at(9, 15), 30, doctor_key="d2"))
        # The doctor's buffer is the doctor's: the patient may start elsewhere at 09:30.
        _add(seeded, appointment("a3", at(9, 30), 30, doctor_key="d2"))

    @pytest.mark.parametrize(
        "finish",
        [
            pytest.param(
                lambda a: a.cancel(
                    Cancellation(Role.ADMIN, UserId("u"), "", at(7), Money(0, "EUR"))
                ),
                id="cancelled",
            ),
            pytest.param(lambda a: a.complete(at(9, 1)), id="completed"),
            pytest.param(lambda a: a.mark_no_show(at(9, 1)), id="no-show"),
        ],
    )
    def test_finished_appointments_free_their_time(
        self, seeded: UnitOfWorkFactory, finish: Callable[[Any], None]
    ) -> None:
        _add(seeded, appointment("a1", at(9)))
        stored = _stored(seeded, "a1")
        finish(stored)
        with seeded() as uow:
            uow.appointments.update(stored)
            uow.commit()
        _add(seeded, appointment("a2", at(9), patient_key="p1"))

    def test_expired_hold_frees_its_time(self, seeded: UnitOfWorkFactory) -> None:
        _add(seeded, appointment("a1", at(9), status=AppointmentStatus.HELD, hold_expires_at=at(7)))
        with pytest.raises(SlotUnavailable):  # still held: storage does not look at clocks
            _add(seeded, appointment("a2", at(9), patient_key="p2"))
        stored = _stored(seeded, "a1")
        stored.expire(at(7))
        with seeded() as uow:
            uow.appointments.update(stored)
            uow.commit()
        _add(seeded, appointment("a2", at(9), patient_key="p2"))

    def test_moving_onto_a_taken_time_is_refused_and_changes_nothing(
        self, seeded: UnitOfWorkFactory
    ) -> None:
        _add(seeded, appointment("a1", at(9)), appointment("a2", at(11), patient_key="p2"))
        moving = _stored(seeded, "a2")
        moving.reschedule(TimeRange.starting_at(at(9, 15), timedelta(minutes=30)), at(7))
        with pytest.raises(SlotUnavailable), seeded() as uow:
            uow.appointments.update(moving)
            uow.commit()
        assert _stored(seeded, "a2").time.start == at(11)

    def test_moving_over_its_own_old_time_is_allowed(self, seeded: UnitOfWorkFactory) -> None:
        _add(seeded, appointment("a1", at(9), buffer_minutes=10))
        moving = _stored(seeded, "a1")
        moving.reschedule(TimeRange.starting_at(at(9, 15), timedelta(minutes=30)), at(7))
        with seeded() as uow:
            uow.appointments.update(moving)
            uow.commit()
        assert _stored(seeded, "a1").time.start == at(9, 15)
        # ...and the time it left is free again.
        _add(seeded, appointment("a2", at(8, 30), 30, patient_key="p2"))

    # -- appointments: queries ---------------------------------------------------------------

    def test_doctor_calendar_query(self, seeded: UnitOfWorkFactory) -> None:
        _add(
            seeded,
            appointment("late", at(15), patient_key="p1", buffer_minutes=15),
            appointment("early", at(9), patient_key="p2"),
            appointment("other-doctor", at(10), doctor_key="d2", patient_key="p3"),
            appointment("next-day", at(9, day=1), patient_key="p2"),
        )
        cancelled = appointment("gone", at(12), patient_key="p3")
        cancelled.cancel(Cancellation(Role.ADMIN, UserId("u"), "", at(7), Money(0, "EUR")))
        _add(seeded, cancelled)
        with seeded() as uow:
            today = TimeRange(at(0), at(24))
            ids = [a.id.value for a in uow.appointments.for_doctor(DoctorId("d1"), today)]
            everything = uow.appointments.for_doctor(DoctorId("d1"), today, active_only=False)
            # 15:30-15:45 is only the buffer of "late", and the buffer belongs to the doctor.
            in_buffer = uow.appointments.for_doctor(
                DoctorId("d1"), TimeRange(at(15, 35), at(15, 40))
            )
        assert ids == ["early", "late"]
        assert [a.id.value for a in everything] == ["early", "gone", "late"]
        assert [a.id.value for a in in_buffer] == ["late"]

    def test_busy_times_are_what_a_slot_listing_must_avoid(self, seeded: UnitOfWorkFactory) -> None:
        cancelled = appointment("gone", at(12), patient_key="p3")
        cancelled.cancel(Cancellation(Role.ADMIN, UserId("u"), "", at(7), Money(0, "EUR")))
        held = AppointmentStatus.HELD
        _add(
            seeded,
            appointment("late", at(15), patient_key="p1", buffer_minutes=15),
            appointment("early", at(9), patient_key="p2"),
            appointment("other-doctor", at(10), doctor_key="d2", patient_key="p3"),
            appointment("next-day", at(9, day=1), patient_key="p2"),
            appointment("lapsed", at(11), patient_key="p1", status=held, hold_expires_at=at(7)),
            appointment("held", at(13), patient_key="p1", status=held, hold_expires_at=at(9)),
            cancelled,
        )
        today, d1 = TimeRange(at(0), at(24)), DoctorId("d1")
        with seeded() as uow:
            busy = uow.appointments.busy_times(d1, today, at(8))
            # 15:30-15:45 is only the buffer of "late", and the buffer belongs to the doctor.
            in_buffer = uow.appointments.busy_times(d1, TimeRange(at(15, 35), at(15, 40)), at(8))
            # A hold stops occupying its time the instant it lapses.
            at_expiry = uow.appointments.busy_times(d1, today, at(9))
            # The unit of work's own writes count, as they would for the write that follows.
            uow.appointments.add(appointment("mine", at(16), patient_key="p3"))
            with_mine = uow.appointments.busy_times(d1, today, at(8))
            reference = [
                a.blocked for a in uow.appointments.for_doctor(d1, today) if a.blocks_time_at(at(8))
            ]
        minutes = timedelta(minutes=30)
        early, late = TimeRange(at(9), at(9) + minutes), TimeRange(at(15), at(15, 45))
        hold = TimeRange(at(13), at(13) + minutes)
        assert busy == [early, hold, late]
        assert in_buffer == [late]
        assert at_expiry == [early, late]
        assert with_mine == [early, hold, late, TimeRange(at(16), at(16) + minutes)]
        assert with_mine == reference

    def test_patient_history_query(self, seeded: UnitOfWorkFactory) -> None:
        done = appointment("done", at(9), patient_key="p1")
        done.complete(at(9, 30))
        _add(
            seeded,
            done,
            appointment("soon", at(9, day=2), doctor_key="d2", patient_key="p1"),
            appointment("theirs", at(10), patient_key="p2"),
        )
        with seeded() as uow:
            history = uow.appointments.for_patient(PatientId("p1"))
            upcoming = uow.appointments.for_patient(PatientId("p1"), active_only=True)
            day_two = uow.appointments.for_patient(
                PatientId("p1"), TimeRange(at(0, day=2), at(0, day=3))
            )
        assert [a.id.value for a in history] == ["done", "soon"]
        assert [a.id.value for a in upcoming] == ["soon"]
        assert [a.id.value for a in day_two] == ["soon"]

    def test_lapsed_holds_are_listed_oldest_first(self, seeded: UnitOfWorkFactory) -> None:
        _add(
            seeded,
            appointment(
                "h2",
                at(10),
                patient_key="p1",
                status=AppointmentStatus.HELD,
                hold_expires_at=at(7, 30),
            ),
            appointment(
                "h1",
                at(11),
                patient_key="p2",
                status=AppointmentStatus.HELD,
                hold_expires_at=at(7, 0),
            ),
            appointment(
                "fresh",
                at(12),
                patient_key="p3",
                status=AppointmentStatus.HELD,
                hold_expires_at=at(9),
            ),
            appointment("paid", at(13), patient_key="p1"),
        )
        with seeded() as uow:
            assert [a.id.value for a in uow.appointments.lapsed_holds(at(8), 10)] == ["h1", "h2"]
            assert [a.id.value for a in uow.appointments.lapsed_holds(at(8), 1)] == ["h1"]

    def test_commit_hands_events_to_the_publisher_only_once(
        self, seeded: UnitOfWorkFactory
    ) -> None:
        fresh = appointment("a1", at(9))
        fresh.events.clear()
        _add(seeded, fresh)
        with seeded() as uow:
            stored = uow.appointments.get(AppointmentId("a1"))
            stored.complete(at(9, 30))
            uow.appointments.update(stored)
            uow.commit()
            assert stored.events == []  # collected by the commit, not left to publish again

    # -- races through the use cases -----------------------------------------------------------

    def _scheduling(self, uow_factory: UnitOfWorkFactory, slot_minutes: int = 15) -> Scheduling:
        seed(uow_factory, doctors=1, patients=40)
        clock = ManualClock(MONDAY)
        scheduling = Scheduling(uow_factory, clock, SequentialIds("race"), OfflinePaymentGateway())
        scheduling.define_availability(
            Actor.admin(UserId("admin")),
            every_day(
                DoctorId("d1"),
                slot_length=timedelta(minutes=slot_minutes),
                minimum_notice=timedelta(0),
                max_slots_per_visit=4,
            ),
        )
        return scheduling

    @staticmethod
    def _race(attempts: list[Callable[[], Any]]) -> list[Any]:
        """Run every attempt at once from its own thread; return results or the errors."""
        barrier = threading.Barrier(len(attempts))

        def run(attempt: Callable[[], Any]) -> Any:
            barrier.wait()
            try:
                return attempt()
            except Exception as error:  # the result under test
                return error

        with ThreadPoolExecutor(max_workers=len(attempts)) as pool:
            return list(pool.map(run, attempts))

    def test_many_threads_booking_one_slot_make_exactly_one_appointment(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        scheduling = self._scheduling(uow_factory)

        def book(index: int) -> Callable[[], Any]:
            patient_id = PatientId(f"p{index}")
            return lambda: scheduling.book(
                Actor.patient(patient_id),
                BookingRequest(doctor_id=DoctorId("d1"), patient_id=patient_id, start=at(9)),
            )

        results = self._race([book(index) for index in range(1, 17)])
        winners = [r for r in results if not isinstance(r, Exception)]
        assert len(winners) == 1, results
        assert all(isinstance(r, SlotUnavailable) for r in results if r not in winners), results
        with uow_factory() as uow:
            stored = uow.appointments.for_doctor(DoctorId("d1"), WIDE)
        assert [a.id for a in stored] == [winners[0].id]

    def test_many_threads_booking_overlapping_times_keep_the_calendar_disjoint(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        scheduling = self._scheduling(uow_factory)
        # Thirty-minute visits starting every 15 minutes from 09:00: each overlaps its
        # neighbours, so at most every other one can win.
        requests = [(index, at(9, 15 * (index % 8))) for index in range(1, 33)]

        def book(index: int, start: Any) -> Callable[[], Any]:
            patient_id = PatientId(f"p{index}")
            return lambda: scheduling.book(
                Actor.patient(patient_id),
                BookingRequest(
                    doctor_id=DoctorId("d1"),
                    patient_id=patient_id,
                    start=start,
                    length=timedelta(minutes=30),
                ),
            )

        results = self._race([book(index, start) for index, start in requests])
        assert all(isinstance(r, SlotUnavailable) for r in results if isinstance(r, Exception))
        winners = sorted(
            (r for r in results if not isinstance(r, Exception)), key=lambda a: a.time.start
        )
        for earlier, later in itertools.pairwise(winners):
            assert not earlier.blocked.overlaps(later.blocked), (earlier, later)
        # Exactly one winner per conflict: every refused request collides with a winner.
        for index, start in requests:
            wanted = TimeRange.starting_at(start, timedelta(minutes=30))
            assert any(w.blocked.overlaps(wanted) for w in winners), (index, start)
        with uow_factory() as uow:
            stored = uow.appointments.for_doctor(DoctorId("d1"), WIDE)
        assert sorted(a.id.value for a in stored) == sorted(w.id.value for w in winners)
