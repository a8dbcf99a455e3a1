"""The central property on the in-memory reference storage, and proof that it can fail.

Other storage adapters run the same machine from their own test modules by passing their own
factory to ``make_booking_machine``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import FlakyFailure
from hypothesis.stateful import run_state_machine_as_test

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory
from hellodoctor_adapters.memory.storage import (
    InMemoryAppointmentRepository,
    InMemoryUnitOfWork,
)
from hellodoctor_adapters.testing.machine import make_booking_machine
from hellodoctor_domain import Appointment

TestInMemoryBookings = make_booking_machine(InMemoryUnitOfWorkFactory).TestCase


class SkipsTheOverlapRule(InMemoryAppointmentRepository):
    """Deliberately broken: stores whatever it is given."""

    def _refuse_overlap(self, appointment: Appointment) -> None:
        return None


class OnlyRefusesTheSameStart(InMemoryAppointmentRepository):
    """Deliberately broken the way the systems we replace are: a uniqueness rule on
    (doctor, start), blind to intervals that overlap without starting together."""

    def _refuse_overlap(self, appointment: Appointment) -> None:
        for other in self._store.appointments.values():
            if (
                other.id != appointment.id
                and other.is_active
                and appointment.is_active
                and other.doctor_id == appointment.doctor_id
                and other.time.start == appointment.time.start
            ):
                from hellodoctor_domain.errors import SlotUnavailable

                raise SlotUnavailable("same start")


def _factory_with(repository: type[InMemoryAppointmentRepository]) -> type:
    class BrokenUnitOfWork(InMemoryUnitOfWork):
        def _begin(self) -> None:
            super()._begin()
            self.appointments = repository(self._store, self._journal)

    class BrokenFactory(InMemoryUnitOfWorkFactory):
        def __call__(self) -> InMemoryUnitOfWork:
            return BrokenUnitOfWork(self.store, self.publisher)

    return BrokenFactory


@pytest.mark.parametrize("broken", [SkipsTheOverlapRule, OnlyRefusesTheSameStart])
def test_the_machine_catches_a_storage_that_double_books(
    broken: type[InMemoryAppointmentRepository],
) -> None:
    machine = make_booking_machine(_factory_with(broken))
    with pytest.raises((AssertionError, FlakyFailure)) as caught:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=500,
                stateful_step_count=50,
                deadline=None,
                database=None,
                # A fixed search, so whether the bug is found cannot change from run to run.
                derandomize=True,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            ),
        )
    assert "double-booked" in str(caught.value) or "disagrees with the model" in str(caught.value)
