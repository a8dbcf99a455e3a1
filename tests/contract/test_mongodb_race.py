"""A real race: 32 OS processes, each with its own MongoClient, released together by a barrier,
write through the repository (bypassing the slot grid) into three conflicts at once:

* the same slot of one doctor (09:00-09:30, every process a different patient);
* overlapping intervals of one doctor (09:00-09:30 against 09:15-09:45, half each);
* overlapping intervals of one patient with 32 different doctors.

Exactly one process must win each, every other must be told ``SlotUnavailable``.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb.testing import add_when_released, new_factory, server_url
from hellodoctor_adapters.testing.fixtures import appointment, at, doctor, patient
from hellodoctor_domain import DoctorId, PatientId, TimeRange

PROCESSES = 32
CONFLICTS = ("same slot", "overlapping doctor", "overlapping patient")


def attempts(index: int) -> list[tuple[str, Any]]:
    half_past = index % 2 == 1  # odd processes want 09:15-09:45, even ones 09:00-09:30
    start = at(9, 15 if half_past else 0)
    return [
        ("same slot", appointment(f"slot-{index}", at(9), 30, patient_key=f"p{index}")),
        (
            "overlapping doctor",
            appointment(f"doc-{index}", start, 30, doctor_key="d2", patient_key=f"q{index}"),
        ),
        (
            "overlapping patient",
            appointment(f"pat-{index}", start, 30, doctor_key=f"c{index}", patient_key="shared"),
        ),
    ]


@pytest.fixture
def factory() -> Any:
    made = new_factory()
    with made() as uow:
        for key in ["d1", "d2", *(f"c{i}" for i in range(PROCESSES))]:
            uow.doctors.add(doctor(key))
        for key in [
            "shared",
            *(f"p{i}" for i in range(PROCESSES)),
            *(f"q{i}" for i in range(PROCESSES)),
        ]:
            uow.patients.add(patient(key))
        uow.commit()
    yield made
    made.client.drop_database(made.store.database.name)
    made.close()


def test_32_processes_racing_make_exactly_one_winner_per_conflict(
    factory: MongoUnitOfWorkFactory,
) -> None:
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(PROCESSES, timeout=120)
    results = spawn.Queue()
    url = server_url()
    processes = [
        spawn.Process(
            target=add_when_released,
            args=(url, factory.store.database.name, attempts(i), barrier, results),
        )
        for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=180) for _ in range(PROCESSES * len(CONFLICTS))]
    for process in processes:
        process.join(timeout=60)
    assert all(process.exitcode == 0 for process in processes)

    for conflict in CONFLICTS:
        answers = sorted(outcome for name, outcome in outcomes if name == conflict)
        assert answers == ["SlotUnavailable"] * (PROCESSES - 1) + ["won"], (conflict, answers)

    window = TimeRange(at(0), at(24))
    with factory() as uow:
        assert len(uow.appointments.for_doctor(DoctorId("d1"), window)) == 1
        assert len(uow.appointments.for_doctor(DoctorId("d2"), window)) == 1
        assert len(uow.appointments.for_patient(PatientId("shared"), window)) == 1
