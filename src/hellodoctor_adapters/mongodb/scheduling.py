"""Scheduling repositories over MongoDB: doctors, patients, availability, appointments and
idempotency records.

Reads see this unit of work's own pending writes laid over the server's documents; writes are
buffered until commit (``uow.py`` tells the whole story), except the appointments' claims,
pushed at ``add``/``update`` (``claims.py``), and the cheap early checks that only fail fast.
Each write carries the aggregate's events in an ``_outbox`` array (``store.EventsToWrite``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from attrs import evolve
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from hellodoctor_adapters.mongodb.documents import (
    Document,
    floor_ms,
    from_document,
    search_keys,
    to_document,
)

# The patients' repository has its own module; still importable from here.
from hellodoctor_adapters.mongodb.patients import MongoPatientRepository as MongoPatientRepository
from hellodoctor_adapters.mongodb.store import (
    AGGREGATE_COLLECTIONS,
    Change,
    EventsToWrite,
    MongoStore,
    Profiles,
    Undo,
    insert_with_events,
    translated,
    undo_delete,
    undo_insert,
    undo_replace,
    update_with_events,
)
from hellodoctor_domain.errors import (
    AlreadyExists,
    ConcurrencyError,
    NotFound,
)
from hellodoctor_domain.model.appointment import ACTIVE_STATUSES, AppointmentStatus
from hellodoctor_domain.model.availability import Availability
from hellodoctor_domain.model.profiles import Doctor
from hellodoctor_domain.model.values import AppointmentId, DoctorId
from hellodoctor_domain.ports.scheduling import (
    AvailabilityRepository,
    DoctorQuery,
    DoctorRepository,
    IdempotencyRecord,
    IdempotencyRepository,
)

_ACTIVE = [status.value for status in ACTIVE_STATUSES]
_HELD = AppointmentStatus.HELD.value
_BUSY_FIELDS = {"time.start_us": 1, "blocked_end_us": 1, "status": 1, "hold_expires_at": 1}
_AVAILABILITY = "_availability_read"  # where a doctor's read carries its availability
_NOT_REVOKED = {"_revoked": {"$exists": False}}


class MongoDoctorRepository(Profiles[Doctor], DoctorRepository):
    kind = Doctor
    label = "doctor"
    aggregate_type = "doctor"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, AGGREGATE_COLLECTIONS[self.aggregate_type])
        # The availability documents read beside their doctors (``_get``), until the
        # availability repository takes them.
        self.availability_read: dict[str, Document | None] = {}

    @translated
    def _add(self, doctor: Doctor) -> None:
        self._refuse_taken_registration(doctor)
        self._stage_add(doctor)

    @translated
    def _get(self, doctor_id: DoctorId) -> Doctor:
        """The doctor, and its availability in the same query (a ``$lookup`` on the same
        ``_id``): whoever reads a doctor nearly always reads its rules next (a booking does),
        and ``MongoAvailabilityRepository.get`` then takes this copy instead of asking again."""
        key = doctor_id.value
        if key in self.pending:
            return self._find(key)
        joined = {"from": "availability", "localField": "_id", "foreignField": "_id"}
        found = next(
            self._collection.aggregate(
                [{"$match": {"_id": key}}, {"$lookup": {**joined, "as": _AVAILABILITY}}]
            ),
            None,
        )
        if found is None:
            raise NotFound(f"no {self.label} {key}")
        beside = found.pop(_AVAILABILITY)
        self.availability_read[key] = beside[0] if beside else None
        self._read_ids.add(key)
        return self._value(found)

    @translated
    def _update(self, doctor: Doctor) -> None:
        self._refuse_taken_registration(doctor)
        self._stage_update(doctor)

    @translated
    def _list(self) -> Sequence[Doctor]:
        found = {
            document["_id"]: from_document(document, Doctor)
            for document in self._collection.find().sort("_id", ASCENDING)
        }
        found.update({key: evolve(change.value) for key, change in self.pending.items()})
        return [found[key] for key in sorted(found)]

    def _document(self, value: Doctor) -> Document:
        return {**to_document(value), "_search": search_keys(value)}

    @translated
    def _search(self, query: DoctorQuery) -> Sequence[Doctor]:
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
        if query.among is not None:
            among = {"$in": sorted(d.value for d in query.among)}
            conditions["_id"] = {**conditions.get("_id", {}), **among}
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


def _doctor_matches(query: DoctorQuery, doctor: Doctor) -> bool:
    keys = search_keys(doctor)
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
        and (query.among is None or doctor.id in query.among)
    )


class MongoAvailabilityRepository(AvailabilityRepository):
    aggregate_type = "availability"

    def __init__(self, store: MongoStore, doctors: MongoDoctorRepository) -> None:
        super().__init__()
        self._collection = store.collection(AGGREGATE_COLLECTIONS[self.aggregate_type])
        self._doctors = doctors
        self.pending: dict[str, Change[Availability]] = {}

    @translated
    def _get(self, doctor_id: DoctorId) -> Availability | None:
        key = doctor_id.value
        change = self.pending.get(key)
        if change is not None:
            return evolve(change.value)
        if key in self._doctors.availability_read:  # read with the doctor, once
            document = self._doctors.availability_read.pop(key)
        else:
            document = self._collection.find_one({"_id": key})
        return None if document is None else from_document(document, Availability, "doctor_id")

    @translated
    def _save(self, availability: Availability) -> Availability:
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
        self.pending[key] = Change(stored, expected, previous)
        return evolve(stored)

    def flush(self, undo: list[Undo], events: EventsToWrite) -> None:
        for key, change in self.pending.items():
            document = to_document(change.value, "doctor_id")
            outbox = events.take(self.aggregate_type, key)
            if change.expected_version is None:
                try:
                    insert_with_events(self._collection, document, outbox)
                except DuplicateKeyError as error:
                    raise ConcurrencyError(
                        f"availability of {key} was created meanwhile"
                    ) from error
                undo.append(undo_insert(self._collection, key, document["version"]))
                continue
            written = update_with_events(
                self._collection, key, change.expected_version, document, outbox
            )
            if not written:
                raise ConcurrencyError(f"availability of {key} changed since it was read")
            assert change.previous is not None
            undo.append(undo_replace(self._collection, key, document["version"], change.previous))


# -- appointments ----------------------------------------------------------------------------


class MongoIdempotencyRepository(IdempotencyRepository):
    """Records in ``idempotency``, unique on ``(scope, key)`` by index. Written at commit
    right after the appointments: see ``docs/mongodb.md`` for what a crash in between leaves."""

    def __init__(self, store: MongoStore) -> None:
        self._collection = store.collection("idempotency")
        self.pending: dict[tuple[str, str], IdempotencyRecord] = {}

    @translated
    def add(self, record: IdempotencyRecord) -> None:
        # A key stored already is refused by the unique index at commit; no read here.
        if (record.scope, record.key) in self.pending:
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
            undo.append(undo_delete(self._collection, written.inserted_id))
