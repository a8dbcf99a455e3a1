"""Patients on MongoDB: profiles with their health data sealed (``phi.PATIENTS``), blind
indexes beside them, and the front desk's search (issue 17)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from attrs import evolve

from hellodoctor_adapters.mongodb.documents import (
    Document,
    from_document,
    to_document,
)
from hellodoctor_adapters.mongodb.store import (
    AGGREGATE_COLLECTIONS,
    MongoStore,
    Profiles,
    translated,
)
from hellodoctor_adapters.phi import (
    BIRTH_INDEX,
    HEALTH_ID_INDEX,
    PATIENT_EMAIL_INDEX,
    PATIENTS,
    PHONE_INDEX,
    desk_indexes,
    desk_lookups,
    health_id_index,
    open_fields,
    seal_fields,
)
from hellodoctor_domain.model.profiles import Patient
from hellodoctor_domain.model.values import PatientId
from hellodoctor_domain.ports.scheduling import (
    PatientRepository,
    PatientSearch,
)

# The most patients a desk's search reads before ordering them (docs/clinic_day.md).
_SEARCH_CAP = 500


class MongoPatientRepository(Profiles[Patient], PatientRepository):
    kind = Patient
    label = "patient"
    aggregate_type = "patient"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, AGGREGATE_COLLECTIONS[self.aggregate_type])
        self._cipher = store.cipher

    def _document(self, value: Patient) -> Document:
        # Health data sealed (phi.PATIENTS); the health ID's blind index beside it.
        document = seal_fields(self._cipher, PATIENTS, value.id.value, to_document(value))
        document["_" + HEALTH_ID_INDEX] = health_id_index(self._cipher, value.health_id)
        plain = to_document(value)
        for name, index in desk_indexes(self._cipher, plain).items():
            document["_" + name] = index
        return document

    def _value(self, document: Document) -> Patient:
        opened = open_fields(self._cipher, PATIENTS, str(document["_id"]), document)
        return from_document(opened, Patient)

    @translated
    def _add(self, patient: Patient) -> None:
        self._stage_add(patient)

    @translated
    def _get(self, patient_id: PatientId) -> Patient:
        return self._find(patient_id.value)

    @translated
    def _update(self, patient: Patient) -> None:
        self._stage_update(patient)

    @translated
    def _search(self, query: PatientSearch) -> Sequence[Patient]:
        conditions: Document = {}
        if query.name:
            conditions["name"] = {"$regex": re.escape(query.name), "$options": "i"}
        # Phone, e-mail and birth date are sealed: matched by their blind indexes.
        if query.phone is not None:
            phones = desk_lookups(self._cipher, "phone", query.phone)
            conditions["_" + PHONE_INDEX] = {"$in": phones}
        if query.email is not None:
            emails = desk_lookups(self._cipher, "email", query.email)
            conditions["_" + PATIENT_EMAIL_INDEX] = {"$in": emails}
        if query.date_of_birth is not None:
            born = query.date_of_birth.isoformat()
            births = desk_lookups(self._cipher, "date_of_birth", born)
            conditions["_" + BIRTH_INDEX] = {"$in": births}
        # Ordered in Python by the folded name (no collation is assumed of the server): a
        # desk's query is narrow, and the cap keeps the read bounded.
        cursor = self._collection.find(conditions).limit(_SEARCH_CAP)
        found = {document["_id"]: self._value(document) for document in cursor}
        for key, change in self.pending.items():
            found.pop(key, None)
            if query.matches(change.value):
                found[key] = evolve(change.value)
        return sorted(found.values(), key=query.order)[: query.limit]
