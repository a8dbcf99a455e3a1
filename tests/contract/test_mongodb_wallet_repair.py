"""Crashes between the writes of a MongoDB unit of work that moves money, and
``MongoStore.repair_wallets``: a crash may leave a patient short for a while, never with money
whose cause was not written, and the repair neither pays twice nor lets a slow writer undo it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hellodoctor_adapters.memory import ManualClock
from hellodoctor_adapters.mongodb import MongoUnitOfWork, MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb.store import EventsToWrite
from hellodoctor_adapters.mongodb.testing import new_factory
from hellodoctor_adapters.testing.fixtures import seed
from hellodoctor_domain import Money, PatientId
from hellodoctor_domain.errors import AlreadyExists, NotFound
from hellodoctor_domain.model.payments import (
    Payment,
    PaymentId,
    PaymentMethod,
    WalletEntry,
    WalletEntryKind,
)

LEASE = timedelta(seconds=30)
START = datetime(2029, 12, 1, tzinfo=UTC)
P1 = PatientId("p1")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def factory(clock: ManualClock) -> Iterator[MongoUnitOfWorkFactory]:
    made = new_factory(lease=LEASE, clock=clock.now)
    seed(made)
    yield made
    made.client.drop_database(made.store.database.name)
    made.close()


def begun(factory: MongoUnitOfWorkFactory) -> MongoUnitOfWork:
    """A unit of work entered by hand, so a test can abandon it the way a crash would."""
    uow = factory()
    uow.__enter__()
    return uow


def balance(factory: MongoUnitOfWorkFactory) -> Money:
    with factory() as uow:
        return uow.wallets.balance(P1, "EUR")


def top_up(factory: MongoUnitOfWorkFactory, key: str, minor_units: int) -> None:
    with factory() as uow:
        uow.wallets.append(
            WalletEntry(key, P1, WalletEntryKind.TOP_UP, Money(minor_units, "EUR"), START)
        )
        uow.commit()


def test_a_debit_whose_payment_was_never_written_is_taken_back_and_fenced(
    factory: MongoUnitOfWorkFactory, clock: ManualClock
) -> None:
    top_up(factory, "t1", 1000)
    payment = Payment.start(
        id=PaymentId("pay-1"),
        patient_id=P1,
        appointment_id=None,
        method=PaymentMethod.CARD,
        amount=Money(400, "EUR"),
        wallet_part=Money(0, "EUR"),
        now=START,
    )
    slow = begun(factory)
    slow.payments.add(payment)
    slow.wallets.append(
        WalletEntry(
            "pay-1:debit", P1, WalletEntryKind.PAYMENT, Money(-400, "EUR"), START, payment.id
        )
    )
    undo: list[Callable[[], None]] = []
    slow.wallets.flush_debits(undo)  # ... and the process stalls (or dies) here
    assert balance(factory) == Money(600, "EUR")
    assert factory.store.repair_wallets() == 0  # still within the lease: maybe committing
    clock.advance(LEASE + timedelta(seconds=1))
    assert factory.store.repair_wallets() == 1
    assert factory.store.repair_wallets() == 0
    assert balance(factory) == Money(1000, "EUR")
    with factory() as uow:
        assert uow.wallets.by_reference("pay-1:debit") is None
        with pytest.raises(NotFound):
            uow.payments.get(payment.id)  # the fence is invisible
    # The slow writer wakes up: its payment is refused, and undoing its debit gives nothing.
    with pytest.raises(AlreadyExists):
        slow.payments.flush(undo, EventsToWrite({}))
    slow._undo(undo)
    assert balance(factory) == Money(1000, "EUR")


def test_a_credit_a_payment_owes_is_applied_once_and_the_payment_fenced(
    factory: MongoUnitOfWorkFactory, clock: ManualClock
) -> None:
    payment = Payment.start(
        id=PaymentId("pay-2"),
        patient_id=P1,
        appointment_id=None,
        method=PaymentMethod.CARD,
        amount=Money(2500, "EUR"),
        wallet_part=Money(0, "EUR"),
        now=START,
    )
    with factory() as uow:
        uow.payments.add(payment)
        uow.commit()
    slow = begun(factory)
    succeeded = slow.payments.get(payment.id)
    succeeded.attach_intent("pi_1", START)
    succeeded.record_success(START)
    slow.payments.update(succeeded)
    slow.wallets.append(WalletEntry.top_up(succeeded, START))
    undo: list[Callable[[], None]] = []
    # The payment says succeeded; the process dies before the credit.
    slow.payments.flush(undo, EventsToWrite({}))
    assert balance(factory) == Money(0, "EUR")
    clock.advance(LEASE + timedelta(seconds=1))
    assert factory.store.repair_wallets() == 1
    assert factory.store.repair_wallets() == 0
    assert balance(factory) == Money(2500, "EUR")
    # The slow writer wakes up: its credit is refused and its undo cannot revert the payment.
    with pytest.raises(AlreadyExists):
        slow.wallets.flush_credits(undo)
    slow._undo(undo)
    assert balance(factory) == Money(2500, "EUR")
    with factory() as uow:
        assert uow.payments.get(payment.id).succeeded_at == START


def test_complete_units_of_work_need_no_repair(
    factory: MongoUnitOfWorkFactory, clock: ManualClock
) -> None:
    top_up(factory, "t1", 1000)
    payment = Payment.start(
        id=PaymentId("pay-3"),
        patient_id=P1,
        appointment_id=None,
        method=PaymentMethod.CARD,
        amount=Money(300, "EUR"),
        wallet_part=Money(0, "EUR"),
        now=START,
    )
    with factory() as uow:
        uow.payments.add(payment)
        uow.wallets.append(
            WalletEntry(
                "pay-3:debit", P1, WalletEntryKind.PAYMENT, Money(-300, "EUR"), START, payment.id
            )
        )
        uow.commit()
    clock.advance(LEASE + timedelta(seconds=1))
    assert factory.store.repair_wallets() == 0
    assert balance(factory) == Money(700, "EUR")
