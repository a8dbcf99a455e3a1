"""The multi-process race of recurring series (issue 17): runs in each spawned worker of
``tests/contract/test_sqlalchemy_process_race.py`` (so it lives in an importable module), and
drives the use case, which adapters' own modules may not import."""

from __future__ import annotations

import os
from datetime import time, timedelta
from typing import Any

from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.testing import REFUSED, WON
from hellodoctor_adapters.testing.fixtures import MONDAY
from hellodoctor_domain.errors import SeriesConflict
from hellodoctor_domain.model.recurrence import Recurrence
from hellodoctor_domain.model.values import Actor, DoctorId, PatientId
from hellodoctor_domain.use_cases.scheduling import Scheduling
from hellodoctor_domain.use_cases.series import SeriesBooking, SeriesRequest

_factories: dict[str, SqlUnitOfWorkFactory] = {}


def contend_series(
    url: str, barrier: Any, key: str, patient_key: str, first_day: int, count: int
) -> tuple[int, str]:
    """Book a daily series (issue 17) of ``count`` 30-minute visits at 09:00 UTC with ``d1``
    from ``first_day`` days after ``MONDAY``, through the use case, once every contender is
    ready; report this process's id and ``WON <series id>``, ``REFUSED`` (``SeriesConflict``:
    every refused date listed) or the unexpected error."""
    factory = _factories.get(url)
    if factory is None:
        factory = _factories[url] = SqlUnitOfWorkFactory(url)
    clock = ManualClock(MONDAY - timedelta(days=1))
    scheduling = Scheduling(factory, clock, SequentialIds(f"{key}-a"), OfflinePaymentGateway())
    booking = SeriesBooking(factory, clock, SequentialIds(key), scheduling)
    request = SeriesRequest(
        doctor_id=DoctorId("d1"),
        patient_id=PatientId(patient_key),
        first_day=(MONDAY + timedelta(days=first_day)).date(),
        at=time(9),
        recurrence=Recurrence.parse(f"FREQ=DAILY;COUNT={count}"),
    )
    with factory() as uow:  # connect (and warm the connection) before the starting gun
        uow.doctors.get(DoctorId("d1"))
    barrier.wait(timeout=120)
    try:
        series = booking.book(Actor.patient(PatientId(patient_key)), request)
    except SeriesConflict as refused:
        if not refused.refusals:
            return os.getpid(), "refused with no date listed"
        return os.getpid(), REFUSED
    except Exception as error:  # reported, and fails the test
        return os.getpid(), repr(error)
    return os.getpid(), f"{WON} {series.id.value}"
