"""The doctor search on MongoDB: for now the memory reference's rules over the doctors read
from the database (a stopgap, docs/search.md: a text index and an aggregation pipeline are
still to come). The insurance schemes and the next free slot summaries are written at once
(``doctor_schemes``, ``doctor_free_slots``), not at the unit of work's commit: a summary is
derived data that the newest computation replaces, and accepting schemes is one write."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

from pymongo.errors import DuplicateKeyError

from hellodoctor_adapters.memory.search import current, hit_matches, page, rank
from hellodoctor_adapters.mongodb.store import MongoStore
from hellodoctor_domain.model.values import DoctorId, SchemeId
from hellodoctor_domain.ports.reviews import RatingLedger
from hellodoctor_domain.ports.scheduling import DoctorRepository
from hellodoctor_domain.ports.search import DoctorDirectory, DoctorSearch, FreeSlots, SearchHit


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class MongoDoctorDirectory(DoctorDirectory):
    def __init__(self, store: MongoStore, doctors: DoctorRepository, ratings: RatingLedger) -> None:
        self._schemes = store.collection("doctor_schemes")
        self._free = store.collection("doctor_free_slots")
        self._doctors = doctors
        self._ratings = ratings

    def _summary(self, document: dict | None) -> FreeSlots | None:  # type: ignore[type-arg]
        if document is None:
            return None
        return FreeSlots(
            DoctorId(document["_id"]),
            _aware(document["computed_at"]),  # type: ignore[arg-type]
            _aware(document["next_free"]),
            {date.fromisoformat(d) for d in document["free_days"]},
        )

    def search(self, query: DoctorSearch, now: datetime) -> list[SearchHit]:
        doctors = self._doctors.list()
        ids = [d.id for d in doctors]
        ratings = self._ratings.ratings(ids)
        summaries = {d["_id"]: d for d in self._free.find({})}
        schemes = {
            d["_id"]: frozenset(SchemeId(s) for s in d["schemes"]) for d in self._schemes.find({})
        }
        hits = []
        for doctor in doctors:
            rating = ratings[doctor.id]
            summary = current(self._summary(summaries.get(doctor.id.value)), now)
            hit = SearchHit(
                doctor,
                rating.count,
                rating.total,
                summary.next_free if summary else None,
                rank(doctor, query.text) if query.text else 0.0,
            )
            accepted = schemes.get(doctor.id.value, frozenset())
            if hit_matches(hit, query, accepted, summary):
                hits.append(hit)
        return page(hits, query)

    def accept_schemes(self, doctor_id: DoctorId, schemes: Iterable[SchemeId]) -> None:
        chosen = sorted({s.value for s in schemes})
        self._schemes.replace_one({"_id": doctor_id.value}, {"schemes": chosen}, upsert=True)

    def schemes(self, doctor_id: DoctorId) -> frozenset[SchemeId]:
        found = self._schemes.find_one({"_id": doctor_id.value})
        return frozenset(SchemeId(s) for s in (found or {}).get("schemes", ()))

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

    def stale(self, computed_before: datetime, now: datetime, limit: int) -> Sequence[DoctorId]:
        summaries = {d["_id"]: self._summary(d) for d in self._free.find({})}
        found = []
        for doctor in self._doctors.list():
            summary = summaries.get(doctor.id.value)
            if (
                summary is None
                or summary.computed_at < computed_before
                or (summary.next_free is not None and summary.next_free < now)
            ):
                found.append(
                    (summary is not None, summary.computed_at if summary else now, doctor.id)
                )
        found.sort(key=lambda f: (f[0], f[1], f[2].value))
        return [f[2] for f in found[:limit]]
