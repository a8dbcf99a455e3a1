"""What only the MongoDB adapter has to prove: crashes between its writes, lease expiry and
fencing, the outbox, millisecond dates beside exact ranges, error translation, indexes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hellodoctor_adapters.memory import ManualClock
from hellodoctor_adapters.mongodb import MongoUnitOfWork, MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb.appointments import MongoAppointmentRepository
from hellodoctor_adapters.mongodb.testing import new_factory, server_url
from hellodoctor_adapters.registry import open_storage
from hellodoctor_adapters.testing.fixtures import appointment, at, seed, state_of
from hellodoctor_domain import (
    Appointment,
    AppointmentId,
    AppointmentStatus,
    Cancellation,
    DoctorId,
    Money,
    PatientId,
    Role,
    TimeRange,
    UserId,
)
from hellodoctor_domain.errors import BackendUnavailable, ConcurrencyError, SlotUnavailable
from hellodoctor_domain.model.payments import Payment, PaymentId, PaymentMethod, RefundReason

LEASE = timedelta(seconds=30)


class Crash(BaseException):
    """The process dies here: nothing after it runs, not even the unit of work's exit."""


@pytest.fixture
def lease_clock() -> ManualClock:
    return ManualClock(datetime(2029, 12, 1, tzinfo=UTC))


@pytest.fixture
def factory(lease_clock: ManualClock) -> Iterator[MongoUnitOfWorkFactory]:
    made = new_factory(lease=LEASE, clock=lease_clock.now, wait_for_in_flight=timedelta(0))
    seed(made)
    yield made
    made.client.drop_database(made.store.database.name)
    made.close()


def add(factory: MongoUnitOfWorkFactory, *appointments: Appointment) -> None:
    with factory() as uow:
        for item in appointments:
            uow.appointments.add(item)
        uow.commit()


def stored(factory: MongoUnitOfWorkFactory, key: str) -> Appointment:
    with factory() as uow:
        return uow.appointments.get(AppointmentId(key))


def begun(factory: MongoUnitOfWorkFactory) -> MongoUnitOfWork:
    """A unit of work entered by hand, so a test can abandon it the way a crash would."""
    uow = factory()
    uow.__enter__()
    return uow


def claim_entries(factory: MongoUnitOfWorkFactory) -> list[str]:
    return sorted(
        entry["a"] for cell in factory.store.collection("claims").find() for entry in cell["c"]
    )


# -- crash between the claim and the appointment write ----------------------------------------


def test_a_crash_before_the_write_blocks_the_time_only_until_the_lease_ends(
    factory: MongoUnitOfWorkFactory, lease_clock: ManualClock
) -> None:
    crashed = begun(factory)
    crashed.appointments.add(appointment("a1", at(9)))  # claims pushed; the process dies

    with pytest.raises(SlotUnavailable):  # the writer might still be working
        add(factory, appointment("a2", at(9, 15), patient_key="p2"))

    lease_clock.advance(LEASE + timedelta(seconds=1))
    add(factory, appointment("a2", at(9, 15), patient_key="p2"))
    assert stored(factory, "a2").status is AppointmentStatus.BOOKED
    # The doctor's orphan was released by the booking it blocked; the patient's, which
    # blocked nobody, by the housekeeping sweep.
    assert claim_entries(factory) == ["a1", "a2", "a2"]
    assert factory.store.sweep_claims() == 1
    assert claim_entries(factory) == ["a2", "a2"]


def test_a_writer_slower_than_its_lease_cannot_come_back_and_double_book(
    factory: MongoUnitOfWorkFactory, lease_clock: ManualClock
) -> None:
    slow = begun(factory)
    slow.appointments.add(appointment("a1", at(9)))
    lease_clock.advance(LEASE + timedelta(seconds=1))
    add(factory, appointment("a2", at(9, 15), patient_key="p2"))  # releases a1's claims

    with pytest.raises(BackendUnavailable, match="lease"):
        slow.commit()  # the fence: a1's id is revoked, its insert fails
    slow.__exit__(None, None, None)
    with factory() as uow:
        calendar = uow.appointments.for_doctor(DoctorId("d1"), TimeRange(at(0), at(24)))
    assert [a.id.value for a in calendar] == ["a2"]


def test_a_slow_reschedule_is_fenced_by_the_version(
    factory: MongoUnitOfWorkFactory, lease_clock: ManualClock
) -> None:
    add(factory, appointment("a1", at(9)))
    moving = stored(factory, "a1")
    moving.reschedule(TimeRange.starting_at(at(11), timedelta(minutes=30)), at(7))
    slow = begun(factory)
    slow.appointments.update(moving)  # claims 11:00; then stalls past its lease
    lease_clock.advance(LEASE + timedelta(seconds=1))
    add(factory, appointment("a2", at(11), patient_key="p2"))

    with pytest.raises(ConcurrencyError):
        slow.commit()
    slow.__exit__(None, None, None)
    assert stored(factory, "a1").time.start == at(9)
    assert stored(factory, "a2").time.start == at(11)


