"""The doctor search on PostgreSQL and SQLite: one SELECT over ``doctors`` joined to the
maintained rating and next free slot, every filter a WHERE, the sort key and the id the
ORDER BY, and the keyset cursor a row comparison, so a page never reads the doctors before it.

Free text: PostgreSQL full-text search (``simple`` configuration, the stored vector
``doctors.search_document`` under a GIN index, migration 0017_discovery, ranked by
``ts_rank``); SQLite FTS5 (``doctor_text``, ranked by ``bm25``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.rows import doctor_from
from hellodoctor_adapters.sqlalchemy.schema import doctor_languages, doctor_ratings, doctors
from hellodoctor_adapters.sqlalchemy.schema_search import (
    doctor_free_days,
    doctor_free_slots,
    doctor_schemes,
)
from hellodoctor_domain.model.values import DoctorId, SchemeId
from hellodoctor_domain.ports.search import (
    DoctorDirectory,
    DoctorSearch,
    FreeSlots,
    SearchHit,
    SearchSort,
    key_instant,
)

# PostgreSQL's stored vector of name, specialty and qualifications (migration 0017_discovery:
# a generated column under a GIN index; not in the shared metadata, SQLite has none).
PG_DOCUMENT = "doctors.search_document"
DESCENDING = (SearchSort.RELEVANCE, SearchSort.RATING)
_fts = sa.table("doctor_text", sa.column("doctor_id"), sa.column("body"))


class SqlDoctorDirectory(DoctorDirectory):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def search(self, query: DoctorSearch, now: datetime) -> list[SearchHit]:
        rating = doctor_ratings.alias("r")
        free = doctor_free_slots.alias("f")
        count = sa.func.coalesce(rating.c.review_count, 0)
        total = sa.func.coalesce(rating.c.rating_total, 0)
        # Stored with each review (the rating ledger): the rating sort walks ix_doctors_rating.
        average = doctors.c.rating_average
        next_free = sa.case((free.c.next_free_at >= now, free.c.next_free_at), else_=None)
        source: Any = doctors.outerjoin(rating, rating.c.doctor_id == doctors.c.id).outerjoin(
            free, free.c.doctor_id == doctors.c.id
        )
        rank: sa.ColumnElement[Any] = sa.literal(0.0, sa.Float)
        conditions: list[sa.ColumnElement[bool]] = []
        postgres = self._connection.dialect.name == "postgresql"
        if query.text is not None:
            if postgres:
                document: sa.ColumnElement[Any] = sa.literal_column(PG_DOCUMENT)
                asked = sa.func.to_tsquery(
                    sa.literal_column("'simple'::regconfig"),
                    " & ".join(f"{word}:*" for word in query.text.split()),
                )
                conditions.append(sa.literal_column(PG_DOCUMENT).op("@@")(asked))
                rank = sa.cast(sa.func.ts_rank(document, asked), sa.Float)
            else:
                found = (
                    sa.select(
                        _fts.c.doctor_id.label("doctor_id"),
                        (-sa.func.bm25(sa.literal_column("doctor_text"))).label("rank"),
                    )
                    .where(sa.literal_column("doctor_text").op("MATCH")(_fts_query(query.text)))
                    .subquery("t")
                )
                source = source.join(found, found.c.doctor_id == doctors.c.id)
                rank = found.c.rank
        if query.specialty is not None:
            conditions.append(doctors.c.specialty_key == query.specialty.casefold())
        if query.language is not None:
            conditions.append(
                doctors.c.id.in_(
                    sa.select(doctor_languages.c.doctor_id).where(
                        doctor_languages.c.language_key == query.language.casefold()
                    )
                )
            )
        if query.accepting_bookings is not None:
            conditions.append(doctors.c.accepting_bookings == query.accepting_bookings)
        if query.among is not None:
            conditions.append(doctors.c.id.in_(sorted(d.value for d in query.among)))
        if query.scheme_id is not None:
            conditions.append(
                doctors.c.id.in_(
                    sa.select(doctor_schemes.c.doctor_id).where(
                        doctor_schemes.c.scheme_id == query.scheme_id.value
                    )
                )
            )
        if query.fee_currency is not None:
            conditions.append(doctors.c.fee_currency == query.fee_currency)
        if query.fee_min is not None:
            conditions.append(doctors.c.fee_minor_units >= query.fee_min)
        if query.fee_max is not None:
            conditions.append(doctors.c.fee_minor_units <= query.fee_max)
        if query.min_rating is not None:
            conditions.append(average >= query.min_rating)
        if query.free_on is not None or query.free_before is not None:
            conditions.append(free.c.next_free_at >= now)
        if query.free_on is not None:
            conditions.append(
                doctors.c.id.in_(
                    sa.select(doctor_free_days.c.doctor_id).where(
                        doctor_free_days.c.day == query.free_on
                    )
                )
            )
        if query.free_before is not None:
            conditions.append(free.c.next_free_at < query.free_before)
        key: sa.ColumnElement[Any] = {
            SearchSort.ID: doctors.c.id,
            SearchSort.RELEVANCE: rank,
            SearchSort.RATING: average,
            SearchSort.FEE: doctors.c.fee_minor_units,
            SearchSort.EARLIEST: free.c.next_free_at,
        }[query.sort]
        if query.sort is SearchSort.EARLIEST:
            conditions.append(free.c.next_free_at >= now)
        if query.sort is SearchSort.RELEVANCE:
            # Rank only the best rated matches (ix_doctors_rating), not every match.
            ranked = (
                sa.select(doctors.c.id)
                .select_from(source)
                .where(*conditions)
                .order_by(doctors.c.rating_average.desc(), doctors.c.id)
                .limit(query.rank_among)
                .correlate(None)  # its own FROMs: the candidates do not depend on the row
            )
            # The candidates meet every filter already: matching the text again here would
            # read every match a second time.
            conditions = [doctors.c.id.in_(ranked.scalar_subquery())]
        if query.after is not None:
            conditions.append(_after(query, key))
        order = [key.desc() if query.sort in DESCENDING else key.asc(), doctors.c.id.asc()]
        if query.sort is SearchSort.ID:
            order = [doctors.c.id.asc()]
        statement = (
            sa.select(
                doctors,
                count.label("hit_count"),
                total.label("hit_total"),
                next_free.label("hit_next_free"),
                rank.label("hit_rank"),
            )
            .select_from(source)
            .where(*conditions)
            .order_by(*order)
            .limit(query.limit)
        )
        with translated_errors():
            rows = self._connection.execute(statement).mappings().all()
        return [
            SearchHit(
                doctor_from(row),
                int(row["hit_count"]),
                int(row["hit_total"]),
                _instant(row["hit_next_free"]),
                float(row["hit_rank"] or 0.0),
            )
            for row in rows
        ]

    def accept_schemes(self, doctor_id: DoctorId, schemes: Iterable[SchemeId]) -> None:
        with translated_errors():
            self._connection.execute(
                sa.delete(doctor_schemes).where(doctor_schemes.c.doctor_id == doctor_id.value)
            )
            rows = [{"doctor_id": doctor_id.value, "scheme_id": s.value} for s in set(schemes)]
            if rows:
                self._connection.execute(sa.insert(doctor_schemes), rows)

    def schemes(self, doctor_id: DoctorId) -> frozenset[SchemeId]:
        statement = sa.select(doctor_schemes.c.scheme_id).where(
            doctor_schemes.c.doctor_id == doctor_id.value
        )
        with translated_errors():
            return frozenset(SchemeId(s) for s in self._connection.execute(statement).scalars())

    def record_free_slots(self, slots: FreeSlots) -> None:
        doctor = slots.doctor_id.value
        dialect = postgresql if self._connection.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(doctor_free_slots).values(
            doctor_id=doctor, computed_at=slots.computed_at, next_free_at=slots.next_free
        )
        # One statement inserts the summary or replaces an older one, and locks the row: two
        # refreshes of one doctor (two workers, the consumer and the worker) never both insert
        # (a SELECT ... FOR UPDATE of a missing row locks nothing), and the newest wins.
        upsert = insert.on_conflict_do_update(
            index_elements=[doctor_free_slots.c.doctor_id],
            set_={"computed_at": slots.computed_at, "next_free_at": slots.next_free},
            where=doctor_free_slots.c.computed_at <= slots.computed_at,
        ).returning(doctor_free_slots.c.doctor_id)
        with translated_errors():
            if self._connection.execute(upsert).first() is None:
                return  # a newer summary is stored: its days stay
            self._connection.execute(
                sa.delete(doctor_free_days).where(doctor_free_days.c.doctor_id == doctor)
            )
            if slots.free_days:
                self._connection.execute(
                    sa.insert(doctor_free_days),
                    [{"doctor_id": doctor, "day": day} for day in sorted(slots.free_days)],
                )

    def stale(self, computed_before: datetime, now: datetime, limit: int) -> Sequence[DoctorId]:
        free = doctor_free_slots
        statement = (
            sa.select(doctors.c.id)
            .select_from(doctors.outerjoin(free, free.c.doctor_id == doctors.c.id))
            .where(
                sa.or_(
                    free.c.doctor_id.is_(None),
                    free.c.computed_at < computed_before,
                    free.c.next_free_at < now,
                )
            )
            .order_by(free.c.doctor_id.is_not(None), free.c.computed_at, doctors.c.id)
            .limit(limit)
        )
        with translated_errors():
            return [DoctorId(v) for v in self._connection.execute(statement).scalars()]


def _fts_query(text: str) -> str:
    # Each word quoted and starred: FTS5 reads them as token prefixes, all required.
    return " ".join(f'"{word}"*' for word in text.split())


def _instant(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    # SQLite hands a CASE's value back untyped: the fixed-width text UtcDateTime stores.
    from hellodoctor_adapters.sqlalchemy.metadata import UtcDateTime

    return UtcDateTime().process_result_value(value, None)  # type: ignore[arg-type]


def _after(query: DoctorSearch, key: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    assert query.after is not None
    value, last_id = query.after
    if query.sort is SearchSort.ID:
        return doctors.c.id > last_id
    bound: Any = key_instant(str(value)) if query.sort is SearchSort.EARLIEST else value
    if query.sort is SearchSort.EARLIEST:
        bound = sa.literal(bound, doctor_free_slots.c.next_free_at.type)
    # The first conjunct bounds an index range (the rating, fee and earliest-slot indexes);
    # the second leaves out the ties up to and including the last hit.
    if query.sort in DESCENDING:
        return sa.and_(key <= bound, sa.or_(key < bound, doctors.c.id > last_id))
    return sa.and_(key >= bound, sa.or_(key > bound, doctors.c.id > last_id))
