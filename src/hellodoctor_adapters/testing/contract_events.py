"""The events contract: what any aggregate records reaches the outbox and the publisher once,
after commit, and never from a unit of work that rolled back.

Part of ``UnitOfWorkContract``. An adapter overrides ``outbox`` (what its outbox holds) and,
if its factory takes the publisher otherwise than through a ``publisher`` attribute read by
every unit of work it makes, ``publisher``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from hellodoctor_adapters.memory import InMemoryEventPublisher
from hellodoctor_adapters.testing.contract_payments import _payment
from hellodoctor_adapters.testing.fixtures import MONDAY
from hellodoctor_domain import AppointmentId
from hellodoctor_domain.model.events import AppointmentBooked
from hellodoctor_domain.model.payments import Payment, PaymentId, PaymentStatus, PaymentSucceeded
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

# What an outbox holds per event: (aggregate type, aggregate id, event type), oldest first.
Outbox = Callable[[], list[tuple[str, str, str]]]

PAID_AT = MONDAY + timedelta(minutes=5)


def _collect(uow: UnitOfWork) -> Payment:
    """The card part of pay-1 arrives: the payment records ``PaymentSucceeded``."""
    payment = uow.payments.get(PaymentId("pay-1"))
    payment.attach_intent("pi_1", MONDAY)
    payment.record_success(PAID_AT)
    uow.payments.update(payment)
    return payment


class DomainEventsContract:
    """Behaviour suite for domain events. Needs ``uow_factory`` and ``with_holds`` (from
    ``PaymentStorageContract``); override ``outbox``."""

    @pytest.fixture
    def outbox(self, uow_factory: UnitOfWorkFactory) -> Outbox:
        raise NotImplementedError("override the outbox fixture: what the storage's outbox holds")

    @pytest.fixture
    def publisher(self, uow_factory: UnitOfWorkFactory) -> Iterator[InMemoryEventPublisher]:
        """Receives what the units of work of ``uow_factory`` publish."""
        recorder = InMemoryEventPublisher()
        previous = getattr(uow_factory, "publisher")  # noqa: B009 -- not in the factory protocol
        setattr(uow_factory, "publisher", recorder)  # noqa: B010
        yield recorder
        setattr(uow_factory, "publisher", previous)  # noqa: B010

    @pytest.fixture
    def started(self, with_holds: UnitOfWorkFactory, outbox: Outbox) -> UnitOfWorkFactory:
        """A card payment for the held appointment a1, stored before any event is expected."""
        with with_holds() as uow:
            uow.payments.add(_payment("pay-1"))
            uow.commit()
        assert all(kind != "payment" for kind, _, _ in outbox())
        return with_holds

    def test_a_payment_s_events_reach_the_outbox_and_the_publisher_after_commit(
        self, started: UnitOfWorkFactory, outbox: Outbox, publisher: InMemoryEventPublisher
    ) -> None:
        with started() as uow:
            payment = _collect(uow)
            assert publisher.published == []  # not before the commit
            uow.commit()

        (event,) = publisher.published
        assert isinstance(event, PaymentSucceeded)
        assert (event.payment_id, event.occurred_at) == (PaymentId("pay-1"), PAID_AT)
        assert outbox()[-1:] == [("payment", "pay-1", "PaymentSucceeded")]
        assert payment.events == []  # collected by the commit, not left to publish again

    def test_a_rolled_back_unit_of_work_publishes_nothing(
        self, started: UnitOfWorkFactory, outbox: Outbox, publisher: InMemoryEventPublisher
    ) -> None:
        before = outbox()
        with started() as uow:
            _collect(uow)
            uow.rollback()

        assert publisher.published == []
        assert outbox() == before
        with started() as uow:
            assert uow.payments.get(PaymentId("pay-1")).status is PaymentStatus.REQUIRES_PAYMENT

    def test_an_aggregate_seen_twice_publishes_its_events_once(
        self, started: UnitOfWorkFactory, outbox: Outbox, publisher: InMemoryEventPublisher
    ) -> None:
        with started() as uow:
            payment = _collect(uow)
            uow.payments.update(payment)  # seen a second time, as a retrying use case may
            found = uow.payments.for_appointment(AppointmentId("a1"))  # another copy
            assert found is not None
            assert found.events == []
            uow.commit()

        assert [type(event) for event in publisher.published] == [PaymentSucceeded]
        assert [entry for entry in outbox() if entry[0] == "payment"] == [
            ("payment", "pay-1", "PaymentSucceeded")
        ]

    def test_events_of_every_aggregate_in_one_unit_of_work_reach_the_outbox(
        self, started: UnitOfWorkFactory, outbox: Outbox, publisher: InMemoryEventPublisher
    ) -> None:
        before = outbox()
        with started() as uow:
            _collect(uow)
            appointment = uow.appointments.get(AppointmentId("a1"))
            appointment.confirm(PAID_AT)
            uow.appointments.update(appointment)
            uow.commit()

        assert {type(event) for event in publisher.published} == {
            PaymentSucceeded,
            AppointmentBooked,
        }
        assert sorted(outbox()[len(before) :]) == [
            ("appointment", "a1", "AppointmentBooked"),
            ("payment", "pay-1", "PaymentSucceeded"),
        ]
