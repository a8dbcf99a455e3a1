"""The doctor search on MongoDB: one ``find`` over ``doctors``, every filter a condition, the
sort key and the id the sort, the keyset cursor a range on them, under ``limit``
(docs/search.md, indexes in ``ensure_search_indexes``).

What the search reads beyond the profile is kept on each doctor's document, beside the
versioned profile fields (a profile update ``$set``s its own fields only, so these survive it):

* ``_search.words``: the case-folded words of name, specialty and qualifications, written with
  every profile write (``documents.search_keys``); each asked word is an anchored prefix regex,
  an index range on the multikey index.
* ``_rating``: ``{seq, count, total, average}``, written by the rating ledger after its atomic
  ``$inc`` (``reviews.apply_entry``), only over a lower ``seq``; no ``average`` when unrated,
  so unrated doctors sort together, last, by id.
* ``_free``: ``{computed_at, next_free, days}``, the free-slot summary, written with
  ``doctor_free_slots`` under the same newest-computation-wins condition.
* ``_schemes``: the accepted insurance schemes, written with ``doctor_schemes``.

``doctor_schemes`` stays the source of ``schemes``; ``stale`` reads the doctors' ``_free``.
The insurance schemes and the summaries are written at once, not at the unit of work's commit:
a summary is derived data that the newest computation replaces, and accepting schemes is one
write.

Relevance: the ``rank_among`` best rated matches (ties by id) are read in that order from the
database, then ranked in Python by the reference's rule (``memory.search.rank``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from hellodoctor_adapters.memory.search import page, rank
from hellodoctor_adapters.mongodb.documents import Document, from_document, search_keys
from hellodoctor_adapters.mongodb.store import MongoStore, translated
from hellodoctor_domain.model.profiles import Doctor
from hellodoctor_domain.model.values import DoctorId, SchemeId
from hellodoctor_domain.ports.search import (
    DoctorDirectory,
    DoctorSearch,
    FreeSlots,
    SearchHit,
    SearchSort,
    key_instant,
)

_WORDS = "_search.words"
_AVERAGE = "_rating.average"
_NEXT_FREE = "_free.next_free"
_FEE = "consultation_fee.minor_units"
# The field each sort orders by (then _id ascending), and whether highest first.
_SORT_FIELD = {
    SearchSort.FEE: (_FEE, False),
    SearchSort.RATING: (_AVERAGE, True),
    SearchSort.RELEVANCE: (_AVERAGE, True),  # the candidates: best rated first
    SearchSort.EARLIEST: (_NEXT_FREE, False),
}


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def rating_fields(seq: int, count: int, total: int) -> Document:
    """The ``_rating`` a doctor's document carries (no ``average`` when unrated)."""
    fields: Document = {"seq": seq, "count": count, "total": total}
    if count:
        fields["average"] = total / count  # as SearchHit.average computes it
    return fields


def free_fields(slots: FreeSlots) -> Document:
    return {
        "computed_at": slots.computed_at,
        "next_free": slots.next_free,
        "days": sorted(d.isoformat() for d in slots.free_days),
    }


