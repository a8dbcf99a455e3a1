"""Hospital storage on MongoDB: the hospital repository, the bed ledger and the transfers.

Hospitals and transfers are buffered like the profiles (``store.Profiles``): an insert under
the unique ``_id`` (and, for hospitals, the unique ``registration_number`` index), updates a
compare-and-set on ``version``, at commit.

Bed counts: one document per ``(hospital, ward, bed type)`` holding ``capacity``, ``occupied``
and ``free`` (``capacity - occupied``, so that no condition needs to compare two fields). A
unit of work's admissions and discharges are buffered and applied at commit, each count's net
change by **one conditional single-document update**: ``{free: {$gte: n}}`` for taking ``n``
beds, ``{occupied: {$gte: n}}`` for giving them back, with ``$inc`` on both fields. The server
applies it atomically, so forty racing admissions for ten free beds find exactly ten matches.
Beds are taken before any other write of the unit of work and given back after all of them
(as wallet debits and credits are): a crash in between can leave a bed counted as occupied,
never a bed handed out twice. Reads here fail fast only.
"""

from __future__ import annotations

from collections.abc import Sequence

from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from hellodoctor_adapters.crypto import FieldCipher
from hellodoctor_adapters.hospital_records import (
    admission_from,
    admission_record,
    hospital_from,
    profile_record,
    transfer_from,
    transfer_record,
)
from hellodoctor_adapters.mongodb.documents import Document
from hellodoctor_adapters.mongodb.store import (
    AGGREGATE_COLLECTIONS,
    MongoStore,
    Profiles,
    Undo,
    translated,
)
from hellodoctor_adapters.phi import ADMISSIONS, TRANSFERS, open_fields, seal_fields
from hellodoctor_domain.errors import NoBedAvailable
from hellodoctor_domain.model.admissions import AdmissionRecord
from hellodoctor_domain.model.hospitals import BedType, Hospital
from hellodoctor_domain.model.transfers import Transfer
from hellodoctor_domain.model.values import AdmissionId, HospitalId, PatientId, TransferId
from hellodoctor_domain.ports.hospitals import (
    AdmissionRepository,
    BedCount,
    BedLedger,
    HospitalRepository,
    TransferRepository,
)

BedKey = tuple[str, str, str]


class MongoHospitalRepository(Profiles[Hospital], HospitalRepository):
    kind = Hospital
    label = "hospital"
    aggregate_type = "hospital"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, AGGREGATE_COLLECTIONS[self.aggregate_type])

    def _document(self, value: Hospital) -> Document:
        return {
            "_id": value.id.value,
            "registration_number": value.registration_number,
            "_city": value.address.city.casefold(),
            "profile": profile_record(value),
            "version": value.version,
        }

    def _current(self, key: str) -> Hospital | None:
        change = self.pending.get(key)
        if change is not None:
            return _copy(change.value)
        document = self._read(key)
        return None if document is None else _hospital(document)

    @translated
    def _add(self, hospital: Hospital) -> None:
        self._stage_add(hospital)

    @translated
    def _get(self, hospital_id: HospitalId) -> Hospital:
        return self._find(hospital_id.value)

    @translated
    def _update(self, hospital: Hospital) -> None:
        self._stage_update(hospital)

    @translated
    def _list(self, city: str | None) -> Sequence[Hospital]:
        query: Document = {} if city is None else {"_city": city.casefold()}
        found = {d["_id"]: _hospital(d) for d in self._collection.find(query)}
        for key, change in self.pending.items():
            if city is None or change.value.address.city.casefold() == city.casefold():
                found[key] = _copy(change.value)
        return [found[key] for key in sorted(found)]


