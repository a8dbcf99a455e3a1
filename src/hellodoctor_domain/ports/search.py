"""The doctor search (issue 16): filters, sorts and keyset pages over the doctors, their
maintained rating, the insurance schemes they accept and their maintained next free slot.

Every storage answers a ``DoctorSearch`` the same way as the memory reference
(``hellodoctor_adapters/memory/search.py``); the contract suite
(``hellodoctor_adapters/testing/contract_search.py``) compares them on random data.
"""

from __future__ import annotations

import abc
import enum
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

from attrs import define, field

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.profiles import Doctor
from hellodoctor_domain.model.values import DoctorId, SchemeId

# The words of a free-text query and of a doctor's searchable text: runs of letters and digits,
# case-folded. Every storage's tokenizer agrees with this on such words (PostgreSQL's
# ``simple`` configuration, SQLite's ``unicode61`` without diacritics removal; MongoDB stores
# these very words on each doctor, ``_search.words``).
_WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 8
# Sorting by relevance ranks at most this many matches: the best rated (ties by id) of the
# doctors matching every filter, so a broad text costs a bounded ranking (docs/search.md).
RANK_AMONG = 1000


def words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.casefold()))


def instant_key(moment: datetime) -> str:
    """A fixed-width UTC text: comparing two compares the instants."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def key_instant(key: str) -> datetime:
    return datetime.strptime(key, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class SearchSort(enum.StrEnum):
    ID = "id"  # the default: the profile's id, no order of preference
    RELEVANCE = "relevance"  # needs a text; best match first
    RATING = "rating"  # highest average first (unrated doctors last, as 0)
    FEE = "fee"  # lowest fee first
    EARLIEST = "earliest"  # earliest next free slot first; doctors with none are left out


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    found = words(value)
    if not found:
        raise InvalidValue("the text names no word to look for")
    if len(found) > MAX_WORDS:
        raise InvalidValue(f"the text may name at most {MAX_WORDS} words")
    return " ".join(found)


@define(frozen=True, kw_only=True)
class DoctorSearch:
    """Every filter is optional; given ones must all hold. ``after`` is the last hit's sort key
    (``SearchHit.key``) from the previous page."""

    specialty: str | None = None  # exact, case-insensitive
    language: str | None = None  # one of the doctor's languages, case-insensitive
    # Words each of which begins a word of the doctor's name, specialty or qualifications.
    text: str | None = field(default=None, converter=_text)
    accepting_bookings: bool | None = None
    # Only these doctors (of a hospital, a city's hospitals, hospitals near a point).
    among: frozenset[DoctorId] | None = None
    scheme_id: SchemeId | None = None  # accepts this insurance scheme
    fee_currency: str | None = None  # fees in another currency are left out
    fee_min: int | None = None  # minor units, inclusive
    fee_max: int | None = None
    min_rating: float | None = None  # the maintained average of visible reviews, inclusive
    free_on: date | None = None  # a free slot on this local date (doctor's zone)
    free_before: datetime | None = None  # next free slot starts before this instant
    free_within_days: int | None = None  # the use case turns it into free_before
    sort: SearchSort = SearchSort.ID
    after: tuple[float | int | str, str] | None = None
    limit: int = 20
    # Relevance: how many matches are ranked (the best rated); not from the query string.
    rank_among: int = RANK_AMONG

    def __attrs_post_init__(self) -> None:
        if self.sort is SearchSort.RELEVANCE and self.text is None:
            raise InvalidValue("sorting by relevance needs a text")
        if (self.fee_min is not None or self.fee_max is not None) and self.fee_currency is None:
            raise InvalidValue("a fee range needs its currency")


@define(frozen=True)
class SearchHit:
    """A doctor found, with what the sorts read: ``key`` is the cursor's first part."""

    doctor: Doctor
    rating_count: int = 0
    rating_total: int = 0
    next_free: datetime | None = None
    rank: float = 0.0  # relevance: higher is better; storage-specific scale

    @property
    def average(self) -> float:
        return self.rating_total / self.rating_count if self.rating_count else 0.0

    def key(self, sort: SearchSort) -> float | int | str:
        if sort is SearchSort.RELEVANCE:
            return self.rank
        if sort is SearchSort.RATING:
            return self.average
        if sort is SearchSort.FEE:
            return self.doctor.consultation_fee.minor_units
        if sort is SearchSort.EARLIEST:
            assert self.next_free is not None
            return instant_key(self.next_free)
        return self.doctor.id.value


def _days(values: Iterable[date]) -> frozenset[date]:
    return frozenset(values)


@define(frozen=True)
class FreeSlots:
    """A doctor's maintained availability summary: the first free slot from ``computed_at``
    and the local dates (doctor's zone) with a free slot, up to the horizon it was computed for."""

    doctor_id: DoctorId
    computed_at: datetime
    next_free: datetime | None
    free_days: frozenset[date] = field(factory=frozenset, converter=_days)


class DoctorDirectory(abc.ABC):
    """The search side of the doctors: what is searched beyond the profile."""

    @abc.abstractmethod
    def search(self, query: DoctorSearch, now: datetime) -> list[SearchHit]:
        """Up to ``query.limit`` hits in the query's sort order (ties by id), after
        ``query.after``. A doctor whose next free slot has passed (``< now``) counts as having
        none until refreshed."""

    @abc.abstractmethod
    def accept_schemes(self, doctor_id: DoctorId, schemes: Iterable[SchemeId]) -> None:
        """Replace the insurance schemes the doctor accepts."""

    @abc.abstractmethod
    def schemes(self, doctor_id: DoctorId) -> frozenset[SchemeId]: ...

    @abc.abstractmethod
    def record_free_slots(self, slots: FreeSlots) -> None:
        """Store the summary, unless one computed later is already stored."""

    @abc.abstractmethod
    def stale(self, computed_before: datetime, now: datetime, limit: int) -> Sequence[DoctorId]:
        """Up to ``limit`` doctors whose summary is missing, older than ``computed_before``, or
        whose next free slot has passed, oldest first."""
