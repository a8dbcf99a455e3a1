"""The behaviour every adapter must have, as pytest base classes to subclass.

An adapter author (in this repository or in their own ``hellodoctor-foo`` package) writes::

    from hellodoctor_adapters.testing import UnitOfWorkContract

    class TestFooStorage(UnitOfWorkContract):
        @pytest.fixture
        def uow_factory(self):
            return FooUnitOfWorkFactory(...)   # fresh, empty, isolated storage

        @pytest.fixture
        def outbox(self, uow_factory):
            # what the outbox holds, oldest first: (aggregate type, aggregate id, event type)
            return lambda: [(row.aggregate_type, row.aggregate_id, row.event_type) for row in ...]

and for the Hypothesis state machine::

    from hellodoctor_adapters.testing.machine import make_booking_machine

    TestFooBookings = make_booking_machine(lambda: FooUnitOfWorkFactory(...)).TestCase

A storage with a server (or a file) to lose also subclasses ``LostServerContract`` and
overrides ``unreachable_uow_factory`` with a factory over one that is gone.

Tests that need an outside service skip or fail through ``hellodoctor_adapters.testing.services``
(one rule, ``HELLODOCTOR_REQUIRE_SERVICES``). Requires the ``dev`` (or ``testing``) extra: pytest
and hypothesis.
"""

from hellodoctor_adapters.testing.contract import UnitOfWorkContract
from hellodoctor_adapters.testing.contract_events import DomainEventsContract
from hellodoctor_adapters.testing.contract_failures import LostServerContract
from hellodoctor_adapters.testing.contract_outside import (
    BlobStorageContract,
    PaymentGatewayContract,
)
from hellodoctor_adapters.testing.contract_payments import PaymentStorageContract

__all__ = [
    "BlobStorageContract",
    "DomainEventsContract",
    "LostServerContract",
    "PaymentGatewayContract",
    "PaymentStorageContract",
    "UnitOfWorkContract",
]
