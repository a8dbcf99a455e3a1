"""Repositories and unit of work over MongoDB (pymongo), correct on a standalone ``mongod``.

A unit of work without multi-document transactions
    Reads go to the server (and see this unit of work's own pending writes laid over them).
    Writes are buffered, with two exceptions that must happen early:

    * **claims** (``claims.py``) are pushed when ``appointments.add``/``update`` is called, so
      ``SlotUnavailable`` surfaces at the write, as with the reference adapter;
    * cheap **early checks** (version still current, id not taken, doctor and patient known)
      read the server so that errors surface at the call. They only fail fast: the guarantee
      is the conditional write at commit.

    ``commit`` applies the buffered documents in a safe order: doctors, patients, availability,
    then appointments -- first those the unit of work ends (they release time), then other
    updates, then inserts. Inserts are plain inserts under the unique ``_id``; updates are
    compare-and-set on ``version`` (``ConcurrencyError`` when it moved). Each appointment write
    carries its events in an ``_outbox`` array *in the same single-document write*, so an event
    exists if and only if its change does. After the writes: entries the appointments no longer
    need are pruned, and the events are copied to the ``outbox`` collection and removed from
    the appointment (``relay_outbox`` redoes this after a crash). A failure before the last
    write undoes the writes already made (each restores the previous document only if nobody
    changed it since) and releases the claims.

What a crash can leave behind
    Claims without their appointment, or with an appointment that no longer needs them: both
    are orphans, released by the next writer they block once their lease has run out (see
    ``claims.py``). A crash in the middle of ``commit`` can leave a prefix of the writes
    applied: each prefix is a consistent state (ended appointments first, so no prefix shows an
    overlap), but a unit of work that touched several documents is not all-or-nothing across a
    crash. Use cases write one appointment per unit of work, plus the lapsed holds in its way.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, ParamSpec, TypeVar
from urllib.parse import urlsplit

from attrs import define, evolve, field
from bson.codec_options import CodecOptions
from bson.errors import BSONError
from pymongo import ASCENDING, DESCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from hellodoctor_adapters.mongodb.claims import Claim, ClaimBook, Scope, cells
from hellodoctor_adapters.mongodb.converters import (
    appointment_from_document,
    appointment_to_document,
    event_to_document,
    floor_instants,
    floor_ms,
    from_document,
    from_micros,
    normalise_instants,
    to_document,
    to_micros,
)
from hellodoctor_domain.errors import (
    AlreadyExists,
    BackendUnavailable,
    ConcurrencyError,
    InsufficientFunds,
    NotFound,
    PortError,
)
from hellodoctor_domain.model.accounts import Account, OneTimeSecret, RefreshToken, SecretPurpose
from hellodoctor_domain.model.appointment import ACTIVE_STATUSES, Appointment, AppointmentStatus
from hellodoctor_domain.model.availability import Availability
from hellodoctor_domain.model.events import AppointmentEvent
from hellodoctor_domain.model.payments import (
    Payment,
    PaymentId,
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
    Refund,
    RefundReason,
    WalletEntry,
    WalletEntryKind,
)
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.values import (
    AppointmentId,
    DoctorId,
    EmailAddress,
    Money,
    PatientId,
    TimeRange,
    UserId,
)
from hellodoctor_domain.ports.identity import (
    AccountRepository,
    OneTimeSecretRepository,
    RefreshTokenRepository,
)
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
from hellodoctor_domain.ports.unit_of_work import EventPublisher, UnitOfWork

log = logging.getLogger(__name__)

Document = dict[str, Any]
T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_DATABASE = "hellodoctor"
COLLECTIONS = (
    "doctors",
    "patients",
    "availability",
    "appointments",
    "claims",
    "outbox",
    "accounts",
    "one_time_secrets",
    "refresh_tokens",
    "idempotency",
    "payments",
    "wallets",
    "processed_events",
)
_ACTIVE = [status.value for status in ACTIVE_STATUSES]
_NOT_REVOKED = {"_revoked": {"$exists": False}}


def translated(method: Callable[P, R]) -> Callable[P, R]:
    """Let port errors through; turn every driver error into ``BackendUnavailable``. (Duplicate
    keys are translated where they happen, where their meaning is known.)"""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except PortError:
            raise
        except (PyMongoError, BSONError) as error:
            raise BackendUnavailable(f"MongoDB: {error}") from error

    return call


# -- the collections one database holds ----------------------------------------------------


@define
class MongoStore:
    """The collections of one HelloDoctor database, and the claim settings."""

    database: Database[Document]
    lease: timedelta
    clock: Callable[[], datetime]
    wait_for_in_flight: timedelta
    claims: ClaimBook = field(init=False)

    def __attrs_post_init__(self) -> None:
        self.claims = ClaimBook(
            self.collection("claims"),
            self.collection("appointments"),
            self.lease,
            self.clock,
            self.wait_for_in_flight,
        )

    def collection(self, name: str) -> Collection[Document]:
        return self.database.get_collection(name)

    @translated
    def ensure_indexes(self) -> None:
        """Create the indexes the adapter relies on (and the doctors' search keys, for
        documents written before they existed); safe to run at every start-up."""
        doctors = self.collection("doctors")
        doctors.create_index("registration_number", unique=True, name="registration_number_unique")
        for field_name in ("_search.specialty", "_search.languages"):
            doctors.create_index([(field_name, ASCENDING), ("_id", ASCENDING)])
        for document in doctors.find({"_search": {"$exists": False}}):
            doctors.update_one(
                {"_id": document["_id"], "_search": {"$exists": False}},
                {"$set": {"_search": _search_keys(from_document(document, Doctor))}},
            )
        appointments = self.collection("appointments")
        # Keyset pages in (start, _id) order: a doctor's, a patient's ("my appointments"), and
        # the admin list. The first two replace the (owner, start) indexes of the first release.
        for name in ("doctor_calendar", "patient_calendar"):
            if name in appointments.index_information():
                appointments.drop_index(name)
        appointments.create_index(
            [("doctor_id", ASCENDING), ("time.start_us", ASCENDING), ("_id", ASCENDING)],
            name="doctor_by_start",
        )
        appointments.create_index(
            [("patient_id", ASCENDING), ("time.start_us", ASCENDING), ("_id", ASCENDING)],
            name="patient_by_start",
        )
        appointments.create_index(
            [("time.start_us", ASCENDING), ("_id", ASCENDING)], name="all_by_start"
        )
        appointments.create_index(
            [("status", ASCENDING), ("hold_expires_at", ASCENDING)], name="holds_by_expiry"
        )
        self.collection("outbox").create_index("occurred_at", name="outbox_by_time")
        # One account per e-mail address in any case: the case-folded address, unique.
        self.collection("accounts").create_index("_email_key", unique=True, name="email_key_unique")
        self.collection("one_time_secrets").create_index(
            [
                ("account_id", ASCENDING),
                ("purpose", ASCENDING),
                ("created_at", DESCENDING),
                ("_id", DESCENDING),
            ],
            name="latest_by_account",
        )
        tokens = self.collection("refresh_tokens")
        tokens.create_index("family_id", name="by_family")
        tokens.create_index("account_id", name="by_account")
        # One request per (scope, key): two concurrent requests with one key cannot both land.
        self.collection("idempotency").create_index(
            [("scope", ASCENDING), ("key", ASCENDING)], unique=True, name="scope_key_unique"
        )
        payments = self.collection("payments")
        # One payment per appointment (top-ups have no appointment_id: sparse).
        payments.create_index(
            "appointment_id", unique=True, sparse=True, name="appointment_id_unique"
        )
        payments.create_index(
            [("patient_id", ASCENDING), ("created_us", DESCENDING), ("_id", DESCENDING)],
            name="patient_newest_first",
        )
        payments.create_index(
            [("created_us", DESCENDING), ("_id", DESCENDING)], name="newest_first"
        )
        payments.create_index(
            [("_unsettled", ASCENDING), ("updated_us", ASCENDING), ("_id", ASCENDING)],
            name="unsettled_refunds",
        )
        # A ledger reference is applied once in ANY wallet: a unique multikey index (within
        # one wallet document the conditional write's $nin decides).
        self.collection("wallets").create_index(
            "entries.reference", unique=True, name="entry_reference_unique"
        )

    @translated
    def truncate(self) -> None:
        """Empty every collection, keeping indexes (cheap isolation for tests)."""
        for name in COLLECTIONS:
            self.collection(name).delete_many({})

    @translated
    def sweep_claims(self, limit: int = 100) -> int:
        """Release orphaned claims whose lease ran out (housekeeping; see ``claims.py``)."""
        return self.claims.sweep(limit)

    @translated
    def relay_outbox(self, limit: int = 100) -> int:
        """Copy events stranded in appointments (a crash after their write) to ``outbox``."""
        appointments = self.collection("appointments")
        moved = 0
        for document in appointments.find({"_outbox.0": {"$exists": True}}).limit(limit):
            moved += _relay(self, document["_id"], document["_outbox"])
        return moved

    @translated
    def repair_wallets(self, window: timedelta = timedelta(days=1)) -> int:
        """Finish or take back what a crash left between a unit of work's writes (housekeeping,
        like ``sweep_claims``); returns how many repairs it made. Looks at what changed in
        ``window`` and is at least ``lease`` old, so units of work still committing are left
        alone:

        * a credit a payment owes (a succeeded top-up, the wallet part of a refund) that is not
          in the wallet -- the crash came after the payment's write: the payment is fenced
          (its version bumped, so a slow writer can no longer undo it) and the credit applied;
        * a debit whose payment was never written -- the crash came after the debit: the
          payment's id is fenced with a ``_void`` document (a slow writer's insert then fails
          and its undo finds nothing to undo) and the debit taken back.
        """
        now = self.clock()
        newest, oldest = to_micros(now - self.lease), to_micros(now - window)
        repaired = 0
        payments = self.collection("payments")
        wallets = self.collection("wallets")
        recent = {"updated_us": {"$gte": oldest, "$lte": newest}, **_LIVE_PAYMENT}
        for document in payments.find(recent):
            payment = _payment_from_document(document)
            owed = [
                entry
                for entry in _credits_owed(payment)
                if wallets.find_one({"entries.reference": entry.reference}, {"_id": 1}) is None
            ]
            if not owed:
                continue
            fence = payments.update_one(
                {"_id": document["_id"], "version": document["version"]}, {"$inc": {"version": 1}}
            )
            if not fence.matched_count:
                continue  # it moved: judged again next time
            for entry in owed:
                try:
                    _apply_wallet_write(
                        wallets,
                        _WalletWrite(
                            _wallet_key(entry.patient_id, entry.amount.currency), (entry,)
                        ),
                    )
                    repaired += 1
                except AlreadyExists:
                    pass
        for wallet in wallets.find({"entries.recorded_us": {"$gte": oldest}}):
            for entry in wallet["entries"]:
                if (
                    entry["kind"] != WalletEntryKind.PAYMENT.value
                    or entry["payment_id"] is None
                    or not oldest <= entry["recorded_us"] <= newest
                ):
                    continue
                try:
                    payments.insert_one({"_id": entry["payment_id"], "_void": True, "version": 0})
                except DuplicateKeyError:
                    if "_void" not in (payments.find_one({"_id": entry["payment_id"]}) or {}):
                        continue  # the payment exists: the debit is its own
                taken = wallets.update_one(
                    {"_id": wallet["_id"], "entries.reference": entry["reference"]},
                    {
                        "$inc": {"balance": -entry["amount"]},
                        "$pull": {"entries": {"reference": entry["reference"]}},
                    },
                )
                repaired += taken.modified_count
        return repaired


def _credits_owed(payment: Payment) -> list[WalletEntry]:
    owed = []
    if payment.purpose is PaymentPurpose.WALLET_TOP_UP and payment.succeeded_at is not None:
        owed.append(WalletEntry.top_up(payment, payment.succeeded_at))
    owed.extend(
        WalletEntry.credit(payment, refund)
        for refund in payment.refunds
        if not refund.wallet.is_zero
    )
    return owed


def _relay(store: MongoStore, appointment_id: str, events: list[Document]) -> int:
    if not events:
        return 0
    try:
        store.collection("outbox").insert_many(events, ordered=False)
    except BulkWriteError as error:  # some were copied already: their ids are taken
        if not all(item.get("code") == 11000 for item in error.details.get("writeErrors", [])):
            raise
    store.collection("appointments").update_one(
        {"_id": appointment_id},
        {"$pull": {"_outbox": {"_id": {"$in": [event["_id"] for event in events]}}}},
    )
    return len(events)


# -- buffered writes -------------------------------------------------------------------------


@define
class _Change(Generic[T]):
    """A pending write: the value to store, the version it must find (``None``: insert), and
    the document it replaces (to undo it)."""

    value: T
    expected_version: int | None
    previous: Document | None


Undo = Callable[[], None]


def _undo_insert(collection: Collection[Document], key: str, version: int) -> Undo:
    def undo() -> None:
        collection.delete_one({"_id": key, "version": version})

    return undo


def _undo_replace(
    collection: Collection[Document], key: str, version: int, previous: Document
) -> Undo:
    def undo() -> None:
        collection.replace_one({"_id": key, "version": version}, previous)

    return undo


class _Profiles(Generic[T]):
    """Doctors or patients: buffered adds and compare-and-set updates."""

    kind: type[T]
    label: str

    def __init__(self, store: MongoStore, name: str) -> None:
        self._collection = store.collection(name)
        self.pending: dict[str, _Change[T]] = {}

    def _key(self, value: T) -> str:
        return str(value.id)  # type: ignore[attr-defined]

    def _read(self, key: str) -> Document | None:
        return self._collection.find_one({"_id": key})

    def _current(self, key: str) -> T | None:
        change = self.pending.get(key)
        if change is not None:
            return evolve(change.value)  # type: ignore[misc]
        document = self._read(key)
        return None if document is None else from_document(document, self.kind)

    def exists(self, key: str) -> bool:
        return key in self.pending or self._read(key) is not None

    def _add(self, value: T) -> None:
        key = self._key(value)
        if self.exists(key):
            raise AlreadyExists(f"{self.label} {key} exists")
        value.version = 1  # type: ignore[attr-defined]
        self.pending[key] = _Change(evolve(value), None, None)  # type: ignore[misc]

    def _get(self, key: str) -> T:
        found = self._current(key)
        if found is None:
            raise NotFound(f"no {self.label} {key}")
        return found

    def _document(self, value: T) -> Document:
        """The stored form of ``value`` (subclasses add derived keys)."""
        return to_document(value)

    def _version_seen(self, document: Document) -> int:
        """The version a caller reading ``document`` in this unit of work was given."""
        version: int = document["version"]
        return version

    def _update(self, value: T) -> None:
        key = self._key(value)
        change = self.pending.get(key)
        if change is None:
            previous = self._read(key)
            if previous is None:
                raise NotFound(f"no {self.label} {key}")
            expected, current = previous["version"], self._version_seen(previous)
        else:
            previous, expected = change.previous, change.expected_version
            current = change.value.version  # type: ignore[attr-defined]
        if current != value.version:  # type: ignore[attr-defined]
            raise ConcurrencyError(f"{self.label} {key} changed since it was read")
        value.version += 1  # type: ignore[attr-defined]
        self.pending[key] = _Change(evolve(value), expected, previous)  # type: ignore[misc]

    def flush(self, undo: list[Undo]) -> None:
        for key, change in self.pending.items():
            document = self._document(change.value)
            try:
                if change.expected_version is None:
                    self._collection.insert_one(document)
                    undo.append(_undo_insert(self._collection, key, document["version"]))
                    continue
                written = self._collection.replace_one(
                    {"_id": key, "version": change.expected_version}, document
                )
            except DuplicateKeyError as error:
                raise AlreadyExists(self._duplicate(error, key)) from error
            if not written.matched_count:
                raise ConcurrencyError(f"{self.label} {key} changed since it was read")
            assert change.previous is not None
            undo.append(_undo_replace(self._collection, key, document["version"], change.previous))

    def _duplicate(self, error: DuplicateKeyError, key: str) -> str:
        fields = ", ".join((error.details or {}).get("keyPattern", {"_id": 1}))
        return f"{self.label} {key}: {fields} already taken"


class MongoDoctorRepository(_Profiles[Doctor], DoctorRepository):
    kind = Doctor
    label = "doctor"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, "doctors")

    @translated
    def add(self, doctor: Doctor) -> None:
        self._refuse_taken_registration(doctor)
        self._add(doctor)

    @translated
    def get(self, doctor_id: DoctorId) -> Doctor:
        return self._get(doctor_id.value)

    @translated
    def update(self, doctor: Doctor) -> None:
        self._refuse_taken_registration(doctor)
        self._update(doctor)

    @translated
    def list(self) -> Sequence[Doctor]:
        found = {
            document["_id"]: from_document(document, Doctor)
            for document in self._collection.find().sort("_id", ASCENDING)
        }
        found.update({key: evolve(change.value) for key, change in self.pending.items()})
        return [found[key] for key in sorted(found)]

    def _document(self, value: Doctor) -> Document:
        return {**to_document(value), "_search": _search_keys(value)}

    @translated
    def search(self, query: DoctorQuery) -> Sequence[Doctor]:
        conditions: Document = {}
        if query.after is not None:
            conditions["_id"] = {"$gt": query.after.value}
        if query.specialty is not None:
            conditions["_search.specialty"] = query.specialty.casefold()
        if query.language is not None:
            conditions["_search.languages"] = query.language.casefold()
        if query.text:
            pattern = re.escape(query.text.casefold())
            conditions["$or"] = [
                {"_search.name": {"$regex": pattern}},
                {"_search.specialty": {"$regex": pattern}},
            ]
        if query.accepting_bookings is not None:
            conditions["accepting_bookings"] = query.accepting_bookings
        # Enough rows that dropping this unit of work's own changes still leaves a full page.
        cursor = (
            self._collection.find(conditions)
            .sort("_id", ASCENDING)
            .limit(query.limit + len(self.pending))
        )
        found = {document["_id"]: from_document(document, Doctor) for document in cursor}
        for key, change in self.pending.items():
            found.pop(key, None)
            if _doctor_matches(query, change.value):
                found[key] = evolve(change.value)
        return [found[key] for key in sorted(found)][: query.limit]

    def _refuse_taken_registration(self, doctor: Doctor) -> None:
        # Fails fast only; the unique index decides at commit.
        number = doctor.registration_number
        taken = any(
            change.value.registration_number == number and key != doctor.id.value
            for key, change in self.pending.items()
        ) or self._collection.find_one(
            {"registration_number": number, "_id": {"$ne": doctor.id.value}}, {"_id": 1}
        )
        if taken:
            raise AlreadyExists(f"registration number {number} is taken")


def _search_keys(doctor: Doctor) -> Document:
    """Case-folded copies the search filters compare (``str.casefold``, like the reference;
    a case-insensitive regex or collation folds differently)."""
    return {
        "name": doctor.name.casefold(),
        "specialty": doctor.specialty.casefold(),
        "languages": sorted({language.casefold() for language in doctor.languages}),
    }


def _doctor_matches(query: DoctorQuery, doctor: Doctor) -> bool:
    keys = _search_keys(doctor)
    text = (query.text or "").casefold()
    return (
        (query.after is None or doctor.id > query.after)
        and (query.specialty is None or keys["specialty"] == query.specialty.casefold())
        and (query.language is None or query.language.casefold() in keys["languages"])
        and (not text or text in keys["name"] or text in keys["specialty"])
        and (
            query.accepting_bookings is None
            or doctor.accepting_bookings == query.accepting_bookings
        )
    )


class MongoPatientRepository(_Profiles[Patient], PatientRepository):
    kind = Patient
    label = "patient"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, "patients")

    @translated
    def add(self, patient: Patient) -> None:
        self._add(patient)

    @translated
    def get(self, patient_id: PatientId) -> Patient:
        return self._get(patient_id.value)

    @translated
    def update(self, patient: Patient) -> None:
        self._update(patient)


class MongoAvailabilityRepository(AvailabilityRepository):
    def __init__(self, store: MongoStore, doctors: MongoDoctorRepository) -> None:
        self._collection = store.collection("availability")
        self._doctors = doctors
        self.pending: dict[str, _Change[Availability]] = {}

    @translated
    def get(self, doctor_id: DoctorId) -> Availability | None:
        change = self.pending.get(doctor_id.value)
        if change is not None:
            return change.value
        document = self._collection.find_one({"_id": doctor_id.value})
        return None if document is None else from_document(document, Availability, "doctor_id")

    @translated
    def save(self, availability: Availability) -> Availability:
        key = availability.doctor_id.value
        if not self._doctors.exists(key):
            raise NotFound(f"no doctor {key}")
        change = self.pending.get(key)
        if change is None:
            previous = self._collection.find_one({"_id": key})
            expected = None if previous is None else previous["version"]
            current = expected or 0
        else:
            previous, expected, current = (
                change.previous,
                change.expected_version,
                change.value.version,
            )
        if current != availability.version:
            raise ConcurrencyError(f"availability of {key} changed since it was read")
        stored = evolve(availability, version=availability.version + 1)
        self.pending[key] = _Change(stored, expected, previous)
        return stored

    def flush(self, undo: list[Undo]) -> None:
        for key, change in self.pending.items():
            document = to_document(change.value, "doctor_id")
            if change.expected_version is None:
                try:
                    self._collection.insert_one(document)
                except DuplicateKeyError as error:
                    raise ConcurrencyError(
                        f"availability of {key} was created meanwhile"
                    ) from error
                undo.append(_undo_insert(self._collection, key, document["version"]))
                continue
            written = self._collection.replace_one(
                {"_id": key, "version": change.expected_version}, document
            )
            if not written.matched_count:
                raise ConcurrencyError(f"availability of {key} changed since it was read")
            assert change.previous is not None
            undo.append(_undo_replace(self._collection, key, document["version"], change.previous))


# -- appointments ----------------------------------------------------------------------------


def _ranges(appointment: Appointment) -> list[tuple[Scope, str, TimeRange]]:
    """What an active appointment occupies: the doctor's blocked time, the patient's time."""
    return [
        (Scope.DOCTOR, appointment.doctor_id.value, appointment.blocked),
        (Scope.PATIENT, appointment.patient_id.value, appointment.time),
    ]


def _appointment_matches(query: AppointmentQuery, a: Appointment) -> bool:
    return (
        (query.patient_id is None or a.patient_id == query.patient_id)
        and (query.doctor_id is None or a.doctor_id == query.doctor_id)
        and (query.statuses is None or a.status in query.statuses)
        and (query.starts_from is None or a.time.start >= query.starts_from)
        and (query.starts_before is None or a.time.start < query.starts_before)
        and (query.after is None or (a.time.start, a.id) > query.after)
    )


class MongoAppointmentRepository(AppointmentRepository):
    def __init__(
        self,
        store: MongoStore,
        token: str,
        doctors: MongoDoctorRepository,
        patients: MongoPatientRepository,
    ) -> None:
        super().__init__()
        self._store = store
        self._collection = store.collection("appointments")
        self._token = token
        self._doctors = doctors
        self._patients = patients
        self.pending: dict[str, _Change[Appointment]] = {}
        self.claimed: list[Claim] = []
        self.ranges_claimed: set[tuple[str, Scope, str, TimeRange]] = set()
        self.written_events: dict[str, list[Document]] = {}

    # -- writes ----------------------------------------------------------------------------

    @translated
    def _add(self, appointment: Appointment) -> None:
        key = appointment.id.value
        if key in self.pending or self._collection.find_one({"_id": key}, {"_id": 1}):
            raise AlreadyExists(f"appointment {key} exists")
        if not self._doctors.exists(appointment.doctor_id.value):
            raise NotFound(f"no doctor {appointment.doctor_id}")
        if not self._patients.exists(appointment.patient_id.value):
            raise NotFound(f"no patient {appointment.patient_id}")
        normalise_instants(appointment)
        stored = evolve(appointment, version=appointment.version + 1, events=[])
        self._claim(stored, None)
        self.pending[key] = _Change(stored, None, None)

    @translated
    def _update(self, appointment: Appointment) -> None:
        key = appointment.id.value
        change = self.pending.get(key)
        if change is None:
            previous = self._collection.find_one({"_id": key, **_NOT_REVOKED})
            if previous is None:
                raise NotFound(f"no appointment {key}")
            expected, current = previous["version"], previous["version"]
        else:
            previous, expected, current = (
                change.previous,
                change.expected_version,
                change.value.version,
            )
        if current != appointment.version:
            raise ConcurrencyError(f"appointment {key} changed since it was read")
        normalise_instants(appointment)
        stored = evolve(appointment, version=appointment.version + 1, events=[])
        self._claim(stored, None if previous is None else appointment_from_document(previous))
        self.pending[key] = _Change(stored, expected, previous)

    def _claim(self, appointment: Appointment, on_server: Appointment | None) -> None:
        """Push claims for whatever ``appointment`` occupies that its stored version (or an
        earlier claim of this unit of work) does not already hold."""
        if not appointment.is_active:
            return
        key = appointment.id.value
        ending = [k for k, change in self.pending.items() if not change.value.is_active]
        held = set(_ranges(on_server)) if on_server is not None and on_server.is_active else set()
        for scope, owner, time_range in _ranges(appointment):
            if (scope, owner, time_range) in held or (
                key,
                scope,
                owner,
                time_range,
            ) in self.ranges_claimed:
                continue
            made = self._store.claims.claim(
                scope,
                owner,
                key,
                to_micros(time_range.start),
                to_micros(time_range.end),
                version=appointment.version,
                token=self._token,
                exempt=ending,
            )
            self.claimed.extend(made)
            self.ranges_claimed.add((key, scope, owner, time_range))

    # -- reads -----------------------------------------------------------------------------

    @translated
    def _get(self, appointment_id: AppointmentId) -> Appointment:
        change = self.pending.get(appointment_id.value)
        if change is not None:
            return evolve(change.value, events=[])
        document = self._collection.find_one({"_id": appointment_id.value, **_NOT_REVOKED})
        if document is None:
            raise NotFound(f"no appointment {appointment_id}")
        return appointment_from_document(document)

    def _select(self, query: Document, keep: Callable[[Appointment], bool]) -> list[Appointment]:
        found = {
            document["_id"]: appointment_from_document(document)
            for document in self._collection.find(query)
        }
        for key, change in self.pending.items():  # this unit of work's own writes win
            found.pop(key, None)
            if keep(change.value):
                found[key] = evolve(change.value, events=[])
        return sorted(found.values(), key=lambda a: (a.time.start, a.id))

    @translated
    def _for_doctor(
        self, doctor_id: DoctorId, period: TimeRange, active_only: bool
    ) -> list[Appointment]:
        query: Document = {
            "doctor_id": doctor_id.value,
            "time.start_us": {"$lt": to_micros(period.end)},
            "blocked_end_us": {"$gt": to_micros(period.start)},
        }
        if active_only:
            query["status"] = {"$in": _ACTIVE}
        return self._select(
            query,
            lambda a: (
                a.doctor_id == doctor_id
                and a.blocked.overlaps(period)
                and (a.is_active or not active_only)
            ),
        )

    @translated
    def _for_patient(
        self, patient_id: PatientId, period: TimeRange | None, active_only: bool
    ) -> list[Appointment]:
        query: Document = {"patient_id": patient_id.value}
        if period is not None:
            query["time.start_us"] = {"$lt": to_micros(period.end)}
            query["time.end_us"] = {"$gt": to_micros(period.start)}
        if active_only:
            query["status"] = {"$in": _ACTIVE}
        return self._select(
            query,
            lambda a: (
                a.patient_id == patient_id
                and (period is None or a.time.overlaps(period))
                and (a.is_active or not active_only)
            ),
        )

    @translated
    def _search(self, query: AppointmentQuery) -> list[Appointment]:
        conditions: Document = dict(_NOT_REVOKED)
        if query.patient_id is not None:
            conditions["patient_id"] = query.patient_id.value
        if query.doctor_id is not None:
            conditions["doctor_id"] = query.doctor_id.value
        if query.statuses is not None:
            conditions["status"] = {"$in": [status.value for status in query.statuses]}
        start: Document = {}
        if query.starts_from is not None:
            start["$gte"] = to_micros(query.starts_from)
        if query.starts_before is not None:
            start["$lt"] = to_micros(query.starts_before)
        if query.after is not None:
            # Keyset: (start, _id) > cursor. The $gte bound is the index range the scan starts
            # at; the $or only drops the cursor's own start's rows up to its id.
            after_us, after_id = to_micros(query.after[0]), query.after[1].value
            start["$gte"] = max(start.get("$gte", after_us), after_us)
            conditions["$or"] = [
                {"time.start_us": {"$gt": after_us}},
                {"_id": {"$gt": after_id}},
            ]
        if start:
            conditions["time.start_us"] = start
        cursor = (
            self._collection.find(conditions)
            .sort([("time.start_us", ASCENDING), ("_id", ASCENDING)])
            .limit(query.limit + len(self.pending))
        )
        found = {document["_id"]: appointment_from_document(document) for document in cursor}
        for key, change in self.pending.items():  # this unit of work's own writes win
            found.pop(key, None)
            if _appointment_matches(query, change.value):
                found[key] = evolve(change.value, events=[])
        ordered = sorted(found.values(), key=lambda a: (a.time.start, a.id))
        return ordered[: query.limit]

    @translated
    def _lapsed_holds(self, now: datetime, limit: int) -> list[Appointment]:
        def lapsed(a: Appointment) -> bool:
            return (
                a.status is AppointmentStatus.HELD
                and a.hold_expires_at is not None
                and a.hold_expires_at <= now
            )

        cursor = (
            self._collection.find(
                {"status": AppointmentStatus.HELD.value, "hold_expires_at": {"$lte": now}}
            )
            .sort([("hold_expires_at", ASCENDING), ("_id", ASCENDING)])
            .limit(limit + len(self.pending))
        )
        found = {document["_id"]: appointment_from_document(document) for document in cursor}
        for key, change in self.pending.items():
            found.pop(key, None)
            if lapsed(change.value):
                found[key] = evolve(change.value, events=[])
        ordered = sorted(found.values(), key=lambda a: (a.hold_expires_at or now, a.id))
        return ordered[:limit]

    # -- commit ----------------------------------------------------------------------------

    def flush(self, events: dict[str, list[Document]], undo: list[Undo]) -> None:
        """Write the pending appointments: those that end first, then updates, then inserts."""

        def order(item: tuple[str, _Change[Appointment]]) -> int:
            change = item[1]
            if change.expected_version is None:
                return 2
            return 1 if change.value.is_active else 0

        for key, change in sorted(self.pending.items(), key=order):
            document = appointment_to_document(change.value)
            outbox = events.pop(key, [])
            if outbox:
                self.written_events[key] = outbox
            if change.expected_version is None:
                document["_outbox"] = outbox
                try:
                    self._collection.insert_one(document)
                except DuplicateKeyError as error:
                    raise self._refused_insert(key) from error
                undo.append(_undo_insert(self._collection, key, document["version"]))
                continue
            del document["_id"]
            written = self._collection.update_one(
                {"_id": key, "version": change.expected_version},
                {"$set": document, "$push": {"_outbox": {"$each": outbox}}},
            )
            if not written.matched_count:
                raise ConcurrencyError(f"appointment {key} changed since it was read")
            assert change.previous is not None
            undo.append(_undo_replace(self._collection, key, change.value.version, change.previous))

    def _refused_insert(self, key: str) -> PortError:
        found = self._collection.find_one({"_id": key})
        if found is not None and "_revoked" in found:
            return BackendUnavailable(
                f"appointment {key}: its claims outlived their lease before the commit and were "
                "released; try again"
            )
        return AlreadyExists(f"appointment {key} exists")

    def settle(self) -> None:
        """After a successful commit: prune the entries the written appointments no longer
        need (their old time, or all once they end), then move their events to the outbox."""
        for key, change in self.pending.items():
            before = None if change.previous is None else appointment_from_document(change.previous)
            needed = set(_ranges(change.value)) if change.value.is_active else set()
            held = set(_ranges(before)) if before is not None and before.is_active else set()
            held |= {(scope, owner, r) for k, scope, owner, r in self.ranges_claimed if k == key}
            stale = held - needed
            for scope in Scope:
                to_visit = [
                    cell
                    for kind, owner, r in stale
                    if kind is scope
                    for cell in cells(scope, owner, to_micros(r.start), to_micros(r.end))
                ]
                if not to_visit:
                    continue
                keep = next((r for kind, _, r in needed if kind is scope), None)
                self._store.claims.prune(
                    to_visit,
                    key,
                    change.value.version,
                    None if keep is None else (to_micros(keep.start), to_micros(keep.end)),
                )
        for key, events in self.written_events.items():
            _relay(self._store, key, events)

    def release_claims(self) -> None:
        self._store.claims.release(self.claimed)
        self.claimed.clear()


# -- identity and idempotency ------------------------------------------------------------------


class MongoAccountRepository(_Profiles[Account], AccountRepository):
    kind = Account
    label = "account"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, "accounts")

    def _document(self, value: Account) -> Document:
        # The unique index on the case-folded address decides "one account per e-mail".
        return {**to_document(value), "_email_key": value.email.lookup_key}

    @translated
    def add(self, account: Account) -> None:
        floor_instants(account)
        if self.by_email(account.email) is not None:  # fails fast; the index decides at commit
            raise AlreadyExists("that account or e-mail address exists")
        self._add(account)

    @translated
    def get(self, account_id: UserId) -> Account:
        return self._get(account_id.value)

    @translated
    def by_email(self, email: EmailAddress) -> Account | None:
        wanted = email.lookup_key
        for change in self.pending.values():
            if change.value.email.lookup_key == wanted:
                return evolve(change.value)
        document = self._collection.find_one({"_email_key": wanted})
        if document is None or document["_id"] in self.pending:  # changed in this unit
            return None
        return from_document(document, Account)

    @translated
    def update(self, account: Account) -> None:
        floor_instants(account)
        other = self.by_email(account.email)
        if other is not None and other.id != account.id:
            raise AlreadyExists("that e-mail address has an account")
        self._update(account)


class MongoOneTimeSecretRepository(_Profiles[OneTimeSecret], OneTimeSecretRepository):
    kind = OneTimeSecret
    label = "secret"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, "one_time_secrets")

    @translated
    def add(self, secret: OneTimeSecret) -> None:
        floor_instants(secret)
        self._add(secret)

    @translated
    def get(self, secret_id: str) -> OneTimeSecret:
        return self._get(secret_id)

    @translated
    def latest(self, account_id: UserId, purpose: SecretPurpose) -> OneTimeSecret | None:
        cursor = (
            self._collection.find({"account_id": account_id.value, "purpose": purpose.value})
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(1 + len(self.pending))
        )
        found = {document["_id"]: from_document(document, OneTimeSecret) for document in cursor}
        for key, change in self.pending.items():
            found.pop(key, None)
            if change.value.account_id == account_id and change.value.purpose is purpose:
                found[key] = evolve(change.value)
        if not found:
            return None
        return max(found.values(), key=lambda secret: (secret.created_at, secret.id))

    @translated
    def update(self, secret: OneTimeSecret) -> None:
        floor_instants(secret)
        self._update(secret)


@define(frozen=True)
class _Revocation:
    field_name: str  # "family_id" or "account_id"
    value: str
    at: datetime

    def applies_to(self, token: RefreshToken) -> bool:
        return token.revoked_at is None and str(getattr(token, self.field_name)) == self.value

    def apply(self, token: RefreshToken) -> RefreshToken:
        return evolve(token, revoked_at=self.at, version=token.version + 1)


class MongoRefreshTokenRepository(_Profiles[RefreshToken], RefreshTokenRepository):
    """Revocations are buffered like every write and applied at commit as one ``update_many``
    per revocation (each document atomically; a token rotated meanwhile fails its
    compare-and-set, as the version moves). Tokens this unit of work holds are revoked in
    memory at the call, and reads of others see the revocation laid over them."""

    kind = RefreshToken
    label = "token"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, "refresh_tokens")
        self.revocations: list[_Revocation] = []

    def _with_revocations(self, token: RefreshToken) -> RefreshToken:
        for revocation in self.revocations:
            if revocation.applies_to(token):
                token = revocation.apply(token)
        return token

    def _current(self, key: str) -> RefreshToken | None:
        if key in self.pending:
            return super()._current(key)
        document = self._read(key)
        if document is None:
            return None
        return self._with_revocations(from_document(document, RefreshToken))

    def _version_seen(self, document: Document) -> int:
        return self._with_revocations(from_document(document, RefreshToken)).version

    @translated
    def add(self, token: RefreshToken) -> None:
        floor_instants(token)
        self._add(token)

    @translated
    def get(self, token_id: str) -> RefreshToken:
        return self._get(token_id)

    @translated
    def update(self, token: RefreshToken) -> None:
        floor_instants(token)
        self._update(token)

    def _revoke(self, revocation: _Revocation) -> None:
        for change in self.pending.values():
            if revocation.applies_to(change.value):
                change.value = revocation.apply(change.value)
        self.revocations.append(revocation)

    def revoke_family(self, family_id: str, at: datetime) -> None:
        self._revoke(_Revocation("family_id", family_id, floor_ms(at)))

    def revoke_account(self, account_id: UserId, at: datetime) -> None:
        self._revoke(_Revocation("account_id", account_id.value, floor_ms(at)))

    def flush_revocations(self) -> None:
        """Apply the revocations to the tokens on the server. Tokens this unit of work wrote
        already carry theirs (or, added after the call, must not get it)."""
        for revocation in self.revocations:
            self._collection.update_many(
                {
                    revocation.field_name: revocation.value,
                    "revoked_at": None,
                    "_id": {"$nin": list(self.pending)},
                },
                {"$set": {"revoked_at": revocation.at}, "$inc": {"version": 1}},
            )


class MongoIdempotencyRepository(IdempotencyRepository):
    """Records in ``idempotency``, unique on ``(scope, key)`` by index. Written at commit
    right after the appointments: see ``docs/mongodb.md`` for what a crash in between leaves."""

    def __init__(self, store: MongoStore) -> None:
        self._collection = store.collection("idempotency")
        self.pending: dict[tuple[str, str], IdempotencyRecord] = {}

    @translated
    def add(self, record: IdempotencyRecord) -> None:
        if self.get(record.scope, record.key) is not None:  # fails fast; the index decides
            raise AlreadyExists("that idempotency key was used")
        self.pending[(record.scope, record.key)] = evolve(
            record, created_at=floor_ms(record.created_at)
        )

    @translated
    def get(self, scope: str, key: str) -> IdempotencyRecord | None:
        record = self.pending.get((scope, key))
        if record is not None:
            return record
        document = self._collection.find_one({"scope": scope, "key": key})
        if document is None:
            return None
        return IdempotencyRecord(
            scope=document["scope"],
            key=document["key"],
            fingerprint=document["fingerprint"],
            appointment_id=AppointmentId(document["appointment_id"]),
            created_at=document["created_at"],
        )

    def flush(self, undo: list[Undo]) -> None:
        for record in self.pending.values():
            try:
                written = self._collection.insert_one(
                    {
                        "scope": record.scope,
                        "key": record.key,
                        "fingerprint": record.fingerprint,
                        "appointment_id": record.appointment_id.value,
                        "created_at": record.created_at,
                    }
                )
            except DuplicateKeyError as error:
                raise AlreadyExists("that idempotency key was used") from error
            undo.append(_undo_delete(self._collection, written.inserted_id))


def _undo_delete(collection: Collection[Document], key: object) -> Undo:
    def undo() -> None:
        collection.delete_one({"_id": key})

    return undo


# -- payments, the wallet ledger, processed webhook events -----------------------------------
#
# Instants of payments and wallet entries are stored exactly, as integer microseconds (``*_us``),
# so what is read back equals what was written without touching the caller's objects.


def _refund_document(refund: Refund) -> Document:
    return {
        "key": refund.key,
        "reason": refund.reason.value,
        "card": refund.card.minor_units,
        "wallet": refund.wallet.minor_units,
        "recorded_us": to_micros(refund.recorded_at),
        "provider_reference": refund.provider_reference,
    }


def _payment_document(payment: Payment) -> Document:
    document: Document = {
        "_id": payment.id.value,
        "purpose": payment.purpose.value,
        "patient_id": payment.patient_id.value,
        "method": payment.method.value,
        "currency": payment.amount.currency,
        "amount": payment.amount.minor_units,
        "wallet_part": payment.wallet_part.minor_units,
        "status": payment.status.value,
        "created_us": to_micros(payment.created_at),
        "updated_us": to_micros(payment.updated_at),
        "created_at": floor_ms(payment.created_at),  # readable; nothing reads it back
        "provider_reference": payment.provider_reference,
        "succeeded_us": None if payment.succeeded_at is None else to_micros(payment.succeeded_at),
        "failure": payment.failure,
        "refunds": [_refund_document(refund) for refund in payment.refunds],
        "version": payment.version,
        # Derived, for the refund worker's index.
        "_unsettled": bool(payment.unsettled_refunds),
    }
    if payment.appointment_id is not None:
        # Absent for top-ups: the unique index on it is sparse.
        document["appointment_id"] = payment.appointment_id.value
    return document


def _payment_from_document(document: Document) -> Payment:
    currency = document["currency"]
    succeeded = document["succeeded_us"]
    return Payment(
        id=PaymentId(document["_id"]),
        purpose=PaymentPurpose(document["purpose"]),
        patient_id=PatientId(document["patient_id"]),
        appointment_id=(
            AppointmentId(document["appointment_id"]) if "appointment_id" in document else None
        ),
        method=PaymentMethod(document["method"]),
        amount=Money(document["amount"], currency),
        wallet_part=Money(document["wallet_part"], currency),
        status=PaymentStatus(document["status"]),
        created_at=from_micros(document["created_us"]),
        updated_at=from_micros(document["updated_us"]),
        provider_reference=document["provider_reference"],
        succeeded_at=None if succeeded is None else from_micros(succeeded),
        failure=document["failure"],
        refunds=tuple(
            Refund(
                key=r["key"],
                reason=RefundReason(r["reason"]),
                card=Money(r["card"], currency),
                wallet=Money(r["wallet"], currency),
                recorded_at=from_micros(r["recorded_us"]),
                provider_reference=r["provider_reference"],
            )
            for r in document["refunds"]
        ),
        version=document["version"],
    )


def _payment_matches(query: PaymentQuery, payment: Payment) -> bool:
    return (
        (query.patient_id is None or payment.patient_id == query.patient_id)
        and (query.statuses is None or payment.status in query.statuses)
        and (query.purpose is None or payment.purpose is query.purpose)
        and (query.method is None or payment.method is query.method)
        and (query.before is None or (payment.created_at, payment.id) < query.before)
    )


_LIVE_PAYMENT = {"_void": {"$exists": False}}


class MongoPaymentRepository(_Profiles[Payment], PaymentRepository):
    """Buffered like the profiles: inserts under the unique ``_id`` and the unique (sparse)
    ``appointment_id`` index, updates a compare-and-set on ``version``, both at commit. A
    ``_void`` document is a fence left by ``MongoStore.repair_wallets`` (see docs/mongodb.md):
    it keeps the id taken and is invisible to every read."""

    kind = Payment
    label = "payment"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, "payments")

    def _document(self, value: Payment) -> Document:
        return _payment_document(value)

    def _current(self, key: str) -> Payment | None:
        change = self.pending.get(key)
        if change is not None:
            return evolve(change.value)
        document = self._read(key)
        if document is None or "_void" in document:
            return None
        return _payment_from_document(document)

    @translated
    def add(self, payment: Payment) -> None:
        if payment.appointment_id is not None and self.for_appointment(payment.appointment_id):
            raise AlreadyExists(f"appointment {payment.appointment_id} has a payment")
        self._add(payment)  # fails fast; the unique indexes decide at commit

    @translated
    def get(self, payment_id: PaymentId) -> Payment:
        return self._get(payment_id.value)

    @translated
    def update(self, payment: Payment) -> None:
        self._update(payment)

    @translated
    def for_appointment(self, appointment_id: AppointmentId) -> Payment | None:
        for change in self.pending.values():
            if change.value.appointment_id == appointment_id:
                return evolve(change.value)
        document = self._collection.find_one({"appointment_id": appointment_id.value})
        if document is None or "_void" in document or document["_id"] in self.pending:
            return None
        return _payment_from_document(document)

    def _overlaid(self, documents: Any, keep: Callable[[Payment], bool]) -> list[Payment]:
        found = {document["_id"]: _payment_from_document(document) for document in documents}
        for key, change in self.pending.items():
            found.pop(key, None)
            if keep(change.value):
                found[key] = evolve(change.value)
        return list(found.values())

    @translated
    def search(self, query: PaymentQuery) -> list[Payment]:
        conditions: Document = dict(_LIVE_PAYMENT)
        if query.patient_id is not None:
            conditions["patient_id"] = query.patient_id.value
        if query.statuses is not None:
            conditions["status"] = {"$in": [status.value for status in query.statuses]}
        if query.purpose is not None:
            conditions["purpose"] = query.purpose.value
        if query.method is not None:
            conditions["method"] = query.method.value
        if query.before is not None:
            created, last_id = query.before
            micros = to_micros(created)
            conditions["created_us"] = {"$lte": micros}
            conditions["$or"] = [
                {"created_us": {"$lt": micros}},
                {"_id": {"$lt": last_id.value}},
            ]
        cursor = (
            self._collection.find(conditions)
            .sort([("created_us", DESCENDING), ("_id", DESCENDING)])
            .limit(query.limit + len(self.pending))
        )
        found = self._overlaid(cursor, lambda payment: _payment_matches(query, payment))
        found.sort(key=lambda payment: (payment.created_at, payment.id), reverse=True)
        return found[: query.limit]

    @translated
    def with_unsettled_refunds(self, limit: int) -> list[Payment]:
        cursor = (
            self._collection.find({"_unsettled": True, **_LIVE_PAYMENT})
            .sort([("updated_us", ASCENDING), ("_id", ASCENDING)])
            .limit(limit + len(self.pending))
        )
        found = self._overlaid(cursor, lambda payment: bool(payment.unsettled_refunds))
        found.sort(key=lambda payment: (payment.updated_at, payment.id))
        return found[:limit]


def _wallet_key(patient_id: PatientId, currency: str) -> Document:
    return {"p": patient_id.value, "c": currency}


def _entry_document(entry: WalletEntry) -> Document:
    return {
        "reference": entry.reference,
        "kind": entry.kind.value,
        "amount": entry.amount.minor_units,
        "recorded_us": to_micros(entry.recorded_at),
        "payment_id": None if entry.payment_id is None else entry.payment_id.value,
    }


def _entry_from_document(wallet: Document, entry: Document) -> WalletEntry:
    return WalletEntry(
        entry["reference"],
        PatientId(wallet["_id"]["p"]),
        WalletEntryKind(entry["kind"]),
        Money(entry["amount"], wallet["_id"]["c"]),
        from_micros(entry["recorded_us"]),
        None if entry["payment_id"] is None else PaymentId(entry["payment_id"]),
    )


@define(frozen=True)
class _WalletWrite:
    """What one unit of work appends to one wallet, applied as ONE conditional single-document
    write: the balance must reach ``need`` (so that, entries taken in order, it never dips
    below zero), none of the references may be there, and the append and ``$inc`` happen
    together. A unique index on ``entries.reference`` keeps references unique across wallets."""

    key: Document
    entries: tuple[WalletEntry, ...]

    @property
    def delta(self) -> int:
        return sum(entry.amount.minor_units for entry in self.entries)

    @property
    def need(self) -> int:
        running, lowest = 0, 0
        for entry in self.entries:
            running += entry.amount.minor_units
            lowest = min(lowest, running)
        return -lowest

    @property
    def references(self) -> list[str]:
        return [entry.reference for entry in self.entries]


def _apply_wallet_write(wallets: Collection[Document], write: _WalletWrite) -> Undo:
    """Apply ``write`` atomically or raise ``AlreadyExists`` / ``InsufficientFunds``; returns
    how to take it back."""
    references = write.references
    conditions: Document = {"_id": write.key, "entries.reference": {"$nin": references}}
    if write.need:
        conditions["balance"] = {"$gte": write.need}
    change = {
        "$inc": {"balance": write.delta},
        "$push": {"entries": {"$each": [_entry_document(entry) for entry in write.entries]}},
    }
    # Only a write that never needs money may create the wallet (a missing wallet holds 0);
    # if two create it at once, the loser finds it on its second try.
    for upsert in (write.need == 0, False):
        try:
            result = wallets.update_one(conditions, change, upsert=upsert)
        except DuplicateKeyError as error:
            if wallets.find_one({"entries.reference": {"$in": references}}, {"_id": 1}):
                raise AlreadyExists(f"wallet entry {references} exists") from error
            continue
        if result.matched_count or result.upserted_id is not None:
            return _undo_wallet_write(wallets, write)
        break
    if wallets.find_one({"entries.reference": {"$in": references}}, {"_id": 1}):
        raise AlreadyExists(f"wallet entry {references} exists")
    raise InsufficientFunds(f"the wallet of {write.key['p']} holds too little for {references}")


def _undo_wallet_write(wallets: Collection[Document], write: _WalletWrite) -> Undo:
    def undo() -> None:
        # Only while every entry is still there (a repair may have taken back an orphaned
        # debit already), and never into the red: a credit someone spent meanwhile stays.
        conditions: Document = {"_id": write.key, "entries.reference": {"$all": write.references}}
        if write.delta > 0:
            conditions["balance"] = {"$gte": write.delta}
        taken = wallets.update_one(
            conditions,
            {
                "$inc": {"balance": -write.delta},
                "$pull": {"entries": {"reference": {"$in": write.references}}},
            },
        )
        if not taken.matched_count:
            log.warning("could not take back wallet entries %s", write.references)

    return undo


class MongoWalletLedger(WalletLedger):
    """A wallet document per ``(patient, currency)``: ``{_id: {p, c}, balance, entries: [...]}``.
    Appends are buffered and applied at commit, one conditional ``update_one`` per wallet
    (``_WalletWrite``): debits before any other write of the unit of work, credits after all
    of them (docs/mongodb.md says why). Reads here fail fast only."""

    def __init__(self, store: MongoStore) -> None:
        self._wallets = store.collection("wallets")
        self.pending: list[WalletEntry] = []

    def _stored(self, patient_id: PatientId, currency: str) -> Document | None:
        return self._wallets.find_one({"_id": _wallet_key(patient_id, currency)})

    @translated
    def append(self, entry: WalletEntry) -> None:
        if self.by_reference(entry.reference) is not None:
            raise AlreadyExists(f"wallet entry {entry.reference} exists")
        after = self.balance(entry.patient_id, entry.amount.currency) + entry.amount
        if after.minor_units < 0:
            raise InsufficientFunds(
                f"the wallet of {entry.patient_id} holds too little for {entry.reference}"
            )
        self.pending.append(entry)

    def _pending_of(self, patient_id: PatientId, currency: str) -> list[WalletEntry]:
        return [
            entry
            for entry in self.pending
            if entry.patient_id == patient_id and entry.amount.currency == currency
        ]

    @translated
    def balance(self, patient_id: PatientId, currency: str) -> Money:
        stored = self._stored(patient_id, currency)
        held = 0 if stored is None else stored["balance"]
        pending = sum(e.amount.minor_units for e in self._pending_of(patient_id, currency))
        return Money(held + pending, currency)

    @translated
    def entries(self, patient_id: PatientId, currency: str) -> list[WalletEntry]:
        stored = self._stored(patient_id, currency)
        found = (
            [] if stored is None else [_entry_from_document(stored, e) for e in stored["entries"]]
        )
        found.extend(self._pending_of(patient_id, currency))
        return sorted(found, key=lambda e: (e.recorded_at, e.reference))

    @translated
    def by_reference(self, reference: str) -> WalletEntry | None:
        for entry in self.pending:
            if entry.reference == reference:
                return entry
        stored = self._wallets.find_one({"entries.reference": reference})
        if stored is None:
            return None
        return next(
            _entry_from_document(stored, e)
            for e in stored["entries"]
            if e["reference"] == reference
        )

    def _writes(self) -> list[_WalletWrite]:
        by_wallet: dict[tuple[str, str], list[WalletEntry]] = {}
        for entry in self.pending:
            by_wallet.setdefault((entry.patient_id.value, entry.amount.currency), []).append(entry)
        return [
            _WalletWrite(_wallet_key(PatientId(p), c), tuple(entries))
            for (p, c), entries in by_wallet.items()
        ]

    def flush_debits(self, undo: list[Undo]) -> None:
        for write in self._writes():
            if write.delta < 0:
                undo.append(_apply_wallet_write(self._wallets, write))

    def flush_credits(self, undo: list[Undo]) -> None:
        for write in self._writes():
            if write.delta >= 0:
                undo.append(_apply_wallet_write(self._wallets, write))


class MongoProcessedWebhookEvents(ProcessedWebhookEvents):
    """``processed_events`` keyed ``{_id: {p: provider, e: event_id}}``: the unique ``_id``
    decides at commit."""

    def __init__(self, store: MongoStore) -> None:
        self._collection = store.collection("processed_events")
        self.pending: dict[tuple[str, str], datetime] = {}

    @translated
    def add(self, provider: str, event_id: str, processed_at: datetime) -> None:
        if self.contains(provider, event_id):  # fails fast; the unique _id decides at commit
            raise AlreadyExists(f"event {provider}:{event_id} was processed")
        self.pending[(provider, event_id)] = processed_at

    @translated
    def contains(self, provider: str, event_id: str) -> bool:
        if (provider, event_id) in self.pending:
            return True
        return self._collection.find_one({"_id": {"p": provider, "e": event_id}}) is not None

    def flush(self, undo: list[Undo]) -> None:
        for (provider, event_id), at in self.pending.items():
            key = {"p": provider, "e": event_id}
            try:
                self._collection.insert_one({"_id": key, "processed_at": floor_ms(at)})
            except DuplicateKeyError as error:
                raise AlreadyExists(f"event {provider}:{event_id} was processed") from error
            undo.append(_undo_delete(self._collection, key))


# -- unit of work and factory ----------------------------------------------------------------


class MongoUnitOfWork(UnitOfWork):
    doctors: MongoDoctorRepository
    patients: MongoPatientRepository
    availability: MongoAvailabilityRepository
    appointments: MongoAppointmentRepository
    accounts: MongoAccountRepository
    one_time_secrets: MongoOneTimeSecretRepository
    refresh_tokens: MongoRefreshTokenRepository
    idempotency: MongoIdempotencyRepository
    payments: MongoPaymentRepository
    wallets: MongoWalletLedger
    processed_events: MongoProcessedWebhookEvents

    def __init__(self, store: MongoStore, publisher: EventPublisher | None = None) -> None:
        super().__init__(publisher)
        self._store = store

    def _begin(self) -> None:
        self._token = uuid.uuid4().hex
        self.doctors = MongoDoctorRepository(self._store)
        self.patients = MongoPatientRepository(self._store)
        self.availability = MongoAvailabilityRepository(self._store, self.doctors)
        self.appointments = MongoAppointmentRepository(
            self._store, self._token, self.doctors, self.patients
        )
        self.accounts = MongoAccountRepository(self._store)
        self.one_time_secrets = MongoOneTimeSecretRepository(self._store)
        self.refresh_tokens = MongoRefreshTokenRepository(self._store)
        self.idempotency = MongoIdempotencyRepository(self._store)
        self.payments = MongoPaymentRepository(self._store)
        self.wallets = MongoWalletLedger(self._store)
        self.processed_events = MongoProcessedWebhookEvents(self._store)

    @translated
    def _commit(self, events: Sequence[AppointmentEvent]) -> None:
        outbox = self._outbox_documents(events)
        undo: list[Undo] = []
        try:
            # Money leaves a wallet first and comes in last: a crash in between can leave a
            # patient short (repaired by MongoStore.repair_wallets), never credit money whose
            # cause was not written (docs/mongodb.md).
            self.wallets.flush_debits(undo)
            self.doctors.flush(undo)
            self.patients.flush(undo)
            self.accounts.flush(undo)  # after the doctors and patients they name
            self.one_time_secrets.flush(undo)
            self.refresh_tokens.flush(undo)
            self.availability.flush(undo)
            # Before the appointments: the compare-and-set (and the one-payment-per-appointment
            # index) settle races for a payment before a booking changes (docs/mongodb.md).
            self.payments.flush(undo)
            self.appointments.flush(outbox, undo)
            # Right after the appointment it names: a crash in between leaves a booking
            # without its record, never a record without its booking (docs/mongodb.md).
            self.idempotency.flush(undo)
            # After the effects: a crash before it leaves the effect without its record, and
            # a redelivered copy then finds nothing left to do (never an effect lost).
            self.processed_events.flush(undo)
            self.wallets.flush_credits(undo)
            for orphans in outbox.values():  # events of appointments this unit did not write
                self._store.collection("outbox").insert_many(orphans)
            # Last, as they cannot be undone; revoking is safe to have done even if the rest
            # of the unit of work failed.
            self.refresh_tokens.flush_revocations()
        except BaseException:
            self._undo(undo)
            raise
        try:
            self.appointments.settle()
        except (PyMongoError, BSONError):
            # Committed already; leftovers are orphans the claim protocol and relay_outbox
            # clean up. Raising would tell the caller a committed change failed.
            log.warning("tidying up after a MongoDB commit failed", exc_info=True)

    def _outbox_documents(self, events: Sequence[AppointmentEvent]) -> dict[str, list[Document]]:
        by_appointment: dict[str, list[Document]] = {}
        for event in events:
            key = event.appointment_id.value
            change = self.appointments.pending.get(key)
            prefix = f"{key}/{change.value.version}" if change else f"{key}/{uuid.uuid4().hex}"
            found = by_appointment.setdefault(key, [])
            found.append(event_to_document(event, f"{prefix}/{len(found)}"))
        return by_appointment

    def _undo(self, undo: list[Undo]) -> None:
        for step in reversed(undo):
            try:
                step()
            except (PyMongoError, BSONError):
                log.warning("could not undo a MongoDB write", exc_info=True)

    def _rollback(self) -> None:
        try:
            self.appointments.release_claims()
        except (PyMongoError, BSONError):
            # The claims are orphans now; their lease bounds how long they block.
            log.warning("could not release claims on rollback", exc_info=True)


def _default_clock() -> datetime:
    return datetime.now(UTC)


class MongoUnitOfWorkFactory:
    """Units of work over one MongoDB database (the ``mongodb`` storage entry point).

    ``url`` is a ``mongodb://`` or ``mongodb+srv://`` connection string; its path names the
    database (``hellodoctor`` when it names none). Nothing touches the network until the first
    unit of work, which creates the indexes (idempotently) once per factory.

    ``lease`` bounds how long a crashed writer's claims can block time; it must be shorter than
    the hold time (15 minutes by default). ``wait_for_in_flight`` is how long a writer waits
    for a competing writer that is between its claim and its commit before answering
    ``SlotUnavailable``.
    """

    def __init__(
        self,
        url: str,
        publisher: EventPublisher | None = None,
        *,
        database: str | None = None,
        client: MongoClient[Document] | None = None,
        lease: timedelta = timedelta(seconds=30),
        wait_for_in_flight: timedelta = timedelta(seconds=1),
        clock: Callable[[], datetime] = _default_clock,
    ) -> None:
        if urlsplit(url).scheme not in ("mongodb", "mongodb+srv"):
            raise ValueError(f"not a MongoDB URL: {url!r}")
        if not timedelta(0) < lease <= timedelta(minutes=5):
            raise ValueError("the claim lease must be positive and well under a hold's expiry")
        self.publisher = publisher
        self.client: MongoClient[Document] = client or MongoClient(url, tz_aware=True, tzinfo=UTC)
        default = self.client.get_default_database(DEFAULT_DATABASE) if client is None else None
        name = database or (default.name if default is not None else DEFAULT_DATABASE)
        codecs: CodecOptions[Document] = CodecOptions(tz_aware=True, tzinfo=UTC)
        self.store = MongoStore(
            self.client.get_database(name, codec_options=codecs),
            lease,
            clock,
            wait_for_in_flight,
        )
        self._indexed = False
        self._lock = threading.Lock()

    def ensure_indexes(self) -> None:
        with self._lock:
            if not self._indexed:
                self.store.ensure_indexes()
                self._indexed = True

    def __call__(self) -> MongoUnitOfWork:
        self.ensure_indexes()
        return MongoUnitOfWork(self.store, self.publisher)

    def relay_outbox(self, limit: int = 100) -> int:
        """Move events a crash stranded in appointments to the outbox (``hellodoctor worker``
        calls this on every storage that has it)."""
        self.ensure_indexes()
        return self.store.relay_outbox(limit)

    def repair_wallets(self) -> int:
        """Finish or take back what a crash left between a unit of work's writes (see
        ``MongoStore.repair_wallets``; ``hellodoctor worker`` calls it on every pass)."""
        self.ensure_indexes()
        return self.store.repair_wallets()

    def close(self) -> None:
        self.client.close()


def open_mongodb_storage(
    url: str, *, publisher: EventPublisher | None = None
) -> MongoUnitOfWorkFactory:
    """Entry point for ``mongodb://`` and ``mongodb+srv://`` URLs (see
    ``hellodoctor_adapters.registry``)."""
    return MongoUnitOfWorkFactory(url, publisher)
