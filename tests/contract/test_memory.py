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


class TestInMemoryStorage(UnitOfWorkContract):
    @pytest.fixture
    def uow_factory(self) -> InMemoryUnitOfWorkFactory:
        return InMemoryUnitOfWorkFactory()


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
