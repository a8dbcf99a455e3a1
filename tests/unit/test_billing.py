"""The Billing use cases on the in-memory store and the offline gateway."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from attrs import evolve

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.testing.clinic import ADMIN, Clinic
from hellodoctor_domain import Actor, AppointmentStatus, DoctorId, Money, PatientId
from hellodoctor_domain.errors import (
    AccessDenied,
    HoldExpired,
    InsufficientFunds,
    InvalidValue,
    NotFound,
    PaymentAlreadyStarted,
    PaymentNotAllowed,
    WebhookRejected,
)
from hellodoctor_domain.model.payments import PaymentMethod, PaymentStatus, RefundReason
from hellodoctor_domain.ports.payments import PaymentQuery
from hellodoctor_domain.use_cases.billing import BillingSettings, WebhookOutcome

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


class TestWhoPaysWhatForWhich:
    def test_the_amount_is_the_price_at_booking_time(self, clinic: Clinic) -> None:
        held = clinic.hold()
        with clinic.uow() as uow:  # the fee rises after the booking
            doctor = uow.doctors.get(DoctorId("d1"))
            uow.doctors.update(evolve(doctor, consultation_fee=eur(9900)))
            uow.commit()
        started = clinic.billing.start_payment(clinic.patient(), held.id, CARD)
        assert started.payment.amount == eur(5000)
        assert intent_of(clinic, started.payment.provider_reference).amount == eur(5000)
        assert started.client_secret
        metadata = intent_of(clinic, started.payment.provider_reference).metadata
        assert metadata["payment_id"] == started.payment.id.value
        assert metadata["appointment_id"] == held.id.value

    def test_nobody_pays_for_someone_elses_appointment(self, clinic: Clinic) -> None:
        held = clinic.hold("p1")
        with pytest.raises(NotFound):
            clinic.billing.start_payment(clinic.patient("p2"), held.id, CARD)
        for actor in (ADMIN, Actor.doctor(DoctorId("d1"))):
            with pytest.raises(AccessDenied):
                clinic.billing.start_payment(actor, held.id, CARD)
        with clinic.uow() as uow:
            assert uow.payments.for_appointment(held.id) is None

    def test_nobody_pays_for_a_cancelled_or_expired_appointment(self, clinic: Clinic) -> None:
        cancelled = clinic.hold(index=0)
        clinic.scheduling.cancel(clinic.patient(), cancelled.id)
        lapsed = clinic.hold(index=2)
        clinic.clock.advance(timedelta(minutes=16))
        with pytest.raises(PaymentNotAllowed):
            clinic.billing.start_payment(clinic.patient(), cancelled.id, CARD)
        with pytest.raises(HoldExpired):
            clinic.billing.start_payment(clinic.patient(), lapsed.id, CARD)
        clinic.scheduling.expire_holds()
        with pytest.raises(PaymentNotAllowed):
            clinic.billing.start_payment(clinic.patient(), lapsed.id, WALLET)
        assert clinic.gateway.intents == {}

    def test_a_booked_appointment_is_not_paid_twice(self, clinic: Clinic) -> None:
        held = clinic.hold()
        clinic.pay(held, OFFLINE)
        with pytest.raises(PaymentAlreadyStarted):
            clinic.billing.start_payment(clinic.patient(), held.id, CARD)
        clinic.top_up("p1", 5000)
        paid = clinic.hold(index=4)
        clinic.pay(paid, WALLET)
        with pytest.raises(PaymentNotAllowed):
            clinic.billing.start_payment(clinic.patient(), paid.id, WALLET)
        assert clinic.balance() == eur(0)

    def test_asking_again_resumes_the_same_payment_and_intent(self, clinic: Clinic) -> None:
        held = clinic.hold()
        first = clinic.billing.start_payment(clinic.patient(), held.id, CARD)
        again = clinic.billing.start_payment(clinic.patient(), held.id, CARD)
        assert again.payment.id == first.payment.id
        assert again.client_secret == first.client_secret
        assert len(clinic.gateway.intents) == 1
        with pytest.raises(PaymentAlreadyStarted):
            clinic.billing.start_payment(clinic.patient(), held.id, WALLET)

    def test_offline_is_refused_when_the_clinic_does_not_take_it(self) -> None:
        clinic = Clinic(InMemoryUnitOfWorkFactory(), BillingSettings(accept_offline=False))
        with pytest.raises(PaymentNotAllowed):
            clinic.pay(clinic.hold(), OFFLINE)


class TestMethods:
    def test_card_books_when_the_success_event_arrives(self, clinic: Clinic) -> None:
        held = clinic.hold()
        payment = clinic.pay(held, CARD)
        assert clinic.appointment(held.id).status is AppointmentStatus.HELD
        result = clinic.deliver(clinic.gateway.complete(payment.provider_reference or ""))
        assert (result.outcome, result.detail) == (WebhookOutcome.APPLIED, "booked")
        assert clinic.appointment(held.id).status is AppointmentStatus.BOOKED
        assert clinic.payment_of(held.id).status is PaymentStatus.SUCCEEDED

    def test_wallet_debits_and_books_in_one_step(self, clinic: Clinic) -> None:
        clinic.top_up("p1", 6000)
        held = clinic.hold()
        payment = clinic.pay(held, WALLET)
        assert payment.status is PaymentStatus.SUCCEEDED
        assert clinic.appointment(held.id).status is AppointmentStatus.BOOKED
        assert clinic.balance() == eur(1000)
        assert payment.provider_reference is None

    def test_a_wallet_that_holds_too_little_changes_nothing(self, clinic: Clinic) -> None:
        clinic.top_up("p1", 4999)
        held = clinic.hold()
        with pytest.raises(InsufficientFunds):
            clinic.pay(held, WALLET)
        assert clinic.balance() == eur(4999)
        assert clinic.appointment(held.id).status is AppointmentStatus.HELD
        with clinic.uow() as uow:
            assert uow.payments.for_appointment(held.id) is None

    def test_hybrid_takes_the_wallet_first_and_the_card_for_the_rest(self, clinic: Clinic) -> None:
        clinic.top_up("p1", 1800)
        held = clinic.hold()
        started = clinic.billing.start_payment(clinic.patient(), held.id, HYBRID)
        assert (started.payment.wallet_part, started.payment.card_part) == (eur(1800), eur(3200))
        assert clinic.balance() == eur(0)
        assert intent_of(clinic, started.payment.provider_reference).amount == eur(3200)
        clinic.deliver(clinic.gateway.complete(started.payment.provider_reference or ""))
        assert clinic.appointment(held.id).status is AppointmentStatus.BOOKED

    def test_hybrid_with_enough_in_the_wallet_needs_no_card(self, clinic: Clinic) -> None:
        clinic.top_up("p1", 9000)
        held = clinic.hold()
        started = clinic.billing.start_payment(clinic.patient(), held.id, HYBRID)
        assert started.payment.status is PaymentStatus.SUCCEEDED
        assert started.client_secret is None
        assert clinic.appointment(held.id).status is AppointmentStatus.BOOKED
        assert clinic.balance() == eur(4000)

    def test_offline_books_now_and_collects_at_the_clinic(self, clinic: Clinic) -> None:
        held = clinic.hold()
        payment = clinic.pay(held, OFFLINE)
        assert (payment.status, payment.taken) == (PaymentStatus.REQUIRES_PAYMENT, eur(0))
        assert clinic.appointment(held.id).status is AppointmentStatus.BOOKED
        assert clinic.gateway.intents == {}


class TestEvents:
    def test_a_forged_webhook_is_rejected(self, clinic: Clinic) -> None:
        payment = clinic.pay(clinic.hold(), CARD)
        delivery = clinic.gateway.complete(payment.provider_reference or "")
        with pytest.raises(WebhookRejected):
            clinic.billing.handle_webhook(delivery.body, "0" * 64)
        with pytest.raises(WebhookRejected):
            clinic.billing.handle_webhook(delivery.body, None)
        assert clinic.payment_of(payment.appointment_id).status is (  # type: ignore[arg-type]
            PaymentStatus.REQUIRES_PAYMENT
        )

    def test_an_event_for_an_unknown_payment_is_recorded_and_ignored(self, clinic: Clinic) -> None:
        stranger = OfflinePaymentGateway()
        intent = stranger.create_intent(
            amount=eur(100), idempotency_key="x", metadata={"payment_id": "nope"}
        )
        delivery = stranger.complete(intent.provider_reference)
        first = clinic.deliver(delivery)
        assert (first.outcome, first.detail) == (WebhookOutcome.IGNORED, "unknown payment")
        assert clinic.deliver(delivery).outcome is WebhookOutcome.DUPLICATE

    def test_stale_events_arriving_after_the_success_change_nothing(self, clinic: Clinic) -> None:
        held = clinic.hold()
        payment = clinic.pay(held, CARD)
        reference = payment.provider_reference or ""
        processing = clinic.gateway.processing(reference)
        declined = clinic.gateway.decline(reference)
        succeeded = clinic.gateway.complete(reference)
        assert clinic.deliver(succeeded).outcome is WebhookOutcome.APPLIED
        assert clinic.deliver(declined).outcome is WebhookOutcome.IGNORED
        assert clinic.deliver(processing).outcome is WebhookOutcome.IGNORED
        assert clinic.payment_of(held.id).status is PaymentStatus.SUCCEEDED
        assert clinic.appointment(held.id).status is AppointmentStatus.BOOKED

    def test_a_declined_card_may_be_retried(self, clinic: Clinic) -> None:
        held = clinic.hold()
        reference = clinic.pay(held, CARD).provider_reference or ""
        clinic.deliver(clinic.gateway.decline(reference))
        assert clinic.payment_of(held.id).status is PaymentStatus.FAILED
        clinic.deliver(clinic.gateway.complete(reference))
        assert clinic.appointment(held.id).status is AppointmentStatus.BOOKED

    def test_a_success_after_the_hold_lapsed_is_refunded_in_full(self, clinic: Clinic) -> None:
        clinic.top_up("p1", 1000)
        held = clinic.hold()
        payment = clinic.pay(held, HYBRID)
        delivery = clinic.gateway.complete(payment.provider_reference or "")
        clinic.clock.advance(timedelta(minutes=15))
        result = clinic.deliver(delivery)
        assert result.detail == "refunded: the appointment is expired"
        assert clinic.appointment(held.id).status is AppointmentStatus.EXPIRED
        stored = clinic.payment_of(held.id)
        assert stored.status is PaymentStatus.REFUNDED
        assert [(r.reason, r.card, r.wallet) for r in stored.refunds] == [
            (RefundReason.UNBOOKABLE, eur(4000), eur(1000))
        ]
        assert clinic.balance() == eur(1000)
        assert clinic.gateway.refunds == {
            f"{stored.id}:unbookable": (payment.provider_reference, eur(4000))
        }
        assert stored.unsettled_refunds == ()

    def test_a_success_after_the_expiry_sweep_is_refunded(self, clinic: Clinic) -> None:
        clinic.top_up("p1", 1000)
        held = clinic.hold()
        payment = clinic.pay(held, HYBRID)
        delivery = clinic.gateway.complete(payment.provider_reference or "")  # paid in time...
        clinic.clock.advance(timedelta(minutes=20))
        assert clinic.scheduling.expire_holds() == [held.id]  # ...but the webhook was slow
        assert clinic.payment_of(held.id).status is PaymentStatus.CANCELLED
        assert clinic.balance() == eur(1000)  # the wallet part came back at expiry
        clinic.deliver(delivery)
        stored = clinic.payment_of(held.id)
        assert stored.status is PaymentStatus.REFUNDED
        assert stored.refunded == stored.taken == eur(5000)
        assert clinic.balance() == eur(1000)  # not credited twice
        assert clinic.gateway.captured() == eur(1000)  # only the top-up is kept

    def test_a_success_after_the_appointment_was_cancelled_is_refunded(
        self, clinic: Clinic
    ) -> None:
        held = clinic.hold()
        payment = clinic.pay(held, CARD)
        delivery = clinic.gateway.complete(payment.provider_reference or "")
        clinic.scheduling.cancel(clinic.patient(), held.id)
        clinic.deliver(delivery)
        assert clinic.payment_of(held.id).status is PaymentStatus.REFUNDED
        assert clinic.appointment(held.id).status is AppointmentStatus.CANCELLED
        assert clinic.gateway.captured() == eur(0)

    def test_fifty_concurrent_copies_of_an_event_have_one_effect(self, clinic: Clinic) -> None:
        held = clinic.hold()
        payment = clinic.pay(held, CARD)
        delivery = clinic.gateway.complete(payment.provider_reference or "")
        clinic.clock.advance(timedelta(minutes=15))  # late: the one effect is one refund
        copies = 50
        barrier = threading.Barrier(copies)

        def deliver(_: int) -> WebhookOutcome:
            barrier.wait()
            return clinic.deliver(delivery).outcome

        with ThreadPoolExecutor(copies) as pool:
            outcomes = list(pool.map(deliver, range(copies)))
        assert outcomes.count(WebhookOutcome.APPLIED) == 1
        assert outcomes.count(WebhookOutcome.DUPLICATE) == copies - 1
        stored = clinic.payment_of(held.id)
        assert len(stored.refunds) == 1
        assert len(clinic.gateway.refunds) == 1
        assert stored.refunded == eur(5000)

    def test_fifty_concurrent_copies_of_a_top_up_credit_once(self, clinic: Clinic) -> None:
        started = clinic.billing.top_up(clinic.patient(), eur(2500))
        delivery = clinic.gateway.complete(started.payment.provider_reference or "")
        barrier = threading.Barrier(50)

        def deliver(_: int) -> WebhookOutcome:
            barrier.wait()
            return clinic.deliver(delivery).outcome

        with ThreadPoolExecutor(50) as pool:
            outcomes = list(pool.map(deliver, range(50)))
        assert outcomes.count(WebhookOutcome.APPLIED) == 1
        assert clinic.balance() == eur(2500)


class TestWalletAndViews:
    def test_a_top_up_credits_once_when_its_card_payment_succeeds(self, clinic: Clinic) -> None:
        started = clinic.billing.top_up(clinic.patient(), eur(2500))
        assert clinic.balance() == eur(0)
        delivery = clinic.gateway.complete(started.payment.provider_reference or "")
        clinic.deliver(delivery)
        clinic.deliver(delivery)
        assert clinic.balance() == eur(2500)
        wallet = clinic.billing.wallet(clinic.patient(), PatientId("p1"), "EUR")
        assert wallet.balance == eur(2500)
        assert len(wallet.entries) == 1

    @pytest.mark.parametrize("minor_units", [0, 99, 1_000_001, -100])
    def test_top_ups_stay_within_limits(self, clinic: Clinic, minor_units: int) -> None:
        with pytest.raises(InvalidValue):
            clinic.billing.top_up(clinic.patient(), eur(minor_units))

    def test_only_patients_top_up(self, clinic: Clinic) -> None:
        with pytest.raises(AccessDenied):
            clinic.billing.top_up(ADMIN, eur(1000))

    def test_history_is_the_patients_own_and_the_admin_sees_everything(
        self, clinic: Clinic
    ) -> None:
        clinic.top_up("p1", 1000)
        clinic.pay(clinic.hold("p1"), CARD)
        clinic.pay(clinic.hold("p2", index=4), OFFLINE)
        mine = clinic.billing.payment_history(clinic.patient("p1"), PatientId("p1"))
        assert [p.purpose.value for p in mine] == ["appointment", "wallet_top_up"]
        sneaky = PaymentQuery(patient_id=PatientId("p2"))
        assert all(
            p.patient_id == PatientId("p1")
            for p in clinic.billing.payment_history(clinic.patient("p1"), PatientId("p1"), sneaky)
        )
        with pytest.raises(NotFound):
            clinic.billing.payment_history(clinic.patient("p1"), PatientId("p2"))
        with pytest.raises(NotFound):
            clinic.billing.wallet(clinic.patient("p1"), PatientId("p2"), "EUR")
        with pytest.raises(AccessDenied):
            clinic.billing.wallet(Actor.doctor(DoctorId("d1")), PatientId("p2"), "EUR")
        everything = clinic.billing.all_payments(ADMIN, PaymentQuery())
        assert len(everything) == 3
        offline = clinic.billing.all_payments(ADMIN, PaymentQuery(method=OFFLINE))
        assert [p.patient_id for p in offline] == [PatientId("p2")]
        with pytest.raises(AccessDenied):
            clinic.billing.all_payments(clinic.patient("p1"), PaymentQuery())
