"""The payment storage contract: payments, the wallet ledger and processed webhook events.

Part of ``UnitOfWorkContract`` (every adapter stores payments: memory, PostgreSQL, SQLite,
MongoDB); same fixture, ``uow_factory``. Refusals may surface at the write or at ``commit``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from attrs import evolve

from hellodoctor_adapters.testing.clinic import Clinic
from hellodoctor_adapters.testing.fixtures import MONDAY, appointment, seed, state_of
from hellodoctor_domain import AppointmentId, AppointmentStatus, Money, PatientId
from hellodoctor_domain.errors import (
    AlreadyExists,
    ConcurrencyError,
    IllegalTransition,
    InsufficientFunds,
)
from hellodoctor_domain.model.payments import (
    Payment,
    PaymentId,
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
    RefundReason,
    WalletEntry,
    WalletEntryKind,
)
from hellodoctor_domain.ports.payments import PaymentQuery
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory

EUR = "EUR"


def _payment(
    key: str,
    appointment_key: str | None = "a1",
    *,
    patient_key: str = "p1",
    method: PaymentMethod = PaymentMethod.CARD,
    amount: int = 5000,
    wallet_part: int = 0,
    minutes_after: int = 0,
) -> Payment:
    return Payment.start(
        id=PaymentId(key),
        patient_id=PatientId(patient_key),
        appointment_id=None if appointment_key is None else AppointmentId(appointment_key),
        method=method,
        amount=Money(amount, EUR),
        wallet_part=Money(wallet_part, EUR),
        now=MONDAY + timedelta(minutes=minutes_after),
    )


def _entry(
    reference: str, minor_units: int, patient_key: str = "p1", currency: str = EUR
) -> WalletEntry:
    return WalletEntry(
        reference,
        PatientId(patient_key),
        WalletEntryKind.TOP_UP if minor_units > 0 else WalletEntryKind.PAYMENT,
        Money(minor_units, currency),
        MONDAY,
    )


def _refused(uow_factory: UnitOfWorkFactory, write: Callable[..., object], error: type) -> None:
    with pytest.raises(error), uow_factory() as uow:
        write(uow)
        uow.commit()


class PaymentStorageContract:
    """Behaviour suite for payment storage. Override ``uow_factory``."""

    @pytest.fixture
    def uow_factory(self) -> UnitOfWorkFactory:
        raise NotImplementedError("override the uow_factory fixture with your adapter's factory")

    @pytest.fixture
    def with_holds(self, uow_factory: UnitOfWorkFactory) -> UnitOfWorkFactory:
        """Doctors, patients p1..p3 and held appointments a1..a4 (payments may refer to them)."""
        seed(uow_factory)
        with uow_factory() as uow:
            for index in range(1, 5):
                uow.appointments.add(
                    appointment(
                        f"a{index}",
                        MONDAY + timedelta(days=1, hours=8 + index),
                        status=AppointmentStatus.HELD,
                        price=Money(5000, EUR),
                        hold_expires_at=MONDAY + timedelta(minutes=15),
                    )
                )
            uow.commit()
        return uow_factory

    # -- payments --------------------------------------------------------------------------

    def test_payment_round_trips_with_refunds(self, with_holds: UnitOfWorkFactory) -> None:
        original = _payment("pay-1", method=PaymentMethod.HYBRID, wallet_part=1200)
        original.attach_intent("pi_1", MONDAY)
        original.record_success(MONDAY + timedelta(minutes=1))
        original.refund("pay-1:cancellation", Money(4000, EUR), RefundReason.CANCELLATION, MONDAY)
        original.settle_refund("pay-1:cancellation", "re_1", MONDAY + timedelta(minutes=2))
        with with_holds() as uow:
            uow.payments.add(original)
            uow.commit()
        assert original.version == 1
        with with_holds() as uow:
            stored = uow.payments.get(PaymentId("pay-1"))
            by_appointment = uow.payments.for_appointment(AppointmentId("a1"))
        assert state_of(stored) == state_of(original)
        assert state_of(by_appointment) == state_of(original)
        assert stored.status is PaymentStatus.PARTIALLY_REFUNDED
        assert stored.refunded == Money(4000, EUR)

    def test_a_top_up_round_trips(self, with_holds: UnitOfWorkFactory) -> None:
        top_up = _payment("pay-9", None, amount=2500)
        with with_holds() as uow:
            uow.payments.add(top_up)
            uow.commit()
        with with_holds() as uow:
            stored = uow.payments.get(PaymentId("pay-9"))
        assert state_of(stored) == state_of(top_up)
        assert stored.purpose is PaymentPurpose.WALLET_TOP_UP

    def test_payment_ids_are_unique_and_an_appointment_has_one_payment(
        self, with_holds: UnitOfWorkFactory
    ) -> None:
        with with_holds() as uow:
            uow.payments.add(_payment("pay-1", "a1"))
            uow.commit()
        for duplicate in (_payment("pay-1", "a2"), _payment("pay-2", "a1")):
            _refused(with_holds, lambda uow, d=duplicate: uow.payments.add(d), AlreadyExists)
        with with_holds() as uow:
            assert uow.payments.for_appointment(AppointmentId("a2")) is None
            assert len(uow.payments.search(PaymentQuery())) == 1

    def test_concurrent_payments_for_one_appointment_store_one(
        self, with_holds: UnitOfWorkFactory
    ) -> None:
        threads = 12
        barrier = threading.Barrier(threads)

        def start(index: int) -> bool:
            barrier.wait()
            try:
                with with_holds() as uow:
                    uow.payments.add(_payment(f"pay-{index}", "a1"))
                    uow.commit()
                return True
            except (AlreadyExists, ConcurrencyError):
                return False

        with ThreadPoolExecutor(threads) as pool:
            stored = list(pool.map(start, range(threads)))
        assert stored.count(True) == 1

    def test_payment_update_is_compare_and_set(self, with_holds: UnitOfWorkFactory) -> None:
        with with_holds() as uow:
            uow.payments.add(_payment("pay-1"))
            uow.commit()
        with with_holds() as uow:
            first = uow.payments.get(PaymentId("pay-1"))
        with with_holds() as uow:
            second = uow.payments.get(PaymentId("pay-1"))
        first.record_success(MONDAY)
        with with_holds() as uow:
            uow.payments.update(first)
            uow.commit()
        assert first.version == 2
        second.cancel(MONDAY)
        _refused(with_holds, lambda uow: uow.payments.update(second), ConcurrencyError)
        with with_holds() as uow:
            assert uow.payments.get(PaymentId("pay-1")).status is PaymentStatus.SUCCEEDED

    def test_rolled_back_payment_changes_are_forgotten(self, with_holds: UnitOfWorkFactory) -> None:
        with with_holds() as uow:
            uow.payments.add(_payment("pay-1"))
        with with_holds() as uow:
            assert uow.payments.for_appointment(AppointmentId("a1")) is None

    def test_search_filters_newest_first_with_a_cursor(self, with_holds: UnitOfWorkFactory) -> None:
        with with_holds() as uow:
            uow.payments.add(_payment("pay-1", "a1", minutes_after=1))
            uow.payments.add(_payment("pay-2", "a2", minutes_after=2, patient_key="p2"))
            uow.payments.add(_payment("pay-3", "a3", minutes_after=3, method=PaymentMethod.OFFLINE))
            uow.payments.add(_payment("pay-4", None, minutes_after=4))
            uow.commit()
        with with_holds() as uow:

            def ids(**filters: object) -> list[str]:
                return [p.id.value for p in uow.payments.search(PaymentQuery(**filters))]  # type: ignore[arg-type]

            assert ids() == ["pay-4", "pay-3", "pay-2", "pay-1"]
            assert ids(patient_id=PatientId("p1")) == ["pay-4", "pay-3", "pay-1"]
            assert ids(method=PaymentMethod.OFFLINE) == ["pay-3"]
            assert ids(purpose=PaymentPurpose.WALLET_TOP_UP) == ["pay-4"]
            assert ids(statuses=frozenset({PaymentStatus.SUCCEEDED})) == []
            first_page = uow.payments.search(PaymentQuery(limit=2))
            last = first_page[-1]
            assert [p.id.value for p in first_page] == ["pay-4", "pay-3"]
            assert ids(before=(last.created_at, last.id), limit=2) == ["pay-2", "pay-1"]

    def test_payments_with_unsettled_refunds_are_found(self, with_holds: UnitOfWorkFactory) -> None:
        pending = _payment("pay-1", "a1")
        pending.attach_intent("pi_1", MONDAY)
        pending.record_success(MONDAY)
        pending.refund("pay-1:cancellation", Money(100, EUR), RefundReason.CANCELLATION, MONDAY)
        settled = evolve(pending, id=PaymentId("pay-2"), appointment_id=AppointmentId("a2"))
        settled.settle_refund("pay-1:cancellation", "re_1", MONDAY)
        with with_holds() as uow:
            uow.payments.add(pending)
            uow.payments.add(settled)
            uow.payments.add(_payment("pay-3", "a3"))
            uow.commit()
        with with_holds() as uow:
            assert [p.id.value for p in uow.payments.with_unsettled_refunds(10)] == ["pay-1"]

    # -- the wallet ledger -----------------------------------------------------------------

    def test_the_ledger_sums_entries_per_patient_and_currency(
        self, with_holds: UnitOfWorkFactory
    ) -> None:
        with with_holds() as uow:
            uow.wallets.append(_entry("t1", 1000))
            uow.wallets.append(_entry("d1", -300))
            uow.wallets.append(_entry("t2", 700, patient_key="p2"))
            uow.wallets.append(_entry("t3", 50, currency="GBP"))
            uow.commit()
        with with_holds() as uow:
            assert uow.wallets.balance(PatientId("p1"), EUR) == Money(700, EUR)
            assert uow.wallets.balance(PatientId("p2"), EUR) == Money(700, EUR)
            assert uow.wallets.balance(PatientId("p1"), "GBP") == Money(50, "GBP")
            assert uow.wallets.balance(PatientId("p3"), EUR) == Money(0, EUR)
            assert [e.reference for e in uow.wallets.entries(PatientId("p1"), EUR)] == ["d1", "t1"]
            assert uow.wallets.by_reference("t2") == _entry("t2", 700, patient_key="p2")
            assert uow.wallets.by_reference("nope") is None

    def test_a_reference_is_recorded_once(self, with_holds: UnitOfWorkFactory) -> None:
        with with_holds() as uow:
            uow.wallets.append(_entry("t1", 1000))
            uow.commit()
        _refused(with_holds, lambda uow: uow.wallets.append(_entry("t1", 1000)), AlreadyExists)
        _refused(with_holds, lambda uow: uow.wallets.append(_entry("t1", 5, "p2")), AlreadyExists)
        with with_holds() as uow:
            assert uow.wallets.balance(PatientId("p1"), EUR) == Money(1000, EUR)
            assert uow.wallets.balance(PatientId("p2"), EUR) == Money(0, EUR)

    def test_the_balance_never_goes_negative(self, with_holds: UnitOfWorkFactory) -> None:
        with with_holds() as uow:
            uow.wallets.append(_entry("t1", 1000))
            uow.commit()
        _refused(with_holds, lambda uow: uow.wallets.append(_entry("d1", -1001)), InsufficientFunds)
        _refused(
            with_holds, lambda uow: uow.wallets.append(_entry("d2", -1, "p2")), InsufficientFunds
        )
        with with_holds() as uow:
            uow.wallets.append(_entry("d3", -1000))
            uow.commit()
        with with_holds() as uow:
            assert uow.wallets.balance(PatientId("p1"), EUR) == Money(0, EUR)
            assert uow.wallets.by_reference("d1") is None

    def test_entries_are_checked_in_order_within_a_transaction(
        self, with_holds: UnitOfWorkFactory
    ) -> None:
        with with_holds() as uow:
            uow.wallets.append(_entry("t1", 400))
            uow.wallets.append(_entry("d1", -400))
            uow.commit()
        _refused(
            with_holds,
            lambda uow: (uow.wallets.append(_entry("d2", -1)), uow.wallets.append(_entry("t2", 5))),
            InsufficientFunds,
        )
        with with_holds() as uow:
            assert uow.wallets.by_reference("t2") is None

    def test_rolled_back_entries_are_forgotten(self, with_holds: UnitOfWorkFactory) -> None:
        with with_holds() as uow:
            uow.wallets.append(_entry("t1", 1000))
        with with_holds() as uow:
            assert uow.wallets.balance(PatientId("p1"), EUR) == Money(0, EUR)
            uow.wallets.append(_entry("t1", 1000))  # the reference is free again
            uow.commit()

    def test_concurrent_debits_take_exactly_what_the_wallet_holds(
        self, with_holds: UnitOfWorkFactory
    ) -> None:
        with with_holds() as uow:
            uow.wallets.append(_entry("t1", 1000))
            uow.commit()
        threads, debit = 40, 70
        barrier = threading.Barrier(threads)

        def spend(index: int) -> str:
            barrier.wait()
            for _ in range(20):  # a storage may answer a lost race with ConcurrencyError
                try:
                    with with_holds() as uow:
                        uow.wallets.append(_entry(f"d{index}", -debit))
                        uow.commit()
                    return "paid"
                except InsufficientFunds:
                    return "refused"
                except ConcurrencyError:
                    continue
            return "gave up"

        with ThreadPoolExecutor(threads) as pool:
            outcomes = list(pool.map(spend, range(threads)))
        assert outcomes.count("gave up") == 0
        assert outcomes.count("paid") == 1000 // debit
        with with_holds() as uow:
            assert uow.wallets.balance(PatientId("p1"), EUR) == Money(1000 % debit, EUR)
            assert len(uow.wallets.entries(PatientId("p1"), EUR)) == 1 + 1000 // debit

    def test_concurrent_cancels_of_a_wallet_paid_appointment_refund_it_once(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        """Every loser re-reads and is told the appointment is cancelled already: the refund's
        ledger reference, taken by the winner, is a lost race (``ConcurrencyError``, retried),
        never a duplicate reported to the caller."""
        clinic = Clinic(uow_factory)
        clinic.top_up("p1", 5000)
        held = clinic.hold("p1")
        clinic.pay(held, PaymentMethod.WALLET)
        assert clinic.balance("p1") == Money(0, EUR)
        threads = 8
        barrier = threading.Barrier(threads)

        def cancel(_: int) -> str:
            barrier.wait()
            try:
                clinic.scheduling.cancel(clinic.patient("p1"), held.id)
            except IllegalTransition:
                return "illegal transition"
            except Exception as error:  # the outcome under test
                return type(error).__name__
            return "cancelled"

        with ThreadPoolExecutor(threads) as pool:
            outcomes = sorted(pool.map(cancel, range(threads)))
        assert outcomes == ["cancelled"] + ["illegal transition"] * (threads - 1), outcomes
        assert clinic.balance("p1") == Money(5000, EUR)
        assert clinic.appointment(held.id).status is AppointmentStatus.CANCELLED

    # -- processed webhook events ----------------------------------------------------------

    def test_an_event_is_recorded_once(self, with_holds: UnitOfWorkFactory) -> None:
        with with_holds() as uow:
            assert not uow.processed_events.contains("stripe", "evt_1")
            uow.processed_events.add("stripe", "evt_1", MONDAY)
            uow.commit()
        _refused(
            with_holds,
            lambda uow: uow.processed_events.add("stripe", "evt_1", MONDAY),
            AlreadyExists,
        )
        with with_holds() as uow:
            assert uow.processed_events.contains("stripe", "evt_1")
            assert not uow.processed_events.contains("offline", "evt_1")
            uow.processed_events.add("offline", "evt_1", MONDAY)  # another provider's namespace
            uow.commit()

    def test_a_rolled_back_event_is_not_recorded(self, with_holds: UnitOfWorkFactory) -> None:
        with with_holds() as uow:
            uow.processed_events.add("stripe", "evt_1", MONDAY)
        with with_holds() as uow:
            assert not uow.processed_events.contains("stripe", "evt_1")

    def test_concurrent_copies_of_an_event_record_it_once(
        self, with_holds: UnitOfWorkFactory
    ) -> None:
        threads = 20
        barrier = threading.Barrier(threads)

        def record(_: int) -> bool:
            barrier.wait()
            try:
                with with_holds() as uow:
                    uow.processed_events.add("stripe", "evt_1", MONDAY)
                    uow.commit()
                return True
            except AlreadyExists:
                return False

        with ThreadPoolExecutor(threads) as pool:
            assert list(pool.map(record, range(threads))).count(True) == 1
