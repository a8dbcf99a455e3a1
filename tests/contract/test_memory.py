"""The in-memory reference adapters against the contract suite."""

from __future__ import annotations

import pytest

from hellodoctor_adapters.memory import (
    InMemoryBlobStorage,
    InMemoryUnitOfWorkFactory,
    OfflinePaymentGateway,
)
from hellodoctor_adapters.testing import (
    BlobStorageContract,
    PaymentGatewayContract,
    UnitOfWorkContract,
)
from hellodoctor_adapters.testing.contract_accounts import AccountsAndQueriesContract


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


class TestInMemoryAccountsAndQueries(AccountsAndQueriesContract):
    @pytest.fixture
    def uow_factory(self) -> InMemoryUnitOfWorkFactory:
        return InMemoryUnitOfWorkFactory()
