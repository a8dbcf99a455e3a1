"""Payments and the patient wallet: money that is never lost or invented.

A ``Payment`` collects one amount -- an appointment's price, copied from the appointment (which
copied the doctor's fee at booking time), or a wallet top-up -- by card, from the wallet, by
both (``hybrid``: the wallet part first, the card for the rest) or at the clinic (``offline``).
::

    requires_payment --> processing --> succeeded --> partially_refunded --> refunded
          |     \\            |    ^         \\_________________________________^
          |      \\--> failed <--'   |
          |            |            |
          '--> cancelled <----------'   cancelled --> succeeded (the provider captured anyway:
                                                      the use case refunds it at once)

Money is counted in two parts: ``wallet_part`` is debited from the wallet when the payment
starts (in the same unit of work), the rest (``card_part``) is captured by the gateway. Every
refund is an entry with its own idempotency key, so recording it again adds nothing, and no
refund may give back more than was taken, in total or by either method.

The ``Wallet`` is an append-only ledger of ``WalletEntry`` (top-ups, debits for payments,
refund credits), each with a unique reference. Its balance never goes below zero: the
storage refuses the entry that would make it negative, atomically with the write
(``WalletLedger.append``); nothing here pre-checks it.

A payment records ``PaymentSucceeded`` when the money is collected and ``RefundIssued`` for
every refund (a released wallet part included), published after the commit that stores them.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import ClassVar, Self

from attrs import define, evolve, field

from hellodoctor_domain.errors import (
    IllegalPaymentTransition,
    InvalidValue,
    RefundExceedsPayment,
)
from hellodoctor_domain.model.events import Aggregate, DomainEvent
from hellodoctor_domain.model.values import (
    AppointmentId,
    Money,
    PatientId,
    UserId,
    _Identifier,
    utc,
)


class PaymentId(_Identifier):
    """Identity of a payment."""


class PaymentMethod(enum.StrEnum):
    CARD = "card"
    WALLET = "wallet"
    HYBRID = "hybrid"
    OFFLINE = "offline"  # paid at the clinic; nothing is collected through the system


class Collection(enum.StrEnum):
    """How the front desk took an offline payment (issue 17)."""

    CASH = "cash"
    CARD_TERMINAL = "card_terminal"


class PaymentPurpose(enum.StrEnum):
    APPOINTMENT = "appointment"
    WALLET_TOP_UP = "wallet_top_up"


class PaymentStatus(enum.StrEnum):
    REQUIRES_PAYMENT = "requires_payment"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        """Still waiting for the customer's money (a failed attempt may be retried)."""
        return self in OPEN_STATUSES


