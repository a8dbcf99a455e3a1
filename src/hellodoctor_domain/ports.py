"""Ports: what the domain needs from the outside world, and nothing about how it is done.

Every adapter raises only the ``PortError`` family from ``hellodoctor_domain.errors`` (and
``SlotUnavailable``), translating its driver's exceptions.
"""

from __future__ import annotations

import abc
import enum
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar, overload

from attrs import define

from hellodoctor_domain.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.availability import Availability
from hellodoctor_domain.events import AppointmentEvent
from hellodoctor_domain.identity import Account, OneTimeSecret, RefreshToken, SecretPurpose
from hellodoctor_domain.payments import (
    Payment,
    PaymentId,
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
    WalletEntry,
)
from hellodoctor_domain.profiles import Doctor, Patient
from hellodoctor_domain.values import (
    AppointmentId,
    DoctorId,
    EmailAddress,
    Money,
    PatientId,
    TimeRange,
    UserId,
)

_log = logging.getLogger(__name__)

# -- repositories --------------------------------------------------------------------------


class DoctorRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, doctor: Doctor) -> None:
        """Store a new doctor; ``AlreadyExists`` if the id or registration number is taken."""

    @abc.abstractmethod
    def get(self, doctor_id: DoctorId) -> Doctor:
        """The doctor, or ``NotFound``."""

    @abc.abstractmethod
    def update(self, doctor: Doctor) -> None:
        """Write changes if ``doctor.version`` is still current, then bump it;
        ``ConcurrencyError`` otherwise."""

    @abc.abstractmethod
    def list(self) -> Sequence[Doctor]:
        """Every doctor, ordered by id."""

    def search(self, query: DoctorQuery) -> Sequence[Doctor]:
        """Up to ``query.limit`` doctors matching every given filter, ordered by id, starting
        after ``query.after`` (a keyset cursor: stable while doctors are added)."""
        raise NotImplementedError


class PatientRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, patient: Patient) -> None: ...

    @abc.abstractmethod
    def get(self, patient_id: PatientId) -> Patient: ...

    @abc.abstractmethod
    def update(self, patient: Patient) -> None: ...


class AvailabilityRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, doctor_id: DoctorId) -> Availability | None:
        """The doctor's availability, or ``None`` if they have not defined it."""

    @abc.abstractmethod
    def save(self, availability: Availability) -> Availability:
        """Create or replace; a replacement must carry the version it was read at
        (``ConcurrencyError`` otherwise). Returns the stored value with its new version."""


