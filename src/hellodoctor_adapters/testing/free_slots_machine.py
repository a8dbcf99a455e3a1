"""The booking state machine's slot listing invariant (issue 20): after every step, on every
storage, ``AppointmentRepository.busy_times`` and ``Scheduling.free_slots`` agree with the
model -- the listing reads only busy ranges, so this is what ties that narrow read to the
appointments the model knows, lapsed holds, buffers and time zones included.

Mixed into ``machine.make_booking_machine``'s class, beside ``WaitlistRules``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from hypothesis.stateful import invariant

from hellodoctor_adapters.testing.fixtures import MONDAY
from hellodoctor_domain import DoctorId, TimeRange

if TYPE_CHECKING:
    from hellodoctor_adapters.testing.machine import DoctorModel, Model
    from hellodoctor_domain import Scheduling
    from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory


def model_free_starts(
    doctor: DoctorModel,
    busy: list[TimeRange],
    now: datetime,
    period: TimeRange,
    notice: timedelta,
    horizon: timedelta,
) -> list[datetime]:
    """The starts of the one-slot visits the model says are free in ``period``: on the grid
    of the doctor's daily window, within notice and horizon, clear of every busy range."""
    free = []
    first_day = (period.start - MONDAY).days - 1
    for day in range(first_day, first_day + (period.end - period.start).days + 3):
        window = doctor.day_window(day)
        start = window.start
        while start + doctor.slot <= window.end:
            wanted = TimeRange(start, start + doctor.slot + doctor.buffer)
            if (
                period.start <= start < period.end
                and now + notice <= start <= now + horizon
                and not any(taken.overlaps(wanted) for taken in busy)
            ):
                free.append(start)
            start += doctor.slot
    return free


class FreeSlotsRules:
    """An invariant over ``self.model``, ``self.scheduling`` and ``self.uow_factory``."""

    model: Model
    scheduling: Scheduling
    uow_factory: UnitOfWorkFactory

    @invariant()
    def the_listing_agrees_with_the_model(self) -> None:
        from hellodoctor_adapters.testing.machine import DOCTORS, HORIZON, NOTICE

        # One doctor every other step, in turn: every doctor is checked every sixth step. A
        # listing per doctor per step doubled the machine's run time, and the suite runs the
        # machine on four storages; a wrong listing usually outlives the next steps.
        turn = self.__dict__.get("_listing_turn", 0)
        self.__dict__["_listing_turn"] = turn + 1
        if turn % 2:
            return
        turn //= 2
        now = self.model.now
        period = TimeRange(now, now + HORIZON + timedelta(days=1))
        for spec in (DOCTORS[turn % len(DOCTORS)],):
            doctor_id = DoctorId(spec.key)
            busy = sorted(
                (
                    a.blocked
                    for a in self.model.appointments.values()
                    if a.doctor.key == spec.key and a.blocks(now) and a.blocked.overlaps(period)
                ),
                key=lambda taken: (taken.start, taken.end),
            )
            with self.uow_factory() as uow:
                stored = uow.appointments.busy_times(doctor_id, period, now)
            assert stored == busy, f"busy times of {spec.key} disagree with the model"
            listed = [slot.time.start for slot in self.scheduling.free_slots(doctor_id, period)]
            expected = model_free_starts(spec, busy, now, period, NOTICE, HORIZON)
            assert listed == expected, f"free slots of {spec.key} disagree with the model"
