"""The waitlist on MongoDB: entries buffered like the profiles (``store.Profiles``), an insert
under the unique ``_id``, an update a compare-and-set on ``version``, at commit.

The offer protocol, without a multi-document transaction (docs/mongodb.md):

1. the held appointment's claims are taken when ``appointments.add`` is called (``claims.py``:
   one conditional update per claim cell), so a time already taken or held refuses at once;
2. at commit the entry's conditional write (``waiting`` at the version read -> ``offered``)
   comes *before* the appointment's insert (``uow.py``): of two offers racing for one entry
   the loser's compare-and-set fails, its unit of work is undone and its claims released,
   so it never writes a hold;
3. then the appointment's insert, carrying its ``AppointmentOffered`` event.

A crash between 2 and 3 leaves an entry ``offered`` whose appointment does not exist: one
offer, to one patient, of a time nobody holds (its claims' lease lapses). Accepting it is
``HoldExpired``; ``Waitlist.lapse_offers`` marks it expired when the offer's time runs out.
No crash can leave two live offers of one time (the claims) nor one entry offered twice (the
compare-and-set).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pymongo import ASCENDING

from hellodoctor_adapters.mongodb.documents import Document, to_micros
from hellodoctor_adapters.mongodb.store import MongoStore, Profiles, translated
from hellodoctor_adapters.waitlist_records import entry_from, entry_record
from hellodoctor_domain.model.values import AppointmentId, DoctorId, PatientId
from hellodoctor_domain.model.waitlist import WaitlistEntry, WaitlistEntryId, WaitlistStatus
from hellodoctor_domain.ports.waitlist import WaitlistRepository

COLLECTION = "waitlist"
_JOIN_ORDER = [("joined_us", ASCENDING), ("_id", ASCENDING)]


def ensure_waitlist_indexes(store: MongoStore) -> None:
    entries = store.collection(COLLECTION)
    entries.create_index(
        [("doctor_id", ASCENDING), ("status", ASCENDING), *_JOIN_ORDER],
        name="waitlist_by_doctor",
    )
    entries.create_index([("patient_id", ASCENDING), *_JOIN_ORDER], name="waitlist_by_patient")
    entries.create_index(
        [("status", ASCENDING), ("offer_expires_us", ASCENDING)], name="waitlist_offers_by_expiry"
    )
    entries.create_index("offered_appointment_id", name="waitlist_by_offer")


def _entry(document: Document) -> WaitlistEntry:
    return entry_from(document["record"], document["version"])


class MongoWaitlistRepository(Profiles[WaitlistEntry], WaitlistRepository):
    kind = WaitlistEntry
    label = "waitlist entry"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, COLLECTION)
        self._patients = store.collection("patients")
        self._doctors = store.collection("doctors")

    def _document(self, value: WaitlistEntry) -> Document:
        offered = value.offered_appointment_id
        expires = value.offer_expires_at
        return {
            "_id": value.id.value,
            "patient_id": value.patient_id.value,
            "doctor_id": value.doctor_id.value,
            "status": value.status.value,
            "joined_us": to_micros(value.joined_at),
            "offered_appointment_id": None if offered is None else offered.value,
            "offer_expires_us": None if expires is None else to_micros(expires),
            "record": entry_record(value),
            "version": value.version,
        }

    def _current(self, key: str) -> WaitlistEntry | None:
        change = self.pending.get(key)
        if change is not None:
            return _entry(self._document(change.value))
        document = self._read(key)
        return None if document is None else _entry(document)

    @translated
    def _add(self, entry: WaitlistEntry) -> None:
        from hellodoctor_domain.errors import NotFound

        # Fail fast; the references cannot change under us (profiles are never deleted).
        if self._patients.find_one({"_id": entry.patient_id.value}, {"_id": 1}) is None:
            raise NotFound(f"no patient {entry.patient_id}")
        if self._doctors.find_one({"_id": entry.doctor_id.value}, {"_id": 1}) is None:
            raise NotFound(f"no doctor {entry.doctor_id}")
        self._stage_add(entry)

    @translated
    def _get(self, entry_id: WaitlistEntryId) -> WaitlistEntry:
        return self._find(entry_id.value)

    @translated
    def _update(self, entry: WaitlistEntry) -> None:
        self._stage_update(entry)

    def _find_many(self, query: Document, limit: int) -> list[WaitlistEntry]:
        found = self._collection.find(query).sort(_JOIN_ORDER).limit(limit)
        return [_entry(document) for document in found]

    @translated
    def _waiting_for(self, doctor_id: DoctorId, limit: int) -> Sequence[WaitlistEntry]:
        query = {"doctor_id": doctor_id.value, "status": WaitlistStatus.WAITING.value}
        return self._find_many(query, limit)

    @translated
    def _search(
        self,
        doctor_id: DoctorId | None,
        patient_id: PatientId | None,
        statuses: frozenset[WaitlistStatus] | None,
        limit: int,
    ) -> Sequence[WaitlistEntry]:
        query: Document = {}
        if doctor_id is not None:
            query["doctor_id"] = doctor_id.value
        if patient_id is not None:
            query["patient_id"] = patient_id.value
        if statuses is not None:
            query["status"] = {"$in": sorted(s.value for s in statuses)}
        return self._find_many(query, limit)

    @translated
    def _lapsed_offers(self, now: datetime, limit: int) -> Sequence[WaitlistEntry]:
        query = {
            "status": WaitlistStatus.OFFERED.value,
            "offer_expires_us": {"$lte": to_micros(now)},
        }
        found = self._collection.find(query).sort([("offer_expires_us", 1), ("_id", 1)])
        return [_entry(document) for document in found.limit(limit)]

    @translated
    def _offered_with(self, appointment_id: AppointmentId) -> WaitlistEntry | None:
        document = self._collection.find_one({"offered_appointment_id": appointment_id.value})
        return None if document is None else _entry(document)
