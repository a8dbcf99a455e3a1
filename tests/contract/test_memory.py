"""The in-memory reference adapters against the contract suite."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hellodoctor_adapters.memory import InMemoryBlobStorage, InMemoryUnitOfWorkFactory
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.testing import (
    BlobStorageContract,
    PaymentGatewayContract,
    UnitOfWorkContract,
)
from hellodoctor_adapters.testing.contract_consultations import ConsultationStorageContract
from hellodoctor_adapters.testing.contract_events import Outbox
from hellodoctor_adapters.testing.contract_free_slots import FreeSlotsRefreshContract
from hellodoctor_adapters.testing.contract_outbox import OutboxDeliveryContract
from hellodoctor_adapters.testing.contract_retention import RetentionContract
from hellodoctor_adapters.testing.contract_retention_records import RecordRetentionContract
from hellodoctor_adapters.testing.contract_search import DoctorSearchContract
from hellodoctor_adapters.testing.contract_waitlist import WaitlistStorageContract


class TestInMemoryStorage(
    UnitOfWorkContract,
    ConsultationStorageContract,
    WaitlistStorageContract,
    DoctorSearchContract,
    FreeSlotsRefreshContract,
):
    @pytest.fixture
    def uow_factory(self) -> InMemoryUnitOfWorkFactory:
        return InMemoryUnitOfWorkFactory()

    @pytest.fixture
    def outbox(self, uow_factory: InMemoryUnitOfWorkFactory) -> Outbox:
        return lambda: [
            (message.aggregate_type, message.aggregate_id, message.event_type)
            for message in uow_factory.store.outbox
        ]


class TestInMemoryBlobStorage(BlobStorageContract):
    @pytest.fixture
    def blob_storage(self) -> InMemoryBlobStorage:
        return InMemoryBlobStorage()


class TestOfflinePaymentGateway(PaymentGatewayContract):
    @pytest.fixture
    def payment_gateway(self) -> OfflinePaymentGateway:
        return OfflinePaymentGateway()

    @pytest.fixture
    def customer_pays(self) -> Callable[[OfflinePaymentGateway, str], tuple[bytes, str]]:
        def pay(gateway: OfflinePaymentGateway, reference: str) -> tuple[bytes, str]:
            delivery = gateway.complete(reference)
            return delivery.body, delivery.signature

        return pay


class TestInMemoryOutboxDelivery(OutboxDeliveryContract):
    @pytest.fixture
    def uow_factory(self) -> InMemoryUnitOfWorkFactory:
        return InMemoryUnitOfWorkFactory()


class TestInMemoryRetention(RetentionContract, RecordRetentionContract):
    @pytest.fixture
    def uow_factory(self) -> InMemoryUnitOfWorkFactory:
        return InMemoryUnitOfWorkFactory()
