"""The Payment aggregate and the wallet's entries, without storage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hellodoctor_domain import AppointmentId, Money, PatientId
from hellodoctor_domain.errors import IllegalPaymentTransition, InvalidValue, RefundExceedsPayment
from hellodoctor_domain.model.payments import (
    Payment,
    PaymentId,
    PaymentMethod,
    PaymentStatus,
    PaymentSucceeded,
    RefundIssued,
    RefundReason,
    Wallet,
    WalletEntry,
    WalletEntryKind,
)

NOW = datetime(2030, 1, 7, 9, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)


def payment(
    method: PaymentMethod = PaymentMethod.CARD,
    amount: int = 5000,
    wallet_part: int = 0,
    appointment: str | None = "apt-1",
) -> Payment:
    return Payment.start(
        id=PaymentId("pay-1"),
        patient_id=PatientId("p1"),
        appointment_id=None if appointment is None else AppointmentId(appointment),
        method=method,
        amount=Money(amount, "EUR"),
        wallet_part=Money(wallet_part, "EUR"),
        now=NOW,
    )


def eur(minor_units: int) -> Money:
    return Money(minor_units, "EUR")


def paid(method: PaymentMethod = PaymentMethod.CARD, wallet_part: int = 0) -> Payment:
    made = payment(method, wallet_part=wallet_part)
    if made.status is PaymentStatus.REQUIRES_PAYMENT:
        made.attach_intent("pi_1", NOW)
        made.record_success(LATER)
    return made


class TestStarting:
    def test_a_card_payment_waits_for_the_card(self) -> None:
        made = payment()
        assert made.status is PaymentStatus.REQUIRES_PAYMENT
        assert (made.card_part, made.taken, made.needs_intent) == (eur(5000), eur(0), True)

    def test_a_wallet_payment_has_succeeded_at_once(self) -> None:
        made = payment(PaymentMethod.WALLET, wallet_part=5000)
        assert made.status is PaymentStatus.SUCCEEDED
        assert (made.card_part, made.taken, made.needs_intent) == (eur(0), eur(5000), False)

    def test_a_hybrid_payment_splits_and_has_taken_the_wallet_part(self) -> None:
        made = payment(PaymentMethod.HYBRID, wallet_part=1200)
        assert made.status is PaymentStatus.REQUIRES_PAYMENT
        assert (made.card_part, made.taken) == (eur(3800), eur(1200))

    def test_an_offline_payment_collects_nothing_through_the_system(self) -> None:
        made = payment(PaymentMethod.OFFLINE)
        assert made.status is PaymentStatus.REQUIRES_PAYMENT
        assert (made.card_part, made.taken, made.needs_intent) == (eur(0), eur(0), False)

    @pytest.mark.parametrize(
        ("method", "amount", "wallet_part", "appointment"),
        [
            (PaymentMethod.CARD, 5000, 1, "apt-1"),
            (PaymentMethod.OFFLINE, 5000, 1, "apt-1"),
            (PaymentMethod.WALLET, 5000, 4999, "apt-1"),
            (PaymentMethod.HYBRID, 5000, 5001, "apt-1"),
            (PaymentMethod.HYBRID, 5000, -1, "apt-1"),
            (PaymentMethod.CARD, 0, 0, "apt-1"),
            (PaymentMethod.CARD, -5, 0, "apt-1"),
            (PaymentMethod.WALLET, 5000, 5000, None),  # a top-up is by card
        ],
    )
    def test_impossible_shapes_are_refused(
        self, method: PaymentMethod, amount: int, wallet_part: int, appointment: str | None
    ) -> None:
        with pytest.raises(InvalidValue):
            payment(method, amount, wallet_part, appointment)

    def test_the_wallet_part_is_in_the_payment_currency(self) -> None:
        with pytest.raises(InvalidValue):
            Payment.start(
                id=PaymentId("pay-1"),
                patient_id=PatientId("p1"),
                appointment_id=AppointmentId("a"),
                method=PaymentMethod.HYBRID,
                amount=eur(5000),
                wallet_part=Money(100, "GBP"),
                now=NOW,
            )


class TestTransitions:
    def test_processing_failing_and_retrying_then_succeeding(self) -> None:
        made = payment()
        made.mark_processing(NOW)
        made.mark_failed(NOW, "card_declined")
        assert (made.status, made.failure) == (PaymentStatus.FAILED, "card_declined")
        made.mark_processing(NOW)
        made.record_success(LATER)
        assert (made.status, made.failure, made.succeeded_at) == (
            PaymentStatus.SUCCEEDED,
            "",
            LATER,
        )
        assert made.taken == eur(5000)

    @pytest.mark.parametrize(
        "move",
        [
            lambda p: p.record_success(NOW),
            lambda p: p.mark_processing(NOW),
            lambda p: p.mark_failed(NOW),
            lambda p: p.cancel(NOW),
        ],
    )
    def test_a_succeeded_payment_cannot_go_back(self, move: object) -> None:
        made = paid()
        with pytest.raises(IllegalPaymentTransition):
            move(made)  # type: ignore[operator]
        assert made.status is PaymentStatus.SUCCEEDED

    def test_an_open_payment_cannot_be_refunded(self) -> None:
        with pytest.raises(IllegalPaymentTransition):
            payment().refund("k", eur(1), RefundReason.CANCELLATION, NOW)

    def test_an_intent_is_attached_once(self) -> None:
        made = payment()
        made.attach_intent("pi_1", NOW)
        made.attach_intent("pi_1", NOW)
        with pytest.raises(IllegalPaymentTransition):
            made.attach_intent("pi_2", NOW)
        with pytest.raises(IllegalPaymentTransition):
            payment(PaymentMethod.WALLET, wallet_part=5000).attach_intent("pi_1", NOW)

    def test_cancelling_releases_the_wallet_part(self) -> None:
        made = payment(PaymentMethod.HYBRID, wallet_part=1200)
        release = made.cancel(NOW)
        assert release is not None
        assert (release.reason, release.wallet, release.card) == (
            RefundReason.RELEASE,
            eur(1200),
            eur(0),
        )
        assert made.status is PaymentStatus.CANCELLED
        assert made.refundable == eur(0)
        assert payment().cancel(NOW) is None  # a card payment took nothing yet

    def test_money_captured_after_cancelling_is_recorded_and_refundable(self) -> None:
        made = payment(PaymentMethod.HYBRID, wallet_part=1200)
        made.cancel(NOW)
        made.record_success(LATER)
        assert made.status is PaymentStatus.SUCCEEDED
        assert made.refundable == eur(3800)
        refund = made.refund("late", made.refundable, RefundReason.UNBOOKABLE, LATER)
        assert refund is not None
        assert (refund.card, refund.wallet) == (eur(3800), eur(0))
        assert made.status is PaymentStatus.REFUNDED
        assert made.taken == made.refunded == eur(5000)


class TestRefunds:
    def test_a_refund_is_recorded_once_per_key(self) -> None:
        made = paid()
        first = made.refund("cancel", eur(2500), RefundReason.CANCELLATION, NOW)
        again = made.refund("cancel", eur(2500), RefundReason.CANCELLATION, NOW)
        assert first is not None
        assert again is None
        assert made.refunded == eur(2500)
        assert made.status is PaymentStatus.PARTIALLY_REFUNDED

    def test_never_more_than_was_taken(self) -> None:
        made = paid()
        made.refund("a", eur(3000), RefundReason.CANCELLATION, NOW)
        with pytest.raises(RefundExceedsPayment):
            made.refund("b", eur(2001), RefundReason.CANCELLATION, NOW)
        made.refund("c", eur(2000), RefundReason.CANCELLATION, NOW)
        assert made.status is PaymentStatus.REFUNDED
        with pytest.raises(IllegalPaymentTransition):
            made.refund("d", eur(1), RefundReason.CANCELLATION, NOW)

    def test_a_zero_refund_records_nothing(self) -> None:
        made = paid()
        assert made.refund("z", eur(0), RefundReason.CANCELLATION, NOW) is None
        assert made.refunds == ()
        assert made.status is PaymentStatus.SUCCEEDED

    def test_refunds_go_to_the_card_first_then_the_wallet(self) -> None:
        made = paid(PaymentMethod.HYBRID, wallet_part=2000)  # card 3000
        first = made.refund("a", eur(2500), RefundReason.CANCELLATION, NOW)
        second = made.refund("b", eur(1500), RefundReason.CANCELLATION, NOW)
        assert first is not None
        assert (first.card, first.wallet) == (eur(2500), eur(0))
        assert second is not None
        assert (second.card, second.wallet) == (eur(500), eur(1000))
        assert not first.settled
        assert not second.settled

    def test_a_wallet_refund_is_settled_at_once_a_card_one_by_the_gateway(self) -> None:
        wallet = paid(PaymentMethod.WALLET, wallet_part=5000)
        refund = wallet.refund("a", eur(100), RefundReason.CANCELLATION, NOW)
        assert refund is not None
        assert refund.settled
        assert wallet.unsettled_refunds == ()
        card = paid()
        card.refund("a", eur(100), RefundReason.CANCELLATION, NOW)
        assert [r.key for r in card.unsettled_refunds] == ["a"]
        card.settle_refund("a", "re_1", NOW)
        card.settle_refund("a", "re_other", NOW)  # settling again changes nothing
        assert card.unsettled_refunds == ()
        assert card.refund_by_key("a").provider_reference == "re_1"  # type: ignore[union-attr]

    def test_refunds_are_in_the_payment_currency_and_not_negative(self) -> None:
        made = paid()
        with pytest.raises(InvalidValue):
            made.refund("a", Money(1, "GBP"), RefundReason.CANCELLATION, NOW)
        with pytest.raises(InvalidValue):
            made.refund("a", eur(-1), RefundReason.CANCELLATION, NOW)


class TestWallet:
    def test_entries_carry_their_sign_and_a_reference(self) -> None:
        made = paid(PaymentMethod.HYBRID, wallet_part=2000)
        debit = WalletEntry.debit(made, NOW)
        assert (debit.kind, debit.amount, debit.reference) == (
            WalletEntryKind.PAYMENT,
            eur(-2000),
            "pay-1:debit",
        )
        with pytest.raises(InvalidValue):
            WalletEntry("x", PatientId("p1"), WalletEntryKind.TOP_UP, eur(-1), NOW)
        with pytest.raises(InvalidValue):
            WalletEntry("x", PatientId("p1"), WalletEntryKind.PAYMENT, eur(1), NOW)
        with pytest.raises(InvalidValue):
            WalletEntry("x", PatientId("p1"), WalletEntryKind.REFUND, eur(0), NOW)
        with pytest.raises(InvalidValue):
            WalletEntry("", PatientId("p1"), WalletEntryKind.REFUND, eur(1), NOW)

    def test_the_balance_is_the_sum_of_the_ledger(self) -> None:
        top_up = payment(appointment=None, amount=3000)
        entries = (
            WalletEntry.top_up(top_up, NOW),
            WalletEntry("d", PatientId("p1"), WalletEntryKind.PAYMENT, eur(-1000), NOW),
        )
        assert Wallet(PatientId("p1"), "EUR", entries).balance == eur(2000)
        assert Wallet(PatientId("p1"), "EUR").balance == eur(0)


class TestEvents:
    def test_a_success_is_recorded_once_the_money_is_collected(self) -> None:
        made = payment()
        assert made.events == []
        made.attach_intent("pi_1", NOW)
        made.record_success(LATER)
        assert made.events == [
            PaymentSucceeded(
                occurred_at=LATER,
                payment_id=PaymentId("pay-1"),
                patient_id=PatientId("p1"),
                appointment_id=AppointmentId("apt-1"),
                method=PaymentMethod.CARD,
                amount=eur(5000),
                wallet_part=eur(0),
            )
        ]
        assert (made.events[0].aggregate_type, made.events[0].aggregate_id) == ("payment", "pay-1")

    def test_a_payment_the_wallet_covers_has_succeeded_when_it_starts(self) -> None:
        made = payment(PaymentMethod.WALLET, wallet_part=5000)
        assert [type(event) for event in made.events] == [PaymentSucceeded]
        assert made.events[0].occurred_at == NOW

    def test_every_refund_is_recorded_and_a_replay_records_nothing(self) -> None:
        made = paid(PaymentMethod.HYBRID, wallet_part=1000)
        made.events.clear()
        made.refund("r1", eur(4500), RefundReason.CANCELLATION, LATER)
        made.refund("r1", eur(4500), RefundReason.CANCELLATION, LATER)  # a replay
        assert made.events == [
            RefundIssued(
                occurred_at=LATER,
                payment_id=PaymentId("pay-1"),
                patient_id=PatientId("p1"),
                appointment_id=AppointmentId("apt-1"),
                refund_key="r1",
                reason=RefundReason.CANCELLATION,
                card=eur(4000),
                wallet=eur(500),
            )
        ]

    def test_releasing_the_wallet_part_of_a_cancelled_payment_is_a_refund(self) -> None:
        made = payment(PaymentMethod.HYBRID, wallet_part=1200)
        made.cancel(LATER)
        (released,) = made.events
        assert isinstance(released, RefundIssued)
        assert (released.reason, released.wallet, released.card) == (
            RefundReason.RELEASE,
            eur(1200),
            eur(0),
        )

    def test_failures_and_cancellations_without_money_moved_record_nothing(self) -> None:
        made = payment()
        made.mark_processing(NOW)
        made.mark_failed(NOW, "card_declined")
        made.cancel(LATER)
        assert made.events == []
