"""The appointments' repository on MongoDB: the claim protocol's writes (docs/mongodb.md), the
calendar reads and the busy ranges of slot listing. Split from ``scheduling.py`` when it passed
600 lines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from attrs import evolve
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from hellodoctor_adapters.mongodb.claims import Claim, Scope, Wanted, cells
from hellodoctor_adapters.mongodb.documents import (
    Document,
    appointment_from_document,
    appointment_to_document,
    from_micros,
    normalise_instants,
    to_micros,
)

# The patients' repository has its own module; still importable from here.
from hellodoctor_adapters.mongodb.patients import MongoPatientRepository as MongoPatientRepository
from hellodoctor_adapters.mongodb.scheduling import MongoDoctorRepository
from hellodoctor_adapters.mongodb.store import (
    AGGREGATE_COLLECTIONS,
    Change,
    EventsToWrite,
    MongoStore,
    Undo,
    insert_with_events,
    translated,
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
from hellodoctor_domain.model.values import AppointmentId, DoctorId, PatientId, TimeRange
from hellodoctor_domain.ports.scheduling import (
    AppointmentQuery,
    AppointmentRepository,
)

_ACTIVE = [status.value for status in ACTIVE_STATUSES]
_HELD = AppointmentStatus.HELD.value
_BUSY_FIELDS = {"time.start_us": 1, "blocked_end_us": 1, "status": 1, "hold_expires_at": 1}
_AVAILABILITY = "_availability_read"  # where a doctor's read carries its availability
_NOT_REVOKED = {"_revoked": {"$exists": False}}


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
