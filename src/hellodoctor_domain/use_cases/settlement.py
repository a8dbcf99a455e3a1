"""Where an appointment and its money move together: the steps ``Scheduling`` (cancel, expire)
and ``Billing`` (money arriving) share, written once.

Inside a unit of work: book a hold whose money arrived (or expire it when the hold lapsed),
abandon an open payment, give money back. After the commit: ``GatewayFollowUp`` cancels an
abandoned intent and sends the card part of refunds, outside any transaction, with idempotency
keys derived from the payment; what a crash or an outage leaves unsent the worker finishes
(``Billing.settle_refunds``, ``Scheduling.expire_holds``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from hellodoctor_domain.errors import BackendUnavailable
from hellodoctor_domain.model.appointment import Appointment
from hellodoctor_domain.model.payments import (
    Payment,
    PaymentStatus,
    Refund,
    RefundReason,
    WalletEntry,
)
from hellodoctor_domain.model.values import Money
from hellodoctor_domain.ports.gateway import PaymentGateway
from hellodoctor_domain.ports.runtime import Clock
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.retry import retrying

_log = logging.getLogger(__name__)


def book_paid_hold(uow: UnitOfWork, appointment: Appointment, now: datetime) -> bool:
    """The hold's money arrived: held -> booked (True). A hold that lapsed is expired instead
    (False), so the caller gives the money back rather than keeping it. Anything but a hold is
    ``IllegalTransition``."""
    if appointment.hold_lapsed(now):
        appointment.expire(now)
        booked = False
    else:
        appointment.confirm(now)
        booked = True
    uow.appointments.update(appointment)
    return booked


def abandon(uow: UnitOfWork, payment: Payment, now: datetime) -> None:
    """An open payment will never complete: cancel it and give its wallet part back now (its
    intent is cancelled after the commit)."""
    release = payment.cancel(now)
    if release is not None:
        uow.wallets.append(WalletEntry.credit(payment, release))


def give_back(
    uow: UnitOfWork, payment: Payment, amount: Money, reason: RefundReason, now: datetime
) -> Refund | None:
    """Refund ``amount`` of ``payment`` to where it came from, the card first, then the wallet
    (credited now; the card part is sent after the commit). Once per reason."""
    refund = payment.refund(f"{payment.id}:{reason.value}", amount, reason, now)
    if refund is not None and not refund.wallet.is_zero:
        uow.wallets.append(WalletEntry.credit(payment, refund))
    return refund


def refund_for_cancellation(uow: UnitOfWork, payment: Payment, owed: Money, now: datetime) -> Money:
    """The appointment paid by ``payment`` is being cancelled: an open payment is abandoned, a
    paid one refunds what the policy says is ``owed``, capped by what is left to refund.
    Returns what was refunded."""
    refunded = Money.zero(owed.currency)
    if payment.status.is_open:
        abandon(uow, payment, now)
    elif payment.status in (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED):
        amount = Money(min(owed.minor_units, payment.refundable.minor_units), owed.currency)
        refund = give_back(uow, payment, amount, RefundReason.CANCELLATION, now)
        if refund is not None:
            refunded = refund.amount
    uow.payments.update(payment)
    return refunded


class GatewayFollowUp:
    """The gateway calls a committed change of a payment needs."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, gateway: PaymentGateway, retries: int
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._gateway = gateway
        self._retries = retries

    def after_commit(self, payment: Payment) -> None:
        """Cancel the intent of an abandoned payment and send its unsettled refunds."""
        if payment.status is PaymentStatus.CANCELLED and payment.provider_reference is not None:
            try:
                self._gateway.cancel_intent(provider_reference=payment.provider_reference)
            except BackendUnavailable:
                # The intent stays open; should it be paid, its success is refunded on arrival.
                _log.warning("could not cancel intent of payment %s", payment.id)
        self.send_refunds(payment)

    def send_refunds(self, payment: Payment) -> None:
        """Send the card part of every refund the gateway has not accepted yet, and record
        its acceptance; one the gateway cannot take now stays for the worker."""
        for refund in payment.unsettled_refunds:
            assert payment.provider_reference is not None
            try:
                reference = self._gateway.refund(
                    provider_reference=payment.provider_reference,
                    amount=refund.card,
                    idempotency_key=refund.key,
                )
            except BackendUnavailable:
                _log.warning("refund %s not sent yet; the worker retries it", refund.key)
                continue

            def record(key: str = refund.key, reference: str = reference) -> None:
                with self._uow() as uow:
                    stored = uow.payments.get(payment.id)
                    stored.settle_refund(key, reference, self._clock.now())
                    uow.payments.update(stored)
                    uow.commit()

            retrying(record, retries=self._retries)


__all__ = [
    "GatewayFollowUp",
    "abandon",
    "book_paid_hold",
    "give_back",
    "refund_for_cancellation",
]
