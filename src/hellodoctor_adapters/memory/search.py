"""The doctor search over the in-memory store: the reference every storage is held to
(``testing/contract_search.py``). Plain Python over every doctor: filters, then the sort key
and the id, then the keyset cursor."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from attrs import evolve

from hellodoctor_adapters.memory.store import _Journalled
from hellodoctor_domain.model.profiles import Doctor
from hellodoctor_domain.model.reviews import DoctorRating
from hellodoctor_domain.model.values import DoctorId, SchemeId
from hellodoctor_domain.ports.search import (
    DoctorDirectory,
    DoctorSearch,
    FreeSlots,
    SearchHit,
    SearchSort,
    words,
)

DESCENDING = (SearchSort.RELEVANCE, SearchSort.RATING)


def searchable_words(doctor: Doctor) -> list[str]:
    """The words the free text is matched against: name, specialty, qualifications."""
    return list(words(" ".join((doctor.name, doctor.specialty, *doctor.qualifications))))


def current(summary: FreeSlots | None, now: datetime) -> FreeSlots | None:
    """A summary whose next free slot has not passed (a passed one counts as none)."""
    if summary is None or summary.next_free is None or summary.next_free < now:
        return None
    return summary


def rank(doctor: Doctor, text: str) -> float:
    """How often the asked words occur, over the document's length (higher is better)."""
    found = searchable_words(doctor)
    asked = text.split()
    return sum(1 for w in found if any(w.startswith(a) for a in asked)) / (1 + len(found))


def text_matches(doctor: Doctor, text: str) -> bool:
    """Every asked word begins one of the doctor's words."""
    found = searchable_words(doctor)
    return all(any(w.startswith(asked) for w in found) for asked in text.split())


def hit_matches(
    hit: SearchHit, query: DoctorSearch, schemes: frozenset[SchemeId], summary: FreeSlots | None
) -> bool:
    doctor = hit.doctor
    fee = doctor.consultation_fee
    checks = (
        query.specialty is None or doctor.specialty.casefold() == query.specialty.casefold(),
        query.language is None
        or query.language.casefold() in {x.casefold() for x in doctor.languages},
        query.text is None or text_matches(doctor, query.text),
        query.accepting_bookings is None or doctor.accepting_bookings == query.accepting_bookings,
        query.among is None or doctor.id in query.among,
        query.scheme_id is None or query.scheme_id in schemes,
        query.fee_currency is None or fee.currency == query.fee_currency,
        query.fee_min is None or fee.minor_units >= query.fee_min,
        query.fee_max is None or fee.minor_units <= query.fee_max,
        query.min_rating is None or hit.average >= query.min_rating,
        query.free_on is None or (summary is not None and query.free_on in summary.free_days),
        query.free_before is None
        or (
            summary is not None
            and summary.next_free is not None
            and summary.next_free < query.free_before
        ),
        query.sort is not SearchSort.EARLIEST or summary is not None,
    )
    return all(checks)


def after_cursor(hit: SearchHit, query: DoctorSearch) -> bool:
    if query.after is None:
        return True
    key, last_id = query.after
    mine = hit.key(query.sort)
    if mine == key:
        return hit.doctor.id.value > last_id
    if query.sort in DESCENDING:
        return mine < key  # type: ignore[operator]
    return mine > key  # type: ignore[operator]


def page(matching: Iterable[SearchHit], query: DoctorSearch) -> list[SearchHit]:
    """The page of ``matching`` (every hit meeting the filters): for relevance only the
    ``rank_among`` best rated are ranked; then the cursor, the order and the limit."""
    found = list(matching)
    if query.sort is SearchSort.RELEVANCE:
        found = sorted(found, key=lambda h: (-h.average, h.doctor.id.value))[: query.rank_among]
    return order((hit for hit in found if after_cursor(hit, query)), query)[: query.limit]


def order(hits: Iterable[SearchHit], query: DoctorSearch) -> list[SearchHit]:
    sign = -1 if query.sort in DESCENDING else 1
    if query.sort in (SearchSort.ID, SearchSort.EARLIEST):
        return sorted(hits, key=lambda h: (h.key(query.sort), h.doctor.id.value))
    return sorted(hits, key=lambda h: (sign * h.key(query.sort), h.doctor.id.value))


class InMemoryDoctorDirectory(_Journalled, DoctorDirectory):
    def search(self, query: DoctorSearch, now: datetime) -> list[SearchHit]:
        hits = []
        for doctor in self._store.doctors.values():
            rating = self._store.ratings.get(doctor.id, DoctorRating(doctor.id))
            summary = current(self._store.free_slots.get(doctor.id), now)
            hit = SearchHit(
                evolve(doctor),
                rating.count,
                rating.total,
                summary.next_free if summary else None,
                rank(doctor, query.text) if query.text else 0.0,
            )
            schemes = self._store.doctor_schemes.get(doctor.id, frozenset())
            if hit_matches(hit, query, schemes, summary):
                hits.append(hit)
        return page(hits, query)

    def accept_schemes(self, doctor_id: DoctorId, schemes: Iterable[SchemeId]) -> None:
        self._put(self._store.doctor_schemes, doctor_id, frozenset(schemes))

    def schemes(self, doctor_id: DoctorId) -> frozenset[SchemeId]:
        return self._store.doctor_schemes.get(doctor_id, frozenset())

    def record_free_slots(self, slots: FreeSlots) -> None:
        stored = self._store.free_slots.get(slots.doctor_id)
        if stored is None or stored.computed_at <= slots.computed_at:
            self._put(self._store.free_slots, slots.doctor_id, slots)

    def stale(self, computed_before: datetime, now: datetime, limit: int) -> Sequence[DoctorId]:
        def age(doctor_id: DoctorId) -> tuple[int, datetime, str]:
            summary = self._store.free_slots.get(doctor_id)
            if summary is None:
                return (0, now, doctor_id.value)
            return (1, summary.computed_at, doctor_id.value)

        found = []
        for doctor_id in self._store.doctors:
            summary = self._store.free_slots.get(doctor_id)
            if (
                summary is None
                or summary.computed_at < computed_before
                or (summary.next_free is not None and summary.next_free < now)
            ):
                found.append(doctor_id)
        return sorted(found, key=age)[:limit]