@translated
def ensure_search_indexes(store: MongoStore) -> None:
    """The search's indexes, and its fields on documents written before they existed (any
    doctor without ``_search.words``): safe to run at every start-up."""
    doctors = store.collection("doctors")
    doctors.create_index(_WORDS, name="doctors_by_word")
    doctors.create_index([(_AVERAGE, DESCENDING), ("_id", ASCENDING)], name="doctors_by_rating")
    doctors.create_index([(_FEE, ASCENDING), ("_id", ASCENDING)], name="doctors_by_fee")
    doctors.create_index([(_NEXT_FREE, ASCENDING), ("_id", ASCENDING)], name="doctors_by_free")
    doctors.create_index([("_free.days", ASCENDING), ("_id", ASCENDING)], name="doctors_by_day")
    doctors.create_index([("_schemes", ASCENDING), ("_id", ASCENDING)], name="doctors_by_scheme")
    doctors.create_index(
        [("_free.computed_at", ASCENDING), ("_id", ASCENDING)], name="doctors_by_computation"
    )
    ratings = store.collection("doctor_ratings")
    free = store.collection("doctor_free_slots")
    schemes = store.collection("doctor_schemes")
    for document in doctors.find({_WORDS: {"$exists": False}}, {"_outbox": 0}):
        key = document["_id"]
        # Each copy only where none is yet (a change since would have written its own), and
        # the words last: a start-up cut short finds this doctor again.
        rating = ratings.find_one({"_id": key})
        if rating is not None:
            copy = rating_fields(rating.get("seq", 0), rating["count"], rating["total"])
            doctors.update_one(
                {"_id": key, "_rating": {"$exists": False}}, {"$set": {"_rating": copy}}
            )
        summary = free.find_one({"_id": key})
        if summary is not None:
            doctors.update_one(
                {"_id": key, "_free": {"$exists": False}},
                {
                    "$set": {
                        "_free": {
                            "computed_at": summary["computed_at"],
                            "next_free": summary["next_free"],
                            "days": summary["free_days"],
                        }
                    }
                },
            )
        accepted = schemes.find_one({"_id": key})
        if accepted is not None:
            doctors.update_one(
                {"_id": key, "_schemes": {"$exists": False}},
                {"$set": {"_schemes": accepted["schemes"]}},
            )
        doctors.update_one(
            {"_id": key, _WORDS: {"$exists": False}},
            {"$set": {"_search": search_keys(from_document(document, Doctor))}},
        )


class MongoDoctorDirectory(DoctorDirectory):
    def __init__(self, store: MongoStore) -> None:
        self._collection = store.collection("doctors")
        self._schemes = store.collection("doctor_schemes")
        self._free = store.collection("doctor_free_slots")

    @translated
    def search(self, query: DoctorSearch, now: datetime) -> list[SearchHit]:
        conditions = _conditions(query, now)
        field, descending = _SORT_FIELD.get(query.sort, ("_id", False))
        if query.sort is not SearchSort.RELEVANCE and query.after is not None:
            conditions.append(_after(query, field, descending))
        order = [("_id", ASCENDING)]
        if field != "_id":
            order.insert(0, (field, DESCENDING if descending else ASCENDING))
        limit = query.rank_among if query.sort is SearchSort.RELEVANCE else query.limit
        found = self._collection.find(
            {"$and": conditions} if conditions else {}, {"_outbox": 0}
        ).sort(order)
        hits = [_hit(document, query, now) for document in found.limit(limit)]
        if query.sort is SearchSort.RELEVANCE:
            return page(hits, query)  # the candidates ranked by the reference's rule
        return hits

    @translated
    def accept_schemes(self, doctor_id: DoctorId, schemes: Iterable[SchemeId]) -> None:
        chosen = sorted({s.value for s in schemes})
        self._schemes.replace_one({"_id": doctor_id.value}, {"schemes": chosen}, upsert=True)
        self._collection.update_one({"_id": doctor_id.value}, {"$set": {"_schemes": chosen}})

    def schemes(self, doctor_id: DoctorId) -> frozenset[SchemeId]:
        found = self._schemes.find_one({"_id": doctor_id.value})
        return frozenset(SchemeId(s) for s in (found or {}).get("schemes", ()))

    @translated
    def record_free_slots(self, slots: FreeSlots) -> None:
        document = {
            "computed_at": slots.computed_at,
            "next_free": slots.next_free,
            "free_days": sorted(d.isoformat() for d in slots.free_days),
        }
        # Only over an older summary (or none): the newest computation wins. One conditional
        # upsert; when a summary is there and newer, or another refresh inserted it first, the
        # insert half meets the _id's uniqueness and the conditional update alone decides.
        older = {"_id": slots.doctor_id.value, "computed_at": {"$lte": slots.computed_at}}
        try:
            self._free.update_one(older, {"$set": document}, upsert=True)
        except DuplicateKeyError:
            self._free.update_one(older, {"$set": document})
        # The copy the search reads, under the same condition (each write decides alone).
        self._collection.update_one(
            {
                "_id": slots.doctor_id.value,
                "$or": [
                    {"_free": {"$exists": False}},
                    {"_free.computed_at": {"$lte": slots.computed_at}},
                ],
            },
            {"$set": {"_free": free_fields(slots)}},
        )

    @translated
    def stale(self, computed_before: datetime, now: datetime, limit: int) -> Sequence[DoctorId]:
        # From the doctors' copies: a doctor whose copy is missing is refreshed, whatever
        # doctor_free_slots holds. Missing first (by id), then the oldest.
        missing = self._collection.find({"_free": {"$exists": False}}, {"_id": 1})
        found = [d["_id"] for d in missing.sort("_id", ASCENDING).limit(limit)]
        if len(found) < limit:
            old = self._collection.find(
                {
                    "$or": [
                        {"_free.computed_at": {"$lt": computed_before}},
                        {_NEXT_FREE: {"$lt": now}},
                    ]
                },
                {"_id": 1},
            ).sort([("_free.computed_at", ASCENDING), ("_id", ASCENDING)])
            found.extend(d["_id"] for d in old.limit(limit - len(found)))
        return [DoctorId(key) for key in found]


