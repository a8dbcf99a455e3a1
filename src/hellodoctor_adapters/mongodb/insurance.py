"""Insurance storage on MongoDB: schemes, policies and claims, buffered like the profiles
(``store.Profiles``): inserts under the unique ``_id`` at commit, updates a compare-and-set on
``version``. A claim for an appointment carries ``appointment_id`` under a unique sparse index
(a hospital's claim for a stay has none), so a second claim for one appointment fails its
insert (``AlreadyExists``) whatever the race."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

from hellodoctor_adapters.insurance_records import (
    Record,
    claim_from,
    claim_record,
    policy_from,
    policy_record,
    scheme_from,
    scheme_record,
)
from hellodoctor_adapters.mongodb.documents import Document
from hellodoctor_adapters.mongodb.store import MongoStore, Profiles, translated
from hellodoctor_adapters.phi import CLAIMS, open_fields, seal_fields
from hellodoctor_domain.errors import AlreadyExists
from hellodoctor_domain.model.insurance import Claim, Policy, Scheme
from hellodoctor_domain.model.values import PatientId, PolicyId, SchemeId
from hellodoctor_domain.ports.insurance import ClaimRepository, PolicyRepository, SchemeRepository

T = TypeVar("T")


class RecordProfiles(Profiles[T]):
    """Aggregates stored as ``{_id, record, version}`` plus the query keys ``_keys`` adds."""

    collection_name: ClassVar[str]
    to_record: ClassVar[Callable[[Any], Record]]
    from_record: ClassVar[Callable[[str, int, Record], Any]]

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, self.collection_name)

    def _keys(self, value: T) -> Document:
        return {}

    def _record(self, value: T) -> Record:
        """What ``record`` holds (a subclass seals what is health data)."""
        return type(self).to_record(value)

    def _opened(self, key: str, record: Record) -> Record:
        return record

    def _document(self, value: T) -> Document:
        return {
            "_id": self._key(value),
            "record": self._record(value),
            "version": value.version,  # type: ignore[attr-defined]
            **self._keys(value),
        }

    def _from(self, document: Document) -> T:
        record = self._opened(str(document["_id"]), document["record"])
        value: T = type(self).from_record(document["_id"], document["version"], record)
        return value

    def _current(self, key: str) -> T | None:
        change = self.pending.get(key)
        if change is not None:
            return self._from(self._document(change.value))
        document = self._read(key)
        return None if document is None else self._from(document)

    @translated
    def _add(self, value: T) -> None:
        self._stage_add(value)

    @translated
    def _get(self, key: Any) -> T:
        return self._find(key.value)

    @translated
    def _update(self, value: T) -> None:
        self._stage_update(value)

    def _where(
        self, query: Document, keep: Callable[[T], bool], order: Callable[[T], Any]
    ) -> list[T]:
        """Stored matches with this unit of work's pending writes laid over them."""
        found = {d["_id"]: self._from(d) for d in self._collection.find(query)}
        for key, change in self.pending.items():
            if keep(change.value):
                found[key] = self._from(self._document(change.value))
        return sorted(found.values(), key=order)


class MongoSchemeRepository(RecordProfiles[Scheme], SchemeRepository):
    kind, label, aggregate_type, collection_name = Scheme, "scheme", "scheme", "schemes"
    to_record, from_record = scheme_record, scheme_from

    @translated
    def _every(self) -> Sequence[Scheme]:
        return self._where({}, lambda _: True, lambda s: s.id)


class MongoPolicyRepository(RecordProfiles[Policy], PolicyRepository):
    kind, label, aggregate_type, collection_name = Policy, "policy", "policy", "policies"
    to_record, from_record = policy_record, policy_from

    def _keys(self, policy: Policy) -> Document:
        return {"patient_id": policy.patient_id.value}

    @translated
    def _of_patient(self, patient_id: PatientId) -> Sequence[Policy]:
        return self._where(
            {"patient_id": patient_id.value}, lambda p: p.patient_id == patient_id, lambda p: p.id
        )


class MongoClaimRepository(RecordProfiles[Claim], ClaimRepository):
    kind, label, aggregate_type = Claim, "claim", "claim"
    collection_name = "insurance_claims"  # "claims" holds the calendar's claim cells
    to_record, from_record = claim_record, claim_from

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store)
        self._cipher = store.cipher  # the items (ICD-10 codes) are sealed: phi.CLAIMS

    def _record(self, claim: Claim) -> Record:
        return seal_fields(self._cipher, CLAIMS, claim.id.value, claim_record(claim))

    def _opened(self, key: str, record: Record) -> Record:
        return open_fields(self._cipher, CLAIMS, key, record)

    def _keys(self, claim: Claim) -> Document:
        keys: Document = {"policy_id": claim.policy_id.value, "scheme_id": claim.scheme_id.value}
        if claim.appointment_id is not None:  # absent, not null: the unique index is sparse
            keys["appointment_id"] = claim.appointment_id.value
        return keys

    def _stage_add(self, claim: Claim) -> None:
        # Fails fast; the unique sparse index decides at commit.
        appointment = claim.appointment_id
        if appointment is not None and (
            self._collection.find_one({"appointment_id": appointment.value}, {"_id": 1})
            or any(c.value.appointment_id == appointment for c in self.pending.values())
        ):
            raise AlreadyExists(f"appointment {appointment} has a claim")
        super()._stage_add(claim)

    @translated
    def _of_policy(self, policy_id: PolicyId) -> Sequence[Claim]:
        return self._where(
            {"policy_id": policy_id.value}, lambda c: c.policy_id == policy_id, _oldest_first
        )

    @translated
    def _of_scheme(self, scheme_id: SchemeId) -> Sequence[Claim]:
        return self._where(
            {"scheme_id": scheme_id.value}, lambda c: c.scheme_id == scheme_id, _oldest_first
        )


def _oldest_first(claim: Claim) -> tuple[object, ...]:
    return (claim.submitted_at, claim.id)
