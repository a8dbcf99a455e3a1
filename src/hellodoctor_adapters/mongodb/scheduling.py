"""Scheduling repositories over MongoDB: doctors, patients, availability, appointments and
idempotency records.

Reads see this unit of work's own pending writes laid over the server's documents; writes are
buffered until commit (``uow.py`` tells the whole story), except the appointments' claims,
pushed at ``add``/``update`` (``claims.py``), and the cheap early checks that only fail fast.
Each write carries the aggregate's events in an ``_outbox`` array (``store.EventsToWrite``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime

from attrs import evolve
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from hellodoctor_adapters.mongodb.claims import Claim, Scope, Wanted, cells
from hellodoctor_adapters.mongodb.documents import (
    Document,
    appointment_from_document,
    appointment_to_document,
    floor_ms,
    from_document,
    from_micros,
    normalise_instants,
    search_keys,
    to_document,
    to_micros,
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
    BackendUnavailable,
    ConcurrencyError,
    NotFound,
    PortError,
)
from hellodoctor_domain.model.appointment import ACTIVE_STATUSES, Appointment, AppointmentStatus
from hellodoctor_domain.model.availability import Availability
from hellodoctor_domain.model.profiles import Doctor
from hellodoctor_domain.model.values import AppointmentId, DoctorId, PatientId, TimeRange
from hellodoctor_domain.ports.scheduling import (
    AppointmentQuery,
    AppointmentRepository,
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
        and (query.series_id is None or a.series_id == query.series_id)
    )


class MongoAppointmentRepository(AppointmentRepository):
    aggregate_type = "appointment"

    def __init__(
        self,
        store: MongoStore,
        token: str,
        doctors: MongoDoctorRepository,
        patients: MongoPatientRepository,
    ) -> None:
        super().__init__()
        self._store = store
        self._collection = store.collection(AGGREGATE_COLLECTIONS[self.aggregate_type])
        self._token = token
        self._doctors = doctors
        self._patients = patients
        self.pending: dict[str, Change[Appointment]] = {}
        self.claimed: list[Claim] = []
        self.ranges_claimed: set[tuple[str, Scope, str, TimeRange]] = set()

    # -- writes ----------------------------------------------------------------------------

    @translated
    def _add(self, appointment: Appointment) -> None:
        key = appointment.id.value
        # A taken id is refused by the unique _id at commit (``_refused_insert``); no read.
        if key in self.pending:
            raise AlreadyExists(f"appointment {key} exists")
        # Fail fast only (a doctor or patient this unit of work has read is not read again).
        if not self._doctors.exists(appointment.doctor_id.value):
            raise NotFound(f"no doctor {appointment.doctor_id}")
        if not self._patients.exists(appointment.patient_id.value):
            raise NotFound(f"no patient {appointment.patient_id}")
        normalise_instants(appointment)
        stored = evolve(appointment, version=1)
        self._claim(stored, None)
        self.pending[key] = Change(stored, None, None)

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
        stored = evolve(appointment, version=appointment.version + 1)
        self._claim(stored, None if previous is None else appointment_from_document(previous))
        self.pending[key] = Change(stored, expected, previous)

    def _claim(self, appointment: Appointment, on_server: Appointment | None) -> None:
        """Push claims for whatever ``appointment`` occupies that its stored version (or an
        earlier claim of this unit of work) does not already hold: every cell at once, in one
        command when nothing is in the way (``ClaimBook.claim_all``)."""
        if not appointment.is_active:
            return
        key = appointment.id.value
        ending = [k for k, change in self.pending.items() if not change.value.is_active]
        held = set(_ranges(on_server)) if on_server is not None and on_server.is_active else set()
        missing = [
            (scope, owner, time_range)
            for scope, owner, time_range in _ranges(appointment)
            if (scope, owner, time_range) not in held
            and (key, scope, owner, time_range) not in self.ranges_claimed
        ]
        made = self._store.claims.claim_all(
            [
                Wanted(scope, owner, to_micros(time_range.start), to_micros(time_range.end))
                for scope, owner, time_range in missing
            ],
            key,
            version=appointment.version,
            token=self._token,
            exempt=ending,
        )
        self.claimed.extend(made)
        self.ranges_claimed.update((key, scope, owner, r) for scope, owner, r in missing)

    # -- reads -----------------------------------------------------------------------------

    @translated
    def _get(self, appointment_id: AppointmentId) -> Appointment:
        change = self.pending.get(appointment_id.value)
        if change is not None:
            return evolve(change.value)
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
                found[key] = evolve(change.value)
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
    def _busy_times(self, doctor_id: DoctorId, period: TimeRange, now: datetime) -> list[TimeRange]:
        # _for_doctor's query, projected to what decides the range: no appointment is built.
        query = {"doctor_id": doctor_id.value, "status": {"$in": _ACTIVE}}
        query["time.start_us"] = {"$lt": to_micros(period.end)}
        query["blocked_end_us"] = {"$gt": to_micros(period.start)}
        found: dict[str, TimeRange] = {}
        for item in self._collection.find(query, _BUSY_FIELDS):
            lapses = item.get("hold_expires_at") if item["status"] == _HELD else None
            if lapses is None or now < lapses:
                start, end = item["time"]["start_us"], item["blocked_end_us"]
                found[item["_id"]] = TimeRange(from_micros(start), from_micros(end))
        for key, change in self.pending.items():  # this unit of work's own writes win
            found.pop(key, None)
            mine = change.value
            if (
                mine.doctor_id == doctor_id
                and mine.blocked.overlaps(period)
                and mine.blocks_time_at(now)
            ):
                found[key] = mine.blocked
        return sorted(found.values(), key=lambda busy: (busy.start, busy.end))

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
        if query.series_id is not None:
            conditions["series_id"] = query.series_id.value
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
                found[key] = evolve(change.value)
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
                found[key] = evolve(change.value)
        ordered = sorted(found.values(), key=lambda a: (a.hold_expires_at or now, a.id))
        return ordered[:limit]

    # -- commit ----------------------------------------------------------------------------

    def flush(self, undo: list[Undo], events: EventsToWrite) -> None:
        """Write the pending appointments: those that end first, then updates, then inserts."""

        def order(item: tuple[str, Change[Appointment]]) -> int:
            change = item[1]
            if change.expected_version is None:
                return 2
            return 1 if change.value.is_active else 0

        for key, change in sorted(self.pending.items(), key=order):
            document = appointment_to_document(change.value)
            outbox = events.take(self.aggregate_type, key)
            if change.expected_version is None:
                try:
                    insert_with_events(self._collection, document, outbox)
                except DuplicateKeyError as error:
                    raise self._refused_insert(key) from error
                undo.append(undo_insert(self._collection, key, document["version"]))
                continue
            written = update_with_events(
                self._collection, key, change.expected_version, document, outbox
            )
            if not written:
                raise ConcurrencyError(f"appointment {key} changed since it was read")
            assert change.previous is not None
            undo.append(undo_replace(self._collection, key, change.value.version, change.previous))

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
        need (their old time, or all once they end)."""
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

    def release_claims(self) -> None:
        self._store.claims.release(self.claimed)
        self.claimed.clear()


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
