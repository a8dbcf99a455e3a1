"""Storage ports of payments: payments, the wallet ledger and processed webhook events."""

from __future__ import annotations

import abc
from datetime import datetime

from attrs import define

from hellodoctor_domain.model.payments import (
    Payment,
    PaymentId,
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
    WalletEntry,
)
from hellodoctor_domain.model.values import (
    AppointmentId,
    Money,
    PatientId,
)
from hellodoctor_domain.ports.repository import EntityRepository


@define(frozen=True, kw_only=True)
class PaymentQuery:
    patient_id: PatientId | None = None
    statuses: frozenset[PaymentStatus] | None = None
    purpose: PaymentPurpose | None = None
    method: PaymentMethod | None = None
    before: tuple[datetime, PaymentId] | None = None  # cursor: the last (created_at, id) seen
    limit: int = 50


class PaymentRepository(EntityRepository[Payment, PaymentId]):
    """Payments, with two rules the storage enforces atomically with the write: ids are unique,
    and an appointment has at most one payment (``AlreadyExists`` from ``add`` otherwise), so
    two concurrent "pay" requests for one appointment cannot both start collecting money.
    ``update`` writes status, intent and refunds; refund entries are only ever appended."""

    def for_appointment(self, appointment_id: AppointmentId) -> Payment | None:
        return self._seen_if_any(self._for_appointment(appointment_id))

    def search(self, query: PaymentQuery) -> list[Payment]:
        """Up to ``query.limit`` payments matching every given filter, newest first (by
        ``(created_at, id)`` descending), starting after the cursor ``query.before``."""
        return self._all_seen(self._search(query))

    def with_unsettled_refunds(self, limit: int) -> list[Payment]:
        """Up to ``limit`` payments with a refund whose card part the gateway has not yet
        accepted, oldest first: the worker sends them (again) to the gateway."""
        return self._all_seen(self._with_unsettled_refunds(limit))

    @abc.abstractmethod
    def _for_appointment(self, appointment_id: AppointmentId) -> Payment | None: ...

    @abc.abstractmethod
    def _search(self, query: PaymentQuery) -> list[Payment]: ...

    @abc.abstractmethod
    def _with_unsettled_refunds(self, limit: int) -> list[Payment]: ...


class WalletLedger(abc.ABC):
    """The append-only ledger of every patient's wallet.

    THE RULE an adapter must implement: ``append`` stores the entry only if no entry with its
    ``reference`` exists AND the balance of ``(entry.patient_id, entry.amount.currency)`` after
    it is at least zero -- both checked atomically with the write, so that no interleaving of
    concurrent writers in any number of processes can overdraw a wallet or apply an operation
    twice. Examples: a balance row per wallet updated with ``UPDATE ... SET balance = balance
    + :delta WHERE ... AND balance + :delta >= 0`` (zero rows: refuse) in the same transaction
    as the entry's insert under a unique reference (plus ``CHECK (balance >= 0)`` as a
    backstop); in MongoDB a conditional ``$inc`` on the wallet document with
    ``{balance: {$gte: -delta}}`` in the transaction that inserts the entry. A Python
    read-then-write is not an implementation of this port.

    Entries are never changed or deleted.
    """

    @abc.abstractmethod
    def append(self, entry: WalletEntry) -> None:
        """Add ``entry``; ``AlreadyExists`` if its reference is known, ``InsufficientFunds`` if
        the balance would go below zero. Either refusal may surface here or at commit."""

    @abc.abstractmethod
    def balance(self, patient_id: PatientId, currency: str) -> Money:
        """The sum of the wallet's entries (zero for a wallet never used)."""

    @abc.abstractmethod
    def entries(self, patient_id: PatientId, currency: str) -> list[WalletEntry]:
        """The wallet's entries, oldest first (by recording time, then reference)."""

    @abc.abstractmethod
    def by_reference(self, reference: str) -> WalletEntry | None: ...


class ProcessedWebhookEvents(abc.ABC):
    """Ids of the gateway events already handled, under a unique rule.

    A use case records the event in the same unit of work as its effect: a replayed event
    (same id) is refused by the storage, so its effect happens once even when 50 copies arrive
    at the same moment."""

    @abc.abstractmethod
    def add(self, provider: str, event_id: str, processed_at: datetime) -> None:
        """Record the event; ``AlreadyExists`` if ``(provider, event_id)`` was recorded
        (surfacing here or at commit)."""

    @abc.abstractmethod
    def contains(self, provider: str, event_id: str) -> bool: ...
