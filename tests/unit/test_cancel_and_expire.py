"""``Scheduling.cancel`` and ``Scheduling.expire_holds`` with the money: refunds per policy to
where the money came from, open payments abandoned, on the in-memory store and the offline
gateway. (The early and late cancellation refunds are in ``test_services.py``.)"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory
from hellodoctor_adapters.testing.clinic import Clinic
from hellodoctor_domain import Actor, AppointmentStatus, DoctorId, Money
from hellodoctor_domain.errors import BackendUnavailable, CancellationNotAllowed
from hellodoctor_domain.model.payments import PaymentMethod, PaymentStatus

CARD, WALLET, HYBRID, OFFLINE = (
    PaymentMethod.CARD,
    PaymentMethod.WALLET,
    PaymentMethod.HYBRID,
    PaymentMethod.OFFLINE,
)


def eur(minor_units: int) -> Money:
    return Money(minor_units, "EUR")


@pytest.fixture
def clinic() -> Clinic:
    return Clinic(InMemoryUnitOfWorkFactory())


def intent_of(clinic: Clinic, reference: str | None) -> Any:
    assert reference is not None
    return clinic.gateway.intents[reference]


class TestCancelling:
    def booked_by_card(self, clinic: Clinic, **slot: int) -> Any:
        held = clinic.hold(**slot)
        payment = clinic.pay(held, CARD)
        clinic.deliver(clinic.gateway.complete(payment.provider_reference or ""))
        return held

    def test_after_the_start_a_patient_gets_nothing_back_and_after_the_end_cannot_cancel(
        self, clinic: Clinic
    ) -> None:
        first = self.booked_by_card(clinic, day=0, index=10)
        second = self.booked_by_card(clinic, day=0, index=12)
        clinic.clock.advance(timedelta(hours=7, minutes=10))  # 13:10: the first has started
        assert clinic.scheduling.cancel(clinic.patient(), first.id).cancellation.refund == eur(0)  # type: ignore[union-attr]
        assert clinic.payment_of(first.id).status is PaymentStatus.SUCCEEDED
        clinic.clock.advance(timedelta(hours=2))
        with pytest.raises(CancellationNotAllowed):
            clinic.scheduling.cancel(clinic.patient(), second.id)

    def test_the_doctor_cancelling_late_refunds_in_full(self, clinic: Clinic) -> None:
        held = self.booked_by_card(clinic, day=0, index=10)
        clinic.scheduling.cancel(Actor.doctor(DoctorId("d1")), held.id)
        assert clinic.payment_of(held.id).status is PaymentStatus.REFUNDED

    def test_a_hybrid_refund_goes_to_the_card_first_then_the_wallet(self, clinic: Clinic) -> None:
        clinic.top_up("p1", 2000)
        held = clinic.hold()
        payment = clinic.pay(held, HYBRID)
        clinic.deliver(clinic.gateway.complete(payment.provider_reference or ""))
        clinic.scheduling.cancel(clinic.patient(), held.id)
        assert clinic.balance() == eur(2000)
        assert clinic.gateway.captured() == eur(2000)  # only the top-up is kept
        refund = clinic.payment_of(held.id).refunds[0]
        assert (refund.card, refund.wallet) == (eur(3000), eur(2000))

    def test_a_wallet_payment_is_refunded_to_the_wallet(self, clinic: Clinic) -> None:
        clinic.top_up("p1", 5000)
        held = clinic.hold(day=0, index=10)
        clinic.pay(held, WALLET)
        clinic.scheduling.cancel(clinic.patient(), held.id)
        assert clinic.balance() == eur(2500)

    def test_cancelling_a_hold_abandons_its_payment(self, clinic: Clinic) -> None:
        clinic.top_up("p1", 1000)
        held = clinic.hold()
        payment = clinic.pay(held, HYBRID)
        cancelled = clinic.scheduling.cancel(clinic.patient(), held.id)
        assert cancelled.cancellation.refund == eur(0)  # type: ignore[union-attr]
        assert clinic.payment_of(held.id).status is PaymentStatus.CANCELLED
        assert clinic.balance() == eur(1000)
        assert intent_of(clinic, payment.provider_reference).status == "cancelled"

    def test_an_offline_booking_cancelled_refunds_nothing(self, clinic: Clinic) -> None:
        held = clinic.hold()
        clinic.pay(held, OFFLINE)
        cancelled = clinic.scheduling.cancel(Actor.doctor(DoctorId("d1")), held.id)
        assert cancelled.cancellation.refund == eur(0)  # type: ignore[union-attr]
        assert clinic.payment_of(held.id).status is PaymentStatus.CANCELLED

    def test_a_refund_the_gateway_could_not_take_is_sent_by_the_worker(
        self, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        held = self.booked_by_card(clinic)
        real_refund = clinic.gateway.refund

        def down(**_: object) -> str:
            raise BackendUnavailable("the provider is down")

        monkeypatch.setattr(clinic.gateway, "refund", down)
        clinic.scheduling.cancel(clinic.patient(), held.id)
        assert [r.key for r in clinic.payment_of(held.id).unsettled_refunds] != []
        monkeypatch.setattr(clinic.gateway, "refund", real_refund)
        assert clinic.billing.settle_refunds() == 1
        assert clinic.payment_of(held.id).unsettled_refunds == ()
        assert clinic.billing.settle_refunds() == 0
        assert clinic.gateway.captured() == eur(0)


class TestExpiry:
    def test_expiry_cancels_the_intent_and_releases_the_wallet_part(self, clinic: Clinic) -> None:
        clinic.top_up("p1", 700)
        held = clinic.hold()
        payment = clinic.pay(held, HYBRID)
        assert clinic.balance() == eur(0)
        clinic.clock.advance(timedelta(minutes=15))
        assert clinic.scheduling.expire_holds() == [held.id]
        assert clinic.appointment(held.id).status is AppointmentStatus.EXPIRED
        assert clinic.payment_of(held.id).status is PaymentStatus.CANCELLED
        assert clinic.balance() == eur(700)
        assert intent_of(clinic, payment.provider_reference).status == "cancelled"
        assert clinic.scheduling.expire_holds() == []
        assert clinic.balance() == eur(700)

    def test_a_hold_expired_by_someone_elses_booking_has_its_payment_abandoned(
        self, clinic: Clinic
    ) -> None:
        clinic.top_up("p1", 700)
        held = clinic.hold("p1")
        clinic.pay(held, HYBRID)
        clinic.clock.advance(timedelta(minutes=15))
        clinic.hold("p2")  # takes the same slot, expiring the lapsed hold in its way
        assert clinic.appointment(held.id).status is AppointmentStatus.EXPIRED
        assert clinic.scheduling.expire_holds() == []
        assert clinic.payment_of(held.id).status is PaymentStatus.CANCELLED
        assert clinic.balance("p1") == eur(700)
