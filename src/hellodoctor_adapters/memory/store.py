"""The in-memory "database" and the journal every repository writes through (a rollback
replays it backwards)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from attrs import define, field

from hellodoctor_adapters.memory.consultations import (
    RoomTables,
)
from hellodoctor_adapters.outbox import OutboxMessage
from hellodoctor_domain.model.accounts import Account, OneTimeSecret, RefreshToken
from hellodoctor_domain.model.admissions import AdmissionRecord
from hellodoctor_domain.model.appointment import Appointment
from hellodoctor_domain.model.audit import SealedEntry
from hellodoctor_domain.model.availability import Availability
from hellodoctor_domain.model.consent import Consent, ConsentId
from hellodoctor_domain.model.documents import Document, DocumentId
from hellodoctor_domain.model.emergency import (
    EmergencyCard,
    EmergencyCardId,
    EmergencyGrant,
    EmergencyGrantId,
)
from hellodoctor_domain.model.hospitals import BedType, Hospital
from hellodoctor_domain.model.insurance import Claim, Policy, Scheme
from hellodoctor_domain.model.notifications import CalendarFeed, NotificationPreferences
from hellodoctor_domain.model.payments import Payment, PaymentId, WalletEntry
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.records import MedicalRecord, RecordId
from hellodoctor_domain.model.reviews import DoctorRating, Review
from hellodoctor_domain.model.transfers import Transfer
from hellodoctor_domain.model.values import (
    AdmissionId,
    AppointmentId,
    ClaimId,
    DoctorId,
    HospitalId,
    PatientId,
    PolicyId,
    ReviewId,
    SchemeId,
    TransferId,
    UserId,
)
from hellodoctor_domain.model.waitlist import WaitlistEntry, WaitlistEntryId
from hellodoctor_domain.ports.hospitals import BedCount
from hellodoctor_domain.ports.scheduling import (
    IdempotencyRecord,
)
from hellodoctor_domain.ports.search import FreeSlots


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
    reviews: dict[ReviewId, Review] = field(factory=dict)
    ratings: dict[DoctorId, DoctorRating] = field(factory=dict)
    admissions: dict[AdmissionId, AdmissionRecord] = field(factory=dict)
    notification_preferences: dict[UserId, NotificationPreferences] = field(factory=dict)
    calendar_feeds: dict[UserId, CalendarFeed] = field(factory=dict)
    # Clinical records (memory/records.py): revisions by (id, revision), consents, and the
    # audit log by sequence number (1, 2, ...).
    records: dict[tuple[RecordId, int], MedicalRecord] = field(factory=dict)
    consents: dict[ConsentId, Consent] = field(factory=dict)
    audit: dict[int, SealedEntry] = field(factory=dict)
    emergency_grants: dict[EmergencyGrantId, EmergencyGrant] = field(factory=dict)
    emergency_cards: dict[EmergencyCardId, EmergencyCard] = field(factory=dict)
    waitlist: dict[WaitlistEntryId, WaitlistEntry] = field(factory=dict)
    # The doctor search (memory/search.py): schemes accepted, next free slot summaries.
    doctor_schemes: dict[DoctorId, frozenset[SchemeId]] = field(factory=dict)
    free_slots: dict[DoctorId, FreeSlots] = field(factory=dict)


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
