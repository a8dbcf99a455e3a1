"""The MongoDB doctor search's own fields (mongodb/search.py): doctors written before the
search kept its words, rating, summary and schemes on the doctor's document get them at
start-up, and the search then answers for them as the memory reference does; a page reads
from the server only the doctors it lists (relevance: the ``rank_among`` candidates)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC

import pytest
from pymongo import MongoClient
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from hellodoctor_adapters.memory.storage import InMemoryUnitOfWorkFactory
from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb.documents import Document
from hellodoctor_adapters.mongodb.reviews import apply_entry
from hellodoctor_adapters.mongodb.testing import new_factory, server_url
from hellodoctor_adapters.testing.contract_search import NOW, every_page, load
from hellodoctor_domain.model.values import SchemeId
from hellodoctor_domain.ports.search import DoctorSearch, SearchSort


@pytest.fixture
def factory() -> Iterator[MongoUnitOfWorkFactory]:
    made = new_factory()
    yield made
    made.client.drop_database(made.store.database.name)
    made.close()


def test_doctors_written_before_the_search_fields_are_found_after_start_up(
    factory: MongoUnitOfWorkFactory,
) -> None:
    reference = InMemoryUnitOfWorkFactory()
    load(factory, 5, count=12)
    load(reference, 5, count=12)
    doctors = factory.store.collection("doctors")
    # As earlier releases left them: no words, nothing copied onto the doctor, and before
    # that no search keys at all.
    copies = {"_rating": "", "_free": "", "_schemes": ""}
    doctors.update_many({"_id": {"$lt": "dr-006"}}, {"$unset": {"_search": "", **copies}})
    doctors.update_many({"_id": {"$gte": "dr-006"}}, {"$unset": {"_search.words": "", **copies}})
    queries = [
        DoctorSearch(text="a", sort=SearchSort.RATING, limit=3),
        DoctorSearch(scheme_id=SchemeId("s2"), sort=SearchSort.EARLIEST, limit=2),
        DoctorSearch(min_rating=3.0, free_on=NOW.date(), limit=2),
    ]
    assert not every_page(factory, queries[0])  # nothing to match before the upgrade
    factory.store.ensure_indexes()  # what start-up runs
    assert doctors.count_documents({"_search.words": {"$exists": False}}) == 0
    for query in queries:
        found = every_page(factory, query)
        assert found, query  # each query finds someone: the copied fields are read
        assert found == every_page(reference, query), query


class DoctorsReturned(CommandListener):
    """Counts the doctor documents the server sends back (find and getMore replies)."""

    def __init__(self) -> None:
        self.count = 0
        self._doctors: set[int] = set()

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name in ("find", "getMore"):
            target = event.command.get("find") or event.command.get("collection")
            if target == "doctors":
                self._doctors.add(event.request_id)

    def succeeded(self, event: CommandSucceededEvent) -> None:
        if event.request_id in self._doctors:
            cursor = event.reply.get("cursor", {})
            self.count += len(cursor.get("firstBatch", cursor.get("nextBatch", [])))

    def failed(self, event: CommandFailedEvent) -> None:
        pass


def test_a_page_reads_only_its_doctors() -> None:
    returned = DoctorsReturned()
    client: MongoClient[Document] = MongoClient(
        server_url(), tz_aware=True, tzinfo=UTC, event_listeners=[returned]
    )
    factory = new_factory(client=client)
    try:
        load(factory, 6, count=16)
        for sort in (SearchSort.ID, SearchSort.FEE, SearchSort.RATING, SearchSort.EARLIEST):
            query = DoctorSearch(sort=sort, limit=2)
            returned.count = 0
            hits = every_page(factory, query)
            assert hits, sort
            assert returned.count == len(hits), sort  # each page's own doctors, no more
        ranked = DoctorSearch(text="a", sort=SearchSort.RELEVANCE, limit=2, rank_among=3)
        returned.count = 0
        with factory() as uow:
            assert len(uow.directory.search(ranked, NOW)) == 2
        assert returned.count == 3  # the candidates only
    finally:
        client.drop_database(factory.store.database.name)
        factory.close()


class _Delayed:
    """Stands for the doctors collection: keeps the rating copy's write for later."""

    def __init__(self) -> None:
        self.writes: list[tuple[Document, Document]] = []

    def update_one(self, condition: Document, change: Document) -> None:
        self.writes.append((condition, change))


def test_a_late_rating_copy_does_not_replace_a_newer_one(factory: MongoUnitOfWorkFactory) -> None:
    load(factory, 8, count=1)
    ratings = factory.store.collection("doctor_ratings")
    journal = factory.store.collection("rating_journal")
    doctors = factory.store.collection("doctors")
    before = (doctors.find_one({"_id": "dr-000"}) or {}).get("_rating", {})
    first = {"_id": "e1", "doctor_id": "dr-000", "count": 1, "total": 5}
    second = {"_id": "e2", "doctor_id": "dr-000", "count": 1, "total": 1}
    delayed = _Delayed()
    apply_entry(ratings, journal, first, delayed)  # type: ignore[arg-type]
    apply_entry(ratings, journal, second, doctors)
    for condition, change in delayed.writes:  # the first change's copy lands last
        doctors.update_one(condition, change)
    copy = (doctors.find_one({"_id": "dr-000"}) or {})["_rating"]
    count, total = before.get("count", 0) + 2, before.get("total", 0) + 6
    assert (copy["count"], copy["total"], copy["average"]) == (count, total, total / count)