def _conditions(query: DoctorSearch, now: datetime) -> list[Document]:
    """Every filter of ``query`` as a condition on the doctor's document."""
    conditions: list[Document] = []
    if query.text is not None:
        for word in query.text.split():
            conditions.append({_WORDS: {"$regex": "^" + re.escape(word)}})
    if query.specialty is not None:
        conditions.append({"_search.specialty": query.specialty.casefold()})
    if query.language is not None:
        conditions.append({"_search.languages": query.language.casefold()})
    if query.accepting_bookings is not None:
        conditions.append({"accepting_bookings": query.accepting_bookings})
    if query.among is not None:
        conditions.append({"_id": {"$in": sorted(d.value for d in query.among)}})
    if query.scheme_id is not None:
        conditions.append({"_schemes": query.scheme_id.value})
    if query.fee_currency is not None:
        conditions.append({"consultation_fee.currency": query.fee_currency})
    if query.fee_min is not None:
        conditions.append({_FEE: {"$gte": query.fee_min}})
    if query.fee_max is not None:
        conditions.append({_FEE: {"$lte": query.fee_max}})
    if query.min_rating is not None and query.min_rating > 0:
        conditions.append({_AVERAGE: {"$gte": query.min_rating}})  # unrated count as 0
    if query.free_on is not None or query.free_before is not None:
        conditions.append({_NEXT_FREE: {"$gte": now}})  # a passed slot counts as none
    if query.free_on is not None:
        conditions.append({"_free.days": query.free_on.isoformat()})
    if query.free_before is not None:
        conditions.append({_NEXT_FREE: {"$lt": query.free_before}})
    if query.sort is SearchSort.EARLIEST:
        conditions.append({_NEXT_FREE: {"$gte": now}})
    return conditions


def _after(query: DoctorSearch, field: str, descending: bool) -> Document:
    """After the last hit: a range on the sort field, then the ties after its id."""
    assert query.after is not None
    value, last_id = query.after
    if query.sort is SearchSort.ID:
        return {"_id": {"$gt": last_id}}
    bound: Any = key_instant(str(value)) if query.sort is SearchSort.EARLIEST else value
    if query.sort is SearchSort.RATING and not bound:
        # Unrated doctors (no average) are last: only those after the id remain.
        return {_AVERAGE: None, "_id": {"$gt": last_id}}
    beyond: list[Document] = [
        {field: {"$lt" if descending else "$gt": bound}},
        {field: bound, "_id": {"$gt": last_id}},
    ]
    if query.sort is SearchSort.RATING:
        beyond.append({_AVERAGE: None})  # unrated, after every rated doctor
        return {"$or": beyond}
    # The first conjunct is one index range (as the SQL side's row comparison bounds it).
    return {field: {"$gte": bound}, "$or": beyond}


def _hit(document: Document, query: DoctorSearch, now: datetime) -> SearchHit:
    doctor = from_document(document, Doctor)
    rating = document.get("_rating") or {}
    next_free = _aware((document.get("_free") or {}).get("next_free"))
    if next_free is not None and next_free < now:
        next_free = None  # passed: none until refreshed
    return SearchHit(
        doctor,
        rating.get("count", 0),
        rating.get("total", 0),
        next_free,
        rank(doctor, query.text) if query.text else 0.0,
    )
