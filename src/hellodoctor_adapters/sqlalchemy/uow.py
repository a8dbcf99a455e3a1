"""The unit of work over SQLAlchemy Core, for PostgreSQL and SQLite: one database transaction
on its own pooled connection, the ``scheduling``, ``identity`` and ``payments`` repositories
over it, and the outbox rows of the events it collected, inserted in that same transaction.
``open_sql_storage`` is the entry point for ``postgresql://`` and ``sqlite:///`` URLs.

Races are decided by the database, never here: each repository module says how.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import cast

from attrs import asdict
from sqlalchemy.engine import URL, Connection, Engine

from hellodoctor_adapters.crypto import FieldCipher, development_cipher
from hellodoctor_adapters.outbox import OutboxMessage
from hellodoctor_adapters.rewrap import RewrapReport, RewrapStep
from hellodoctor_adapters.sqlalchemy import writes
from hellodoctor_adapters.sqlalchemy.analytics import SqlAppointmentStatistics
from hellodoctor_adapters.sqlalchemy.booking import (
    autocommitted,
    install,
    outside_a_transaction,
    read_doctor_and_availability,
)
from hellodoctor_adapters.sqlalchemy.consultations import SqlRoomAttendance, SqlRoomTickets
from hellodoctor_adapters.sqlalchemy.delivery import SqlDelivery, SqlInbox
from hellodoctor_adapters.sqlalchemy.documents import SqlDocumentRepository
from hellodoctor_adapters.sqlalchemy.emergency import (
    SqlEmergencyCardRepository,
    SqlEmergencyGrantRepository,
)
from hellodoctor_adapters.sqlalchemy.engine import create_engine, translated_errors
from hellodoctor_adapters.sqlalchemy.hospitals import (
    SqlAdmissionRepository,
    SqlBedLedger,
    SqlHospitalRepository,
    SqlTransferRepository,
)
from hellodoctor_adapters.sqlalchemy.identity import (
    SqlAccountRepository,
    SqlOneTimeSecretRepository,
    SqlRefreshTokenRepository,
)
from hellodoctor_adapters.sqlalchemy.insurance import (
    SqlClaimRepository,
    SqlPolicyRepository,
    SqlSchemeRepository,
)
from hellodoctor_adapters.sqlalchemy.migrate import SchemaNotMigrated, require_current_schema
from hellodoctor_adapters.sqlalchemy.payments import (
    SqlPaymentRepository,
    SqlProcessedWebhookEvents,
    SqlWalletLedger,
)
from hellodoctor_adapters.sqlalchemy.phi import rewrap_sql, rewrap_sql_steps
from hellodoctor_adapters.sqlalchemy.preferences import (
    SqlCalendarFeeds,
    SqlNotificationPreferences,
)
from hellodoctor_adapters.sqlalchemy.records import (
    SqlAuditLog,
    SqlConsentRepository,
    SqlMedicalRecordRepository,
)
from hellodoctor_adapters.sqlalchemy.reviews import SqlRatingLedger, SqlReviewRepository
from hellodoctor_adapters.sqlalchemy.scheduling import (
    SqlAppointmentRepository,
    SqlAvailabilityRepository,
    SqlDoctorRepository,
    SqlIdempotencyRepository,
    SqlPatientRepository,
)
from hellodoctor_adapters.sqlalchemy.search import SqlDoctorDirectory
from hellodoctor_adapters.sqlalchemy.waitlist import SqlWaitlistRepository
from hellodoctor_adapters.sqlalchemy.writes import PendingInserts
from hellodoctor_domain.errors import BackendUnavailable, NotFound
from hellodoctor_domain.model.availability import Availability
from hellodoctor_domain.model.events import DomainEvent
from hellodoctor_domain.model.profiles import Doctor
from hellodoctor_domain.model.values import DoctorId
from hellodoctor_domain.ports.retention import RetentionStore
from hellodoctor_domain.ports.unit_of_work import EventPublisher, UnitOfWork

_log = logging.getLogger(__name__)


class SqlUnitOfWork(UnitOfWork):
    """One database transaction on its own pooled connection, opened on ``__enter__``."""

    def __init__(
        self,
        engine: Engine,
        publisher: EventPublisher | None = None,
        cipher: FieldCipher | None = None,
    ) -> None:
        super().__init__(publisher)
        self._engine = engine
        self._connection: Connection | None = None
        self._cipher = cipher or development_cipher()
        self._pending = PendingInserts()
        install(engine)

    def _begin(self) -> None:
        with translated_errors():
            self._connection = self._engine.connect()
            self._connection.begin()
        self._pending.clear()
        self._connection.info[writes.PENDING] = self._pending
        self.doctors = SqlDoctorRepository(self._connection)
        self.patients = SqlPatientRepository(self._connection, self._cipher)
        self.availability = SqlAvailabilityRepository(self._connection)
        self.appointments = SqlAppointmentRepository(self._connection, self._pending)
        self.accounts = SqlAccountRepository(self._connection, self._cipher)
        self.one_time_secrets = SqlOneTimeSecretRepository(self._connection)
        self.refresh_tokens = SqlRefreshTokenRepository(self._connection)
        self.idempotency = SqlIdempotencyRepository(self._connection, self._pending)
        payments = SqlPaymentRepository(self._connection)
        self.payments = payments
        self.wallets = SqlWalletLedger(self._connection, payments)
        self.processed_events = SqlProcessedWebhookEvents(self._connection)
        self.documents = SqlDocumentRepository(self._connection, self._cipher)
        self.room_tickets = SqlRoomTickets(self._connection)
        self.room_attendance = SqlRoomAttendance(self._connection)
        self.hospitals = SqlHospitalRepository(self._connection)
        self.beds = SqlBedLedger(self._connection)
        self.transfers = SqlTransferRepository(self._connection, self._cipher)
        self.admissions = SqlAdmissionRepository(self._connection, self._cipher)
        self.schemes = SqlSchemeRepository(self._connection)
        self.policies = SqlPolicyRepository(self._connection)
        self.claims = SqlClaimRepository(self._connection, self._cipher)
        self.reviews = SqlReviewRepository(self._connection)
        self.statistics = SqlAppointmentStatistics(self._connection)
        self.ratings = SqlRatingLedger(self._connection)
        self.notification_preferences = SqlNotificationPreferences(self._connection, self._cipher)
        self.calendar_feeds = SqlCalendarFeeds(self._connection)
        self.records = SqlMedicalRecordRepository(self._connection, self._cipher)
        self.consents = SqlConsentRepository(self._connection)
        self.audit = SqlAuditLog(self._connection)
        self.emergency_grants = SqlEmergencyGrantRepository(self._connection, self._cipher)
        self.emergency_cards = SqlEmergencyCardRepository(self._connection)
        self.waitlist = SqlWaitlistRepository(self._connection)
        self.directory = SqlDoctorDirectory(self._connection)

    def doctor_and_availability(self, doctor_id: DoctorId) -> tuple[Doctor, Availability | None]:
        """One query (``booking.py``); as the transaction's first statement on PostgreSQL it
        runs on its own, with no BEGIN before it."""
        connection = self._require_connection()
        row = read_doctor_and_availability(connection, doctor_id)
        if row is None:
            raise NotFound(f"no doctor {doctor_id}")
        doctor, availability = row
        doctors = cast(SqlDoctorRepository, self.doctors)
        hours = cast(SqlAvailabilityRepository, self.availability)
        return doctors.tracked(doctor), hours.tracked(availability)

    def _commit(self, events: Sequence[DomainEvent]) -> None:
        connection = self._require_connection()
        outbox_rows = [asdict(OutboxMessage.of(event)) for event in events]
        if outside_a_transaction(connection):
            # Nothing was sent yet but what runs without a transaction (the booking's read):
            # the writes are one statement, which commits itself (no BEGIN, no COMMIT).
            with autocommitted(connection):
                writes.flush(connection, self._pending, outbox_rows)
        else:
            writes.flush(connection, self._pending, outbox_rows)
        with translated_errors():
            connection.commit()

    def _rollback(self) -> None:
        self._pending.clear()
        connection = self._connection
        if connection is None:
            return
        with translated_errors():
            connection.rollback()

    def _close(self) -> None:
        self._pending.clear()
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.info.pop(writes.PENDING, None)
            with translated_errors():
                connection.close()

    def _require_connection(self) -> Connection:
        if self._connection is None:
            raise BackendUnavailable("the unit of work is not open (use it in a with block)")
        return self._connection


class SqlUnitOfWorkFactory:
    """Units of work over one database (the ``postgresql`` and ``sqlite`` storage entry points).

    Built once per process from a URL (or an engine); refuses a database whose schema is not
    migrated to this code's revision, with a message that says to run ``hellodoctor db upgrade``.
    """

    def __init__(
        self,
        database: str | URL | Engine,
        publisher: EventPublisher | None = None,
        *,
        check_schema: bool = True,
        cipher: FieldCipher | None = None,
    ) -> None:
        owned = not isinstance(database, Engine)
        # Health data is sealed under this cipher's key ring (docs/encryption.md); without
        # one, the public development ring (production wires its own: bootstrap.py).
        self.cipher = cipher or development_cipher()
        self.engine = database if isinstance(database, Engine) else create_engine(database)
        self.publisher = publisher
        if check_schema:
            try:
                require_current_schema(self.engine)
            except SchemaNotMigrated:
                if owned:
                    self.engine.dispose()
                raise
            except BackendUnavailable as error:
                # Away or busy right now (a server restarting, a SQLite writer holding the
                # lock while a worker boots): start anyway, as readiness reports the outage
                # and each unit of work refuses until the database answers. A worker that
                # failed to boot here would make gunicorn stop the whole server.
                _log.warning("could not check the schema at start-up: %s", error)
            except BaseException:
                if owned:
                    self.engine.dispose()
                raise

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.publisher, self.cipher)

    def rewrap(self, batch_size: int = 500) -> RewrapReport:
        """Seal every health-data value under the current key (``hellodoctor keys rewrap``)."""
        return rewrap_sql(self.engine, self.cipher, batch_size)

    def rewrap_steps(self, batch_size: int, report: RewrapReport) -> Iterator[RewrapStep]:
        """The rewrap a batch at a time (the encryption contract writes between steps)."""
        return rewrap_sql_steps(self.engine, self.cipher, batch_size, report)

    def housekeeping(self, limit: int = 100) -> dict[str, int]:
        """Nothing to clean up: a unit of work is one database transaction (``registry``)."""
        return {}

    def delivery(self) -> tuple[SqlDelivery, SqlInbox]:
        """The outbox's delivery state and the consumers' inbox (``registry``)."""
        return SqlDelivery(self.engine), SqlInbox(self.engine)

    def retention(self) -> RetentionStore:
        """Counts and bounded deletions of what the retention policy names (``registry``)."""
        from hellodoctor_adapters.sqlalchemy.retention import SqlRetention

        return SqlRetention(self.engine)

    def dispose(self) -> None:
        """Close pooled connections (at shutdown, or in a child process after fork)."""
        self.engine.dispose()


def open_sql_storage(
    url: str, *, publisher: EventPublisher | None = None, cipher: FieldCipher | None = None
) -> SqlUnitOfWorkFactory:
    """Entry point for ``postgresql://`` and ``sqlite:///`` URLs (see ``registry``): refuses an
    un-migrated schema with ``SchemaNotMigrated``."""
    return SqlUnitOfWorkFactory(url, publisher, cipher=cipher)
