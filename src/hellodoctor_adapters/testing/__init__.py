"""The behaviour every adapter must have, as pytest base classes to subclass.

An adapter author (in this repository or in their own ``hellodoctor-foo`` package) writes::

    from hellodoctor_adapters.testing import UnitOfWorkContract

    class TestFooStorage(UnitOfWorkContract):
        @pytest.fixture
        def uow_factory(self):
            return FooUnitOfWorkFactory(...)   # fresh, empty, isolated storage

and for the Hypothesis state machine::

    from hellodoctor_adapters.testing.machine import make_booking_machine

    TestFooBookings = make_booking_machine(lambda: FooUnitOfWorkFactory(...)).TestCase

A storage with a server (or a file) to lose also subclasses ``LostServerContract`` and
overrides ``unreachable_uow_factory`` with a factory over one that is gone.

Tests that need an outside service skip or fail through ``hellodoctor_adapters.testing.services``
(one rule, ``HELLODOCTOR_REQUIRE_SERVICES``). Requires the ``dev`` (or ``testing``) extra: pytest
and hypothesis.
"""

from hellodoctor_adapters.testing.contract import (
    BlobStorageContract,
    PaymentGatewayContract,
    UnitOfWorkContract,
)
from hellodoctor_adapters.testing.contract_failures import LostServerContract
from hellodoctor_adapters.testing.contract_payments import PaymentStorageContract

__all__ = [
    "BlobStorageContract",
    "LostServerContract",
    "PaymentGatewayContract",
    "PaymentStorageContract",
    "UnitOfWorkContract",
]
