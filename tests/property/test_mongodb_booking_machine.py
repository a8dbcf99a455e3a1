"""The central properties on MongoDB: the booking state machine and the payment state machine,
every example starting from empty collections in one database of the test server (truncated,
not dropped: cheap)."""

from __future__ import annotations

from hypothesis import settings

from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb.testing import new_factory
from hellodoctor_adapters.testing.claims_machine import make_claims_machine
from hellodoctor_adapters.testing.machine import make_booking_machine
from hellodoctor_adapters.testing.payments_machine import make_payment_machine

_shared: list[MongoUnitOfWorkFactory] = []


def fresh_mongodb_factory() -> MongoUnitOfWorkFactory:
    if not _shared:
        made = new_factory()
        made.ensure_indexes()  # once: emptying the collections keeps their indexes
        _shared.append(made)
    factory = _shared[0]
    factory.store.truncate()
    return factory


# SecantusDB (the in-process MongoDB-wire server) slows as collections grow and runs on the
# test's own cores: fewer examples than in memory, every rule still against its writes. With
# HELLODOCTOR_TEST_MONGODB_URI (a real server) the same machines run the same count.
MONGODB_EXAMPLES = 40


def _examples() -> settings:
    return settings(max_examples=min(MONGODB_EXAMPLES, settings.default.max_examples))


class TestMongoBookings(make_booking_machine(fresh_mongodb_factory).TestCase):  # type: ignore[misc]
    settings = _examples()


class TestMongoPayments(make_payment_machine(fresh_mongodb_factory).TestCase):  # type: ignore[misc]
    settings = _examples()


class TestMongoClaims(make_claims_machine(fresh_mongodb_factory).TestCase):  # type: ignore[misc]
    settings = _examples()


def teardown_module() -> None:
    """One client served every example; close it with the module."""
    while _shared:
        _shared.pop().close()
