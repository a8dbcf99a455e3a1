"""The unit of work: one transaction over every repository, and the event publisher."""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar, overload

from hellodoctor_domain.model.events import AppointmentEvent
from hellodoctor_domain.ports.identity import (
    AccountRepository,
    OneTimeSecretRepository,
    RefreshTokenRepository,
)
from hellodoctor_domain.ports.payments import (
    PaymentRepository,
    ProcessedWebhookEvents,
    WalletLedger,
)
from hellodoctor_domain.ports.scheduling import (
    AppointmentRepository,
    AvailabilityRepository,
    DoctorRepository,
    IdempotencyRepository,
    PatientRepository,
)

_log = logging.getLogger(__name__)


class EventPublisher(Protocol):
    def publish(self, events: Sequence[AppointmentEvent]) -> None:
        """Hand committed events to in-process subscribers (best effort, after commit)."""


R = TypeVar("R")


class _NotStoredHere(Generic[R]):
    """A unit-of-work attribute an adapter may not provide yet (payments, for now, are stored
    only in memory). Reading it from a unit of work that did not set it says so clearly,
    instead of an ``AttributeError``; adapters set the attribute on the instance as usual."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type) -> Self: ...

    @overload
    def __get__(self, instance: object, owner: type) -> R: ...

    def __get__(self, instance: object | None, owner: type) -> Any:
        if instance is None:
            return self
        if self._name in instance.__dict__:
            return instance.__dict__[self._name]
        raise NotImplementedError(
            f"{type(instance).__name__} does not store {self._name} yet (see docs/payments.md)"
        )

    def __set__(self, instance: object, value: R) -> None:
        instance.__dict__[self._name] = value


class UnitOfWork(abc.ABC):
    """One transaction. Use as a context manager; leaving it without ``commit()`` rolls back.

    An adapter whose database has no multi-document transactions may apply a commit as a
    sequence of atomic writes, provided every state a crash can leave is valid (no overlap, no
    version skipped) and what it can leave undone is documented and repaired by the adapter.

    After a successful commit the events recorded by every appointment the transaction touched
    are handed to the event publisher. Adapters with an outbox write them inside the
    transaction too (``_commit`` receives them).
    """

    doctors: DoctorRepository
    patients: PatientRepository
    availability: AvailabilityRepository
    appointments: AppointmentRepository
    accounts: AccountRepository
    one_time_secrets: OneTimeSecretRepository
    refresh_tokens: RefreshTokenRepository
    idempotency: IdempotencyRepository
    # Payments: optional for now. Only adapters that store payments set these (the in-memory
    # one); reading one elsewhere raises NotImplementedError. No abstract method is added, so
    # the SQL and MongoDB units of work keep working unchanged.
    payments: _NotStoredHere[PaymentRepository] = _NotStoredHere()
    wallets: _NotStoredHere[WalletLedger] = _NotStoredHere()
    processed_events: _NotStoredHere[ProcessedWebhookEvents] = _NotStoredHere()

    def __init__(self, publisher: EventPublisher | None = None) -> None:
        self._publisher = publisher
        self._committed = False

    def __enter__(self) -> Self:
        self._committed = False
        self._begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                self._rollback()
        finally:
            self._close()

    def commit(self) -> None:
        events = self._collect_events()
        self._commit(events)
        self._committed = True
        if self._publisher is not None and events:
            try:
                self._publisher.publish(events)
            except Exception:
                # The change is committed; failing the caller now would invite a retry that
                # collides with its own booking. Durable delivery is the outbox's job.
                _log.exception("publishing %d committed events failed", len(events))

    def rollback(self) -> None:
        self._rollback()

    def _collect_events(self) -> list[AppointmentEvent]:
        events: list[AppointmentEvent] = []
        seen_ids: set[int] = set()
        for appointment in self.appointments.seen:
            if id(appointment) in seen_ids:
                continue
            seen_ids.add(id(appointment))
            events.extend(appointment.events)
            appointment.events.clear()
        return events

    @abc.abstractmethod
    def _begin(self) -> None: ...

    @abc.abstractmethod
    def _commit(self, events: Sequence[AppointmentEvent]) -> None: ...

    @abc.abstractmethod
    def _rollback(self) -> None: ...

    def _close(self) -> None:  # noqa: B027 - optional hook, most adapters need nothing here
        """Release connections; called on every exit."""


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
