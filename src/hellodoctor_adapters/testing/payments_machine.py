"""A Hypothesis state machine over payments: money is never lost or invented.

It books, pays (card, wallet, hybrid, offline), plays the customer (paying or declining an
intent), delivers webhooks in any order, duplicated and delayed past the hold's expiry,
cancels as patient, doctor or a stranger, expires holds, completes visits, tops up wallets and
moves the clock. After every step:

* no wallet is negative, and each wallet's ledger equals what the payments say moved through it;
* the money taken minus refunds equals the prices of the booked, completed and no-show
  appointments (paid online) plus the fees the cancellation policy kept -- the policy is
  modelled here independently, and every cancellation's refund is compared with it;
* no booked (or completed, no-show) appointment with a price lacks a succeeded payment (or
  an offline one due at the clinic);
* the gateway's view (captured minus refunded) equals the payments' card money.

Usage, for any storage whose units of work store payments::

    TestMyPayments = make_payment_machine(lambda: MyUnitOfWorkFactory(fresh=True)).TestCase
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from hellodoctor_adapters.memory import SequentialIds
from hellodoctor_adapters.offline_payments import WebhookDelivery
from hellodoctor_adapters.testing.clinic import ADMIN, FEES, PATIENTS, Clinic
from hellodoctor_domain import Actor, AppointmentId, AppointmentStatus, DoctorId, Money, PatientId
from hellodoctor_domain.errors import (
    BookingRuleViolation,
    CancellationNotAllowed,
    HoldExpired,
    IllegalTransition,
    InsufficientFunds,
    InvalidValue,
    NotFound,
    PaymentAlreadyStarted,
    PaymentNotAllowed,
    SlotUnavailable,
)
from hellodoctor_domain.model.payments import PaymentMethod, PaymentPurpose, PaymentStatus
from hellodoctor_domain.ports.payments import PaymentQuery
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.billing import Billing, WebhookOutcome

KEPT = (AppointmentStatus.BOOKED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW)
PAY_REFUSALS = (
    PaymentNotAllowed,
    HoldExpired,
    PaymentAlreadyStarted,
    InsufficientFunds,
)


def _eur(minor_units: int) -> Money:
    return Money(minor_units, "EUR")


def _policy_refund(price: Money, status: AppointmentStatus, who: str, notice: timedelta) -> Money:
    """The default policy, written again from its description (docs/domain.md)."""
    if status is not AppointmentStatus.BOOKED:
        return _eur(0)
    if who != "patient" or notice >= timedelta(hours=24):
        return price
    return price.share(50) if notice > timedelta(0) else _eur(0)


def make_payment_machine(
    new_uow_factory: Callable[[], UnitOfWorkFactory],
    billing_type: type[Billing] = Billing,
) -> type[RuleBasedStateMachine]:
    """A state machine class whose every run starts from ``new_uow_factory()``. ``billing_type``
    lets a test swap in a deliberately broken ``Billing`` to show the machine catches it;
    cancelling and expiring go through the clinic's ``Scheduling``."""

    class PaymentMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.clinic = Clinic(new_uow_factory())
            clinic = self.clinic
            self.billing = billing_type(
                clinic.uow, clinic.clock, SequentialIds("pay"), clinic.gateway, clinic.settings
            )
            self.appointments: list[AppointmentId] = []
            self.intents: list[str] = []
            self.pending: list[WebhookDelivery] = []
            self.delivered: list[WebhookDelivery] = []
            self.kept_fees: dict[AppointmentId, Money] = {}

        # -- rules -------------------------------------------------------------------------

        @rule(
            patient=st.sampled_from(PATIENTS),
            doctor=st.sampled_from(sorted(FEES)),
            day=st.integers(0, 1),
            index=st.integers(0, 5),
        )
        def book(self, patient: str, doctor: str, day: int, index: int) -> None:
            try:
                held = self.clinic.hold(patient, doctor, day=day, index=index)
            except (SlotUnavailable, BookingRuleViolation) as refused:
                event(f"book: {type(refused).__name__}")
                return
            self.appointments.append(held.id)

        @precondition(lambda self: self.appointments)
        @rule(data=st.data(), method=st.sampled_from(list(PaymentMethod)))
        def pay(self, data: st.DataObject, method: PaymentMethod) -> None:
            # Mostly the newest appointment: most likely still held, so payments happen.
            newest = data.draw(st.booleans(), label="newest")
            pool = self.appointments[-1:] if newest else self.appointments
            target = data.draw(st.sampled_from(pool), label="appointment")
            owner = self.clinic.appointment(target).patient_id
            try:
                started = self.billing.start_payment(Actor.patient(owner), target, method)
            except PAY_REFUSALS as refused:
                event(f"pay: {type(refused).__name__}")
                return
            event(f"pay: {method} {started.payment.status}")
            reference = started.payment.provider_reference
            if reference is not None and reference not in self.intents:
                self.intents.append(reference)

        @precondition(lambda self: self.appointments)
        @rule(data=st.data())
        def a_stranger_pays(self, data: st.DataObject) -> None:
            target = data.draw(st.sampled_from(self.appointments), label="appointment")
            try:
                self.billing.start_payment(
                    Actor.patient(PatientId("stranger")), target, PaymentMethod.CARD
                )
            except NotFound:
                return
            raise AssertionError("a stranger paid for someone else's appointment")

        @rule(patient=st.sampled_from(PATIENTS), amount=st.sampled_from([700, 2000, 5000]))
        def top_up(self, patient: str, amount: int) -> None:
            started = self.billing.top_up(Actor.patient(PatientId(patient)), _eur(amount))
            assert started.payment.provider_reference is not None
            self.intents.append(started.payment.provider_reference)

        @precondition(lambda self: self.intents)
        @rule(data=st.data(), succeed=st.booleans())
        def customer_acts(self, data: st.DataObject, succeed: bool) -> None:
            reference = data.draw(st.sampled_from(self.intents), label="intent")
            gateway = self.clinic.gateway
            try:
                delivery = gateway.complete(reference) if succeed else gateway.decline(reference)
            except InvalidValue:  # already paid, or cancelled: the provider refuses
                return
            self.pending.append(delivery)

        @precondition(lambda self: self.pending)
        @rule(data=st.data())
        def deliver(self, data: st.DataObject) -> None:
            # Any pending delivery, not the oldest: webhooks arrive out of order.
            index = data.draw(st.integers(0, len(self.pending) - 1), label="delivery")
            delivery = self.pending.pop(index)
            result = self.billing.handle_webhook(delivery.body, delivery.signature)
            event(f"deliver: {result.outcome} {result.detail.split(':')[0]}")
            assert result.outcome is not WebhookOutcome.DUPLICATE, f"a first delivery: {result}"
            self.delivered.append(delivery)

        @precondition(lambda self: self.delivered)
        @rule(data=st.data())
        def deliver_again(self, data: st.DataObject) -> None:
            delivery = data.draw(st.sampled_from(self.delivered), label="duplicate")
            result = self.billing.handle_webhook(delivery.body, delivery.signature)
            assert result.outcome is WebhookOutcome.DUPLICATE, f"a copy was applied again: {result}"

        @precondition(lambda self: self.appointments)
        @rule(data=st.data(), who=st.sampled_from(["patient", "doctor", "admin", "stranger"]))
        def cancel(self, data: st.DataObject, who: str) -> None:
            target = data.draw(st.sampled_from(self.appointments), label="appointment")
            before = self.clinic.appointment(target)
            with self.clinic.uow() as uow:
                payment = uow.payments.for_appointment(target)
            actor = {
                "patient": Actor.patient(before.patient_id),
                "doctor": Actor.doctor(before.doctor_id),
                "admin": ADMIN,
                "stranger": Actor.patient(PatientId("stranger")),
            }[who]
            now = self.clinic.clock.now()
            try:
                after = self.clinic.scheduling.cancel(actor, target)
            except (NotFound, CancellationNotAllowed, IllegalTransition) as refused:
                event(f"cancel: {type(refused).__name__}")
                if isinstance(refused, NotFound) and who != "stranger":
                    raise
                return
            assert who != "stranger", "a stranger cancelled someone else's appointment"
            paid = payment is not None and payment.status is PaymentStatus.SUCCEEDED
            owed = _policy_refund(before.price, before.status, who, before.time.start - now)
            expected = owed if paid else _eur(0)
            assert after.cancellation is not None
            assert after.cancellation.refund == expected, (after.cancellation, expected)
            if paid:
                self.kept_fees[target] = before.price - expected

        @rule()
        def expire_holds(self) -> None:
            self.clinic.scheduling.expire_holds(limit=1000)

        @precondition(lambda self: self.appointments)
        @rule(data=st.data())
        def complete(self, data: st.DataObject) -> None:
            target = data.draw(st.sampled_from(self.appointments), label="appointment")
            doctor = self.clinic.appointment(target).doctor_id
            try:
                self.clinic.scheduling.complete(Actor.doctor(DoctorId(doctor.value)), target)
            except IllegalTransition:
                return

        @rule(minutes=st.sampled_from([1, 10, 16, 60, 240]))
        def advance_clock(self, minutes: int) -> None:
            self.clinic.clock.advance(timedelta(minutes=minutes))

        # -- invariants ----------------------------------------------------------------------

        def _stored(self) -> tuple[list[Any], dict[AppointmentId, Any], dict[str, Money]]:
            with self.clinic.uow() as uow:
                payments = uow.payments.search(PaymentQuery(limit=10_000))
                appointments = {key: uow.appointments.get(key) for key in self.appointments}
                balances = {p: uow.wallets.balance(PatientId(p), "EUR") for p in PATIENTS}
            return payments, appointments, balances

        @invariant()
        def money_is_never_lost_or_invented(self) -> None:
            payments, appointments, balances = self._stored()
            for patient, balance in balances.items():
                assert balance.minor_units >= 0, f"the wallet of {patient} is negative: {balance}"
                expected = _eur(0)
                for payment in payments:
                    if payment.patient_id != PatientId(patient):
                        continue
                    if payment.purpose is PaymentPurpose.WALLET_TOP_UP and payment.succeeded_at:
                        expected += payment.amount
                    expected -= payment.wallet_part
                    for refund in payment.refunds:
                        expected += refund.wallet
                assert balance == expected, (
                    f"the wallet of {patient} holds {balance}, not {expected}"
                )

            by_appointment = {p.appointment_id: p for p in payments if p.appointment_id}
            # An open payment holds its wallet part in escrow and nothing else; the others have
            # settled what they took against the appointment's outcome.
            for payment in by_appointment.values():
                if payment.status.is_open:
                    escrow = payment.taken - payment.refunded
                    assert escrow == payment.wallet_part, f"{payment.id} holds {escrow}"
            net = sum(
                (p.taken - p.refunded for p in by_appointment.values() if not p.status.is_open),
                _eur(0),
            )
            owed = _eur(0)
            for key, appointment in appointments.items():
                payment = by_appointment.get(key)
                if appointment.status in KEPT and not appointment.price.is_zero:
                    assert payment is not None, f"{appointment.status} {key} has no payment"
                    assert payment.status is PaymentStatus.SUCCEEDED or (
                        payment.method is PaymentMethod.OFFLINE
                        and payment.status is PaymentStatus.REQUIRES_PAYMENT
                    ), f"{appointment.status} appointment {key} lacks a succeeded payment"
                    if payment.method is not PaymentMethod.OFFLINE:
                        owed += appointment.price
                elif appointment.status is AppointmentStatus.CANCELLED:
                    owed += self.kept_fees.get(key, _eur(0))
            assert net == owed, f"money taken minus refunds is {net}, but {owed} is owed"

            # The gateway holds what the payments say the cards paid (less settled refunds), plus
            # successes whose webhook is still on its way.
            card = _eur(0)
            for payment in payments:
                card += payment.card_taken
                for refund in payment.refunds:
                    if refund.settled:
                        card -= refund.card
            recorded = {p.id.value for p in payments if p.succeeded_at is not None}
            for intent in self.clinic.gateway.intents.values():
                if intent.status == "succeeded" and intent.metadata["payment_id"] not in recorded:
                    card += intent.amount
            gateway = self.clinic.gateway.captured() or _eur(0)
            assert gateway == card, f"the gateway holds {gateway}, the payments say {card}"

    return PaymentMachine
