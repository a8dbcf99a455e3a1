"""Break-glass grants and emergency cards on MongoDB, buffered like the other profiles
(``store.Profiles``): inserts under the unique ``_id`` (and, for cards, the unique
``token_digest`` index), updates a compare-and-set on ``version``, at commit. A grant's
``EmergencyAccessGranted`` event rides in its own insert (``_outbox``), as every aggregate's."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import ASCENDING

from hellodoctor_adapters.clinical_records import card_from, card_record, grant_from, grant_record
from hellodoctor_adapters.mongodb.documents import Document, to_micros
from hellodoctor_adapters.mongodb.store import (
    AGGREGATE_COLLECTIONS,
    MongoStore,
    Profiles,
    translated,
)
from hellodoctor_adapters.phi import health_id_lookups
from hellodoctor_domain.model.emergency import (
    EmergencyCard,
    EmergencyCardId,
    EmergencyGrant,
    EmergencyGrantId,
)
from hellodoctor_domain.model.values import PatientId
from hellodoctor_domain.ports.emergency import EmergencyCardRepository, EmergencyGrantRepository


def _grant(document: Document) -> EmergencyGrant:
    return grant_from(
        document["_id"], document["patient_id"], document["version"], document["record"]
    )


def _card(document: Document) -> EmergencyCard:
    return card_from(
        document["_id"],
        document["patient_id"],
        document["token_digest"],
        document["version"],
        document["record"],
    )


class MongoEmergencyGrantRepository(Profiles[EmergencyGrant], EmergencyGrantRepository):
    kind = EmergencyGrant
    label = "emergency access"
    aggregate_type = "emergency_grant"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, AGGREGATE_COLLECTIONS[self.aggregate_type])
        self._patients = store.collection("patients")
        self._cipher = store.cipher

    def _document(self, value: EmergencyGrant) -> Document:
        return {
            "_id": value.id.value,
            "patient_id": value.patient_id.value,
            "granted_us": to_micros(value.granted_at),
            "reviewed": value.reviewed_at is not None,
            "record": grant_record(value),
            "version": value.version,
        }

    def _current(self, key: str) -> EmergencyGrant | None:
        change = self.pending.get(key)
        if change is not None:
            return _grant(self._document(change.value))
        document = self._read(key)
        return None if document is None else _grant(document)

    @translated
    def _add(self, grant: EmergencyGrant) -> None:
        self._stage_add(grant)

    @translated
    def _get(self, grant_id: EmergencyGrantId) -> EmergencyGrant:
        return self._find(grant_id.value)

    @translated
    def _update(self, grant: EmergencyGrant) -> None:
        self._stage_update(grant)

    @translated
    def _unreviewed(self, limit: int) -> Sequence[EmergencyGrant]:
        found = self._collection.find({"reviewed": False}).sort(
            [("granted_us", ASCENDING), ("_id", ASCENDING)]
        )
        return [_grant(d) for d in found.limit(limit)]

    @translated
    def patient_with_health_id(self, health_id: str) -> PatientId | None:
        # By the blind index: the health ID itself is sealed (phi.PATIENTS).
        indexes = health_id_lookups(self._cipher, health_id)
        query = {"_health_id_index": {"$in": indexes}}
        found = list(self._patients.find(query, {"_id": 1}).limit(2))
        return PatientId(found[0]["_id"]) if len(found) == 1 else None


class MongoEmergencyCardRepository(Profiles[EmergencyCard], EmergencyCardRepository):
    kind = EmergencyCard
    label = "emergency card"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, "emergency_cards")

    def _document(self, value: EmergencyCard) -> Document:
        return {
            "_id": value.id.value,
            "patient_id": value.patient_id.value,
            "token_digest": value.token_digest,
            "created_us": to_micros(value.created_at),
            "record": card_record(value),
            "version": value.version,
        }

    def _current(self, key: str) -> EmergencyCard | None:
        change = self.pending.get(key)
        if change is not None:
            return _card(self._document(change.value))
        document = self._read(key)
        return None if document is None else _card(document)

    @translated
    def _add(self, card: EmergencyCard) -> None:
        self._stage_add(card)

    @translated
    def _get(self, card_id: EmergencyCardId) -> EmergencyCard:
        return self._find(card_id.value)

    @translated
    def _update(self, card: EmergencyCard) -> None:
        self._stage_update(card)

    @translated
    def _with_digest(self, digest: str) -> EmergencyCard | None:
        for change in self.pending.values():
            if change.value.token_digest == digest:
                return _card(self._document(change.value))
        document = self._collection.find_one({"token_digest": digest})
        return None if document is None else _card(document)

    @translated
    def _of_patient(self, patient_id: PatientId) -> Sequence[EmergencyCard]:
        found = {
            d["_id"]: _card(d) for d in self._collection.find({"patient_id": patient_id.value})
        }
        for key, change in self.pending.items():
            if change.value.patient_id == patient_id:
                found[key] = _card(self._document(change.value))
        return sorted(found.values(), key=lambda c: (c.created_at, c.id.value), reverse=True)