OPEN_STATUSES = frozenset(
    {PaymentStatus.REQUIRES_PAYMENT, PaymentStatus.PROCESSING, PaymentStatus.FAILED}
)
PAID_STATUSES = frozenset(
    {PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
)

_TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.REQUIRES_PAYMENT: frozenset(
        {
            PaymentStatus.PROCESSING,
            PaymentStatus.SUCCEEDED,
            PaymentStatus.FAILED,
            PaymentStatus.CANCELLED,
        }
    ),
    PaymentStatus.PROCESSING: frozenset(
        {PaymentStatus.SUCCEEDED, PaymentStatus.FAILED, PaymentStatus.CANCELLED}
    ),
    # A declined card may be retried on the same intent.
    PaymentStatus.FAILED: frozenset(
        {PaymentStatus.PROCESSING, PaymentStatus.SUCCEEDED, PaymentStatus.CANCELLED}
    ),
    # We gave up on it, but the provider captured the money anyway (the customer paid while the
    # cancellation was on its way): the money exists, so the payment must say so -- and the use
    # case refunds it at once, never keeping it silently.
    PaymentStatus.CANCELLED: frozenset({PaymentStatus.SUCCEEDED}),
    PaymentStatus.SUCCEEDED: frozenset({PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}),
    PaymentStatus.PARTIALLY_REFUNDED: frozenset(
        {PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
    ),
    PaymentStatus.REFUNDED: frozenset(),
}


class RefundReason(enum.StrEnum):
    CANCELLATION = "cancellation"  # the appointment was cancelled; the policy set the amount
    UNBOOKABLE = "unbookable"  # the money arrived after the hold lapsed or the cancellation
    RELEASE = "release"  # the wallet part of a payment that never completed goes back


def _optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


@define(frozen=True)
class Refund:
    """Money given back, recorded once under ``key`` however often it is asked for.

    The wallet part is credited in the same unit of work that records the refund; the card
    part is sent to the gateway after the commit (with ``key`` as its idempotency key) and is
    ``settled`` once the gateway has accepted it.
    """

    key: str
    reason: RefundReason
    card: Money
    wallet: Money
    recorded_at: datetime = field(converter=utc)
    provider_reference: str | None = None

    @property
    def amount(self) -> Money:
        return self.card + self.wallet

    @property
    def settled(self) -> bool:
        return self.card.is_zero or self.provider_reference is not None


def _zero_like(money: Money) -> Money:
    return Money.zero(money.currency)


@define(frozen=True, kw_only=True)
class PaymentEvent(DomainEvent):
    aggregate_type: ClassVar[str] = "payment"

    payment_id: PaymentId
    patient_id: PatientId
    appointment_id: AppointmentId | None  # None for a wallet top-up

    @property
    def aggregate_id(self) -> str:
        return self.payment_id.value


@define(frozen=True, kw_only=True)
class PaymentSucceeded(PaymentEvent):
    """The money was collected: the card part captured, or the wallet covered it all."""

    method: PaymentMethod
    amount: Money
    wallet_part: Money


@define(frozen=True, kw_only=True)
class RefundIssued(PaymentEvent):
    """Money was given back: the wallet part is credited in the same commit, the card part is
    sent to the gateway after it (``refund_key`` is its idempotency key)."""

    refund_key: str
    reason: RefundReason
    card: Money
    wallet: Money


@define(eq=False)
class Payment(Aggregate):
    id: PaymentId
    purpose: PaymentPurpose
    patient_id: PatientId
    appointment_id: AppointmentId | None
    method: PaymentMethod
    amount: Money
    wallet_part: Money
    status: PaymentStatus
    created_at: datetime = field(converter=utc)
    updated_at: datetime = field(converter=utc)
    provider_reference: str | None = None
    succeeded_at: datetime | None = field(default=None, converter=_optional_utc)
    failure: str = ""
    refunds: tuple[Refund, ...] = ()
    # Storage's optimistic-concurrency token: the version this object was read at.
    version: int = 0
    # An offline payment the desk took (issue 17): how, and by which account; when is
    # ``succeeded_at``.
    collected_via: Collection | None = None
    collected_by: UserId | None = None

    def __attrs_post_init__(self) -> None:
        if self.amount.minor_units <= 0:
            raise InvalidValue("a payment collects a positive amount")
        if self.wallet_part.currency != self.amount.currency:
            raise InvalidValue("the wallet part is in the payment's currency")
        if not 0 <= self.wallet_part.minor_units <= self.amount.minor_units:
            raise InvalidValue("the wallet part lies between zero and the amount")
        wallet_share = {
            PaymentMethod.CARD: self.wallet_part.is_zero,
            PaymentMethod.OFFLINE: self.wallet_part.is_zero,
            PaymentMethod.WALLET: self.wallet_part == self.amount,
            PaymentMethod.HYBRID: True,
        }
        if not wallet_share[self.method]:
            raise InvalidValue(
                f"a {self.method} payment cannot take {self.wallet_part} from the wallet"
            )
        if (self.purpose is PaymentPurpose.APPOINTMENT) != (self.appointment_id is not None):
            raise InvalidValue("an appointment payment names its appointment; a top-up none")
        if self.purpose is PaymentPurpose.WALLET_TOP_UP and self.method is not PaymentMethod.CARD:
            raise InvalidValue("a wallet is topped up by card")
        if (self.collected_via is None) != (self.collected_by is None):
            raise InvalidValue("a collection names both how and by whom")
        if self.collected_via is not None and self.method is not PaymentMethod.OFFLINE:
            raise InvalidValue("only a payment due at the clinic is collected there")

    # -- creation ----------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        *,
        id: PaymentId,
        patient_id: PatientId,
        appointment_id: AppointmentId | None,
        method: PaymentMethod,
        amount: Money,
        wallet_part: Money,
        now: datetime,
    ) -> Self:
        """A new payment. One whose card part is zero (all from the wallet) has succeeded
        already: the caller debits the wallet in the same unit of work."""
        purpose = (
            PaymentPurpose.WALLET_TOP_UP if appointment_id is None else PaymentPurpose.APPOINTMENT
        )
        payment = cls(
            id=id,
            purpose=purpose,
            patient_id=patient_id,
            appointment_id=appointment_id,
            method=method,
            amount=amount,
            wallet_part=wallet_part,
            status=PaymentStatus.REQUIRES_PAYMENT,
            created_at=now,
            updated_at=now,
        )
        if method is not PaymentMethod.OFFLINE and payment.card_part.is_zero:
            payment.record_success(now)
        return payment

    # -- questions -----------------------------------------------------------------------

    @property
    def card_part(self) -> Money:
        """What the gateway collects (nothing for an offline payment: the clinic does)."""
        if self.method is PaymentMethod.OFFLINE:
            return _zero_like(self.amount)
        return self.amount - self.wallet_part

    @property
    def needs_intent(self) -> bool:
        return self.status.is_open and not self.card_part.is_zero

    @property
    def card_taken(self) -> Money:
        return self.card_part if self.succeeded_at is not None else _zero_like(self.amount)

    @property
    def taken(self) -> Money:
        """Every minor unit this payment moved away from the patient: the wallet part (debited
        when it started) and the card part once captured."""
        return self.wallet_part + self.card_taken

    @property
    def refunded(self) -> Money:
        return sum((r.amount for r in self.refunds), _zero_like(self.amount))

    @property
    def refundable(self) -> Money:
        return self.taken - self.refunded

    @property
    def unsettled_refunds(self) -> tuple[Refund, ...]:
        return tuple(r for r in self.refunds if not r.settled)

    def refund_by_key(self, key: str) -> Refund | None:
        return next((r for r in self.refunds if r.key == key), None)

    # -- transitions ---------------------------------------------------------------------

    def attach_intent(self, provider_reference: str, now: datetime) -> None:
        """Remember the gateway's intent (whatever the status: a success event may have come
        first); attaching the same one again changes nothing, another one is refused."""
        if self.provider_reference == provider_reference:
            return
        if self.provider_reference is not None or self.card_part.is_zero:
            raise IllegalPaymentTransition(str(self.id), self.status, "given another intent")
        self.provider_reference = provider_reference
        self.updated_at = utc(now)

    def mark_processing(self, now: datetime) -> None:
        self._move(PaymentStatus.PROCESSING, now, "processing")

    def mark_failed(self, now: datetime, reason: str = "") -> None:
        self._move(PaymentStatus.FAILED, now, "failed")
        self.failure = reason

    def record_success(self, now: datetime) -> None:
        """The money has been collected (the gateway says so, or the wallet covered it all)."""
        self._move(PaymentStatus.SUCCEEDED, now, "succeeded")
        self.succeeded_at = utc(now)
        self.failure = ""
        self._record(
            PaymentSucceeded,
            now,
            method=self.method,
            amount=self.amount,
            wallet_part=self.wallet_part,
        )

    def record_collection(self, via: Collection, by: UserId, now: datetime) -> None:
        """The clinic took the money of an offline payment (cash or its card terminal): it has
        succeeded, once; a second collection is ``IllegalPaymentTransition``. Nothing moves
        through the system (``taken`` stays zero): refunds of it are the clinic's, at the
        desk."""
        if self.method is not PaymentMethod.OFFLINE:
            raise IllegalPaymentTransition(str(self.id), self.status, "collected at the clinic")
        self.record_success(now)
        self.collected_via = via
        self.collected_by = by

    def cancel(self, now: datetime) -> Refund | None:
        """Give up on an open payment. The wallet part it took is released: the returned
        refund (if any) is what the caller credits to the wallet in the same unit of work."""
        self._move(PaymentStatus.CANCELLED, now, "cancelled")
        if self.wallet_part.is_zero:
            return None
        release = Refund(
            key=f"{self.id}:release",
            reason=RefundReason.RELEASE,
            card=_zero_like(self.amount),
            wallet=self.wallet_part,
            recorded_at=now,
        )
        self._add_refund(release)
        return release

    def refund(self, key: str, amount: Money, reason: RefundReason, now: datetime) -> Refund | None:
        """Give back ``amount`` of what was taken: to the card first (up to what the card
        paid), then to the wallet. Returns the new refund, or ``None`` when there is nothing
        new to record (a zero amount, or ``key`` already recorded: a replay)."""
        if self.refund_by_key(key) is not None:
            return None
        if amount.currency != self.amount.currency:
            raise InvalidValue(
                f"cannot refund {amount.currency} of a {self.amount.currency} payment"
            )
        if amount.minor_units < 0:
            raise InvalidValue("a refund is not negative")
        if amount.is_zero:
            return None
        if self.status not in (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED):
            raise IllegalPaymentTransition(str(self.id), self.status, "refunded")
        if amount.minor_units > self.refundable.minor_units:
            raise RefundExceedsPayment(
                f"payment {self.id} can give back at most {self.refundable}, not {amount}"
            )
        card_left = self.card_taken - sum((r.card for r in self.refunds), _zero_like(self.amount))
        to_card = Money(min(card_left.minor_units, amount.minor_units), amount.currency)
        refund = Refund(
            key=key, reason=reason, card=to_card, wallet=amount - to_card, recorded_at=now
        )
        self._add_refund(refund)
        self._move(
            PaymentStatus.REFUNDED if self.refundable.is_zero else PaymentStatus.PARTIALLY_REFUNDED,
            now,
            "refunded",
        )
        return refund

    def settle_refund(self, key: str, provider_reference: str, now: datetime) -> None:
        """The gateway accepted the card part of refund ``key``; settling again changes
        nothing."""
        refund = self.refund_by_key(key)
        if refund is None:
            raise InvalidValue(f"payment {self.id} has no refund {key!r}")
        if refund.settled:
            return
        self.refunds = tuple(
            evolve(r, provider_reference=provider_reference) if r.key == key else r
            for r in self.refunds
        )
        self.updated_at = utc(now)

    def _add_refund(self, refund: Refund) -> None:
        self.refunds = (*self.refunds, refund)
        self._record(
            RefundIssued,
            refund.recorded_at,
            refund_key=refund.key,
            reason=refund.reason,
            card=refund.card,
            wallet=refund.wallet,
        )

    def _record(self, event_type: type[PaymentEvent], now: datetime, **facts: object) -> None:
        self.record(
            event_type(
                payment_id=self.id,
                patient_id=self.patient_id,
                appointment_id=self.appointment_id,
                occurred_at=utc(now),
                **facts,
            )
        )

    def _move(self, to: PaymentStatus, now: datetime, action: str) -> None:
        if to not in _TRANSITIONS[self.status]:
            raise IllegalPaymentTransition(str(self.id), self.status, action)
        self.status = to
        self.updated_at = utc(now)


