"""Booking with an idempotency key (an HTTP ``Idempotency-Key``): a retry returns the first
result and never books twice; the key is the sender's own; a key reused for another request is
refused. Over the in-memory adapters and a manual clock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from attrs import evolve

from hellodoctor_adapters.memory import (
    InMemoryStore,
    InMemoryUnitOfWork,
    InMemoryUnitOfWorkFactory,
    ManualClock,
    SequentialIds,
)
from hellodoctor_adapters.memory.storage import InMemoryIdempotencyRepository
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_domain.errors import (
    AccessDenied,
    IdempotencyKeyReused,
    OutsideAvailability,
    SlotUnavailable,
)
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.availability import Availability, LocalWindow, Weekday, WorkingDay
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentType,
    DoctorId,
    Money,
    PatientId,
    UserId,
)
from hellodoctor_domain.ports.scheduling import IdempotencyRecord
from hellodoctor_domain.use_cases.scheduling import BookingRequest, Scheduling

NOW = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)  # a Monday
TUESDAY = date(2026, 6, 2)
PAID = DoctorId("dr-paid")
FREE = DoctorId("dr-free")
ALICE = PatientId("pat-alice")
BOB = PatientId("pat-bob")
AS_ALICE = Actor.patient(ALICE, UserId("user-alice"))
AS_BOB = Actor.patient(BOB, UserId("user-bob"))
ADMIN = Actor.admin(UserId("admin"))
KEY = "2b1c9a54-retry-me"


def tuesday(clock: str) -> datetime:
    return datetime.combine(TUESDAY, time.fromisoformat(clock), tzinfo=UTC)


class Clinic:
    """Two doctors (one charging a fee) working weekdays 09:00-17:00 UTC, and two patients."""

    def __init__(self) -> None:
        self.clock = ManualClock(NOW)
        self.store = InMemoryStore()
        self.scheduling = Scheduling(
            InMemoryUnitOfWorkFactory(self.store),
            self.clock,
            SequentialIds("apt"),
            OfflinePaymentGateway(),
        )
        hours = [WorkingDay(day, [LocalWindow(time(9), time(17))]) for day in list(Weekday)[:5]]
        for doctor_id, fee in ((PAID, Money(6000, "EUR")), (FREE, Money.zero("EUR"))):
            self.scheduling.register_doctor(
                ADMIN, Doctor(doctor_id, f"Dr {doctor_id}", "GP", f"REG-{doctor_id}", fee, "UTC")
            )
            self.scheduling.define_availability(ADMIN, Availability(doctor_id, "UTC", hours))
        for patient_id in (ALICE, BOB):
            self.scheduling.register_patient(Patient(patient_id, f"Patient {patient_id}"))

    def appointments(self) -> list[Appointment]:
        return list(self.store.appointments.values())


def request(
    start: str = "10:00",
    *,
    patient: PatientId = ALICE,
    doctor: DoctorId = FREE,
    key: str | None = KEY,
    reason: str = "check-up",
) -> BookingRequest:
    return BookingRequest(
        doctor_id=doctor,
        patient_id=patient,
        start=tuesday(start),
        reason=reason,
        idempotency_key=key,
    )


@pytest.fixture
def clinic() -> Clinic:
    return Clinic()


def test_a_retry_with_the_same_key_returns_the_first_appointment(clinic: Clinic) -> None:
    first = clinic.scheduling.book(AS_ALICE, request())
    retry = clinic.scheduling.book(AS_ALICE, request())

    assert retry.id == first.id
    assert retry.time == first.time
    assert retry.status is first.status is AppointmentStatus.BOOKED
    assert [a.id for a in clinic.appointments()] == [first.id]


def test_a_retry_of_a_held_booking_returns_the_hold(clinic: Clinic) -> None:
    first = clinic.scheduling.book(AS_ALICE, request(doctor=PAID))
    retry = clinic.scheduling.book(AS_ALICE, request(doctor=PAID))
    assert first.status is AppointmentStatus.HELD
    assert retry.id == first.id
    assert retry.hold_expires_at == first.hold_expires_at
    assert len(clinic.appointments()) == 1


def test_without_a_key_a_repeat_is_a_second_booking_attempt(clinic: Clinic) -> None:
    """The control for the tests above: it is the key that makes the retry safe."""
    clinic.scheduling.book(AS_ALICE, request(key=None))
    with pytest.raises(SlotUnavailable):
        clinic.scheduling.book(AS_ALICE, request(key=None))
    assert len(clinic.appointments()) == 1


def test_a_retry_returns_the_appointment_as_it_is_now(clinic: Clinic) -> None:
    first = clinic.scheduling.book(AS_ALICE, request())
    clinic.scheduling.cancel(AS_ALICE, first.id, "changed my mind")
    retry = clinic.scheduling.book(AS_ALICE, request())
    assert retry.id == first.id
    assert retry.status is AppointmentStatus.CANCELLED
    assert len(clinic.appointments()) == 1


def test_a_late_retry_still_returns_the_first_result(clinic: Clinic) -> None:
    """Even when the booking rules would now refuse the time (it has passed)."""
    first = clinic.scheduling.book(AS_ALICE, request())
    clinic.clock.set(tuesday("11:00"))
    assert clinic.scheduling.book(AS_ALICE, request()).id == first.id


def test_the_same_instant_written_in_another_zone_is_the_same_request(clinic: Clinic) -> None:
    first = clinic.scheduling.book(AS_ALICE, request())
    in_paris = evolve(request(), start=tuesday("10:00").astimezone(ZoneInfo("Europe/Paris")))
    assert clinic.scheduling.book(AS_ALICE, in_paris).id == first.id


@pytest.mark.parametrize(
    "different",
    [
        request("11:00"),
        request(reason="something else"),
        request(doctor=PAID),
        evolve(request(), length=timedelta(hours=1)),
        evolve(request(), appointment_type=AppointmentType.TELEMEDICINE),
    ],
)
def test_the_same_key_for_a_different_request_is_refused(
    clinic: Clinic, different: BookingRequest
) -> None:
    first = clinic.scheduling.book(AS_ALICE, request())
    with pytest.raises(IdempotencyKeyReused):
        clinic.scheduling.book(AS_ALICE, different)
    assert [a.id for a in clinic.appointments()] == [first.id]


def test_keys_belong_to_their_sender(clinic: Clinic) -> None:
    alices = clinic.scheduling.book(AS_ALICE, request("10:00", patient=ALICE))
    bobs = clinic.scheduling.book(AS_BOB, request("11:00", patient=BOB))

    assert bobs.id != alices.id
    assert bobs.patient_id == BOB
    assert len(clinic.appointments()) == 2
    # And each key still replays for its own sender.
    assert clinic.scheduling.book(AS_BOB, request("11:00", patient=BOB)).id == bobs.id
    assert clinic.scheduling.book(AS_ALICE, request("10:00", patient=ALICE)).id == alices.id


def test_another_user_cannot_replay_someone_elses_key(clinic: Clinic) -> None:
    """Bob sending Alice's exact request and key is refused outright, not handed her booking."""
    clinic.scheduling.book(AS_ALICE, request())
    with pytest.raises(AccessDenied):
        clinic.scheduling.book(AS_BOB, request())


