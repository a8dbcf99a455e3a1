"""Prometheus business metrics, counted from committed domain events: the unit of work hands
its events to the publisher only after its commit succeeded, so a request that rolls back
counts nothing, and a visit is counted where it happened whichever path (API, worker, CLI)
committed it.

Under gunicorn the counters live in ``PROMETHEUS_MULTIPROC_DIR`` like the request metrics
(``middleware.Metrics``), so /metrics sums every worker's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from prometheus_client import CollectorRegistry, Counter

from hellodoctor_domain.model.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentCompleted,
    AppointmentMarkedNoShow,
    DomainEvent,
)
from hellodoctor_domain.model.payments import PaymentSucceeded, RefundIssued
from hellodoctor_domain.ports.unit_of_work import EventPublisher

_log = logging.getLogger(__name__)


class BusinessMetrics:
    """An event publisher that counts: visits booked, cancelled (by whom), completed and
    missed; visits' money taken and refunded per currency in minor units (wallet top-ups are
    not revenue)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)

        def counter(name: str, text: str, labels: Sequence[str] = ()) -> Counter:
            return Counter(name, text, list(labels), registry=self.registry)

        self.booked = counter(
            "hellodoctor_appointments_booked_total", "Visits booked (paid or free), committed."
        )
        self.cancelled = counter(
            "hellodoctor_appointments_cancelled_total",
            "Visits cancelled, by the role that cancelled.",
            ["by"],
        )
        self.completed = counter(
            "hellodoctor_appointments_completed_total", "Visits completed by their doctor."
        )
        self.no_shows = counter(
            "hellodoctor_appointments_no_show_total", "Visits the patient did not come to."
        )
        self.revenue = counter(
            "hellodoctor_revenue_minor_units_total",
            "Visits' payments taken, in minor units of the currency.",
            ["currency"],
        )
        self.refunds = counter(
            "hellodoctor_refunds_total", "Refunds of visits' payments, by currency.", ["currency"]
        )
        self.refunded = counter(
            "hellodoctor_refunded_minor_units_total",
            "Money given back on visits' payments (card and wallet), in minor units.",
            ["currency"],
        )

    @property
    def collectors(self) -> Iterable[Counter]:
        return (
            self.booked,
            self.cancelled,
            self.completed,
            self.no_shows,
            self.revenue,
            self.refunds,
            self.refunded,
        )

    def publish(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            self.count(event)

    def count(self, event: DomainEvent) -> None:
        match event:
            case AppointmentBooked():
                self.booked.inc()
            case AppointmentCancelled(cancelled_by=role):
                self.cancelled.labels(role.value).inc()
            case AppointmentCompleted():
                self.completed.inc()
            case AppointmentMarkedNoShow():
                self.no_shows.inc()
            case PaymentSucceeded(appointment_id=visit, amount=amount) if visit is not None:
                self.revenue.labels(amount.currency).inc(amount.minor_units)
            case RefundIssued(appointment_id=visit, card=card, wallet=wallet) if visit is not None:
                self.refunds.labels(card.currency).inc()
                self.refunded.labels(card.currency).inc(card.minor_units + wallet.minor_units)


class FanOut:
    """Hands committed events to each publisher in turn; one that fails is logged and does
    not keep the others from them."""

    def __init__(self, *publishers: EventPublisher) -> None:
        self._publishers = publishers

    def publish(self, events: Sequence[DomainEvent]) -> None:
        for publisher in self._publishers:
            try:
                publisher.publish(events)
            except Exception:
                _log.exception("an event subscriber failed on %d events", len(events))
