"""The MongoDB doctor search's own fields (mongodb/search.py): doctors written before the
search kept its words, rating, summary and schemes on the doctor's document get them at
start-up, and the search then answers for them as the memory reference does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hellodoctor_adapters.memory.storage import InMemoryUnitOfWorkFactory
from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb.testing import new_factory
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