def test_an_admin_key_is_the_admins_own(clinic: Clinic) -> None:
    alices = clinic.scheduling.book(AS_ALICE, request("10:00"))
    # The admin books for Alice at another time with the same key: a separate booking.
    for_alice = clinic.scheduling.book(ADMIN, request("14:00"))
    assert for_alice.id != alices.id
    assert clinic.scheduling.book(ADMIN, request("14:00")).id == for_alice.id
    assert len(clinic.appointments()) == 2


def test_a_refused_request_does_not_use_up_the_key(clinic: Clinic) -> None:
    with pytest.raises(OutsideAvailability):
        clinic.scheduling.book(AS_ALICE, request("18:00"))
    assert clinic.store.idempotency == {}
    booked = clinic.scheduling.book(AS_ALICE, request("10:00"))
    assert clinic.scheduling.book(AS_ALICE, request("10:00")).id == booked.id


def test_a_request_that_loses_the_slot_does_not_use_up_the_key(clinic: Clinic) -> None:
    clinic.scheduling.book(AS_BOB, request("10:00", patient=BOB, key="bobs"))
    with pytest.raises(SlotUnavailable):
        clinic.scheduling.book(AS_ALICE, request("10:00"))
    assert clinic.store.idempotency.keys() == {("user-bob", "bobs")}


