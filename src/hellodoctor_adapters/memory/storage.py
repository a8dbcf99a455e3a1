"""Repositories and unit of work over plain dictionaries.

Isolation: a unit of work holds the store's lock from ``__enter__`` to ``__exit__``, so
transactions run one at a time (serializable by construction) and the overlap check and the
write it guards can never be interleaved. Writes apply at once and are journalled; a rollback
replays the journal backwards. Objects are copied in and out, so a caller mutating what it read
changes nothing until it calls ``update``. A commit appends its events to ``store.outbox`` as
``OutboxMessage`` s, as a storage with a database would write them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from attrs import evolve

from hellodoctor_adapters.memory.analytics import InMemoryAppointmentStatistics
from hellodoctor_adapters.memory.consultations import (
    InMemoryRoomAttendance,
    InMemoryRoomTickets,
)
from hellodoctor_adapters.memory.documents import InMemoryDocumentRepository
from hellodoctor_adapters.memory.emergency import (
    InMemoryEmergencyCardRepository,
    InMemoryEmergencyGrantRepository,
)
from hellodoctor_adapters.memory.hospitals import (
    InMemoryAdmissionRepository,
    InMemoryBedLedger,
    InMemoryHospitalRepository,
    InMemoryTransferRepository,
)
from hellodoctor_adapters.memory.identity import (
    InMemoryAccountRepository,
    InMemoryOneTimeSecretRepository,
    InMemoryRefreshTokenRepository,
)
from hellodoctor_adapters.memory.insurance import (
    InMemoryClaimRepository,
    InMemoryPolicyRepository,
    InMemorySchemeRepository,
)
from hellodoctor_adapters.memory.preferences import (
    InMemoryCalendarFeeds,
    InMemoryNotificationPreferences,
)
from hellodoctor_adapters.memory.records import (
    InMemoryAuditLog,
    InMemoryConsentRepository,
    InMemoryMedicalRecordRepository,
)
from hellodoctor_adapters.memory.reviews import InMemoryRatingLedger, InMemoryReviewRepository
from hellodoctor_adapters.memory.search import InMemoryDoctorDirectory
from hellodoctor_adapters.memory.store import InMemoryStore, Undo, _Journalled
from hellodoctor_adapters.memory.waitlist import InMemoryWaitlistRepository
from hellodoctor_adapters.outbox import OutboxMessage
from hellodoctor_domain.errors import (
    AlreadyExists,
    ConcurrencyError,
    InsufficientFunds,
    NotFound,
    SlotUnavailable,
)
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.availability import Availability
from hellodoctor_domain.model.events import DomainEvent
from hellodoctor_domain.model.payments import Payment, PaymentId, WalletEntry
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.values import (
    AppointmentId,
    DoctorId,
    Money,
    PatientId,
    TimeRange,
)
from hellodoctor_domain.ports.outbox import Inbox, OutboxDelivery
from hellodoctor_domain.ports.payments import (
    PaymentQuery,
    PaymentRepository,
    ProcessedWebhookEvents,
    WalletLedger,
)
from hellodoctor_domain.ports.retention import RetentionStore
from hellodoctor_domain.ports.scheduling import (
    AppointmentQuery,
    AppointmentRepository,
    AvailabilityRepository,
    DoctorQuery,
    DoctorRepository,
    IdempotencyRecord,
    IdempotencyRepository,
    PatientRepository,
    PatientSearch,
)
from hellodoctor_domain.ports.unit_of_work import EventPublisher, UnitOfWork, UnitOfWorkFactory


class InMemoryDoctorRepository(_Journalled, DoctorRepository):
    def _add(self, doctor: Doctor) -> None:
        doctors = self._store.doctors
        if doctor.id in doctors:
            raise AlreadyExists(f"doctor {doctor.id} exists")
        if any(d.registration_number == doctor.registration_number for d in doctors.values()):
            raise AlreadyExists(f"registration number {doctor.registration_number} is taken")
        self._put(doctors, doctor.id, evolve(doctor, version=1))

    def _get(self, doctor_id: DoctorId) -> Doctor:
        try:
            return evolve(self._store.doctors[doctor_id])
        except KeyError:
            raise NotFound(f"no doctor {doctor_id}") from None

    def _update(self, doctor: Doctor) -> None:
        stored = self._store.doctors.get(doctor.id)
        if stored is None:
            raise NotFound(f"no doctor {doctor.id}")
        if stored.version != doctor.version:
            raise ConcurrencyError(f"doctor {doctor.id} changed since it was read")
        if any(
            d.registration_number == doctor.registration_number and d.id != doctor.id
            for d in self._store.doctors.values()
        ):
            raise AlreadyExists(f"registration number {doctor.registration_number} is taken")
        self._put(self._store.doctors, doctor.id, evolve(doctor, version=doctor.version + 1))

    def _list(self) -> Sequence[Doctor]:
        return [evolve(d) for _, d in sorted(self._store.doctors.items())]

    def _search(self, query: DoctorQuery) -> Sequence[Doctor]:
        def matches(doctor: Doctor) -> bool:
            text = (query.text or "").casefold()
            return (
                (query.after is None or doctor.id > query.after)
                and (
                    query.specialty is None
                    or doctor.specialty.casefold() == query.specialty.casefold()
                )
                and (
                    query.language is None
                    or query.language.casefold() in (x.casefold() for x in doctor.languages)
                )
                and (
                    not text
                    or text in doctor.name.casefold()
                    or text in doctor.specialty.casefold()
                )
                and (
                    query.accepting_bookings is None
                    or doctor.accepting_bookings == query.accepting_bookings
                )
                and (query.among is None or doctor.id in query.among)
            )

        found = [d for d in self._list() if matches(d)]
        return found[: query.limit]


class InMemoryPatientRepository(_Journalled, PatientRepository):
    def _add(self, patient: Patient) -> None:
        if patient.id in self._store.patients:
            raise AlreadyExists(f"patient {patient.id} exists")
        self._put(self._store.patients, patient.id, evolve(patient, version=1))

    def _get(self, patient_id: PatientId) -> Patient:
        try:
            return evolve(self._store.patients[patient_id])
        except KeyError:
            raise NotFound(f"no patient {patient_id}") from None

    def _update(self, patient: Patient) -> None:
        stored = self._store.patients.get(patient.id)
        if stored is None:
            raise NotFound(f"no patient {patient.id}")
        if stored.version != patient.version:
            raise ConcurrencyError(f"patient {patient.id} changed since it was read")
        self._put(self._store.patients, patient.id, evolve(patient, version=patient.version + 1))

    def _search(self, query: PatientSearch) -> Sequence[Patient]:
        found = sorted(
            (p for p in self._store.patients.values() if query.matches(p)), key=query.order
        )
        return [evolve(p) for p in found[: query.limit]]


class InMemoryAvailabilityRepository(_Journalled, AvailabilityRepository):
    def _get(self, doctor_id: DoctorId) -> Availability | None:
        stored = self._store.availability.get(doctor_id)
        return None if stored is None else evolve(stored)

    def _save(self, availability: Availability) -> Availability:
        if availability.doctor_id not in self._store.doctors:
            raise NotFound(f"no doctor {availability.doctor_id}")
        current = self._store.availability.get(availability.doctor_id)
        if (current.version if current else 0) != availability.version:
            raise ConcurrencyError(f"availability of {availability.doctor_id} changed")
        stored = evolve(availability, version=availability.version + 1)
        self._put(self._store.availability, availability.doctor_id, stored)
        return evolve(stored)


class InMemoryAppointmentRepository(_Journalled, AppointmentRepository):
    def _add(self, appointment: Appointment) -> None:
        table = self._store.appointments
        if appointment.id in table:
            raise AlreadyExists(f"appointment {appointment.id} exists")
        if appointment.doctor_id not in self._store.doctors:
            raise NotFound(f"no doctor {appointment.doctor_id}")
        if appointment.patient_id not in self._store.patients:
            raise NotFound(f"no patient {appointment.patient_id}")
        self._refuse_overlap(appointment)
        self._put(table, appointment.id, evolve(appointment, version=1))

    def _get(self, appointment_id: AppointmentId) -> Appointment:
        try:
            return evolve(self._store.appointments[appointment_id])
        except KeyError:
            raise NotFound(f"no appointment {appointment_id}") from None

    def _update(self, appointment: Appointment) -> None:
        stored = self._store.appointments.get(appointment.id)
        if stored is None:
            raise NotFound(f"no appointment {appointment.id}")
        if stored.version != appointment.version:
            raise ConcurrencyError(f"appointment {appointment.id} changed since it was read")
        self._refuse_overlap(appointment)
        stored = evolve(appointment, version=appointment.version + 1)
        self._put(self._store.appointments, appointment.id, stored)

    def _refuse_overlap(self, appointment: Appointment) -> None:
        # The lock held by the unit of work makes this check and the write one atomic step:
        # the in-memory analogue of an exclusion constraint.
        if not appointment.is_active:
            return
        for other in self._store.appointments.values():
            if other.id == appointment.id or not other.is_active:
                continue
            if other.doctor_id == appointment.doctor_id and other.blocked.overlaps(
                appointment.blocked
            ):
                raise SlotUnavailable(
                    f"doctor {appointment.doctor_id} is busy at {appointment.time.start}"
                )
            if other.patient_id == appointment.patient_id and other.time.overlaps(appointment.time):
                raise SlotUnavailable(
                    f"patient {appointment.patient_id} has another appointment then"
                )

    def _select(self, keep: Callable[[Appointment], bool]) -> list[Appointment]:
        found = [evolve(a) for a in self._store.appointments.values() if keep(a)]
        return sorted(found, key=lambda a: (a.time.start, a.id))

    def _for_doctor(
        self, doctor_id: DoctorId, period: TimeRange, active_only: bool
    ) -> list[Appointment]:
        return self._select(
            lambda a: (
                a.doctor_id == doctor_id
                and a.blocked.overlaps(period)
                and (a.is_active or not active_only)
            )
        )

    def _for_patient(
        self, patient_id: PatientId, period: TimeRange | None, active_only: bool
    ) -> list[Appointment]:
        return self._select(
            lambda a: (
                a.patient_id == patient_id
                and (period is None or a.time.overlaps(period))
                and (a.is_active or not active_only)
            )
        )

    def _search(self, query: AppointmentQuery) -> list[Appointment]:
        def matches(a: Appointment) -> bool:
            return (
                (query.patient_id is None or a.patient_id == query.patient_id)
                and (query.doctor_id is None or a.doctor_id == query.doctor_id)
                and (query.statuses is None or a.status in query.statuses)
                and (query.starts_from is None or a.time.start >= query.starts_from)
                and (query.starts_before is None or a.time.start < query.starts_before)
                and (query.after is None or (a.time.start, a.id) > query.after)
                and (query.series_id is None or a.series_id == query.series_id)
            )

        return self._select(matches)[: query.limit]

    def _lapsed_holds(self, now: datetime, limit: int) -> list[Appointment]:
        lapsed = [
            a
            for a in self._store.appointments.values()
            if a.status is AppointmentStatus.HELD
            and a.hold_expires_at is not None
            and a.hold_expires_at <= now
        ]
        lapsed.sort(key=lambda a: (a.hold_expires_at, a.id))
        return [evolve(a) for a in lapsed[:limit]]


class InMemoryIdempotencyRepository(_Journalled, IdempotencyRepository):
    def add(self, record: IdempotencyRecord) -> None:
        key = (record.scope, record.key)
        if key in self._store.idempotency:
            raise AlreadyExists("that idempotency key was used")
        self._put(self._store.idempotency, key, record)

    def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        return self._store.idempotency.get((scope, key))


class InMemoryPaymentRepository(_Journalled, PaymentRepository):
    def _add(self, payment: Payment) -> None:
        payments = self._store.payments
        if payment.id in payments:
            raise AlreadyExists(f"payment {payment.id} exists")
        if payment.appointment_id is not None and self._for_appointment(payment.appointment_id):
            raise AlreadyExists(f"appointment {payment.appointment_id} has a payment")
        self._put(payments, payment.id, evolve(payment, version=1))

    def _get(self, payment_id: PaymentId) -> Payment:
        try:
            return evolve(self._store.payments[payment_id])
        except KeyError:
            raise NotFound(f"no payment {payment_id}") from None

    def _update(self, payment: Payment) -> None:
        stored = self._store.payments.get(payment.id)
        if stored is None:
            raise NotFound(f"no payment {payment.id}")
        if stored.version != payment.version:
            raise ConcurrencyError(f"payment {payment.id} changed since it was read")
        self._put(self._store.payments, payment.id, evolve(payment, version=payment.version + 1))

    def _for_appointment(self, appointment_id: AppointmentId) -> Payment | None:
        for payment in self._store.payments.values():
            if payment.appointment_id == appointment_id:
                return evolve(payment)
        return None

    def _search(self, query: PaymentQuery) -> list[Payment]:
        def matches(p: Payment) -> bool:
            return (
                (query.patient_id is None or p.patient_id == query.patient_id)
                and (query.statuses is None or p.status in query.statuses)
                and (query.purpose is None or p.purpose is query.purpose)
                and (query.method is None or p.method is query.method)
                and (query.before is None or (p.created_at, p.id) < query.before)
            )

        found = [evolve(p) for p in self._store.payments.values() if matches(p)]
        found.sort(key=lambda p: (p.created_at, p.id), reverse=True)
        return found[: query.limit]

    def _with_unsettled_refunds(self, limit: int) -> list[Payment]:
        found = [evolve(p) for p in self._store.payments.values() if p.unsettled_refunds]
        found.sort(key=lambda p: (p.updated_at, p.id))
        return found[:limit]


class InMemoryWalletLedger(_Journalled, WalletLedger):
    def append(self, entry: WalletEntry) -> None:
        # Under the unit of work's lock, the balance check and the write are one atomic step:
        # the in-memory analogue of the conditional write the port demands.
        entries = self._store.wallet_entries
        if entry.reference in entries:
            raise AlreadyExists(f"wallet entry {entry.reference} exists")
        after = self.balance(entry.patient_id, entry.amount.currency) + entry.amount
        if after.minor_units < 0:
            raise InsufficientFunds(
                f"the wallet of {entry.patient_id} holds too little for {entry.reference}"
            )
        self._put(entries, entry.reference, entry)

    def balance(self, patient_id: PatientId, currency: str) -> Money:
        return sum((e.amount for e in self._mine(patient_id, currency)), Money.zero(currency))

    def entries(self, patient_id: PatientId, currency: str) -> list[WalletEntry]:
        return sorted(self._mine(patient_id, currency), key=lambda e: (e.recorded_at, e.reference))

    def by_reference(self, reference: str) -> WalletEntry | None:
        return self._store.wallet_entries.get(reference)

    def _mine(self, patient_id: PatientId, currency: str) -> list[WalletEntry]:
        return [
            e
            for e in self._store.wallet_entries.values()
            if e.patient_id == patient_id and e.amount.currency == currency
        ]


class InMemoryProcessedWebhookEvents(_Journalled, ProcessedWebhookEvents):
    def add(self, provider: str, event_id: str, processed_at: datetime) -> None:
        key = (provider, event_id)
        if key in self._store.processed_events:
            raise AlreadyExists(f"event {provider}:{event_id} was processed")
        self._put(self._store.processed_events, key, processed_at)

    def contains(self, provider: str, event_id: str) -> bool:
        return (provider, event_id) in self._store.processed_events


class InMemoryUnitOfWork(UnitOfWork):
    def __init__(self, store: InMemoryStore, publisher: EventPublisher | None = None) -> None:
        super().__init__(publisher)
        self._store = store
        self._journal: list[Undo] = []

    def _begin(self) -> None:
        self._store.lock.acquire()
        self._journal = []
        self.doctors = InMemoryDoctorRepository(self._store, self._journal)
        self.patients = InMemoryPatientRepository(self._store, self._journal)
        self.availability = InMemoryAvailabilityRepository(self._store, self._journal)
        self.appointments = InMemoryAppointmentRepository(self._store, self._journal)
        self.accounts = InMemoryAccountRepository(self._store, self._journal)
        self.one_time_secrets = InMemoryOneTimeSecretRepository(self._store, self._journal)
        self.refresh_tokens = InMemoryRefreshTokenRepository(self._store, self._journal)
        self.idempotency = InMemoryIdempotencyRepository(self._store, self._journal)
        self.payments = InMemoryPaymentRepository(self._store, self._journal)
        self.wallets = InMemoryWalletLedger(self._store, self._journal)
        self.processed_events = InMemoryProcessedWebhookEvents(self._store, self._journal)
        self.documents = InMemoryDocumentRepository(self._store, self._journal)
        self.room_tickets = InMemoryRoomTickets(self._store.rooms, self._journal)
        self.room_attendance = InMemoryRoomAttendance(self._store.rooms, self._journal)
        self.hospitals = InMemoryHospitalRepository(self._store, self._journal)
        self.beds = InMemoryBedLedger(self._store, self._journal)
        self.transfers = InMemoryTransferRepository(self._store, self._journal)
        self.schemes = InMemorySchemeRepository(self._store, self._journal)
        self.policies = InMemoryPolicyRepository(self._store, self._journal)
        self.claims = InMemoryClaimRepository(self._store, self._journal)
        self.reviews = InMemoryReviewRepository(self._store, self._journal)
        self.statistics = InMemoryAppointmentStatistics(self._store)
        self.ratings = InMemoryRatingLedger(self._store, self._journal)
        self.admissions = InMemoryAdmissionRepository(self._store, self._journal)
        self.notification_preferences = InMemoryNotificationPreferences(self._store, self._journal)
        self.calendar_feeds = InMemoryCalendarFeeds(self._store, self._journal)
        self.records = InMemoryMedicalRecordRepository(self._store, self._journal)
        self.consents = InMemoryConsentRepository(self._store, self._journal)
        self.audit = InMemoryAuditLog(self._store, self._journal)
        self.emergency_grants = InMemoryEmergencyGrantRepository(self._store, self._journal)
        self.emergency_cards = InMemoryEmergencyCardRepository(self._store, self._journal)
        self.waitlist = InMemoryWaitlistRepository(self._store, self._journal)
        self.directory = InMemoryDoctorDirectory(self._store, self._journal)

    def _commit(self, events: Sequence[DomainEvent]) -> None:
        self._store.outbox.extend(OutboxMessage.of(event) for event in events)
        self._journal.clear()

    def _rollback(self) -> None:
        while self._journal:
            self._journal.pop()()

    def _close(self) -> None:
        self._store.lock.release()


class InMemoryUnitOfWorkFactory:
    """Makes units of work over one shared store (the ``memory`` storage entry point)."""

    def __init__(
        self, store: InMemoryStore | None = None, publisher: EventPublisher | None = None
    ) -> None:
        self.store = store or InMemoryStore()
        self.publisher = publisher

    def __call__(self) -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(self.store, self.publisher)

    def housekeeping(self, limit: int = 100) -> dict[str, int]:
        """Nothing to clean up: a unit of work here is all or nothing (``registry``)."""
        return {}

    def delivery(self) -> tuple[OutboxDelivery, Inbox]:
        """The outbox's delivery state and the consumers' inbox (``registry``)."""
        from hellodoctor_adapters.memory.delivery import MemoryDelivery, MemoryInbox

        return MemoryDelivery(self.store), MemoryInbox(self.store)

    def retention(self) -> RetentionStore:
        """Counts and bounded deletions of what the retention policy names (``registry``)."""
        from hellodoctor_adapters.memory.retention import MemoryRetention

        return MemoryRetention(self.store)


def open_memory_storage(
    url: str, *, publisher: EventPublisher | None = None, cipher: object = None
) -> UnitOfWorkFactory:
    """Entry point for ``memory://`` URLs: a fresh store per call, kept only in this process.
    Nothing is at rest, so nothing is sealed: ``cipher`` is accepted and unused."""
    return InMemoryUnitOfWorkFactory(publisher=publisher)
