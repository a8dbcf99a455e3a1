"""Bookings per second through the MongoDB adapter, beside raw ``insert_one`` into the same
collection, at 1, 8 and 32 worker processes (each its own MongoClient), in one run.

Not a test: it prints figures and ratios, and asserts nothing about speed.

    .venv/bin/python benchmarks/bench_mongodb.py            # SecantusDB started in-process
    HELLODOCTOR_BENCH_MONGODB_URI=mongodb://... .venv/bin/python benchmarks/bench_mongodb.py

A booking is what ``Scheduling.book`` asks of storage: one unit of work that checks the doctor
and patient, claims the doctor's and the patient's time, inserts the appointment with its
events and commits (pruning and relaying the outbox). Workers book disjoint calendars (a doctor
and a patient each), so this measures the protocol's cost, not contention. ``--smoke`` runs for
about a second (one worker, a few writes) to prove the script still works.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time
import uuid
from typing import Any

from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb.documents import appointment_to_document
from hellodoctor_adapters.testing.fixtures import appointment, at, doctor, patient

WORKER_COUNTS = (1, 8, 32)
# --smoke: every step, briefly; the figures mean nothing.
SMOKE = {"total": 20, "workers": [1]}


def _appointments(worker: int, count: int, prefix: str) -> list[Any]:
    # Back-to-back 30-minute visits, 16 a day, in the worker's own calendar.
    return [
        appointment(
            f"{prefix}-{worker}-{n}",
            at(8, 30 * (n % 16), day=n // 16),
            30,
            doctor_key=f"d{worker}",
            patient_key=f"p{worker}",
        )
        for n in range(count)
    ]


def worker(
    url: str, database: str, mode: str, index: int, count: int, barrier: Any, done: Any
) -> None:
    factory = MongoUnitOfWorkFactory(url, database=database)
    factory.ensure_indexes()
    items = _appointments(index, count, mode)
    documents = [appointment_to_document(item) for item in items]
    collection = factory.store.collection("appointments")
    barrier.wait()
    if mode == "raw":
        for document in documents:
            collection.insert_one(document)
    else:
        for item in items:
            with factory() as uow:
                uow.appointments.add(item)
                uow.commit()
    done.put(index)
    factory.close()


def measure(url: str, mode: str, workers: int, total: int) -> float:
    database = f"hellodoctor_bench_{uuid.uuid4().hex[:8]}"
    factory = MongoUnitOfWorkFactory(url, database=database)
    with factory() as uow:
        for index in range(workers):
            uow.doctors.add(doctor(f"d{index}"))
            uow.patients.add(patient(f"p{index}"))
        uow.commit()
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(workers + 1)
    done = spawn.Queue()
    per_worker = max(1, total // workers)
    processes = [
        spawn.Process(target=worker, args=(url, database, mode, i, per_worker, barrier, done))
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    for _ in processes:
        done.get(timeout=600)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    stored = factory.store.collection("appointments").count_documents({})
    assert stored == per_worker * workers, (stored, per_worker * workers)
    factory.client.drop_database(database)
    factory.close()
    return per_worker * workers / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--total", type=int, default=960, help="writes per measurement")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=list(WORKER_COUNTS), help="worker processes"
    )
    parser.add_argument("--smoke", action="store_true", help=f"about a second: {SMOKE}")
    arguments = parser.parse_args()
    if arguments.smoke:
        vars(arguments).update(SMOKE)
    url = os.environ.get("HELLODOCTOR_BENCH_MONGODB_URI")
    server = None
    directory = None
    if not url:
        from secantus import SecantusDBServer  # type: ignore[import-untyped,unused-ignore]

        directory = tempfile.mkdtemp(prefix="hellodoctor-bench-")
        server = SecantusDBServer("127.0.0.1", 0, directory, replica_set_name=None)
        server.start()
        url = server.uri
        print("server: SecantusDB (in-process, standalone) - not MongoDB's figures")
    else:
        print(f"server: {url.split('@')[-1]}")
    try:
        print(f"{'workers':>7} {'bookings/s':>11} {'raw inserts/s':>14}")
        rates = []
        for workers in arguments.workers:
            raw = measure(url, "raw", workers, arguments.total)
            booked = measure(url, "book", workers, arguments.total)
            print(f"{workers:>7} {booked:>11.0f} {raw:>14.0f}")
            rates.append((workers, raw, booked))
        for workers, raw, booked in rates:
            print(f"booking / raw insert_one, workers={workers}: {booked / raw:.0%}")
    finally:
        if server is not None:
            server.stop()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