class AppointmentRepository(abc.ABC):
    """Appointments, with the no-overlap rule enforced *by the storage*.

    ``add`` and ``update`` raise ``SlotUnavailable`` when the appointment is active and its
    ``blocked`` range overlaps the ``blocked`` range of another active appointment of the same
    doctor, or its ``time`` overlaps the ``time`` of another active appointment of the same
    patient. Held appointments count as active until their status changes, even when their
    hold has lapsed: use cases expire lapsed holds in the way before writing.

    The check must be atomic with the write (a constraint, a conditional write, a lock), so that
    no interleaving of concurrent writers, in any number of processes, can store an overlap.
    Refusals may surface at ``add``/``update`` or at the unit of work's ``commit``. When one
    write breaks several rules at once (an unknown doctor *and* an overlap), which error is
    reported is the adapter's choice.

    The repository remembers every appointment it hands out or takes in (``seen``) so that the
    unit of work can collect their events.
    """

    def __init__(self) -> None:
        self.seen: list[Appointment] = []

    def add(self, appointment: Appointment) -> None:
        """Store a new appointment (its version becomes 1); ``AlreadyExists`` for a known id,
        ``NotFound`` for an unknown doctor or patient, ``SlotUnavailable`` as above."""
        self._add(appointment)
        appointment.version += 1
        self.seen.append(appointment)

    def get(self, appointment_id: AppointmentId) -> Appointment:
        """The appointment, or ``NotFound``."""
        appointment = self._get(appointment_id)
        self.seen.append(appointment)
        return appointment

    def update(self, appointment: Appointment) -> None:
        """Write changes if ``appointment.version`` is still current and bump it;
        ``ConcurrencyError`` otherwise, ``SlotUnavailable`` as for ``add``."""
        self._update(appointment)
        appointment.version += 1
        if not any(known is appointment for known in self.seen):
            self.seen.append(appointment)

    def for_doctor(
        self, doctor_id: DoctorId, period: TimeRange, *, active_only: bool = True
    ) -> list[Appointment]:
        """Appointments of the doctor whose ``blocked`` range overlaps ``period``, by start."""
        found = self._for_doctor(doctor_id, period, active_only)
        self.seen.extend(found)
        return found

    def for_patient(
        self, patient_id: PatientId, period: TimeRange | None = None, *, active_only: bool = False
    ) -> list[Appointment]:
        """Appointments of the patient whose ``time`` overlaps ``period`` (all if ``None``),
        by start."""
        found = self._for_patient(patient_id, period, active_only)
        self.seen.extend(found)
        return found

    def search(self, query: AppointmentQuery) -> list[Appointment]:
        """Up to ``query.limit`` appointments matching every given filter, ordered by
        ``(time.start, id)``, starting after ``query.after`` (a keyset cursor)."""
        found = self._search(query)
        self.seen.extend(found)
        return found

    def _search(self, query: AppointmentQuery) -> list[Appointment]:
        raise NotImplementedError

    def lapsed_holds(self, now: datetime, limit: int) -> list[Appointment]:
        """Up to ``limit`` held appointments whose hold expired at or before ``now``, oldest
        expiry first."""
        found = self._lapsed_holds(now, limit)
        self.seen.extend(found)
        return found

    @abc.abstractmethod
    def _add(self, appointment: Appointment) -> None:
        """Store with version ``appointment.version + 1`` (the base class bumps the object)."""

    @abc.abstractmethod
    def _get(self, appointment_id: AppointmentId) -> Appointment: ...

    @abc.abstractmethod
    def _update(self, appointment: Appointment) -> None:
        """Write if the stored version equals ``appointment.version``; the stored version
        becomes ``appointment.version + 1`` (the base class bumps the object)."""

    @abc.abstractmethod
    def _for_doctor(
        self, doctor_id: DoctorId, period: TimeRange, active_only: bool
    ) -> list[Appointment]: ...

    @abc.abstractmethod
    def _for_patient(
        self, patient_id: PatientId, period: TimeRange | None, active_only: bool
    ) -> list[Appointment]: ...

    @abc.abstractmethod
    def _lapsed_holds(self, now: datetime, limit: int) -> list[Appointment]: ...


@define(frozen=True, kw_only=True)
class DoctorQuery:
    specialty: str | None = None  # exact, case-insensitive
    language: str | None = None  # one of the doctor's languages, case-insensitive
    text: str | None = None  # substring of name or specialty, case-insensitive
    accepting_bookings: bool | None = None
    after: DoctorId | None = None
    limit: int = 20


@define(frozen=True, kw_only=True)
class AppointmentQuery:
    patient_id: PatientId | None = None
    doctor_id: DoctorId | None = None
    statuses: frozenset[AppointmentStatus] | None = None
    starts_from: datetime | None = None  # time.start >= this
    starts_before: datetime | None = None  # time.start < this
    after: tuple[datetime, AppointmentId] | None = None  # cursor: the last (start, id) seen
    limit: int = 50


class AccountRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, account: Account) -> None:
        """Store a new account (version 1); ``AlreadyExists`` if the id or e-mail is taken
        (e-mails compare case-insensitively)."""

    @abc.abstractmethod
    def get(self, account_id: UserId) -> Account:
        """The account, or ``NotFound``."""

    @abc.abstractmethod
    def by_email(self, email: EmailAddress) -> Account | None:
        """The account with this e-mail (case-insensitive), if any."""

    @abc.abstractmethod
    def update(self, account: Account) -> None:
        """Compare-and-set on ``account.version``, then bump it; ``ConcurrencyError`` if stale,
        ``AlreadyExists`` if the new e-mail is taken."""


class OneTimeSecretRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, secret: OneTimeSecret) -> None: ...

    @abc.abstractmethod
    def get(self, secret_id: str) -> OneTimeSecret:
        """The secret, or ``NotFound``."""

    @abc.abstractmethod
    def latest(self, account_id: UserId, purpose: SecretPurpose) -> OneTimeSecret | None:
        """The most recently issued secret of this purpose for the account."""

    @abc.abstractmethod
    def update(self, secret: OneTimeSecret) -> None:
        """Compare-and-set on ``secret.version``, then bump it."""


class RefreshTokenRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, token: RefreshToken) -> None: ...

    @abc.abstractmethod
    def get(self, token_id: str) -> RefreshToken:
        """The token, or ``NotFound``."""

    @abc.abstractmethod
    def update(self, token: RefreshToken) -> None:
        """Compare-and-set on ``token.version``, then bump it. Rotating a token is this
        compare-and-set, so two concurrent refreshes with one token cannot both succeed."""

    @abc.abstractmethod
    def revoke_family(self, family_id: str, at: datetime) -> None:
        """Mark every not yet revoked token of the family revoked at ``at``."""

    @abc.abstractmethod
    def revoke_account(self, account_id: UserId, at: datetime) -> None:
        """Mark every not yet revoked token of the account revoked at ``at``."""


@define(frozen=True, kw_only=True)
class IdempotencyRecord:
    """A request that must take effect once: who sent it, the key they chose, a fingerprint of
    what they asked, and what it produced."""

    scope: str
    key: str
    fingerprint: str
    appointment_id: AppointmentId
    created_at: datetime


class IdempotencyRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, record: IdempotencyRecord) -> None:
        """Store the record; ``AlreadyExists`` if ``(scope, key)`` is taken (a unique rule in
        the storage, so two concurrent requests with one key cannot both take effect)."""

    @abc.abstractmethod
    def get(self, scope: str, key: str) -> IdempotencyRecord | None: ...


# -- payments ------------------------------------------------------------------------------


@define(frozen=True, kw_only=True)
class PaymentQuery:
    patient_id: PatientId | None = None
    statuses: frozenset[PaymentStatus] | None = None
    purpose: PaymentPurpose | None = None
    method: PaymentMethod | None = None
    before: tuple[datetime, PaymentId] | None = None  # cursor: the last (created_at, id) seen
    limit: int = 50


class PaymentRepository(abc.ABC):
    """Payments, with two rules the storage enforces atomically with the write: ids are unique,
    and an appointment has at most one payment (``AlreadyExists`` otherwise), so two
    concurrent "pay" requests for one appointment cannot both start collecting money."""

    @abc.abstractmethod
    def add(self, payment: Payment) -> None:
        """Store a new payment (its version becomes 1); ``AlreadyExists`` for a known id or an
        appointment that already has a payment."""

    @abc.abstractmethod
    def get(self, payment_id: PaymentId) -> Payment:
        """The payment, or ``NotFound``."""

    @abc.abstractmethod
    def update(self, payment: Payment) -> None:
        """Write changes (status, intent, refunds) if ``payment.version`` is still current, then
        bump it; ``ConcurrencyError`` otherwise. Refund entries are only ever appended."""

    @abc.abstractmethod
    def for_appointment(self, appointment_id: AppointmentId) -> Payment | None: ...

    @abc.abstractmethod
    def search(self, query: PaymentQuery) -> list[Payment]:
        """Up to ``query.limit`` payments matching every given filter, newest first (by
        ``(created_at, id)`` descending), starting after the cursor ``query.before``."""

    @abc.abstractmethod
    def with_unsettled_refunds(self, limit: int) -> list[Payment]:
        """Up to ``limit`` payments with a refund whose card part the gateway has not yet
        accepted, oldest first: the worker sends them (again) to the gateway."""


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


# -- unit of work --------------------------------------------------------------------------


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


# -- other ports ---------------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, time-zone aware, in UTC."""


