"""Payment storage over SQLAlchemy Core: the payment repository, the wallet ledger and the
processed webhook events.

The database decides every race: one payment per appointment is a unique key; a stale update
fails its ``UPDATE ... WHERE version = :read`` (``rows.compare_and_set``); an overdraft is
refused by ``CHECK (balance >= 0)`` in the very statement that moves the balance; a webhook
event already recorded, by its primary key. Every driver error leaves translated
(``engine.translate``): a port error, or ``UnexpectedStorageError`` for a bug.

A ledger reference that turns out to be taken is ``AlreadyExists``, unless this unit of work
read the entry's payment before another transaction changed it: then the reference is taken
*because* the read was stale (two cancellations of one appointment credit one refund), and the
answer is ``ConcurrencyError``, so that the use case re-reads and decides again instead of
reporting a duplicate. The unique key surfaces before the payment's compare-and-set would.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, RowMapping

from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.rows import (
    compare_and_set,
    entry_from,
    first_row,
    payment_from,
    payment_row,
    refund_row,
)
from hellodoctor_adapters.sqlalchemy.schema import (
    UtcDateTime,
    payment_refunds,
    payments,
    processed_webhook_events,
    wallet_balances,
    wallet_entries,
)
from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError, Conflict, NotFound
from hellodoctor_domain.model.payments import Payment, PaymentId, WalletEntry
from hellodoctor_domain.model.values import AppointmentId, Money, PatientId
from hellodoctor_domain.ports.payments import (
    PaymentQuery,
    PaymentRepository,
    ProcessedWebhookEvents,
    WalletLedger,
)

_NEWEST_FIRST = (payments.c.created_at.desc(), payments.c.id.desc())
_UNSETTLED = sa.and_(
    payment_refunds.c.card_minor_units > 0, payment_refunds.c.provider_reference.is_(None)
)


class SqlPaymentRepository(PaymentRepository):
    """One payment per appointment is ``uq_payments_appointment_id``; updates are a
    compare-and-set on ``version``, and refunds an append-only child table written under the
    row lock that compare-and-set takes."""

    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self._connection = connection
        # The version of each payment this unit of work was handed or wrote last.
        self._versions_held: dict[str, int] = {}

    def _add(self, payment: Payment) -> None:
        with translated_errors():  # id or appointment taken: AlreadyExists
            self._connection.execute(sa.insert(payments).values(**payment_row(payment), version=1))
            self._append_refunds(payment, 0)
        self._versions_held[payment.id.value] = 1

    def changed_since_read(self, payment_id: PaymentId) -> bool:
        """Whether another transaction changed the payment since this unit of work read it."""
        held = self._versions_held.get(payment_id.value)
        if held is None:
            return False
        row = first_row(
            self._connection,
            sa.select(payments.c.version).where(payments.c.id == payment_id.value),
        )
        return row is None or row["version"] != held

    def _append_refunds(self, payment: Payment, stored: int) -> None:
        rows = [
            refund_row(payment, position, refund)
            for position, refund in enumerate(payment.refunds)
            if position >= stored
        ]
        if rows:
            self._connection.execute(sa.insert(payment_refunds), rows)

    def _get(self, payment_id: PaymentId) -> Payment:
        found = self._select(payments.c.id == payment_id.value)
        if not found:
            raise NotFound(f"no payment {payment_id}")
        return found[0]

    def _update(self, payment: Payment) -> None:
        compare_and_set(
            self._connection,
            payments,
            payments.c.id == payment.id.value,
            payment.version,
            payment_row(payment),
            f"payment {payment.id}",
        )
        with translated_errors():  # the payment row is locked by the update above
            stored = self._connection.execute(
                sa.select(payment_refunds.c.key, payment_refunds.c.provider_reference)
                .where(payment_refunds.c.payment_id == payment.id.value)
                .order_by(payment_refunds.c.position)
            ).all()
            if [key for key, _ in stored] != [r.key for r in payment.refunds[: len(stored)]]:
                raise Conflict(f"refunds of payment {payment.id} are only ever appended")
            for position, (_key, reference) in enumerate(stored):
                settled = payment.refunds[position].provider_reference
                if reference is None and settled is not None:
                    self._connection.execute(
                        sa.update(payment_refunds)
                        .where(
                            payment_refunds.c.payment_id == payment.id.value,
                            payment_refunds.c.position == position,
                        )
                        .values(provider_reference=settled)
                    )
            self._append_refunds(payment, len(stored))
        # The base class bumps the caller's object to this version after the write.
        self._versions_held[payment.id.value] = payment.version + 1

    def _for_appointment(self, appointment_id: AppointmentId) -> Payment | None:
        found = self._select(payments.c.appointment_id == appointment_id.value)
        return found[0] if found else None

    def _search(self, query: PaymentQuery) -> list[Payment]:
        conditions: list[sa.ColumnElement[bool]] = []
        if query.patient_id is not None:
            conditions.append(payments.c.patient_id == query.patient_id.value)
        if query.statuses is not None:
            conditions.append(payments.c.status.in_([s.value for s in query.statuses]))
        if query.purpose is not None:
            conditions.append(payments.c.purpose == query.purpose.value)
        if query.method is not None:
            conditions.append(payments.c.method == query.method.value)
        if query.before is not None:
            created_at, last_id = query.before
            conditions.append(
                sa.tuple_(payments.c.created_at, payments.c.id)
                < sa.tuple_(
                    sa.literal(created_at, UtcDateTime), sa.literal(last_id.value, sa.String)
                )
            )
        return self._select(*conditions, order_by=_NEWEST_FIRST, limit=query.limit)

    def _with_unsettled_refunds(self, limit: int) -> list[Payment]:
        unsettled = sa.exists().where(payment_refunds.c.payment_id == payments.c.id, _UNSETTLED)
        return self._select(unsettled, order_by=(payments.c.updated_at, payments.c.id), limit=limit)

    def _select(
        self,
        *conditions: sa.ColumnElement[bool],
        order_by: Sequence[sa.ColumnElement[Any]] = (),
        limit: int | None = None,
    ) -> list[Payment]:
        statement = sa.select(payments).where(*conditions).order_by(*order_by).limit(limit)
        with translated_errors():
            rows = self._connection.execute(statement).mappings().all()
            if not rows:
                return []
            refunds: dict[str, list[RowMapping]] = {row["id"]: [] for row in rows}
            for refund in self._connection.execute(
                sa.select(payment_refunds)
                .where(payment_refunds.c.payment_id.in_(list(refunds)))
                .order_by(payment_refunds.c.payment_id, payment_refunds.c.position)
            ).mappings():
                refunds[refund["payment_id"]].append(refund)
        found = [payment_from(row, refunds[row["id"]]) for row in rows]
        self._versions_held.update((payment.id.value, payment.version) for payment in found)
        return found


class SqlWalletLedger(WalletLedger):
    """The balance row of ``(patient, currency)`` changes by one atomic ``UPDATE ... SET balance =
    balance + :delta``, in the transaction (and savepoint) that inserts the entry under its
    unique reference. ``CHECK (balance >= 0)`` refuses an overdraft in that very statement:
    on PostgreSQL a concurrent writer waits for the row lock and then adds to the committed
    balance; on SQLite writers hold the database's single write lock. Either way the database
    decides, never a read in Python."""

    def __init__(self, connection: Connection, payments: SqlPaymentRepository) -> None:
        self._connection = connection
        self._payments = payments

    def append(self, entry: WalletEntry) -> None:
        delta = entry.amount.minor_units
        key = {"patient_id": entry.patient_id.value, "currency": entry.amount.currency}
        insert = (
            postgresql.insert(wallet_balances)
            if self._connection.dialect.name == "postgresql"
            else sqlite.insert(wallet_balances)
        )
        # The row must exist before the conditional update (an INSERT of a negative balance
        # would trip the CHECK before ON CONFLICT is considered): a concurrent creator waits
        # for the first one's outcome, then does nothing.
        create = insert.values(**key, balance=0).on_conflict_do_nothing()
        change = (
            sa.update(wallet_balances)
            .where(
                wallet_balances.c.patient_id == entry.patient_id.value,
                wallet_balances.c.currency == entry.amount.currency,
            )
            .values(balance=wallet_balances.c.balance + delta)
        )
        # A savepoint, so a refusal leaves the unit of work usable (PostgreSQL would otherwise
        # abort the whole transaction) and leaves neither the entry nor the new balance.
        try:
            with translated_errors(), self._connection.begin_nested():
                self._connection.execute(
                    sa.insert(wallet_entries).values(
                        reference=entry.reference,
                        **key,
                        kind=entry.kind.value,
                        amount_minor_units=delta,
                        recorded_at=entry.recorded_at,
                        payment_id=None if entry.payment_id is None else entry.payment_id.value,
                    )
                )
                self._connection.execute(create)
                # Atomic in the database: CHECK (balance >= 0) refuses an overdraft right here.
                self._connection.execute(change)
        except AlreadyExists as taken:
            # A concurrent writer of the same payment got there first (module docstring).
            if entry.payment_id is not None and self._payments.changed_since_read(entry.payment_id):
                raise ConcurrencyError(
                    f"payment {entry.payment_id} changed since it was read"
                ) from taken
            raise

    def balance(self, patient_id: PatientId, currency: str) -> Money:
        row = first_row(
            self._connection,
            sa.select(wallet_balances.c.balance).where(
                wallet_balances.c.patient_id == patient_id.value,
                wallet_balances.c.currency == currency,
            ),
        )
        return Money(0 if row is None else row["balance"], currency)

    def entries(self, patient_id: PatientId, currency: str) -> list[WalletEntry]:
        statement = (
            sa.select(wallet_entries)
            .where(
                wallet_entries.c.patient_id == patient_id.value,
                wallet_entries.c.currency == currency,
            )
            .order_by(wallet_entries.c.recorded_at, wallet_entries.c.reference)
        )
        with translated_errors():
            return [entry_from(row) for row in self._connection.execute(statement).mappings()]

    def by_reference(self, reference: str) -> WalletEntry | None:
        row = first_row(
            self._connection,
            sa.select(wallet_entries).where(wallet_entries.c.reference == reference),
        )
        return None if row is None else entry_from(row)


class SqlProcessedWebhookEvents(ProcessedWebhookEvents):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def add(self, provider: str, event_id: str, processed_at: datetime) -> None:
        with translated_errors():  # (provider, event_id) is the primary key: AlreadyExists
            self._connection.execute(
                sa.insert(processed_webhook_events).values(
                    provider=provider, event_id=event_id, processed_at=processed_at
                )
            )

    def contains(self, provider: str, event_id: str) -> bool:
        table = processed_webhook_events
        row = first_row(
            self._connection,
            sa.select(sa.literal(1).label("found")).where(
                table.c.provider == provider, table.c.event_id == event_id
            ),
        )
        return row is not None
