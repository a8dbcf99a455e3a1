"""The unit of work: one transaction over every repository, and the event publisher."""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Protocol, Self

from hellodoctor_domain.model.availability import Availability
from hellodoctor_domain.model.events import DomainEvent
from hellodoctor_domain.model.profiles import Doctor
from hellodoctor_domain.model.values import DoctorId
from hellodoctor_domain.ports.analytics import AppointmentStatistics
from hellodoctor_domain.ports.consultations import RoomAttendance, RoomTicketRepository
from hellodoctor_domain.ports.documents import DocumentRepository
from hellodoctor_domain.ports.emergency import EmergencyCardRepository, EmergencyGrantRepository
from hellodoctor_domain.ports.hospitals import (
    AdmissionRepository,
    BedLedger,
    HospitalRepository,
    TransferRepository,
)
from hellodoctor_domain.ports.identity import (
    AccountRepository,
    OneTimeSecretRepository,
    RefreshTokenRepository,
)
from hellodoctor_domain.ports.insurance import ClaimRepository, PolicyRepository, SchemeRepository
from hellodoctor_domain.ports.payments import (
    PaymentRepository,
    ProcessedWebhookEvents,
    WalletLedger,
)
from hellodoctor_domain.ports.preferences import (
    CalendarFeedRepository,
    NotificationPreferencesRepository,
)
from hellodoctor_domain.ports.records import AuditLog, ConsentRepository, MedicalRecordRepository
from hellodoctor_domain.ports.repository import TrackingRepository
from hellodoctor_domain.ports.reviews import RatingLedger, ReviewRepository
from hellodoctor_domain.ports.scheduling import (
    AppointmentRepository,
    AvailabilityRepository,
    DoctorRepository,
    IdempotencyRepository,
    PatientRepository,
)
from hellodoctor_domain.ports.search import DoctorDirectory
from hellodoctor_domain.ports.waitlist import WaitlistRepository

_log = logging.getLogger(__name__)


class EventPublisher(Protocol):
    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Hand committed events to in-process subscribers (best effort, after commit)."""


class UnitOfWork(abc.ABC):
    """One transaction. Use as a context manager; leaving it without ``commit()`` rolls back.

    An adapter whose database has no multi-document transactions may apply a commit as a
    sequence of atomic writes, provided every state a crash can leave is valid (no overlap, no
    version skipped) and what it can leave undone is documented and repaired by the adapter.

    After a successful commit the events recorded by every aggregate its tracking repositories
    took in or handed out are handed to the event publisher, each once, in the order the
    aggregates were first seen (repository by repository). The adapter writes them to its
    outbox inside the transaction (``_commit`` receives them).
    """

    doctors: DoctorRepository
    patients: PatientRepository
    availability: AvailabilityRepository
    appointments: AppointmentRepository
    accounts: AccountRepository
    one_time_secrets: OneTimeSecretRepository
    refresh_tokens: RefreshTokenRepository
    idempotency: IdempotencyRepository
    payments: PaymentRepository
    wallets: WalletLedger
    processed_events: ProcessedWebhookEvents
    documents: DocumentRepository
    room_tickets: RoomTicketRepository
    room_attendance: RoomAttendance
    hospitals: HospitalRepository
    beds: BedLedger
    transfers: TransferRepository
    schemes: SchemeRepository
    policies: PolicyRepository
    claims: ClaimRepository
    reviews: ReviewRepository
    statistics: AppointmentStatistics
    ratings: RatingLedger
    admissions: AdmissionRepository
    notification_preferences: NotificationPreferencesRepository
    calendar_feeds: CalendarFeedRepository
    records: MedicalRecordRepository
    consents: ConsentRepository
    audit: AuditLog
    emergency_grants: EmergencyGrantRepository
    emergency_cards: EmergencyCardRepository
    waitlist: WaitlistRepository
    directory: DoctorDirectory

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

    def doctor_and_availability(self, doctor_id: DoctorId) -> tuple[Doctor, Availability | None]:
        """What the booking rules read: the doctor (``NotFound`` if unknown) and their
        availability (``None`` if not defined), each tracked as if read through ``doctors`` and
        ``availability``. This default makes the two calls; an adapter may read both at once
        (one query on SQL, ``sqlalchemy/uow.py``)."""
        return self.doctors.get(doctor_id), self.availability.get(doctor_id)

    def _collect_events(self) -> list[DomainEvent]:
        events: list[DomainEvent] = []
        for repository in self._tracking_repositories():
            for aggregate in repository.seen:
                events.extend(aggregate.events)
                aggregate.events.clear()
        return events

    def _tracking_repositories(self) -> list[TrackingRepository[Any]]:
        # Every repository the adapter set, so an aggregate added later needs no change here.
        return [each for each in vars(self).values() if isinstance(each, TrackingRepository)]

    @abc.abstractmethod
    def _begin(self) -> None: ...

    @abc.abstractmethod
    def _commit(self, events: Sequence[DomainEvent]) -> None:
        """Commit, writing ``events`` to the outbox in the same transaction; each names its
        aggregate (``aggregate_type``, ``aggregate_id``)."""

    @abc.abstractmethod
    def _rollback(self) -> None: ...

    def _close(self) -> None:  # noqa: B027 - optional hook, most adapters need nothing here
        """Release connections; called on every exit."""


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