class MongoTransferRepository(Profiles[Transfer], TransferRepository):
    kind = Transfer
    label = "transfer"
    aggregate_type = "transfer"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, AGGREGATE_COLLECTIONS[self.aggregate_type])
        self._cipher = store.cipher  # reason and steps are sealed: phi.TRANSFERS

    def _document(self, value: Transfer) -> Document:
        record = seal_fields(self._cipher, TRANSFERS, value.id.value, transfer_record(value))
        return {
            "_id": value.id.value,
            "from_hospital_id": value.from_hospital_id.value,
            "to_hospital_id": value.to_hospital_id.value,
            "record": record,
            "version": value.version,
        }

    def _current(self, key: str) -> Transfer | None:
        change = self.pending.get(key)
        if change is not None:
            return _transfer(self._document(change.value), self._cipher)
        document = self._read(key)
        return None if document is None else _transfer(document, self._cipher)

    @translated
    def _add(self, transfer: Transfer) -> None:
        self._stage_add(transfer)

    @translated
    def _get(self, transfer_id: TransferId) -> Transfer:
        return self._find(transfer_id.value)

    @translated
    def _update(self, transfer: Transfer) -> None:
        self._stage_update(transfer)

    @translated
    def _of_hospital(self, hospital_id: HospitalId) -> Sequence[Transfer]:
        mine = {
            "$or": [{"from_hospital_id": hospital_id.value}, {"to_hospital_id": hospital_id.value}]
        }
        found = {d["_id"]: _transfer(d, self._cipher) for d in self._collection.find(mine)}
        for key, change in self.pending.items():
            if hospital_id in (change.value.from_hospital_id, change.value.to_hospital_id):
                found[key] = _transfer(self._document(change.value), self._cipher)
        return sorted(found.values(), key=lambda t: (t.history[0].at, t.id))


def _transfer(document: Document, cipher: FieldCipher) -> Transfer:
    return transfer_from(
        document["_id"],
        document["from_hospital_id"],
        document["to_hospital_id"],
        document["version"],
        open_fields(cipher, TRANSFERS, str(document["_id"]), document["record"]),
    )


def _hospital(document: Document) -> Hospital:
    return hospital_from(
        document["_id"], document["registration_number"], document["version"], document["profile"]
    )


def _copy(hospital: Hospital) -> Hospital:
    return hospital_from(
        hospital.id.value, hospital.registration_number, hospital.version, profile_record(hospital)
    )


def _key(hospital_id: HospitalId, ward_code: str, bed_type: BedType) -> BedKey:
    return (hospital_id.value, ward_code, bed_type.value)


def _id(key: BedKey) -> Document:
    return {"h": key[0], "w": key[1], "t": key[2]}


class MongoBedLedger(BedLedger):
    def __init__(self, store: MongoStore) -> None:
        self._beds: Collection[Document] = store.collection("ward_beds")
        self._capacities: dict[BedKey, int] = {}
        self._moves: dict[BedKey, int] = {}

    @translated
    def provide(
        self, hospital_id: HospitalId, ward_code: str, bed_type: BedType, capacity: int
    ) -> None:
        key = _key(hospital_id, ward_code, bed_type)
        count = self._count(key)
        if count is not None and count.occupied > capacity:  # fails fast; the write decides
            raise NoBedAvailable(f"{count.occupied} {bed_type} beds are occupied in {ward_code}")
        self._capacities[key] = capacity

    @translated
    def occupy(self, hospital_id: HospitalId, ward_code: str, bed_type: BedType) -> None:
        self._move(_key(hospital_id, ward_code, bed_type), +1)

    @translated
    def release(self, hospital_id: HospitalId, ward_code: str, bed_type: BedType) -> None:
        self._move(_key(hospital_id, ward_code, bed_type), -1)

    def _move(self, key: BedKey, delta: int) -> None:
        count = self._count(key)
        moved = self._moves.get(key, 0) + delta
        if count is None or not 0 <= count.occupied + delta <= count.capacity:
            raise NoBedAvailable(f"ward {key[1]} of {key[0]} has no {key[2]} bed to change")
        self._moves[key] = moved

    def _count(self, key: BedKey) -> BedCount | None:
        """The count as this unit of work sees it (its own pending changes laid over)."""
        document = self._beds.find_one({"_id": _id(key)})
        capacity = self._capacities.get(key, None if document is None else document["capacity"])
        if capacity is None:
            return None
        occupied = (0 if document is None else document["occupied"]) + self._moves.get(key, 0)
        return BedCount(key[1], BedType(key[2]), capacity, occupied)

    @translated
    def counts(self, hospital_id: HospitalId) -> list[BedCount]:
        keys = {
            (d["_id"]["h"], d["_id"]["w"], d["_id"]["t"])
            for d in self._beds.find({"_id.h": hospital_id.value})
        }
        keys.update(key for key in self._capacities if key[0] == hospital_id.value)
        found = [self._count(key) for key in sorted(keys, key=lambda k: (k[1], k[2]))]
        return [count for count in found if count is not None]

    # -- at commit (uow.py) ----------------------------------------------------------------

    def flush_capacities(self, undo: list[Undo]) -> None:
        for key, capacity in self._capacities.items():
            undo.append(_set_capacity(self._beds, key, capacity))

    def flush_takes(self, undo: list[Undo]) -> None:
        for key, delta in self._moves.items():
            if delta > 0:
                undo.append(_apply(self._beds, key, delta))

    def flush_returns(self, undo: list[Undo]) -> None:
        for key, delta in self._moves.items():
            if delta < 0:
                undo.append(_apply(self._beds, key, delta))