# -- crash between the appointment write and the tidying up -----------------------------------


def test_a_crash_after_the_write_leaves_claims_the_next_writer_releases_at_once(
    factory: MongoUnitOfWorkFactory, lease_clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    add(factory, appointment("a1", at(9)))
    ending = stored(factory, "a1")
    ending.cancel(Cancellation(Role.ADMIN, UserId("u"), "", at(7), Money(0, "EUR")))

    def die(self: MongoAppointmentRepository) -> None:
        raise Crash

    monkeypatch.setattr(MongoAppointmentRepository, "settle", die)
    crashed = begun(factory)
    crashed.appointments.update(ending)
    with pytest.raises(Crash):
        crashed.commit()
    monkeypatch.undo()
    assert stored(factory, "a1").status is AppointmentStatus.CANCELLED
    assert claim_entries(factory).count("a1") == 2  # the cancelled one's claims stayed behind
    # No need to wait for the lease: the claims were made for a version already superseded.
    add(factory, appointment("a2", at(9), patient_key="p2"))
    assert claim_entries(factory).count("a1") == 1  # the patient's, blocking nobody
    lease_clock.advance(LEASE + timedelta(seconds=1))  # the sweep looks at lapsed leases only
    assert factory.store.sweep_claims() == 1
    assert claim_entries(factory).count("a1") == 0


def test_events_stranded_by_a_crash_are_relayed_once(
    factory: MongoUnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def die(self: MongoAppointmentRepository) -> None:
        raise Crash

    monkeypatch.setattr(MongoAppointmentRepository, "settle", die)
    crashed = begun(factory)
    booked = Appointment.request(
        id=AppointmentId("a1"),
        doctor_id=DoctorId("d1"),
        patient_id=PatientId("p1"),
        time=TimeRange.starting_at(at(9), timedelta(minutes=30)),
        price=Money(0, "EUR"),
        buffer=timedelta(0),
        now=at(7),
        hold_for=timedelta(minutes=15),
    )
    crashed.appointments.add(booked)  # records AppointmentBooked
    with pytest.raises(Crash):
        crashed.commit()
    monkeypatch.undo()

    outbox = factory.store.collection("outbox")
    assert outbox.count_documents({}) == 0
    assert factory.store.relay_outbox() == 1
    assert factory.store.relay_outbox() == 0
    assert [e["type"] for e in outbox.find()] == ["AppointmentBooked"]


def test_a_payment_s_events_wait_beside_later_ones_and_are_relayed_once(
    factory: MongoUnitOfWorkFactory,
) -> None:
    add(
        factory,
        appointment("a1", at(9), status=AppointmentStatus.HELD, price=Money(5000, "EUR")),
    )
    with factory() as uow:
        uow.payments.add(
            Payment.start(
                id=PaymentId("pay-1"),
                patient_id=PatientId("p1"),
                appointment_id=AppointmentId("a1"),
                method=PaymentMethod.CARD,
                amount=Money(5000, "EUR"),
                wallet_part=Money(0, "EUR"),
                now=at(7),
            )
        )
        uow.commit()
    with factory() as uow:
        paid = uow.payments.get(PaymentId("pay-1"))
        paid.attach_intent("pi_1", at(7))
        paid.record_success(at(7, 5))  # records PaymentSucceeded
        uow.payments.update(paid)
        uow.commit()
    payments = factory.store.collection("payments")
    outbox = factory.store.collection("outbox")
    assert [e["type"] for e in payments.find_one({"_id": "pay-1"})["_outbox"]] == [
        "PaymentSucceeded"
    ]

    with factory() as uow:  # a later write appends its events beside the waiting one
        refunding = uow.payments.get(PaymentId("pay-1"))
        refunding.refund("pay-1:cancellation", Money(5000, "EUR"), RefundReason.CANCELLATION, at(8))
        uow.payments.update(refunding)
        uow.commit()
    assert outbox.count_documents({}) == 0
    assert factory.store.relay_outbox() == 2
    assert factory.store.relay_outbox() == 0
    assert sorted((e["aggregate_type"], e["aggregate_id"], e["type"]) for e in outbox.find()) == [
        ("payment", "pay-1", "PaymentSucceeded"),
        ("payment", "pay-1", "RefundIssued"),
    ]
    assert payments.find_one({"_id": "pay-1"})["_outbox"] == []


def test_a_commit_leaves_the_events_in_the_document_and_the_relay_moves_them(
    factory: MongoUnitOfWorkFactory,
) -> None:
    add(factory, appointment("a1", at(9)))
    finishing = stored(factory, "a1")
    finishing.complete(at(9, 40))
    with factory() as uow:
        uow.appointments.update(finishing)
        uow.commit()
    appointments = factory.store.collection("appointments")
    assert factory.store.collection("outbox").count_documents({}) == 0
    waiting = appointments.find_one({"_id": "a1"})["_outbox"]
    assert [e["type"] for e in waiting] == ["AppointmentCompleted"]

    delivery, _ = factory.delivery()
    (entry,) = delivery.claim(at(10), timedelta(minutes=1), 10)
    assert (entry.id, entry.event_type, entry.aggregate_id) == (
        waiting[0]["_id"],
        "AppointmentCompleted",
        "a1",
    )
    (event,) = factory.store.collection("outbox").find()
    assert (event["type"], event["appointment_id"], event["occurred_at"]) == (
        "AppointmentCompleted",
        "a1",
        at(9, 40),
    )
    assert appointments.find_one({"_id": "a1"})["_outbox"] == []
    delivery.mark_sent([entry.id], at(10))
    assert delivery.claim(at(11), timedelta(minutes=1), 10) == []  # moved once, sent once


def test_events_of_the_previous_release_are_claimed_beside_waiting_ones_oldest_first(
    factory: MongoUnitOfWorkFactory,
) -> None:
    """Before this release a commit copied its events to ``outbox`` at once; a database
    upgraded in place holds such copies, not yet sent, beside documents whose events wait in
    ``_outbox``. The relay hands out both, oldest first, each once."""
    add(factory, appointment("a1", at(9)), appointment("a2", at(8)))
    for key, ended in (("a1", at(9, 40)), ("a2", at(8, 50))):
        finishing = stored(factory, key)
        finishing.complete(ended)
        with factory() as uow:
            uow.appointments.update(finishing)
            uow.commit()
    appointments = factory.store.collection("appointments")
    (copied,) = appointments.find_one({"_id": "a1"})["_outbox"]
    factory.store.collection("outbox").insert_one(copied)  # as the old commit's relay did
    appointments.update_one({"_id": "a1"}, {"$set": {"_outbox": []}})

    delivery, _ = factory.delivery()
    claimed = delivery.claim(at(10), timedelta(minutes=1), 10)
    assert [(e.aggregate_id, e.occurred_at) for e in claimed] == [
        ("a2", at(8, 50)),
        ("a1", at(9, 40)),
    ]
    assert delivery.pending() == 2


# -- precision --------------------------------------------------------------------------------


def test_ranges_are_exact_to_the_microsecond(factory: MongoUnitOfWorkFactory) -> None:
    odd = timedelta(microseconds=1500)
    first = appointment("a1", at(9))
    first.time = TimeRange(at(9), at(9, 30) + odd)
    add(factory, first)
    assert stored(factory, "a1").time == first.time
    touching = appointment("a2", at(10), patient_key="p2")
    touching.time = TimeRange(at(9, 30) + odd, at(10))
    add(factory, touching)
    overlapping = appointment("a3", at(10), patient_key="p3")
    overlapping.time = TimeRange(at(9, 30) + odd - timedelta(microseconds=1), at(9, 45))
    with pytest.raises(SlotUnavailable):
        add(factory, overlapping)


def test_clock_stamped_instants_are_normalised_to_milliseconds_in_place(
    factory: MongoUnitOfWorkFactory,
) -> None:
    held = appointment(
        "a1",
        at(9),
        status=AppointmentStatus.HELD,
        hold_expires_at=at(8) + timedelta(microseconds=123456),
    )
    held.created_at = at(7) + timedelta(microseconds=987654)
    add(factory, held)
    assert held.hold_expires_at == at(8) + timedelta(milliseconds=123)
    assert held.created_at == at(7) + timedelta(milliseconds=987)
    assert state_of(stored(factory, "a1")) == state_of(held)


def test_a_range_over_midnight_meets_the_next_day(factory: MongoUnitOfWorkFactory) -> None:
    late = appointment("a1", at(23, 30), 60)
    add(factory, late)
    with pytest.raises(SlotUnavailable):
        add(factory, appointment("a2", at(0, 15, day=1), 30, patient_key="p2"))
    add(factory, appointment("a3", at(0, 30, day=1), 30, patient_key="p2"))


# -- errors, configuration, indexes --------------------------------------------------------


def test_an_unreachable_server_is_backend_unavailable() -> None:
    factory = MongoUnitOfWorkFactory(
        "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=100&connectTimeoutMS=100"
    )
    with pytest.raises(BackendUnavailable):
        factory()
    factory.close()


def test_only_mongodb_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="not a MongoDB URL"):
        MongoUnitOfWorkFactory("postgresql://localhost/test")


def test_indexes_are_created_idempotently(factory: MongoUnitOfWorkFactory) -> None:
    factory.store.ensure_indexes()
    factory.store.ensure_indexes()
    names = set(factory.store.collection("appointments").index_information())
    assert {"doctor_by_start", "patient_by_start", "all_by_start", "holds_by_expiry"} <= names
    assert "registration_number_unique" in factory.store.collection("doctors").index_information()


def test_the_registry_opens_mongodb_urls() -> None:
    opened = open_storage(server_url())
    assert isinstance(opened, MongoUnitOfWorkFactory)
    opened.close()
