"""The MongoDB adapters against the contract suite (SecantusDB, or the server named by
HELLODOCTOR_TEST_MONGODB_URI)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb.testing import new_factory
from hellodoctor_adapters.testing import LostServerContract, UnitOfWorkContract
from hellodoctor_adapters.testing.contract_consultations import ConsultationStorageContract
from hellodoctor_adapters.testing.contract_events import Outbox
from hellodoctor_adapters.testing.contract_failures import closed_port
from hellodoctor_adapters.testing.contract_free_slots import FreeSlotsRefreshContract
from hellodoctor_adapters.testing.contract_outbox import OutboxDeliveryContract
from hellodoctor_adapters.testing.contract_retention import RetentionContract
from hellodoctor_adapters.testing.contract_retention_records import RecordRetentionContract
from hellodoctor_adapters.testing.contract_search import DoctorSearchContract
from hellodoctor_adapters.testing.contract_waitlist import WaitlistStorageContract


class TestMongoStorage(
    UnitOfWorkContract,
    LostServerContract,
    ConsultationStorageContract,
    WaitlistStorageContract,
    DoctorSearchContract,
    FreeSlotsRefreshContract,
):
    @pytest.fixture
    def uow_factory(self) -> Iterator[MongoUnitOfWorkFactory]:
        factory = new_factory()
        yield factory
        factory.client.drop_database(factory.store.database.name)
        factory.close()

    @pytest.fixture
    def outbox(self, uow_factory: MongoUnitOfWorkFactory) -> Outbox:
        def documents() -> list[tuple[str, str, str]]:
            # Events wait in their aggregates' documents until the relay moves them to
            # ``outbox`` before it claims: what it would hand out is what it finds there.
            delivery, _ = uow_factory.delivery()
            delivery.pending()
            found = (
                uow_factory.store.collection("outbox").find().sort([("occurred_at", 1), ("_id", 1)])
            )
            return [(d["aggregate_type"], d["aggregate_id"], d["type"]) for d in found]

        return documents

    @pytest.fixture
    def unreachable_uow_factory(self) -> Iterator[MongoUnitOfWorkFactory]:
        timeouts = "serverSelectionTimeoutMS=200&connectTimeoutMS=200"
        factory = MongoUnitOfWorkFactory(f"mongodb://127.0.0.1:{closed_port()}/gone?{timeouts}")
        yield factory
        factory.close()


class TestMongoOutboxDelivery(OutboxDeliveryContract):
    @pytest.fixture
    def uow_factory(self) -> Iterator[MongoUnitOfWorkFactory]:
        factory = new_factory()
        yield factory
        factory.client.drop_database(factory.store.database.name)
        factory.close()


class TestMongoRetention(RetentionContract, RecordRetentionContract):
    examples = 15

    @pytest.fixture
    def uow_factory(self) -> Iterator[MongoUnitOfWorkFactory]:
        factory = new_factory()
        yield factory
        factory.client.drop_database(factory.store.database.name)
        factory.close()