def _apply(beds: Collection[Document], key: BedKey, delta: int) -> Undo:
    """Take (``delta > 0``) or give back beds by one conditional update, or raise."""
    condition = {"free": {"$gte": delta}} if delta > 0 else {"occupied": {"$gte": -delta}}
    written = beds.update_one(
        {"_id": _id(key), **condition}, {"$inc": {"occupied": delta, "free": -delta}}
    )
    if not written.matched_count:
        raise NoBedAvailable(f"ward {key[1]} of {key[0]} has no {key[2]} bed to change")

    def undo() -> None:
        back = {"free": {"$gte": -delta}} if delta < 0 else {"occupied": {"$gte": delta}}
        beds.update_one({"_id": _id(key), **back}, {"$inc": {"occupied": -delta, "free": delta}})

    return undo


def _set_capacity(beds: Collection[Document], key: BedKey, capacity: int) -> Undo:
    """Compare-and-set on ``occupied`` (so ``free`` stays ``capacity - occupied``), retried
    while admissions move the count; a new count is inserted under its unique ``_id``."""
    while True:
        current = beds.find_one({"_id": _id(key)})
        if current is None:
            try:
                beds.insert_one(
                    {"_id": _id(key), "capacity": capacity, "occupied": 0, "free": capacity}
                )
            except DuplicateKeyError:
                continue
            return lambda: None  # a fresh count holds no admissions; keeping it is harmless
        occupied = current["occupied"]
        if occupied > capacity:
            raise NoBedAvailable(f"{occupied} {key[2]} beds are occupied in ward {key[1]}")
        written = beds.update_one(
            {"_id": _id(key), "occupied": occupied},
            {"$set": {"capacity": capacity, "free": capacity - occupied}},
        )
        if written.matched_count:

            def undo(previous: int = current["capacity"]) -> None:
                _set_capacity(beds, key, previous)

            return undo


class MongoAdmissionRepository(Profiles[AdmissionRecord], AdmissionRepository):
    kind = AdmissionRecord
    label = "admission"
    aggregate_type = "admission"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, AGGREGATE_COLLECTIONS[self.aggregate_type])
        self._cipher = store.cipher  # ward and bed type are sealed: phi.ADMISSIONS

    def _document(self, value: AdmissionRecord) -> Document:
        record = seal_fields(self._cipher, ADMISSIONS, value.id.value, admission_record(value))
        return {
            "_id": value.id.value,
            "hospital_id": value.hospital_id.value,
            "patient_id": value.patient_id.value,
            "record": record,
            "version": value.version,
        }

    def _current(self, key: str) -> AdmissionRecord | None:
        change = self.pending.get(key)
        if change is not None:
            return _admission(self._document(change.value), self._cipher)
        document = self._read(key)
        return None if document is None else _admission(document, self._cipher)

    @translated
    def _add(self, admission: AdmissionRecord) -> None:
        self._stage_add(admission)

    @translated
    def _get(self, admission_id: AdmissionId) -> AdmissionRecord:
        return self._find(admission_id.value)

    @translated
    def _update(self, admission: AdmissionRecord) -> None:
        self._stage_update(admission)

    @translated
    def _of_hospital(self, hospital_id: HospitalId) -> Sequence[AdmissionRecord]:
        return self._where("hospital_id", hospital_id.value)

    @translated
    def _of_patient(self, patient_id: PatientId) -> Sequence[AdmissionRecord]:
        return self._where("patient_id", patient_id.value)

    def _where(self, field: str, value: str) -> list[AdmissionRecord]:
        stored = self._collection.find({field: value})
        found = {d["_id"]: _admission(d, self._cipher) for d in stored}
        for key, change in self.pending.items():
            document = self._document(change.value)
            if document[field] == value:
                found[key] = _admission(document, self._cipher)
        return sorted(found.values(), key=lambda a: (a.admitted_at, a.id.value))


def _admission(document: Document, cipher: FieldCipher) -> AdmissionRecord:
    return admission_from(
        document["_id"],
        document["hospital_id"],
        document["patient_id"],
        document["version"],
        open_fields(cipher, ADMISSIONS, str(document["_id"]), document["record"]),
    )