def test_sixteen_concurrent_retries_book_once_and_all_get_the_appointment(
    clinic: Clinic,
) -> None:
    threads = 16
    start = threading.Barrier(threads)

    def book(_: int) -> Appointment:
        start.wait()
        return clinic.scheduling.book(AS_ALICE, request())

    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(book, range(threads)))

    [stored] = clinic.appointments()
    assert {result.id for result in results} == {stored.id}
    [record] = clinic.store.idempotency.values()
    assert record.appointment_id == stored.id


def test_concurrent_different_requests_with_one_key_book_once(clinic: Clinic) -> None:
    starts = ["09:00", "10:00", "11:00", "13:00", "14:00", "15:00", "16:00", "16:30"]
    ready = threading.Barrier(len(starts))

    def book(start: str) -> Appointment | Exception:
        ready.wait()
        try:
            return clinic.scheduling.book(AS_ALICE, request(start))
        except IdempotencyKeyReused as refused:
            return refused

    with ThreadPoolExecutor(len(starts)) as pool:
        outcomes = list(pool.map(book, starts))

    booked = [o for o in outcomes if isinstance(o, Appointment)]
    [stored] = clinic.appointments()
    assert [b.id for b in booked] == [stored.id]
    assert sum(isinstance(o, IdempotencyKeyReused) for o in outcomes) == len(starts) - 1


class _LateRead(InMemoryIdempotencyRepository):
    """Makes the first look-up of a key miss a booking that another request commits at that
    very moment: the interleaving where a retry checks the key just before the first request
    commits. (The store's lock is reentrant, so the "other request" runs inside the look-up.)"""

    meanwhile: Callable[[], object] | None = None

    def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        other, _LateRead.meanwhile = _LateRead.meanwhile, None
        if other is None:
            return super().get(scope, key)
        other()
        return None  # what the look-up saw before the other request committed


class _LateReadUnitOfWork(InMemoryUnitOfWork):
    def _begin(self) -> None:
        super()._begin()
        self.idempotency = _LateRead(self._store, self._journal)


def _late_read_clinic() -> Clinic:
    clinic = Clinic()
    store = clinic.store
    clinic.scheduling = Scheduling(
        lambda: _LateReadUnitOfWork(store),
        clinic.clock,
        SequentialIds("late"),
        OfflinePaymentGateway(),
    )
    return clinic


def test_a_retry_that_checks_the_key_just_before_the_first_commits_gets_its_result() -> None:
    clinic = _late_read_clinic()
    first: list[Appointment] = []
    _LateRead.meanwhile = lambda: first.append(clinic.scheduling.book(AS_ALICE, request()))

    retry = clinic.scheduling.book(AS_ALICE, request())

    [stored] = clinic.appointments()
    assert [a.id for a in first] == [retry.id] == [stored.id]


def test_a_different_request_that_checks_the_key_just_before_the_first_commits_is_refused() -> None:
    clinic = _late_read_clinic()
    first: list[Appointment] = []
    _LateRead.meanwhile = lambda: first.append(clinic.scheduling.book(AS_ALICE, request("10:00")))

    with pytest.raises(IdempotencyKeyReused):
        clinic.scheduling.book(AS_ALICE, request("15:00"))

    [stored] = clinic.appointments()
    assert [a.id for a in first] == [stored.id]
    assert stored.time.start == tuesday("10:00")
