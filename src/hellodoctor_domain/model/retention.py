"""Retention: how long each kind of data the platform keeps for itself is kept, once it has
served its purpose (GDPR Art. 5(1)(e), storage limitation).

A ``RetentionPolicy`` names, per ``RetentionKind``, how long after its reference moment a
thing is kept; a kind without a period is kept. The cut-off is strict: what is *older* than
``now - period`` goes, what is exactly that old stays. Which moment a kind is measured from is
part of its definition (``RetentionKind``), the same in every storage.

Not here, on purpose: the audit log (append-only and hash-chained, kept at least
``audit_years``: the storages refuse to delete from it, docs/retention.md), the money ledger
(payments, wallets: accounting law) and clinical records (medical-records law); an erasure
pseudonymises the person instead (``use_cases/retention.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, timedelta

from attrs import define, field

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.values import utc


class RetentionKind(enum.StrEnum):
    # Outbox entries delivered to every subscriber: measured from their delivery.
    DELIVERED_EVENTS = "delivered_events"
    # Outbox entries the relay gave up on (and nobody retried): measured from when it gave up.
    DEAD_LETTERS = "dead_letters"
    # Appointments held for payment that never became bookings: expired (measured from the
    # hold's expiry) or cancelled while held (measured from the cancellation), with no payment
    # row (the money ledger keeps a hold anyone started paying) and nothing else naming them.
    LAPSED_HOLDS = "lapsed_holds"
    # Patient accounts that registered and never verified their address (measured from the
    # registration), with their codes, tokens and settings, and the patient profile made with
    # them unless something else names it (then the account and profile are kept whole).
    UNVERIFIED_ACCOUNTS = "unverified_accounts"


def _periods(value: Mapping[RetentionKind, timedelta]) -> dict[RetentionKind, timedelta]:
    periods = dict(value)
    for kind, period in periods.items():
        if period <= timedelta(0):
            raise InvalidValue(f"the retention of {kind} must be positive")
    return periods


@define(frozen=True)
class RetentionPolicy:
    periods: Mapping[RetentionKind, timedelta] = field(factory=dict, converter=_periods)
    audit_years: int = 6  # HIPAA §164.316(b)(2): six years; a minimum, never a purge

    def cutoff(self, kind: RetentionKind, now: datetime) -> datetime | None:
        """What is older than this goes (``None``: the kind is kept)."""
        period = self.periods.get(kind)
        return None if period is None else utc(now) - period
