"""Use cases of payments: pay for a held appointment, handle the gateway's events, send
refunds the gateway has not taken yet, top up and read wallets and payments. Cancelling (with
its refund) and expiring holds (with their payments) are ``Scheduling``'s: the appointment's
lifecycle lives in one place, and the steps both share are in ``settlement``.

Rules every use case here keeps (docs/payments.md):

* The amount is the appointment's price (the doctor's fee copied at booking time); no caller
  ever chooses it. Only the patient who owns a held appointment may pay for it.
* A held appointment becomes booked in the same unit of work that records its payment's
  success (or, for a wallet payment, the debit). A success that arrives when the appointment
  can no longer be booked is refunded in full in that same unit of work -- never kept.
* Every gateway event is recorded under a unique id in the unit of work that applies it, so
  duplicates change nothing; events that would move a payment backwards are ignored.
* Calls to the gateway happen outside transactions, after the commit that made them
  necessary, with idempotency keys derived from the payment; a crash in between leaves a
  state the worker finishes (``settle_refunds``, ``Scheduling.expire_holds``).
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TypeVar

from attrs import define

from hellodoctor_domain.errors import (
    AccessDenied,
    AlreadyExists,
    ConcurrencyError,
    HoldExpired,
    InsufficientFunds,
    InvalidValue,
    NotFound,
    PaymentAlreadyStarted,
    PaymentNotAllowed,
)
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.payments import (
    Payment,
    PaymentId,
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
    RefundReason,
    Wallet,
    WalletEntry,
)
from hellodoctor_domain.model.values import Actor, AppointmentId, Money, PatientId, Role
from hellodoctor_domain.ports.gateway import GatewayEvent, GatewayEventKind, PaymentGateway
from hellodoctor_domain.ports.payments import PaymentQuery
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.retry import retrying
from hellodoctor_domain.use_cases.settlement import GatewayFollowUp, book_paid_hold, give_back

T = TypeVar("T")


@define(frozen=True)
class BillingSettings:
    """What a deployment may tune. Top-up limits are in minor units of the chosen currency."""

    accept_offline: bool = True
    smallest_top_up: int = 100
    largest_top_up: int = 1_000_000
    retries_on_concurrency: int = 3


@define(frozen=True)
class PaymentStarted:
    """What a client needs after asking to pay: the payment, the appointment (booked at once
    for a wallet or offline payment) and, when a card must pay (part of) it, the intent's
    client secret."""

    payment: Payment
    appointment: Appointment | None
    client_secret: str | None = None


class WebhookOutcome(enum.StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"  # this event id was handled before: nothing changed
    IGNORED = "ignored"  # recorded, but stale, unknown or not acted on: nothing changed


@define(frozen=True)
class WebhookResult:
    outcome: WebhookOutcome
    event_id: str
    payment_id: PaymentId | None = None
    detail: str = ""


class Billing:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        gateway: PaymentGateway,
        settings: BillingSettings | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._gateway = gateway
        self.settings = settings or BillingSettings()
        self._follow_up = GatewayFollowUp(uow, clock, gateway, self.settings.retries_on_concurrency)

    # -- paying ----------------------------------------------------------------------------

    def start_payment(
        self, actor: Actor, appointment_id: AppointmentId, method: PaymentMethod
    ) -> PaymentStarted:
        """Pay for a held appointment with ``method``. Asking again (a retried request)
        returns the payment already started; another method is refused while it is open.

        * card: a payment and, after the commit, an intent for the whole price;
        * wallet: the price is debited and the appointment booked in one unit of work
          (``InsufficientFunds`` from the ledger when the balance does not cover it);
        * hybrid: what the wallet holds (up to the price) is debited now, an intent is made
          for the rest; all-wallet when it covers everything;
        * offline: paid at the clinic; the appointment is booked now.
        """
        if actor.role is not Role.PATIENT:
            raise AccessDenied("only the patient who owns an appointment pays for it")
        if method is PaymentMethod.OFFLINE and not self.settings.accept_offline:
            raise PaymentNotAllowed("this clinic does not take payment at the clinic")

        def attempt() -> tuple[Payment, Appointment]:
            with self._uow() as uow:
                appointment = uow.appointments.get(appointment_id)
                if appointment.patient_id != actor.patient_id:
                    raise NotFound(f"no appointment {appointment_id}")
                now = self._clock.now()
                existing = uow.payments.for_appointment(appointment_id)
                if existing is not None and existing.status.is_open:
                    if existing.method is not method:
                        raise PaymentAlreadyStarted(
                            f"appointment {appointment_id} is being paid by {existing.method}"
                        )
                    if appointment.hold_lapsed(now):
                        raise HoldExpired(f"the hold on {appointment_id} lapsed")
                    return existing, appointment
                _require_payable(appointment, now)
                price = appointment.price
                if method is PaymentMethod.WALLET:
                    wallet_part = price
                elif method is PaymentMethod.HYBRID:
                    # Only sizes the request: the ledger itself refuses an overdraft, and a
                    # concurrent debit makes this attempt fail and the next one re-read.
                    balance = uow.wallets.balance(appointment.patient_id, price.currency)
                    wallet_part = Money(
                        max(0, min(balance.minor_units, price.minor_units)), price.currency
                    )
                else:
                    wallet_part = Money.zero(price.currency)
                payment = Payment.start(
                    id=PaymentId(self._ids.new_id()),
                    patient_id=appointment.patient_id,
                    appointment_id=appointment.id,
                    method=method,
                    amount=price,
                    wallet_part=wallet_part,
                    now=now,
                )
                uow.payments.add(payment)
                if not wallet_part.is_zero:
                    uow.wallets.append(WalletEntry.debit(payment, now))
                if payment.status is PaymentStatus.SUCCEEDED or method is PaymentMethod.OFFLINE:
                    appointment.confirm(now)
                    uow.appointments.update(appointment)
                uow.commit()
                return payment, appointment

        retry_on: tuple[type[Exception], ...] = (ConcurrencyError, AlreadyExists)
        if method is PaymentMethod.HYBRID:
            retry_on = (*retry_on, InsufficientFunds)
        payment, appointment = retrying(
            attempt, retries=self.settings.retries_on_concurrency, retry_on=retry_on
        )
        secret = None
        if payment.needs_intent:
            payment, secret = self._ensure_intent(payment)
        return PaymentStarted(payment, appointment, secret)

    def top_up(self, actor: Actor, amount: Money) -> PaymentStarted:
        """Load the patient's wallet by card: the wallet is credited when the card payment
        succeeds (``handle_event``), once."""
        if actor.patient_id is None:
            raise AccessDenied("only a patient tops up their own wallet")
        patient_id = actor.patient_id
        if not self.settings.smallest_top_up <= amount.minor_units <= self.settings.largest_top_up:
            raise InvalidValue(
                f"a top-up is {self.settings.smallest_top_up} to {self.settings.largest_top_up} "
                "minor units"
            )
        now = self._clock.now()
        payment = Payment.start(
            id=PaymentId(self._ids.new_id()),
            patient_id=patient_id,
            appointment_id=None,
            method=PaymentMethod.CARD,
            amount=amount,
            wallet_part=Money.zero(amount.currency),
            now=now,
        )
        with self._uow() as uow:
            uow.payments.add(payment)
            uow.commit()
        payment, secret = self._ensure_intent(payment)
        return PaymentStarted(payment, None, secret)

    def _ensure_intent(self, payment: Payment) -> tuple[Payment, str | None]:
        metadata = {
            "payment_id": payment.id.value,
            "patient_id": payment.patient_id.value,
            "purpose": payment.purpose.value,
        }
        if payment.appointment_id is not None:
            metadata["appointment_id"] = payment.appointment_id.value
        intent = self._gateway.create_intent(
            amount=payment.card_part, idempotency_key=f"intent:{payment.id}", metadata=metadata
        )
        if payment.provider_reference == intent.provider_reference:
            return payment, intent.client_secret

        def attach() -> Payment:
            with self._uow() as uow:
                stored = uow.payments.get(payment.id)
                if stored.provider_reference != intent.provider_reference:
                    stored.attach_intent(intent.provider_reference, self._clock.now())
                    uow.payments.update(stored)
                    uow.commit()
                return stored

        return retrying(attach, retries=self.settings.retries_on_concurrency), intent.client_secret

    # -- the gateway's events ---------------------------------------------------------------

    def handle_webhook(self, body: bytes, signature: str | None) -> WebhookResult:
        """Verify and apply a webhook delivery (``WebhookRejected`` for a bad one)."""
        return self.handle_event(self._gateway.parse_event(body=body, signature=signature))

    def handle_event(self, event: GatewayEvent) -> WebhookResult:
        """Apply a verified event once. The event id is recorded in the unit of work that
        applies it; a copy (however many, however concurrent) finds it and changes nothing."""

        def attempt() -> tuple[WebhookResult, Payment | None]:
            with self._uow() as uow:
                now = self._clock.now()
                uow.processed_events.add(self._gateway.name, event.id, now)
                payment = _payment_of(uow, event)
                if payment is None:
                    result = WebhookResult(
                        WebhookOutcome.IGNORED, event.id, event.payment_id, "unknown payment"
                    )
                else:
                    result = self._apply(uow, payment, event, now)
                    if result.outcome is WebhookOutcome.APPLIED:
                        uow.payments.update(payment)
                uow.commit()
                return result, payment

        try:
            result, payment = retrying(attempt, retries=self.settings.retries_on_concurrency)
        except AlreadyExists:
            with self._uow() as uow:
                if not uow.processed_events.contains(self._gateway.name, event.id):
                    raise
            return WebhookResult(WebhookOutcome.DUPLICATE, event.id, event.payment_id)
        if payment is not None:
            self._follow_up.send_refunds(payment)
        return result

    def _apply(
        self, uow: UnitOfWork, payment: Payment, event: GatewayEvent, now: datetime
    ) -> WebhookResult:
        def ignored(why: str) -> WebhookResult:
            return WebhookResult(WebhookOutcome.IGNORED, event.id, payment.id, why)

        if (
            payment.provider_reference is not None
            and payment.provider_reference != event.provider_reference
        ):
            return ignored("the event is about another intent")
        if payment.card_part.is_zero:
            return ignored("nothing of this payment is collected by the gateway")
        status = payment.status
        if event.kind is GatewayEventKind.PROCESSING:
            if status not in (PaymentStatus.REQUIRES_PAYMENT, PaymentStatus.FAILED):
                return ignored(f"stale: the payment is {status}")
            payment.mark_processing(now)
        elif event.kind is GatewayEventKind.FAILED:
            if status not in (PaymentStatus.REQUIRES_PAYMENT, PaymentStatus.PROCESSING):
                return ignored(f"stale: the payment is {status}")
            payment.mark_failed(now, event.failure)
        elif event.kind is GatewayEventKind.SUCCEEDED:
            if payment.succeeded_at is not None:
                return ignored("the success was recorded already")
            return self._collected(uow, payment, event, now)
        else:
            # Intents are cancelled by us (expiry, cancellation), which already cancelled the
            # payment; other event types carry nothing the domain acts on.
            return ignored(f"{event.kind} events change nothing")
        return WebhookResult(WebhookOutcome.APPLIED, event.id, payment.id, status)

    def _collected(
        self, uow: UnitOfWork, payment: Payment, event: GatewayEvent, now: datetime
    ) -> WebhookResult:
        """The card money arrived: book the appointment, credit the top-up -- or, when the
        appointment can no longer be booked, give everything back in this same transaction."""
        was_cancelled = payment.status is PaymentStatus.CANCELLED
        payment.record_success(now)
        if payment.provider_reference is None:
            payment.attach_intent(event.provider_reference, now)
        if payment.purpose is PaymentPurpose.WALLET_TOP_UP:
            uow.wallets.append(WalletEntry.top_up(payment, now))
            return WebhookResult(WebhookOutcome.APPLIED, event.id, payment.id, "wallet credited")
        assert payment.appointment_id is not None
        appointment = uow.appointments.get(payment.appointment_id)
        if (
            not was_cancelled
            and appointment.status is AppointmentStatus.HELD
            and book_paid_hold(uow, appointment, now)
        ):
            return WebhookResult(WebhookOutcome.APPLIED, event.id, payment.id, "booked")
        give_back(uow, payment, payment.refundable, RefundReason.UNBOOKABLE, now)
        return WebhookResult(
            WebhookOutcome.APPLIED,
            event.id,
            payment.id,
            f"refunded: the appointment is {appointment.status}",
        )

    # -- refunds ---------------------------------------------------------------------------

    def settle_refunds(self, limit: int = 100) -> int:
        """Send refunds whose card part the gateway has not accepted yet (after a crash or an
        outage); idempotent, so safe to repeat and to run in several workers. Returns how many
        payments were looked at."""
        with self._uow() as uow:
            pending = uow.payments.with_unsettled_refunds(limit)
        for payment in pending:
            self._follow_up.send_refunds(payment)
        return len(pending)

    # -- reading ---------------------------------------------------------------------------

    def wallet(self, actor: Actor, patient_id: PatientId, currency: str) -> Wallet:
        _require_self_or_admin(actor, patient_id)
        with self._uow() as uow:
            return Wallet(patient_id, currency, tuple(uow.wallets.entries(patient_id, currency)))

    def payment_history(
        self, actor: Actor, patient_id: PatientId, query: PaymentQuery | None = None
    ) -> list[Payment]:
        """One page of a patient's payments, newest first: their own, or anyone's for an admin."""
        _require_self_or_admin(actor, patient_id)
        return self._search(query or PaymentQuery(patient_id=patient_id), patient_id)

    def all_payments(self, actor: Actor, query: PaymentQuery) -> list[Payment]:
        """The admin's view: every payment, filtered, one page at a time."""
        if actor.role is not Role.ADMIN:
            raise AccessDenied("only an admin sees every payment")
        return self._search(query, query.patient_id)

    def _search(self, query: PaymentQuery, patient_id: PatientId | None) -> list[Payment]:
        # A page of up to 200, and one more to tell whether another page follows.
        if not 1 <= query.limit <= 200 + 1:
            raise InvalidValue("a page holds 1 to 200 payments")
        if patient_id is not None and query.patient_id != patient_id:
            query = PaymentQuery(
                patient_id=patient_id,
                statuses=query.statuses,
                purpose=query.purpose,
                method=query.method,
                before=query.before,
                limit=query.limit,
            )
        with self._uow() as uow:
            return uow.payments.search(query)


def _require_payable(appointment: Appointment, now: datetime) -> None:
    if appointment.status is not AppointmentStatus.HELD:
        raise PaymentNotAllowed(f"appointment {appointment.id} is {appointment.status}")
    if appointment.hold_lapsed(now):
        raise HoldExpired(f"the hold on {appointment.id} lapsed at {appointment.hold_expires_at}")


def _payment_of(uow: UnitOfWork, event: GatewayEvent) -> Payment | None:
    if event.payment_id is None:
        return None
    try:
        return uow.payments.get(event.payment_id)
    except NotFound:
        return None


def _require_self_or_admin(actor: Actor, patient_id: PatientId) -> None:
    if actor.role is Role.ADMIN:
        return
    if actor.role is Role.PATIENT and actor.patient_id == patient_id:
        return
    if actor.role is Role.PATIENT:
        raise NotFound(f"no patient {patient_id}")
    raise AccessDenied("a patient's money is theirs and the admins' to see")


__all__ = [
    "Billing",
    "BillingSettings",
    "PaymentStarted",
    "WebhookOutcome",
    "WebhookResult",
]
