"""The real race: 32 OS processes (spawned, each with its own connection) write conflicting
appointments at the same moment, on a SQLite file and on PostgreSQL. Exactly one may win each
conflict; every other writer must be told "slot unavailable".

The writes go through the repository directly (bypassing the slot grid), so the database's
constraint is the only thing standing between the writers.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from multiprocessing.managers import SyncManager
from pathlib import Path

import pytest

from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.provision import empty_tables
from hellodoctor_adapters.sqlalchemy.testing import (
    REFUSED,
    WON,
    contend,
    migrated_postgres_schema,
    migrated_sqlite_file,
)
from hellodoctor_adapters.testing.fixtures import at, doctor, every_day, patient
from hellodoctor_adapters.testing.series_race import contend_series
from hellodoctor_domain.model.values import DoctorId, PatientId, TimeRange
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory

CONTENDERS = 32

# -- in the test process -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def manager() -> Iterator[SyncManager]:
    with multiprocessing.get_context("spawn").Manager() as started:
        yield started


@pytest.fixture(scope="module")
def workers() -> Iterator[ProcessPoolExecutor]:
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=CONTENDERS, mp_context=context) as pool:
        yield pool


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return migrated_sqlite_file(tmp_path_factory.mktemp("race"))


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with migrated_postgres_schema() as url:
        yield url.render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest) -> Iterator[tuple[str, SqlUnitOfWorkFactory]]:
    url: str = request.getfixturevalue(f"{request.param}_url")
    factory = SqlUnitOfWorkFactory(url)
    empty_tables(factory.engine)
    with factory() as uow:
        for index in range(1, CONTENDERS + 1):
            uow.doctors.add(doctor(f"d{index}"))
            uow.patients.add(patient(f"p{index}"))
        uow.commit()
    yield url, factory
    factory.dispose()


def _race(
    workers: ProcessPoolExecutor,
    manager: SyncManager,
    url: str,
    attempts: list[tuple[str, str, datetime]],
) -> list[str]:
    barrier = manager.Barrier(len(attempts))
    futures = [
        workers.submit(contend, url, barrier, f"a{index}", doctor_key, patient_key, start)
        for index, (doctor_key, patient_key, start) in enumerate(attempts)
    ]
    results = [future.result(timeout=300) for future in futures]
    # A worker blocks in the barrier until all have arrived, so these were distinct processes.
    assert len({pid for pid, _ in results}) == len(attempts)
    return [outcome for _, outcome in results]


def _active(factory: UnitOfWorkFactory, doctor_key: str | None = None) -> list[TimeRange]:
    everything = TimeRange(at(0), at(24))
    with factory() as uow:
        if doctor_key is not None:
            found = uow.appointments.for_doctor(DoctorId(doctor_key), everything)
        else:
            found = uow.appointments.for_patient(PatientId("p1"), everything, active_only=True)
    return [a.time for a in found]


def test_one_slot_wanted_by_32_processes_is_booked_once(
    database: tuple[str, SqlUnitOfWorkFactory],
    workers: ProcessPoolExecutor,
    manager: SyncManager,
) -> None:
    url, factory = database
    attempts = [("d1", f"p{index}", at(9)) for index in range(1, CONTENDERS + 1)]
    outcomes = _race(workers, manager, url, attempts)
    assert sorted(outcomes) == sorted([WON] + [REFUSED] * (CONTENDERS - 1)), outcomes
    assert _active(factory, "d1") == [TimeRange(at(9), at(9, 30))]


def test_overlapping_intervals_from_32_processes_keep_one(
    database: tuple[str, SqlUnitOfWorkFactory],
    workers: ProcessPoolExecutor,
    manager: SyncManager,
) -> None:
    url, factory = database
    # Half want 09:00-09:30, half 09:15-09:45: different starts, so only an interval rule
    # (not a unique start) can stop both from being stored.
    attempts = [
        ("d1", f"p{index}", at(9, 15) if index % 2 else at(9)) for index in range(1, CONTENDERS + 1)
    ]
    outcomes = _race(workers, manager, url, attempts)
    assert sorted(outcomes) == sorted([WON] + [REFUSED] * (CONTENDERS - 1)), outcomes
    stored = _active(factory, "d1")
    assert len(stored) == 1
    assert stored[0].start in (at(9), at(9, 15))


def test_one_patient_booked_with_32_doctors_at_once_gets_one(
    database: tuple[str, SqlUnitOfWorkFactory],
    workers: ProcessPoolExecutor,
    manager: SyncManager,
) -> None:
    url, factory = database
    attempts = [
        (f"d{index}", "p1", at(9) + timedelta(minutes=index % 2 * 15))
        for index in range(1, CONTENDERS + 1)
    ]
    outcomes = _race(workers, manager, url, attempts)
    assert sorted(outcomes) == sorted([WON] + [REFUSED] * (CONTENDERS - 1)), outcomes
    assert len(_active(factory)) == 1


def test_without_the_database_rule_every_process_would_win(
    tmp_path: Path, workers: ProcessPoolExecutor, manager: SyncManager
) -> None:
    """The race above is real: with the SQLite triggers dropped, all 32 writers store their
    overlapping appointments, so the assertions above hold only because of the database."""
    url = migrated_sqlite_file(tmp_path)
    factory = SqlUnitOfWorkFactory(url)
    with factory.engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER appointments_no_overlap_on_insert")
    with factory() as uow:
        uow.doctors.add(doctor("d1"))
        for index in range(1, CONTENDERS + 1):
            uow.patients.add(patient(f"p{index}"))
        uow.commit()
    attempts = [("d1", f"p{index}", at(9)) for index in range(1, CONTENDERS + 1)]
    assert _race(workers, manager, url, attempts) == [WON] * CONTENDERS
    factory.dispose()


def test_32_processes_booking_overlapping_series_store_whole_series_without_overlap(
    database: tuple[str, SqlUnitOfWorkFactory],
    workers: ProcessPoolExecutor,
    manager: SyncManager,
) -> None:
    """Issue 17: 32 patients each book a daily series of 4 visits at 09:00 with one doctor,
    starting on one of 8 days, so every series overlaps others on some days (several may
    win: those from days 0 and 4 do not meet). Each series is
    stored whole or not at all, and the doctor is never double-booked."""
    url, factory = database
    with factory() as uow:
        uow.availability.save(every_day(DoctorId("d1")))
        uow.commit()
    barrier = manager.Barrier(CONTENDERS)
    futures = [
        workers.submit(contend_series, url, barrier, f"s{index}", f"p{index}", index % 8, 4)
        for index in range(1, CONTENDERS + 1)
    ]
    results = [future.result(timeout=300) for future in futures]
    assert len({pid for pid, _ in results}) == CONTENDERS
    outcomes = [outcome for _, outcome in results]
    won = [outcome.split()[1] for outcome in outcomes if outcome.startswith(WON)]
    assert won, outcomes
    assert len(won) + outcomes.count(REFUSED) == CONTENDERS, outcomes
    with factory() as uow:
        stored = uow.appointments.for_doctor(DoctorId("d1"), TimeRange(at(0), at(0, day=12)))
    # Whole series only: 4 occurrences for each winner, none of anyone else's.
    assert sorted(a.series_id.value for a in stored if a.series_id) == sorted(won * 4)
    assert len(stored) == 4 * len(won)
    times = sorted((a.blocked for a in stored), key=lambda blocked: blocked.start)
    assert all(not one.overlaps(other) for one, other in itertools.pairwise(times))