class IdGenerator(Protocol):
    def new_id(self) -> str:
        """A fresh, globally unique, URL-safe identifier."""


@define(frozen=True)
class PaymentIntent:
    """What a payment provider answers when asked to collect money."""

    provider_reference: str
    status: str
    client_secret: str | None = None


class GatewayEventKind(enum.StrEnum):
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    OTHER = "other"  # an event type the domain does not act on (recorded and ignored)


@define(frozen=True, kw_only=True)
class GatewayEvent:
    """A verified webhook event, translated from the provider's vocabulary.

    ``payment_id`` comes from the metadata the intent was created with, so an event can be
    matched to its payment even if it arrives before the intent's reference was stored.
    """

    id: str
    kind: GatewayEventKind
    provider_reference: str
    payment_id: PaymentId | None
    amount: Money | None = None
    failure: str = ""


class PaymentGateway(Protocol):
    """A card payment provider (Stripe next; the offline gateway in memory).

    Every call that moves money takes an idempotency key: calling again with the same key
    (after a timeout, a crash, a replayed request) never charges or refunds twice. Adapters
    raise ``BackendUnavailable`` when the provider cannot be reached and ``NotFound`` for an
    unknown intent; no SDK exception leaks out.
    """

    name: str  # the provider's name, the namespace of its event ids (e.g. "stripe")

    def create_intent(
        self, *, amount: Money, idempotency_key: str, metadata: dict[str, str]
    ) -> PaymentIntent:
        """Ask the provider to collect ``amount`` (created on the server, never by the client);
        ``metadata`` carries at least ``payment_id`` (and ``appointment_id`` when there is
        one) and comes back on every event."""

    def refund(self, *, provider_reference: str, amount: Money, idempotency_key: str) -> str:
        """Give back ``amount`` of a collected payment; returns the refund's reference."""

    def cancel_intent(self, *, provider_reference: str) -> bool:
        """Abandon an intent that has not been paid (its hold lapsed, or the appointment was
        cancelled). Cancelling twice is fine. Returns ``False`` when the intent had already
        succeeded: its success event comes (or came) and the use case refunds it."""

    def parse_event(self, *, body: bytes, signature: str | None) -> GatewayEvent:
        """Verify ``signature`` (the provider's signature header) over the raw ``body`` and
        translate the event; ``WebhookRejected`` if the signature is missing, wrong or too
        old, or the body is not an event."""


class BlobStorage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes:
        """The stored bytes, or ``NotFound``."""

    def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing key is not an error."""


@define(frozen=True)
class Notification:
    recipient: EmailAddress
    subject: str
    body: str
    kind: str


class Notifier(Protocol):
    def send(self, notification: Notification) -> None: ...


class PasswordHasher(Protocol):
    """A slow, salted password hash (bcrypt in production)."""

    def hash(self, password: str) -> str: ...

    def verify(self, password: str, hashed: str) -> bool: ...

    def needs_rehash(self, hashed: str) -> bool:
        """Whether ``hashed`` was made with weaker settings than the current ones."""


class TotpVerifier(Protocol):
    """Time-based one-time passwords (RFC 6238)."""

    def new_secret(self) -> str: ...

    def matched_step(self, secret: str, code: str, at: datetime) -> int | None:
        """The time step (Unix time // 30) whose code ``code`` is, within the allowed drift
        around ``at``; ``None`` if it matches none."""

    def provisioning_uri(self, secret: str, account_name: str, issuer: str) -> str: ...


class LoginThrottle(Protocol):
    """Counts failed sign-ins per key (an account, a client address) and locks a key out for a
    while after too many. Must be shared by every process serving sign-ins."""

    def blocked_for(self, keys: Sequence[str], now: datetime) -> timedelta | None:
        """How long until the most locked of ``keys`` may try again, or ``None``."""

    def failed(self, keys: Sequence[str], now: datetime) -> None: ...

    def succeeded(self, keys: Sequence[str]) -> None:
        """Forget the failures of ``keys`` (the account's, after a successful sign-in)."""