# -- the wallet ---------------------------------------------------------------------------


class WalletEntryKind(enum.StrEnum):
    TOP_UP = "top_up"  # credit: a card payment loaded the wallet
    PAYMENT = "payment"  # debit: the wallet paid (part of) an appointment
    REFUND = "refund"  # credit: money given back to the wallet


_CREDITS = frozenset({WalletEntryKind.TOP_UP, WalletEntryKind.REFUND})


@define(frozen=True)
class WalletEntry:
    """One line of a patient's ledger. ``amount`` is signed: credits positive, debits
    negative. ``reference`` is unique across the ledger, so replaying the operation that made
    an entry adds nothing."""

    reference: str
    patient_id: PatientId
    kind: WalletEntryKind
    amount: Money
    recorded_at: datetime = field(converter=utc)
    payment_id: PaymentId | None = None

    def __attrs_post_init__(self) -> None:
        if not self.reference:
            raise InvalidValue("a wallet entry needs a reference")
        if self.amount.is_zero:
            raise InvalidValue("a wallet entry moves money")
        if (self.kind in _CREDITS) != (self.amount.minor_units > 0):
            raise InvalidValue(f"a {self.kind} entry cannot be {self.amount}")

    @classmethod
    def top_up(cls, payment: Payment, now: datetime) -> Self:
        return cls(
            f"{payment.id}:top-up",
            payment.patient_id,
            WalletEntryKind.TOP_UP,
            payment.amount,
            now,
            payment.id,
        )

    @classmethod
    def debit(cls, payment: Payment, now: datetime) -> Self:
        return cls(
            f"{payment.id}:debit",
            payment.patient_id,
            WalletEntryKind.PAYMENT,
            Money(-payment.wallet_part.minor_units, payment.wallet_part.currency),
            now,
            payment.id,
        )

    @classmethod
    def credit(cls, payment: Payment, refund: Refund) -> Self:
        return cls(
            f"{refund.key}:credit",
            payment.patient_id,
            WalletEntryKind.REFUND,
            refund.wallet,
            refund.recorded_at,
            payment.id,
        )


@define(frozen=True)
class Wallet:
    """A patient's wallet in one currency, as its ledger, oldest entry first."""

    patient_id: PatientId
    currency: str
    entries: tuple[WalletEntry, ...] = ()

    @property
    def balance(self) -> Money:
        return sum((e.amount for e in self.entries), Money.zero(self.currency))


__all__ = [
    "OPEN_STATUSES",
    "PAID_STATUSES",
    "Collection",
    "Payment",
    "PaymentEvent",
    "PaymentId",
    "PaymentMethod",
    "PaymentPurpose",
    "PaymentStatus",
    "PaymentSucceeded",
    "Refund",
    "RefundIssued",
    "RefundReason",
    "Wallet",
    "WalletEntry",
    "WalletEntryKind",
]
