"""The MongoDB unit of work and its factory (the ``mongodb`` storage entry point).

A unit of work without multi-document transactions
    Reads go to the server (and see this unit of work's own pending writes laid over them).
    Writes are buffered, with two exceptions that must happen early:

    * **claims** (``claims.py``) are pushed when ``appointments.add``/``update`` is called, so
      ``SlotUnavailable`` surfaces at the write, as with the reference adapter;
    * cheap **early checks** (version still current, id not taken, doctor and patient known)
      read the server so that errors surface at the call. They only fail fast: the guarantee
      is the conditional write at commit.

    ``commit`` applies the buffered documents in a safe order (``_commit`` says why each comes
    where it does): wallet debits first and credits last (``payments.py``), profiles and
    availability before appointments, and of the appointments first those the unit of work ends
    (they release time), then other updates, then inserts. Inserts are plain inserts under the
    unique ``_id``; updates are compare-and-set on ``version`` (``ConcurrencyError`` when it
    moved). Each write of an aggregate (appointment, payment, doctor, ...) carries that
    aggregate's events in an ``_outbox`` array *in the same single-document write*, so an event
    exists if and only if its change does; the relay moves them to the ``outbox`` collection
    before it claims (``repair.relay_outbox``). After the writes, entries the appointments no
    longer need are pruned, and events written into documents that seal health data are moved
    out at once (``EventsToWrite.move_sealed``). A failure before the last write undoes the
    writes already made (each restores the previous document only if nobody changed it since)
    and releases the claims.

    A booking is therefore four commands: the doctor with its availability (one ``$lookup``),
    the patient's existence, both claims (one ordered bulk of conditional upserts), and the
    appointment's insert with its events.

What a crash can leave behind, and what cleans it up: ``repair.py``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from bson.codec_options import CodecOptions
from bson.errors import BSONError
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from pymongo.write_concern import WriteConcern

from hellodoctor_adapters.crypto import FieldCipher, development_cipher
from hellodoctor_adapters.mongodb.analytics import MongoAppointmentStatistics
from hellodoctor_adapters.mongodb.appointments import MongoAppointmentRepository
from hellodoctor_adapters.mongodb.consultations import MongoRoomAttendance, MongoRoomTickets
from hellodoctor_adapters.mongodb.documents import Document, event_to_document
from hellodoctor_adapters.mongodb.documents_repository import MongoDocumentRepository
from hellodoctor_adapters.mongodb.emergency import (
    MongoEmergencyCardRepository,
    MongoEmergencyGrantRepository,
)
from hellodoctor_adapters.mongodb.hospitals import (
    MongoAdmissionRepository,
    MongoBedLedger,
    MongoHospitalRepository,
    MongoTransferRepository,
)
from hellodoctor_adapters.mongodb.identity import (
    MongoAccountRepository,
    MongoOneTimeSecretRepository,
    MongoRefreshTokenRepository,
)
from hellodoctor_adapters.mongodb.insurance import (
    MongoClaimRepository,
    MongoPolicyRepository,
    MongoSchemeRepository,
)
from hellodoctor_adapters.mongodb.payments import (
    MongoPaymentRepository,
    MongoProcessedWebhookEvents,
    MongoWalletLedger,
)
from hellodoctor_adapters.mongodb.phi import rewrap_mongo, rewrap_mongo_steps
from hellodoctor_adapters.mongodb.preferences import (
    MongoCalendarFeeds,
    MongoNotificationPreferences,
)
from hellodoctor_adapters.mongodb.records import (
    MongoAuditLog,
    MongoConsentRepository,
    MongoMedicalRecordRepository,
)
from hellodoctor_adapters.mongodb.reviews import (
    MongoRatingLedger,
    MongoRatingRepair,
    MongoReviewRepository,
)
from hellodoctor_adapters.mongodb.scheduling import (
    MongoAvailabilityRepository,
    MongoDoctorRepository,
    MongoIdempotencyRepository,
    MongoPatientRepository,
)
from hellodoctor_adapters.mongodb.search import MongoDoctorDirectory
from hellodoctor_adapters.mongodb.store import Change, EventsToWrite, MongoStore, Undo, translated
from hellodoctor_adapters.mongodb.waitlist import MongoWaitlistRepository, ensure_waitlist_indexes
from hellodoctor_adapters.rewrap import RewrapReport, RewrapStep
from hellodoctor_domain.model.events import DomainEvent
from hellodoctor_domain.ports.outbox import Inbox, OutboxDelivery
from hellodoctor_domain.ports.retention import RetentionStore
from hellodoctor_domain.ports.unit_of_work import EventPublisher, UnitOfWork

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "hellodoctor"


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
    documents: MongoDocumentRepository
    room_tickets: MongoRoomTickets
    room_attendance: MongoRoomAttendance
    hospitals: MongoHospitalRepository
    beds: MongoBedLedger
    transfers: MongoTransferRepository
    admissions: MongoAdmissionRepository
    schemes: MongoSchemeRepository
    policies: MongoPolicyRepository
    claims: MongoClaimRepository
    reviews: MongoReviewRepository
    statistics: MongoAppointmentStatistics
    ratings: MongoRatingLedger
    notification_preferences: MongoNotificationPreferences
    calendar_feeds: MongoCalendarFeeds
    records: MongoMedicalRecordRepository
    consents: MongoConsentRepository
    audit: MongoAuditLog
    emergency_grants: MongoEmergencyGrantRepository
    emergency_cards: MongoEmergencyCardRepository
    waitlist: MongoWaitlistRepository
    directory: MongoDoctorDirectory

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
        self.wallets = MongoWalletLedger(self._store, self.payments)
        self.processed_events = MongoProcessedWebhookEvents(self._store)
        self.documents = MongoDocumentRepository(self._store)
        self.room_tickets = MongoRoomTickets(self._store)
        self.room_attendance = MongoRoomAttendance(self._store)
        self.hospitals = MongoHospitalRepository(self._store)
        self.beds = MongoBedLedger(self._store)
        self.transfers = MongoTransferRepository(self._store)
        self.admissions = MongoAdmissionRepository(self._store)
        self.schemes = MongoSchemeRepository(self._store)
        self.policies = MongoPolicyRepository(self._store)
        self.claims = MongoClaimRepository(self._store)
        self.reviews = MongoReviewRepository(self._store)
        self.statistics = MongoAppointmentStatistics(self._store)
        self.ratings = MongoRatingLedger(self._store)
        self.notification_preferences = MongoNotificationPreferences(self._store)
        self.calendar_feeds = MongoCalendarFeeds(self._store)
        self.records = MongoMedicalRecordRepository(self._store)
        self.consents = MongoConsentRepository(self._store)
        self.audit = MongoAuditLog(self._store)
        self.emergency_grants = MongoEmergencyGrantRepository(self._store)
        self.emergency_cards = MongoEmergencyCardRepository(self._store)
        self.waitlist = MongoWaitlistRepository(self._store)
        self.directory = MongoDoctorDirectory(self._store)

    @translated
    def _commit(self, events: Sequence[DomainEvent]) -> None:
        outbox = EventsToWrite(self._outbox_documents(events))
        undo: list[Undo] = []
        try:
            # Money leaves a wallet first and comes in last: a crash in between can leave a
            # patient short (repaired by MongoStore.repair_wallets), never credit money whose
            # cause was not written (docs/mongodb.md).
            self.wallets.flush_debits(undo)
            # Beds are taken first and given back last, like money (hospitals.py).
            self.beds.flush_takes(undo)
            self.doctors.flush(undo, outbox)
            self.patients.flush(undo, outbox)
            self.accounts.flush(undo, outbox)  # after the doctors and patients they name
            self.one_time_secrets.flush(undo, outbox)
            self.refresh_tokens.flush(undo, outbox)
            self.notification_preferences.flush(undo)  # after the accounts they belong to
            self.calendar_feeds.flush(undo)
            self.availability.flush(undo, outbox)
            self.hospitals.flush(undo, outbox)
            self.beds.flush_capacities(undo)
            self.transfers.flush(undo, outbox)
            self.admissions.flush(undo, outbox)
            self.schemes.flush(undo, outbox)
            self.policies.flush(undo, outbox)
            self.claims.flush(undo, outbox)
            # The rating's journal first, so a review never lands unaccounted (reviews.py).
            self.ratings.flush_journal(undo)
            self.reviews.flush(undo, outbox)
            self.consents.flush(undo, outbox)
            self.records.flush(undo)  # append-only revisions, after the patients they name
            self.emergency_grants.flush(undo, outbox)
            self.emergency_cards.flush(undo, outbox)
            # Before the appointments: the compare-and-set (and the one-payment-per-appointment
            # index) settle races for a payment before a booking changes (docs/mongodb.md).
            self.payments.flush(undo, outbox)
            # An offer's entry before its hold: a lost race ends before any hold is written,
            # a crash between leaves one offer of a time nobody holds (waitlist.py).
            self.waitlist.flush(undo, outbox)
            self.appointments.flush(undo, outbox)
            # Right after the appointment it names: a crash in between leaves a booking
            # without its record, never a record without its booking (docs/mongodb.md).
            self.idempotency.flush(undo)
            # After the effects: a crash before it leaves the effect without its record, and
            # a redelivered copy then finds nothing left to do (never an effect lost).
            self.processed_events.flush(undo)
            # After the appointments they may link to; removals after the other writes.
            self.documents.flush(undo, outbox)
            self.documents.flush_removals(undo)
            # Tickets and attendance name an appointment written above; nothing names them.
            self.room_tickets.flush(undo)
            self.room_attendance.flush(undo)
            self.wallets.flush_credits(undo)
            self.beds.flush_returns(undo)
            orphans = outbox.orphans()  # events of aggregates this unit of work did not write
            if orphans:
                self._store.collection("outbox").insert_many(orphans)
            # The audit of this unit of work's accesses: after every write that can fail,
            # since an appended entry is never taken back (records.py).
            self.audit.flush()
            # Last, as they cannot be undone; revoking is safe to have done even if the rest
            # of the unit of work failed.
            self.refresh_tokens.flush_revocations()
        except BaseException:
            self._undo(undo)
            raise
        try:
            self.appointments.settle()
            self.ratings.settle()
            outbox.move_sealed(self._store)
        except (PyMongoError, BSONError):
            # Committed already; leftovers are orphans the claim protocol and the relay clean
            # up. Raising would tell the caller a committed change failed.
            log.warning("tidying up after a MongoDB commit failed", exc_info=True)

    def _outbox_documents(
        self, events: Sequence[DomainEvent]
    ) -> dict[tuple[str, str], list[Document]]:
        """Each event as an outbox document, by aggregate. An event's id is deterministic for
        the write that carries it (aggregate, new version, position), so a relay that copies
        it twice stores it once."""
        writes: dict[str, Mapping[str, Change[Any]]] = {
            repository.aggregate_type: repository.pending
            for repository in (
                self.doctors,
                self.patients,
                self.availability,
                self.appointments,
                self.accounts,
                self.payments,
                self.documents,
                self.hospitals,
                self.transfers,
                self.admissions,
                self.schemes,
                self.policies,
                self.claims,
                self.emergency_grants,
            )
        }
        by_aggregate: dict[tuple[str, str], list[Document]] = {}
        for event in events:
            kind, key = event.aggregate_type, event.aggregate_id
            change = writes.get(kind, {}).get(key)
            written_as = change.value.version if change else uuid.uuid4().hex
            found = by_aggregate.setdefault((kind, key), [])
            found.append(event_to_document(event, f"{kind}/{key}/{written_as}/{len(found)}"))
        return by_aggregate

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


def durable_write_concern(configured: WriteConcern) -> WriteConcern:
    """The write concern the URL (or client) asks for when it names ``w`` or ``journal``;
    otherwise one that survives a crash: acknowledged by a majority of a replica set (just the
    server, on a standalone) once in the journal. The server's default, ``w: 1`` without the
    journal, answers before the write is on disk: a crash then loses bookings already confirmed
    to their patients."""
    document = configured.document
    if "w" in document or "j" in document:
        return configured
    return WriteConcern(w="majority", j=True, wtimeout=document.get("wtimeout"))


class MongoUnitOfWorkFactory:
    """Units of work over one MongoDB database (the ``mongodb`` storage entry point).

    ``url`` is a ``mongodb://`` or ``mongodb+srv://`` connection string; its path names the
    database (``hellodoctor`` when it names none). Nothing touches the network until the first
    unit of work, which creates the indexes (idempotently) once per factory. Writes are
    journaled and acknowledged by a majority unless the URL sets ``w`` or ``journal``
    (``durable_write_concern``).

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
        cipher: FieldCipher | None = None,
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
            self.client.get_database(
                name,
                codec_options=codecs,
                write_concern=durable_write_concern(self.client.write_concern),
            ),
            lease,
            clock,
            wait_for_in_flight,
            cipher or development_cipher(),
        )
        self._indexed = False
        self._lock = threading.Lock()

    def ensure_indexes(self) -> None:
        with self._lock:
            if not self._indexed:
                self.store.ensure_indexes()
                ensure_waitlist_indexes(self.store)
                self._indexed = True

    def __call__(self) -> MongoUnitOfWork:
        self.ensure_indexes()
        return MongoUnitOfWork(self.store, self.publisher)

    def rewrap(self, batch_size: int = 500) -> RewrapReport:
        """Seal every health-data field under the current key (``hellodoctor keys rewrap``)."""
        return rewrap_mongo(self.store, self.store.cipher, batch_size)

    def rewrap_steps(self, batch_size: int, report: RewrapReport) -> Iterator[RewrapStep]:
        """The rewrap a batch at a time (the encryption contract writes between steps)."""
        return rewrap_mongo_steps(self.store, self.store.cipher, batch_size, report)

    def delivery(self) -> tuple[OutboxDelivery, Inbox]:
        """The outbox's delivery state and the consumers' inbox (``registry``)."""
        from hellodoctor_adapters.mongodb.delivery import MongoDelivery, MongoInbox

        return MongoDelivery(self.store), MongoInbox(self.store)

    def retention(self) -> RetentionStore:
        """Counts and bounded deletions of what the retention policy names (``registry``)."""
        from hellodoctor_adapters.mongodb.retention import MongoRetention

        return MongoRetention(self.store)

    def housekeeping(self, limit: int = 100) -> dict[str, int]:
        """Clean up what crashed or abandoned writers left (``hellodoctor worker`` runs this on
        every pass; ``repair.py``, docs/mongodb.md): wallet writes a crash cut short first (a
        credit owed is applied before anything looks at balances), then claims whose lease ran
        out, then events stranded in appointments. Idempotent, and safe in several workers at
        once. Returns how much of each it did."""
        self.ensure_indexes()
        return {
            "wallet writes repaired": self.store.repair_wallets(),
            "claims swept": self.store.sweep_claims(limit),
            "events relayed": self.store.relay_outbox(limit),
            "ratings repaired": MongoRatingRepair(self.store).repair(limit),
        }

    def close(self) -> None:
        self.client.close()


def open_mongodb_storage(
    url: str, *, publisher: EventPublisher | None = None, cipher: FieldCipher | None = None
) -> MongoUnitOfWorkFactory:
    """Entry point for ``mongodb://`` and ``mongodb+srv://`` URLs (see
    ``hellodoctor_adapters.registry``)."""
    return MongoUnitOfWorkFactory(url, publisher, cipher=cipher)
