"""Money is never lost or invented, on the in-memory reference storage -- and proof that the
machine catches implementations that lose or invent it."""

from __future__ import annotations

from datetime import datetime

import pytest
from attrs import evolve
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import FlakyFailure
from hypothesis.stateful import run_state_machine_as_test

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory
from hellodoctor_adapters.testing.payments_machine import make_payment_machine
from hellodoctor_domain.model.payments import Payment, PaymentPurpose, WalletEntry
from hellodoctor_domain.ports.gateway import GatewayEvent, GatewayEventKind
from hellodoctor_domain.ports.unit_of_work import UnitOfWork
from hellodoctor_domain.use_cases.billing import Billing, WebhookOutcome, WebhookResult

TestInMemoryPayments = make_payment_machine(InMemoryUnitOfWorkFactory).TestCase


class KeepsLateMoney(Billing):
    """Deliberately broken like the systems we replace: a success that arrives after the hold
    lapsed (or the cancellation) is captured and kept, silently."""

    def _collected(
        self, uow: UnitOfWork, payment: Payment, event: GatewayEvent, now: datetime
    ) -> WebhookResult:
        payment.record_success(now)
        if payment.provider_reference is None:
            payment.attach_intent(event.provider_reference, now)
        if payment.purpose is PaymentPurpose.WALLET_TOP_UP:
            uow.wallets.append(WalletEntry.top_up(payment, now))
        else:
            assert payment.appointment_id is not None
            appointment = uow.appointments.get(payment.appointment_id)
            if appointment.blocks_time_at(now) and appointment.status.value == "held":
                appointment.confirm(now)
                uow.appointments.update(appointment)
        return WebhookResult(WebhookOutcome.APPLIED, event.id, payment.id)


class NotIdempotent(Billing):
    """Deliberately broken: a top-up's success credits the wallet on every delivery (no
    processed-event record, a ledger reference per delivery)."""

    def handle_event(self, event: GatewayEvent) -> WebhookResult:
        with self._uow() as uow:
            payment = uow.payments.get(event.payment_id) if event.payment_id else None
            if (
                payment is None
                or payment.purpose is not PaymentPurpose.WALLET_TOP_UP
                or event.kind is not GatewayEventKind.SUCCEEDED
            ):
                uow.rollback()
                return super().handle_event(event)
            now = self._clock.now()
            if payment.succeeded_at is None:
                payment.record_success(now)
                payment.attach_intent(event.provider_reference, now)
                uow.payments.update(payment)
            entry = WalletEntry.top_up(payment, now)
            uow.wallets.append(evolve(entry, reference=f"{entry.reference}:{self._ids.new_id()}"))
            uow.commit()
        return WebhookResult(WebhookOutcome.APPLIED, event.id, payment.id)


@pytest.mark.parametrize("broken", [KeepsLateMoney, NotIdempotent])
def test_the_machine_catches_billing_that_loses_or_invents_money(broken: type[Billing]) -> None:
    machine = make_payment_machine(InMemoryUnitOfWorkFactory, broken)
    with pytest.raises((AssertionError, FlakyFailure)) as caught:
        run_state_machine_as_test(
            machine,
            settings=settings(
                # A late payment needs book, pay, a lapse and a delivery in that order: a few
                # per cent of examples; 3000 make missing it vanishingly unlikely.
                max_examples=3000,
                stateful_step_count=30,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            ),
        )
    message = str(caught.value)
    assert "is owed" in message or "holds" in message or "applied again" in message, message
