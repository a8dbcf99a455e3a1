"""Ports: what the domain needs from the outside world, and nothing about how it is done.

Every adapter raises only the ``PortError`` family from ``hellodoctor_domain.errors`` (and
``SlotUnavailable``), translating its driver's exceptions.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Protocol, Self

from attrs import define

from hellodoctor_domain.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.availability import Availability
from hellodoctor_domain.events import AppointmentEvent
from hellodoctor_domain.identity import Account, OneTimeSecret, RefreshToken, SecretPurpose
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


# -- unit of work --------------------------------------------------------------------------


class EventPublisher(Protocol):
    def publish(self, events: Sequence[AppointmentEvent]) -> None:
        """Hand committed events to in-process subscribers (best effort, after commit)."""


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


class PaymentGateway(Protocol):
    def create_intent(
        self, *, amount: Money, idempotency_key: str, metadata: dict[str, str]
    ) -> PaymentIntent:
        """Ask the provider to collect ``amount``; the same key never charges twice."""

    def refund(self, *, provider_reference: str, amount: Money, idempotency_key: str) -> str:
        """Give back ``amount`` of a collected payment; returns the refund's reference."""

    def cancel(self, *, provider_reference: str) -> None:
        """Abandon an intent that has not been paid (its hold lapsed)."""


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

    def verify(self, secret: str, code: str, at: datetime) -> bool: ...

    def provisioning_uri(self, secret: str, account_name: str, issuer: str) -> str: ...


class LoginThrottle(Protocol):
    """Counts failed sign-ins per key (an account, a client address) and locks a key out for a
    while after too many. Must be shared by every process serving sign-ins."""

    def blocked_for(self, keys: Sequence[str], now: datetime) -> timedelta | None:
        """How long until the most locked of ``keys`` may try again, or ``None``."""

    def failed(self, keys: Sequence[str], now: datetime) -> None: ...

    def succeeded(self, keys: Sequence[str]) -> None:
        """Forget the failures of ``keys`` (the account's, after a successful sign-in)."""
