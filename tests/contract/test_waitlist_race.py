"""A real race for the waitlist (issue 17 item 1), on PostgreSQL and on MongoDB (SecantusDB or
the server of HELLODOCTOR_TEST_MONGODB_URI): eight threads, released together by a barrier,
each cancel one of a doctor's visits and offer its time to the waitlist, where three patients
wait for any of them. Every offer is one unit of work (the entry's compare-and-set and the
hold), so exactly three offers land, one per waiting patient, each holding a different time;
the other five find nobody left waiting. Several rounds, fresh data each."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from hellodoctor_adapters.mongodb.testing import new_factory
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.provision import empty_tables
from hellodoctor_adapters.sqlalchemy.testing import migrated_postgres_schema
from hellodoctor_adapters.testing.contract_waitlist import ADMIN, book, join, open_clinic
from hellodoctor_domain import AppointmentStatus, DoctorId, PatientId
from hellodoctor_domain.model.profiles import Patient
from hellodoctor_domain.model.waitlist import DayPart, WaitlistEntry, WaitlistStatus
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory

THREADS = 8
WAITING = ("p1", "p2", "p3")
ROUNDS = 3


def _race(uow_factory: UnitOfWorkFactory) -> None:
    scheduling, waitlist, _ = open_clinic(uow_factory)
    scheduling.register_patient(Patient(PatientId("p9"), name="Booked everywhere"))
    times = [book(scheduling, "p9", 8 + index) for index in range(THREADS)]  # 08:00..15:00
    for key in WAITING:
        join(waitlist, key, DayPart.ANY)
    with uow_factory() as uow:
        booked = [uow.appointments.for_doctor(DoctorId("d1"), time)[0].id for time in times]
    barrier = threading.Barrier(THREADS, timeout=60)

    def cancel_and_offer(index: int) -> WaitlistEntry | None:
        barrier.wait()
        scheduling.cancel(ADMIN, booked[index])
        return waitlist.offer_freed(DoctorId("d1"), times[index])

    with ThreadPoolExecutor(THREADS) as pool:
        offered = [e for e in pool.map(cancel_and_offer, range(THREADS)) if e is not None]
    assert sorted(e.patient_id.value for e in offered) == list(WAITING)
    with uow_factory() as uow:
        entries = uow.waitlist.search(doctor_id=DoctorId("d1"))
        holds = [
            a
            for a in uow.appointments.for_doctor(
                DoctorId("d1"), times[0].extended(after=timedelta(hours=THREADS))
            )
            if a.status is AppointmentStatus.HELD
        ]
    assert [e.status for e in entries] == [WaitlistStatus.OFFERED] * len(WAITING)
    assert sorted(e.offered_appointment_id for e in entries) == sorted(h.id for h in holds)  # type: ignore[type-var]
    assert len({h.time for h in holds}) == len(WAITING)
    assert sorted(h.patient_id.value for h in holds) == list(WAITING)


@pytest.fixture(scope="module")
def postgres() -> Iterator[SqlUnitOfWorkFactory]:
    with migrated_postgres_schema() as url:
        factory = SqlUnitOfWorkFactory(url)
        yield factory
        factory.dispose()


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_postgres_offers_each_waiting_patient_once(
    postgres: SqlUnitOfWorkFactory, round_: int
) -> None:
    empty_tables(postgres.engine)
    _race(postgres)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_mongodb_offers_each_waiting_patient_once(round_: int) -> None:
    factory = new_factory()
    try:
        _race(factory)
    finally:
        factory.client.drop_database(factory.store.database.name)
        factory.close()
