"""Repositories and unit of work over plain dictionaries.

Isolation: a unit of work holds the store's lock from ``__enter__`` to ``__exit__``, so
transactions run one at a time (serializable by construction) and the overlap check and the
write it guards can never be interleaved. Writes apply at once and are journalled; a rollback
replays the journal backwards. Objects are copied in and out, so a caller mutating what it read
changes nothing until it calls ``update``. A commit appends its events to ``store.outbox`` as
``OutboxMessage`` s, as a storage with a database would write them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from attrs import define, evolve, field

from hellodoctor_adapters.memory.consultations import (
    InMemoryRoomAttendance,
    InMemoryRoomTickets,
    RoomTables,
)
from hellodoctor_adapters.outbox import OutboxMessage
from hellodoctor_domain.errors import (
    AlreadyExists,
    ConcurrencyError,
    InsufficientFunds,
    NotFound,
    SlotUnavailable,
)
from hellodoctor_domain.model.accounts import Account, OneTimeSecret, RefreshToken, SecretPurpose
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.availability import Availability
from hellodoctor_domain.model.documents import Document, DocumentId, Owner
from hellodoctor_domain.model.events import DomainEvent
from hellodoctor_domain.model.hospitals import BedType, Hospital
from hellodoctor_domain.model.insurance import Claim, Policy, Scheme
from hellodoctor_domain.model.payments import Payment, PaymentId, WalletEntry
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.transfers import Transfer
from hellodoctor_domain.model.values import (
    AppointmentId,
    ClaimId,
    DoctorId,
    EmailAddress,
    HospitalId,
    Money,
    PatientId,
    PolicyId,
    SchemeId,
    TimeRange,
    TransferId,
    UserId,
)
from hellodoctor_domain.ports.documents import DocumentRepository
from hellodoctor_domain.ports.hospitals import BedCount
from hellodoctor_domain.ports.identity import (
    AccountRepository,
    OneTimeSecretRepository,
    RefreshTokenRepository,
)
from hellodoctor_domain.ports.outbox import Inbox, OutboxDelivery
from hellodoctor_domain.ports.payments import (
    PaymentQuery,
    PaymentRepository,
    ProcessedWebhookEvents,
    WalletLedger,
)
from hellodoctor_domain.ports.scheduling import (
    AppointmentQuery,
    AppointmentRepository,
    AvailabilityRepository,
    DoctorQuery,
    DoctorRepository,
    IdempotencyRecord,
    IdempotencyRepository,
    PatientRepository,
)
from hellodoctor_domain.ports.unit_of_work import EventPublisher, UnitOfWork, UnitOfWorkFactory


@define
class InMemoryStore:
    """Everything one in-memory "database" holds. Share one store between unit-of-work
    factories to share data."""

    lock: threading.RLock = field(factory=threading.RLock)
    doctors: dict[DoctorId, Doctor] = field(factory=dict)
    patients: dict[PatientId, Patient] = field(factory=dict)
    availability: dict[DoctorId, Availability] = field(factory=dict)
    appointments: dict[AppointmentId, Appointment] = field(factory=dict)
    outbox: list[OutboxMessage] = field(factory=list)
    accounts: dict[UserId, Account] = field(factory=dict)
    one_time_secrets: dict[str, OneTimeSecret] = field(factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(factory=dict)
    idempotency: dict[tuple[str, str], IdempotencyRecord] = field(factory=dict)
    payments: dict[PaymentId, Payment] = field(factory=dict)
    wallet_entries: dict[str, WalletEntry] = field(factory=dict)  # by reference, in order
    processed_events: dict[tuple[str, str], datetime] = field(factory=dict)
    documents: dict[DocumentId, Document] = field(factory=dict)
    rooms: RoomTables = field(factory=RoomTables)
    # Delivery state of ``outbox`` entries by position, and consumers' inbox (memory/delivery.py).
    deliveries: dict[int, Any] = field(factory=dict)
    inbox: dict[tuple[str, str], Any] = field(factory=dict)
    hospitals: dict[HospitalId, Hospital] = field(factory=dict)
    beds: dict[tuple[HospitalId, str, BedType], BedCount] = field(factory=dict)
    transfers: dict[TransferId, Transfer] = field(factory=dict)
    schemes: dict[SchemeId, Scheme] = field(factory=dict)
    policies: dict[PolicyId, Policy] = field(factory=dict)
    claims: dict[ClaimId, Claim] = field(factory=dict)


Undo = Callable[[], None]


def _restore(table: dict, key: object, previous: object | None) -> Undo:  # type: ignore[type-arg]
    def undo() -> None:
        if previous is None:
            table.pop(key, None)
        else:
            table[key] = previous

    return undo


class _Journalled:
    def __init__(self, store: InMemoryStore, journal: list[Undo]) -> None:
        super().__init__()  # a tracking repository starts with nothing seen
        self._store = store
        self._journal = journal

    def _put(self, table: dict, key: object, value: object) -> None:  # type: ignore[type-arg]
        self._journal.append(_restore(table, key, table.get(key)))
        table[key] = value


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


class InMemoryAccountRepository(_Journalled, AccountRepository):
    def _add(self, account: Account) -> None:
        accounts = self._store.accounts
        if account.id in accounts or self._by_email(account.email) is not None:
            raise AlreadyExists("that account or e-mail address exists")
        self._put(accounts, account.id, evolve(account, version=1))

    def _get(self, account_id: UserId) -> Account:
        try:
            return evolve(self._store.accounts[account_id])
        except KeyError:
            raise NotFound(f"no account {account_id}") from None

    def _by_email(self, email: EmailAddress) -> Account | None:
        for account in self._store.accounts.values():
            if account.email.lookup_key == email.lookup_key:
                return evolve(account)
        return None

    def _update(self, account: Account) -> None:
        stored = self._store.accounts.get(account.id)
        if stored is None:
            raise NotFound(f"no account {account.id}")
        if stored.version != account.version:
            raise ConcurrencyError(f"account {account.id} changed since it was read")
        other = self._by_email(account.email)
        if other is not None and other.id != account.id:
            raise AlreadyExists("that e-mail address has an account")
        self._put(self._store.accounts, account.id, evolve(account, version=account.version + 1))


class InMemoryOneTimeSecretRepository(_Journalled, OneTimeSecretRepository):
    def add(self, secret: OneTimeSecret) -> None:
        if secret.id in self._store.one_time_secrets:
            raise AlreadyExists(f"secret {secret.id} exists")
        secret.version = 1
        self._put(self._store.one_time_secrets, secret.id, evolve(secret))

    def get(self, secret_id: str) -> OneTimeSecret:
        try:
            return evolve(self._store.one_time_secrets[secret_id])
        except KeyError:
            raise NotFound("no such secret") from None

    def latest(self, account_id: UserId, purpose: SecretPurpose) -> OneTimeSecret | None:
        mine = [
            s
            for s in self._store.one_time_secrets.values()
            if s.account_id == account_id and s.purpose is purpose
        ]
        return evolve(max(mine, key=lambda s: (s.created_at, s.id))) if mine else None

    def update(self, secret: OneTimeSecret) -> None:
        stored = self._store.one_time_secrets.get(secret.id)
        if stored is None:
            raise NotFound("no such secret")
        if stored.version != secret.version:
            raise ConcurrencyError("the secret changed since it was read")
        secret.version += 1
        self._put(self._store.one_time_secrets, secret.id, evolve(secret))


class InMemoryRefreshTokenRepository(_Journalled, RefreshTokenRepository):
    def add(self, token: RefreshToken) -> None:
        if token.id in self._store.refresh_tokens:
            raise AlreadyExists("token exists")
        token.version = 1
        self._put(self._store.refresh_tokens, token.id, evolve(token))

    def get(self, token_id: str) -> RefreshToken:
        try:
            return evolve(self._store.refresh_tokens[token_id])
        except KeyError:
            raise NotFound("no such token") from None

    def update(self, token: RefreshToken) -> None:
        stored = self._store.refresh_tokens.get(token.id)
        if stored is None:
            raise NotFound("no such token")
        if stored.version != token.version:
            raise ConcurrencyError("the token changed since it was read")
        token.version += 1
        self._put(self._store.refresh_tokens, token.id, evolve(token))

    def _revoke(self, keep: Callable[[RefreshToken], bool], at: datetime) -> None:
        for token in list(self._store.refresh_tokens.values()):
            if keep(token) and token.revoked_at is None:
                revoked = evolve(token, revoked_at=at, version=token.version + 1)
                self._put(self._store.refresh_tokens, token.id, revoked)

    def revoke_family(self, family_id: str, at: datetime) -> None:
        self._revoke(lambda token: token.family_id == family_id, at)

    def revoke_account(self, account_id: UserId, at: datetime) -> None:
        self._revoke(lambda token: token.account_id == account_id, at)


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


class InMemoryDocumentRepository(_Journalled, DocumentRepository):
    def _add(self, document: Document) -> None:
        if document.id in self._store.documents:
            raise AlreadyExists(f"document {document.id} exists")
        self._put(self._store.documents, document.id, evolve(document, version=1))

    def _get(self, document_id: DocumentId) -> Document:
        try:
            return evolve(self._store.documents[document_id])
        except KeyError:
            raise NotFound(f"no document {document_id}") from None

    def _current(self, document: Document) -> Document:
        stored = self._store.documents.get(document.id)
        if stored is None:
            raise NotFound(f"no document {document.id}")
        if stored.version != document.version:
            raise ConcurrencyError(f"document {document.id} changed since it was read")
        return stored

    def _update(self, document: Document) -> None:
        self._current(document)
        new = evolve(document, version=document.version + 1)
        self._put(self._store.documents, document.id, new)

    def _remove(self, document: Document) -> None:
        stored = self._current(document)
        self._journal.append(_restore(self._store.documents, document.id, stored))
        del self._store.documents[document.id]

    def _for_owner(self, owner: Owner, limit: int) -> list[Document]:
        found = [evolve(d) for d in self._store.documents.values() if d.owner == owner]
        found.sort(key=lambda d: (d.created_at, d.id), reverse=True)
        return found[:limit]

    def with_blob_keys(self, keys: Collection[str]) -> set[str]:
        wanted = set(keys)
        return {d.blob_key for d in self._store.documents.values() if d.blob_key in wanted}


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
        # Imported here: the hospitals module builds on this one's journalled base.
        from hellodoctor_adapters.memory.hospitals import (
            InMemoryBedLedger,
            InMemoryHospitalRepository,
            InMemoryTransferRepository,
        )

        self.hospitals = InMemoryHospitalRepository(self._store, self._journal)
        self.beds = InMemoryBedLedger(self._store, self._journal)
        self.transfers = InMemoryTransferRepository(self._store, self._journal)
        from hellodoctor_adapters.memory.insurance import (
            InMemoryClaimRepository,
            InMemoryPolicyRepository,
            InMemorySchemeRepository,
        )

        self.schemes = InMemorySchemeRepository(self._store, self._journal)
        self.policies = InMemoryPolicyRepository(self._store, self._journal)
        self.claims = InMemoryClaimRepository(self._store, self._journal)

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


def open_memory_storage(url: str, *, publisher: EventPublisher | None = None) -> UnitOfWorkFactory:
    """Entry point for ``memory://`` URLs: a fresh store per call, kept only in this process."""
    return InMemoryUnitOfWorkFactory(publisher=publisher)
