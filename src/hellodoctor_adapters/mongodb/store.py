"""The database a MongoDB storage works on, and what every repository shares.

``MongoStore`` holds one database's collections, creates their indexes and keeps the claim
book (``claims.py``); its housekeeping methods hand over to ``claims.py`` and ``repair.py``.
``translated`` lets port errors through and turns driver errors into what they mean
(``translate``): ``BackendUnavailable`` only for an outage, a bug class otherwise.

Buffered writes: a repository holds each write as a ``Change`` (the value, the version it must
find, the document it replaces) until commit (``uow.py``), where it becomes a plain insert under
the unique ``_id`` or a compare-and-set on ``version``, each with an ``Undo`` that restores the
previous document only if nobody changed it since. ``Profiles`` is that machinery for the
documents with an id and a version (doctors, patients, accounts, secrets, tokens, payments).

Events: every write of an aggregate carries the aggregate's events in an ``_outbox`` array in
that same single-document write (``EventsToWrite``), and they wait there: the relay moves them
to the ``outbox`` collection before it claims (``repair.relay_outbox``, through the
``pending_events`` partial index each aggregate collection has), so a commit writes each
document once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, ParamSpec, TypeVar

from attrs import define, evolve, field
from bson.errors import BSONError
from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
    WriteConcernError,
)

from hellodoctor_adapters.crypto import FieldCipher, development_cipher
from hellodoctor_adapters.errors import StoredValueRejected, UnexpectedStorageError
from hellodoctor_adapters.mongodb.claims import ClaimBook
from hellodoctor_adapters.mongodb.documents import Document, from_document, to_document
from hellodoctor_adapters.phi import PHI_TABLES, RECORD_PHI_TABLES
from hellodoctor_domain.errors import (
    AlreadyExists,
    BackendUnavailable,
    ConcurrencyError,
    NotFound,
    PortError,
)

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")

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
    "documents",
    "hospitals",
    "ward_beds",
    "transfers",
    "admissions",
    "schemes",
    "policies",
    "insurance_claims",
    "reviews",
    "doctor_ratings",
    "rating_journal",
    "medical_records",
    "consents",
    "audit_log",
    "emergency_grants",
    "emergency_cards",
    "notification_preferences",
    "calendar_feeds",
    "waitlist",
)

# Where the aggregates of each type (``DomainEvent.aggregate_type``) live; their documents hold
# their events in ``_outbox`` until relayed.
# A document with events waiting (``_outbox`` not empty): what each aggregate collection's
# ``pending_events`` partial index holds, so the relay finds them without a scan.
PENDING_EVENTS = {"_outbox._id": {"$exists": True}}
AGGREGATE_COLLECTIONS = {
    "doctor": "doctors",
    "patient": "patients",
    "availability": "availability",
    "appointment": "appointments",
    "account": "accounts",
    "payment": "payments",
    "document": "documents",
    "hospital": "hospitals",
    "transfer": "transfers",
    "admission": "admissions",
    "scheme": "schemes",
    "policy": "policies",
    "claim": "insurance_claims",
    "review": "reviews",
    "emergency_grant": "emergency_grants",
}


# Server answers that mean "not now": shutting down or stepping down, no primary, a network or
# lock timeout, an authentication refusal. Everything else the server refuses is a bug.
_UNAVAILABLE_CODES = {
    6,  # HostUnreachable
    7,  # HostNotFound
    13,  # Unauthorized
    18,  # AuthenticationFailed
    24,  # LockTimeout
    46,  # LockBusy
    50,  # MaxTimeMSExpired
    64,  # WriteConcernFailed (wtimeout)
    89,  # NetworkTimeout
    91,  # ShutdownInProgress
    133,  # FailedToSatisfyReadPreference
    189,  # PrimarySteppedDown
    262,  # ExceededTimeLimit
    9001,  # SocketException
    10107,  # NotWritablePrimary
    11600,  # InterruptedAtShutdown
    11602,  # InterruptedDueToReplStateChange
    13435,  # NotPrimaryNoSecondaryOk
    13436,  # NotPrimaryOrSecondary
}
# Values the server will not hold: a bad value or type, a document or index key too large.
_DATA_CODES = {2, 14, 10334, 17280}


def translate(error: Exception) -> Exception:
    """What a driver error means: ``BackendUnavailable`` only for an outage (a lost or refused
    connection, a timeout, no primary); ``AlreadyExists`` for a duplicate key not translated
    where it happened; ``StoredValueRejected`` / ``UnexpectedStorageError`` for a bug."""
    if isinstance(error, BSONError | OverflowError):  # bson refuses before anything is sent
        return StoredValueRejected(f"MongoDB cannot hold a value: {error}")
    if isinstance(error, ConnectionFailure | WriteConcernError) or (
        isinstance(error, PyMongoError)
        and (error.timeout or error.has_error_label("RetryableWriteError"))
    ):
        return BackendUnavailable(f"MongoDB unavailable: {error}")
    if isinstance(error, DuplicateKeyError):
        fields = ", ".join((error.details or {}).get("keyPattern", {"_id": 1}))
        return AlreadyExists(f"already stored: {fields} taken")
    if isinstance(error, OperationFailure):
        if error.code in _UNAVAILABLE_CODES:
            return BackendUnavailable(f"MongoDB unavailable: {error}")
        if error.code in _DATA_CODES:
            return StoredValueRejected(f"MongoDB cannot hold a value: {error}")
    return UnexpectedStorageError(f"MongoDB: {error}")


def translated(method: Callable[P, R]) -> Callable[P, R]:
    """Let port errors through; raise what any driver error means (``translate``). Duplicate
    keys are mostly translated where they happen, where their meaning is known."""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except PortError:
            raise
        except (PyMongoError, BSONError, OverflowError) as error:
            raise translate(error) from error

    return call


# -- the collections one database holds ----------------------------------------------------


@define
class MongoStore:
    """The collections of one HelloDoctor database, and the claim settings."""

    database: Database[Document]
    lease: timedelta
    clock: Callable[[], datetime]
    wait_for_in_flight: timedelta
    # Seals health data (hellodoctor_adapters/phi.py); the public development ring when none
    # is wired (production wires its own: bootstrap.py).
    cipher: FieldCipher = field(factory=development_cipher)
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
        """Create the indexes the adapter relies on (and the doctors' search fields, for
        documents written before they existed); safe to run at every start-up."""
        from hellodoctor_adapters.mongodb import search  # see relay_outbox

        search.ensure_search_indexes(self)
        doctors = self.collection("doctors")
        doctors.create_index("registration_number", unique=True, name="registration_number_unique")
        for field_name in ("_search.specialty", "_search.languages"):
            doctors.create_index([(field_name, ASCENDING), ("_id", ASCENDING)])
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
        # A recurring series' occurrences (issue 17); most appointments have none.
        appointments.create_index(
            [("series_id", ASCENDING), ("time.start_us", ASCENDING)],
            name="series_by_start",
            partialFilterExpression={"series_id": {"$type": "string"}},
        )
        self.collection("outbox").create_index("occurred_at", name="outbox_by_time")
        # Events wait in their aggregate's document until the relay moves them (relay_outbox):
        # only documents with some are indexed, so the relay's look is as small as its work.
        for name in dict.fromkeys(AGGREGATE_COLLECTIONS.values()):
            self.collection(name).create_index(
                [("_outbox._id", ASCENDING)],
                name="pending_events",
                partialFilterExpression=PENDING_EVENTS,
            )
        self.collection("room_attendance").create_index(
            [("appointment_id", ASCENDING), ("at", ASCENDING), ("_id", ASCENDING)],
            name="attendance_by_appointment",
        )
        # One account per e-mail address in any case: the case-folded address, unique.
        self.collection("accounts").create_index("_email_key", unique=True, name="email_key_unique")
        self.collection("calendar_feeds").create_index(
            "digest", unique=True, name="feed_digest_unique"
        )
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
        self.collection("hospitals").create_index(
            "registration_number", unique=True, name="hospital_registration_number_unique"
        )
        self.collection("hospitals").create_index(
            [("_city", ASCENDING), ("_id", ASCENDING)], name="hospitals_by_city"
        )
        for side in ("from_hospital_id", "to_hospital_id"):
            self.collection("transfers").create_index(side, name=f"transfers_by_{side}")
        for owner in ("hospital_id", "patient_id"):
            self.collection("admissions").create_index(owner, name=f"admissions_by_{owner}")
        # One claim per appointment (hospitals' claims for a stay have none: sparse).
        insurance_claims = self.collection("insurance_claims")
        insurance_claims.create_index(
            "appointment_id", unique=True, sparse=True, name="claim_appointment_id_unique"
        )
        for key in ("policy_id", "scheme_id"):
            insurance_claims.create_index(key, name=f"claims_by_{key}")
        self.collection("policies").create_index("patient_id", name="policies_by_patient")
        # One review per visit, whatever the race; a doctor's page of reviews, newest first.
        reviews = self.collection("reviews")
        reviews.create_index("appointment_id", unique=True, name="review_appointment_id_unique")
        reviews.create_index(
            [("doctor_id", ASCENDING), ("written_us", DESCENDING), ("_id", DESCENDING)],
            name="reviews_by_doctor",
        )
        self.collection("rating_journal").create_index("at", name="rating_journal_by_time")
        # A ledger reference is applied once in ANY wallet: a unique multikey index (within
        # one wallet document the conditional write's $nin decides).
        self.collection("wallets").create_index(
            "entries.reference", unique=True, name="entry_reference_unique"
        )
        self.collection("medical_records").create_index(
            [("patient_id", ASCENDING), ("created_us", ASCENDING)], name="records_by_patient"
        )
        self.collection("medical_records").create_index("record_id", name="revisions_by_record")
        self.collection("consents").create_index("patient_id", name="consents_by_patient")
        # Break-glass finds a patient by the health ID's blind index (the ID itself is sealed).
        self.collection("patients").create_index(
            "_health_id_index", name="patients_by_health_id_index"
        )
        for index in ("phone_index", "email_index", "birth_index"):  # the desk's look-ups
            self.collection("patients").create_index("_" + index, name=f"patients_by_{index}")
        self.collection("emergency_grants").create_index(
            [("reviewed", ASCENDING), ("granted_us", ASCENDING), ("_id", ASCENDING)],
            name="emergency_review_queue",
        )
        cards = self.collection("emergency_cards")
        cards.create_index("token_digest", unique=True, name="card_token_digest_unique")
        cards.create_index("patient_id", name="cards_by_patient")
        for key in ("patient_id", "user_id"):
            self.collection("audit_log").create_index(
                [(key, ASCENDING), ("_id", DESCENDING)], name=f"audit_by_{key}"
            )
        documents = self.collection("documents")
        documents.create_index("blob_key", unique=True, name="blob_key_unique")
        documents.create_index(
            [
                ("owner.role", ASCENDING),
                ("owner.profile_id", ASCENDING),
                ("created_at", DESCENDING),
                ("_id", DESCENDING),
            ],
            name="owner_newest_first",
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
        """Move events waiting in aggregates' documents to ``outbox`` (``repair.relay_outbox``);
        how many."""
        # Imported here: repair builds on the repositories, which build on this module.
        from hellodoctor_adapters.mongodb import repair

        return repair.relay_outbox(self, limit)

    @translated
    def repair_wallets(self, window: timedelta = timedelta(days=1)) -> int:
        """Finish or take back what a crash left between a unit of work's writes (housekeeping,
        like ``sweep_claims``); returns how many repairs it made (``repair.repair_wallets``)."""
        from hellodoctor_adapters.mongodb import repair  # see relay_outbox

        return repair.repair_wallets(self, window)


# -- buffered writes -------------------------------------------------------------------------


@define
class Change(Generic[T]):
    """A pending write: the value to store, the version it must find (``None``: insert), and
    the document it replaces (to undo it)."""

    value: T
    expected_version: int | None
    previous: Document | None


Undo = Callable[[], None]


def undo_insert(collection: Collection[Document], key: str, version: int) -> Undo:
    def undo() -> None:
        collection.delete_one({"_id": key, "version": version})

    return undo


def undo_replace(
    collection: Collection[Document], key: str, version: int, previous: Document
) -> Undo:
    def undo() -> None:
        collection.replace_one({"_id": key, "version": version}, previous)

    return undo


def undo_delete(collection: Collection[Document], key: object) -> Undo:
    def undo() -> None:
        collection.delete_one({"_id": key})

    return undo


def insert_with_events(
    collection: Collection[Document], document: Document, outbox: list[Document]
) -> None:
    collection.insert_one({**document, "_outbox": outbox})


def update_with_events(
    collection: Collection[Document],
    key: str,
    expected_version: int,
    document: Document,
    outbox: list[Document],
) -> bool:
    """Compare-and-set on ``version``, appending ``outbox`` to the events the document may still
    hold (a crash before their relay); whether it matched."""
    fields = {name: value for name, value in document.items() if name != "_id"}
    written = collection.update_one(
        {"_id": key, "version": expected_version},
        {"$set": fields, "$push": {"_outbox": {"$each": outbox}}},
    )
    return bool(written.matched_count)


def copy_events(outbox: Collection[Document], events: list[Document]) -> None:
    """Insert ``events`` into ``outbox``, skipping those already there (their ids are
    deterministic, so a second copy is the same event)."""
    if not events:
        return
    try:
        outbox.insert_many(events, ordered=False)
    except BulkWriteError as error:
        if not all(item.get("code") == 11000 for item in error.details.get("writeErrors", [])):
            raise


# Collections whose documents seal health data (``phi.py``): an event's payload may repeat a
# sealed field in plain (a transfer's note), so their events leave the document at commit rather
# than rest beside the sealed fields until the relay comes (docs/privacy.md's outbox gap).
SEALED_COLLECTIONS = frozenset(table.collection_name for table in (*PHI_TABLES, *RECORD_PHI_TABLES))


class EventsToWrite:
    """The outbox documents of one commit's events, by aggregate. Each aggregate's write takes
    its own (``take``) into its ``_outbox`` array, so an event is stored if and only if its
    change is, and stays there until the relay moves it to ``outbox`` (``repair.relay_outbox``,
    run before every claim) -- except in documents that seal health data, whose events
    ``move_sealed`` moves right after the commit. Events of aggregates the unit of work read
    but did not write are ``orphans``, inserted into ``outbox`` directly."""

    def __init__(self, waiting: dict[tuple[str, str], list[Document]]) -> None:
        self._waiting = waiting
        self._sealed: list[tuple[str, str, list[Document]]] = []

    def take(self, aggregate_type: str | None, key: str) -> list[Document]:
        if aggregate_type is None:
            return []
        found = self._waiting.pop((aggregate_type, key), [])
        collection = AGGREGATE_COLLECTIONS[aggregate_type]
        if found and collection in SEALED_COLLECTIONS:
            self._sealed.append((collection, key, found))
        return found

    def orphans(self) -> list[Document]:
        return [event for events in self._waiting.values() for event in events]

    def move_sealed(self, store: MongoStore) -> None:
        """After the commit: copy the events written into documents that seal health data to
        ``outbox``, then take them out of their documents (a crash in between leaves them for
        the relay, which skips the copies already there)."""
        for collection, key, events in self._sealed:
            copy_events(store.collection("outbox"), events)
            store.collection(collection).update_one(
                {"_id": key},
                {"$pull": {"_outbox": {"_id": {"$in": [event["_id"] for event in events]}}}},
            )


class Profiles(Generic[T]):
    """Documents with an id and a version (doctors, patients, accounts, secrets, tokens,
    payments): buffered adds and compare-and-set updates. Staging never changes the caller's
    object: the repository port keeps its version in step."""

    kind: type[T]
    label: str
    aggregate_type: str | None = None  # set for aggregates, whose writes carry their events

    def __init__(self, store: MongoStore, name: str) -> None:
        super().__init__()  # a tracking repository starts with nothing seen
        self._collection = store.collection(name)
        self.pending: dict[str, Change[T]] = {}
        # Ids this unit of work has read from the server: ``exists`` answers for them without
        # reading again (it only ever fails fast; the writes decide).
        self._read_ids: set[str] = set()

    def _key(self, value: T) -> str:
        return str(value.id)  # type: ignore[attr-defined]

    def _read(self, key: str) -> Document | None:
        document = self._collection.find_one({"_id": key})
        if document is not None:
            self._read_ids.add(key)
        return document

    def _current(self, key: str) -> T | None:
        change = self.pending.get(key)
        if change is not None:
            return evolve(change.value)  # type: ignore[misc]
        document = self._read(key)
        return None if document is None else self._value(document)

    def _value(self, document: Document) -> T:
        """The value a stored document holds (subclasses open sealed fields)."""
        return from_document(document, self.kind)

    def exists(self, key: str) -> bool:
        if key in self.pending or key in self._read_ids:
            return True
        if self._collection.find_one({"_id": key}, {"_id": 1}) is None:  # the id alone
            return False
        self._read_ids.add(key)
        return True

    def _stage_add(self, value: T) -> None:
        key = self._key(value)
        if self.exists(key):
            raise AlreadyExists(f"{self.label} {key} exists")
        self.pending[key] = Change(evolve(value, version=1), None, None)  # type: ignore[misc]

    def _find(self, key: str) -> T:
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

    def _stage_update(self, value: T) -> None:
        key = self._key(value)
        version: int = value.version  # type: ignore[attr-defined]
        change = self.pending.get(key)
        if change is None:
            previous = self._read(key)
            if previous is None:
                raise NotFound(f"no {self.label} {key}")
            expected, current = previous["version"], self._version_seen(previous)
        else:
            previous, expected = change.previous, change.expected_version
            current = change.value.version  # type: ignore[attr-defined]
        if current != version:
            raise ConcurrencyError(f"{self.label} {key} changed since it was read")
        self.pending[key] = Change(evolve(value, version=version + 1), expected, previous)  # type: ignore[misc]

    def flush(self, undo: list[Undo], events: EventsToWrite) -> None:
        for key, change in self.pending.items():
            document = self._document(change.value)
            outbox = events.take(self.aggregate_type, key)
            try:
                if change.expected_version is None:
                    insert_with_events(self._collection, document, outbox)
                    undo.append(undo_insert(self._collection, key, document["version"]))
                    continue
                written = update_with_events(
                    self._collection, key, change.expected_version, document, outbox
                )
            except DuplicateKeyError as error:
                raise AlreadyExists(self._duplicate(error, key)) from error
            if not written:
                raise ConcurrencyError(f"{self.label} {key} changed since it was read")
            assert change.previous is not None
            undo.append(undo_replace(self._collection, key, document["version"], change.previous))

    def _duplicate(self, error: DuplicateKeyError, key: str) -> str:
        fields = ", ".join((error.details or {}).get("keyPattern", {"_id": 1}))
        return f"{self.label} {key}: {fields} already taken"
