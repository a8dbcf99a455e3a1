"""The doctor search contract: on random small data sets, every storage answers every
filter, sort and page exactly as the memory reference does (``memory/search.py``); keyset
pages never repeat nor skip a doctor; the next free slot summary keeps the newest.

Part of ``UnitOfWorkContract``; needs only ``uow_factory``. Relevance ranks are each storage's
own (``ts_rank``, ``bm25``, the text score), so for that sort the pages are compared as sets
and checked to be in the storage's own rank order.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from attrs import evolve

from hellodoctor_adapters.memory.storage import InMemoryUnitOfWorkFactory
from hellodoctor_adapters.testing.fixtures import MONDAY
from hellodoctor_domain.model.profiles import Doctor
from hellodoctor_domain.model.reviews import Review
from hellodoctor_domain.model.values import (
    AppointmentId,
    DoctorId,
    Money,
    PatientId,
    ReviewId,
    SchemeId,
)
from hellodoctor_domain.ports.search import DoctorSearch, FreeSlots, SearchSort
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory

NOW = MONDAY + timedelta(hours=8)
NAMES = ("ada", "grace", "alan", "edsger", "barbara", "donald", "frances", "ken")
SPECIALTIES = ("cardiology", "dermatology", "general practice")
QUALIFICATIONS = ("mbbs", "frcs", "md", "phd", "mrcp")
LANGUAGES = ("en", "fr", "de", "pt-BR")
SCHEMES = ("s1", "s2", "s3")
FEES = (0, 2500, 4000, 4000, 7000)


def _doctor(rng: random.Random, index: int) -> Doctor:
    return Doctor(
        DoctorId(f"dr-{index:03d}"),
        name=f"{rng.choice(NAMES).title()} {rng.choice(NAMES).title()}",
        specialty=rng.choice(SPECIALTIES).title(),
        registration_number=f"REG-{index}",
        consultation_fee=Money(rng.choice(FEES), rng.choice(("EUR", "EUR", "USD"))),
        time_zone="UTC",
        qualifications=tuple(rng.sample(QUALIFICATIONS, rng.randint(0, 2))),
        languages=tuple(rng.sample(LANGUAGES, rng.randint(0, 2))),
        accepting_bookings=rng.random() < 0.8,
    )


def _summary(rng: random.Random, doctor_id: DoctorId) -> FreeSlots | None:
    roll = rng.random()
    if roll < 0.2:
        return None
    if roll < 0.3:  # computed a while ago, its slot since passed
        return FreeSlots(doctor_id, NOW - timedelta(days=2), NOW - timedelta(hours=1), {})
    if roll < 0.4:
        return FreeSlots(doctor_id, NOW, None, {})
    first = NOW + timedelta(hours=rng.choice((1, 2, 2, 26, 50, 120)))
    days = {first.date() + timedelta(days=n) for n in range(5) if n == 0 or rng.random() < 0.5}
    return FreeSlots(doctor_id, NOW, first, days)


def load(uow_factory: UnitOfWorkFactory, seed_value: int, count: int = 24) -> None:
    rng = random.Random(seed_value)
    doctors = [_doctor(rng, index) for index in range(count)]
    with uow_factory() as uow:
        for doctor in doctors:
            uow.doctors.add(doctor)
        uow.commit()
    with uow_factory() as uow:
        for doctor in doctors:
            for n in range(rng.choice((0, 0, 1, 2, 3))):
                uow.ratings.add(
                    Review(
                        ReviewId(f"r-{doctor.id.value}-{n}"),
                        AppointmentId(f"a-{doctor.id.value}-{n}"),
                        doctor.id,
                        PatientId("p1"),
                        rng.randint(1, 5),
                        "",
                        NOW,
                    )
                )
            chosen = rng.sample(SCHEMES, rng.randint(0, 2))
            if chosen:
                uow.directory.accept_schemes(doctor.id, [SchemeId(s) for s in chosen])
            summary = _summary(rng, doctor.id)
            if summary is not None:
                uow.directory.record_free_slots(summary)
        uow.commit()


def random_query(rng: random.Random) -> DoctorSearch:
    def maybe(value: object, chance: float = 0.25) -> object:
        return value if rng.random() < chance else None

    text = maybe(" ".join(rng.sample(NAMES + QUALIFICATIONS + ("cardiology",), rng.randint(1, 2))))
    sort = rng.choice(list(SearchSort))
    if sort is SearchSort.RELEVANCE and text is None:
        text = rng.choice(NAMES)
    currency = maybe(rng.choice(("EUR", "USD")), 0.3)
    low = rng.choice((None, 0, 2500, 4000)) if currency else None
    high = rng.choice((None, 4000, 7000)) if currency else None
    return DoctorSearch(
        specialty=maybe(rng.choice(SPECIALTIES)),  # type: ignore[arg-type]
        language=maybe(rng.choice(LANGUAGES).upper()),  # type: ignore[arg-type]
        text=text,  # type: ignore[arg-type]
        accepting_bookings=maybe(rng.random() < 0.7),  # type: ignore[arg-type]
        among=maybe(frozenset(DoctorId(f"dr-{i:03d}") for i in rng.sample(range(30), 15))),  # type: ignore[arg-type]
        scheme_id=maybe(SchemeId(rng.choice(SCHEMES))),  # type: ignore[arg-type]
        fee_currency=currency,  # type: ignore[arg-type]
        fee_min=low,
        fee_max=high,
        min_rating=maybe(rng.choice((0.0, 2.5, 3.0, 4.0, 5.0))),  # type: ignore[arg-type]
        free_on=maybe(NOW.date() + timedelta(days=rng.randint(0, 4))),  # type: ignore[arg-type]
        free_before=maybe(NOW + timedelta(hours=rng.choice((3, 30, 200)))),  # type: ignore[arg-type]
        sort=sort,
        limit=rng.randint(1, 4),
        # A small cap ranks only the best rated few: the same few on every storage.
        rank_among=rng.choice((2, 5, 1000)),
    )


def every_page(uow_factory: UnitOfWorkFactory, query: DoctorSearch) -> list[tuple[str, object]]:
    """Every hit, page after page, as (id, sort key)."""
    found: list[tuple[str, object]] = []
    after = None
    for _ in range(100):
        with uow_factory() as uow:
            hits = uow.directory.search(evolve(query, after=after), NOW)
        found.extend((h.doctor.id.value, h.key(query.sort)) for h in hits)
        if len(hits) < query.limit:
            return found
        after = (hits[-1].key(query.sort), hits[-1].doctor.id.value)
    raise AssertionError("the pages never ended")


class DoctorSearchContract:
    @pytest.mark.parametrize("seed_value", [1, 2])
    def test_every_search_answers_as_the_reference(
        self, uow_factory: UnitOfWorkFactory, seed_value: int
    ) -> None:
        reference = InMemoryUnitOfWorkFactory()
        load(uow_factory, seed_value)
        load(reference, seed_value)
        rng = random.Random(seed_value * 1000)
        for _ in range(40):
            query = random_query(rng)
            got = every_page(uow_factory, query)
            want = every_page(reference, query)
            ids = [doctor for doctor, _ in got]
            assert len(ids) == len(set(ids)), (query, got)  # no doctor on two pages
            if query.sort is SearchSort.RELEVANCE:
                assert sorted(ids) == sorted(d for d, _ in want), query
                keys = [float(key) for _, key in got]  # type: ignore[arg-type]
                assert keys == sorted(keys, reverse=True), (query, got)
            else:
                assert got == want, query

    def test_relevance_ranks_only_the_best_rated_matches(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        reference = InMemoryUnitOfWorkFactory()
        load(uow_factory, 3)
        load(reference, 3)
        for text in ("mbbs", "a", "cardiology"):
            broad = DoctorSearch(text=text, sort=SearchSort.RELEVANCE, limit=2)
            every = {d for d, _ in every_page(reference, broad)}
            assert len(every) > 3, text  # the cap below leaves some out
            capped = evolve(broad, rank_among=3)
            got = {d for d, _ in every_page(uow_factory, capped)}
            assert got == {d for d, _ in every_page(reference, capped)}, text
            assert len(got) == 3

    def test_the_newest_summary_wins(self, uow_factory: UnitOfWorkFactory) -> None:
        load(uow_factory, 7, count=1)
        doctor = DoctorId("dr-000")
        newer = FreeSlots(
            doctor, NOW + timedelta(minutes=5), NOW + timedelta(hours=1), {NOW.date()}
        )
        older = FreeSlots(doctor, NOW, NOW + timedelta(hours=3), {date(2030, 1, 9)})
        for summary in (newer, older):
            with uow_factory() as uow:
                uow.directory.record_free_slots(summary)
                uow.commit()
        with uow_factory() as uow:
            hits = uow.directory.search(DoctorSearch(free_on=NOW.date()), NOW)
            assert [h.next_free for h in hits] == [NOW + timedelta(hours=1)]
            assert not uow.directory.stale(NOW, NOW, 10)
            assert uow.directory.stale(NOW + timedelta(hours=2), NOW + timedelta(hours=2), 10) == [
                doctor
            ]

    def test_schemes_are_replaced(self, uow_factory: UnitOfWorkFactory) -> None:
        load(uow_factory, 8, count=1)
        doctor = DoctorId("dr-000")
        for chosen in (["s1", "s2"], ["s3"]):
            with uow_factory() as uow:
                uow.directory.accept_schemes(doctor, [SchemeId(s) for s in chosen])
                uow.commit()
        with uow_factory() as uow:
            assert uow.directory.schemes(doctor) == {SchemeId("s3")}
            assert not uow.directory.search(DoctorSearch(scheme_id=SchemeId("s1")), NOW)
