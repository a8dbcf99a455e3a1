"""The central properties on MongoDB: the booking state machine and the payment state machine,
every example starting from empty collections in one database of the test server (truncated,
not dropped: cheap)."""

from __future__ import annotations

from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb.testing import new_factory
from hellodoctor_adapters.testing.claims_machine import make_claims_machine
from hellodoctor_adapters.testing.machine import make_booking_machine
from hellodoctor_adapters.testing.payments_machine import make_payment_machine

_shared: list[MongoUnitOfWorkFactory] = []


def fresh_mongodb_factory() -> MongoUnitOfWorkFactory:
    if not _shared:
        _shared.append(new_factory())
    factory = _shared[0]
    factory.ensure_indexes()
    factory.store.truncate()
    return factory


TestMongoBookings = make_booking_machine(fresh_mongodb_factory).TestCase
TestMongoPayments = make_payment_machine(fresh_mongodb_factory).TestCase
TestMongoClaims = make_claims_machine(fresh_mongodb_factory).TestCase


def teardown_module() -> None:
    """One client served every example; close it with the module."""
    while _shared:
        _shared.pop().close()
