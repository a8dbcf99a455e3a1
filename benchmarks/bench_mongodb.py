"""Bookings through the MongoDB adapter: server operations per booking, bookings per second
beside raw ``insert_one`` into the same collection, and 64 clients racing for one slot -- all
in one run, against one server.

Not a test: it prints figures and ratios, and asserts nothing about speed (it does exit
non-zero if a race does not end with exactly one winner).

    .venv/bin/python benchmarks/bench_mongodb.py            # SecantusDB started in-process
    HELLODOCTOR_BENCH_MONGODB_URI=mongodb://... .venv/bin/python benchmarks/bench_mongodb.py

A *booking* is ``Scheduling.book`` (a patient's request, no Idempotency-Key unless said): the
doctor and availability read, the rules, the doctor's and the patient's claims, the appointment
with its ``AppointmentBooked`` event, the commit.

1. **Operations per booking**: every command the driver sends, counted by a
   ``pymongo.monitoring.CommandListener`` while one client books one slot at a time (each a
   new patient, so the patient's claim cell is new while the doctor's already exists, as in a
   real clinic's day); "statements" counts a bulk command's documents or updates one by one, as
   the server's opcounters do. Goal: at most 4 commands without an Idempotency-Key.
2. **Bookings/s vs raw insert_one** at 1, 8 and 32 worker processes (spawn, each its own
   MongoClient), each booking consecutive slots of its own doctor; the baseline is a raw
   ``insert_one`` of the same appointment documents into ``appointments``. Goal: at least 0.35.
3. **64 clients racing for one slot** (8 processes of 8 threads, different patients, one
   doctor): exactly one winner per round; the losers' p99 beside the median latency of a
   single uncontended booking (one client alone) and beside 64 clients booking 64 different
   doctors at once (the same load, no contention). Goal: losers' p99 no worse than twice a
   single uncontended booking.

``--smoke`` runs every step briefly (tiny counts, 4 racing clients) to prove the script works.
On SecantusDB the timings are SecantusDB's, never MongoDB's: read the ratios, and the
operation counts (which any server would see the same).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, timedelta
from typing import Any

from pymongo import MongoClient, monitoring

from hellodoctor_adapters.memory import ManualClock
from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb.documents import appointment_to_document
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.runtime import UuidIds
from hellodoctor_adapters.testing.fixtures import MONDAY, appointment, at, doctor, every_day
from hellodoctor_adapters.testing.fixtures import patient as patient_profile
from hellodoctor_domain import Actor, DoctorId, PatientId
from hellodoctor_domain.errors import SlotUnavailable
from hellodoctor_domain.use_cases.booking_request import BookingRequest
from hellodoctor_domain.use_cases.scheduling import Scheduling

WORKER_COUNTS = (1, 8, 32)
SLOTS_A_DAY = 20  # 08:00-18:00, 30-minute slots
# --smoke: every step, briefly; the figures mean nothing.
SMOKE = {"total": 20, "workers": [1], "counted": 3, "clients": 4, "rounds": 2, "singles": 3}
GOAL_OPERATIONS = 4
GOAL_RATIO = 0.35
GOAL_RACE = 2.0


# -- a clinic, and bookings through the use case ------------------------------------------------


def factory_for(url: str, database: str, **client: Any) -> MongoUnitOfWorkFactory:
    made = MongoClient(url, tz_aware=True, tzinfo=UTC, **client)
    return MongoUnitOfWorkFactory(url, database=database, client=made)


def open_clinic(factory: MongoUnitOfWorkFactory, doctors: list[str], patients: list[str]) -> None:
    """Doctors taking bookings every day 08:00-18:00 (a year ahead, no notice needed), and
    patients."""
    with factory() as uow:
        for key in doctors:
            uow.doctors.add(doctor(key))
        for key in patients:
            uow.patients.add(patient_profile(key))
        uow.commit()
    with factory() as uow:
        for key in doctors:
            uow.availability.save(
                every_day(
                    DoctorId(key),
                    minimum_notice=timedelta(0),
                    booking_horizon=timedelta(days=400),
                )
            )
        uow.commit()


def scheduling(factory: MongoUnitOfWorkFactory) -> Scheduling:
    clock = ManualClock(MONDAY - timedelta(days=1))
    return Scheduling(factory, clock, UuidIds(), OfflinePaymentGateway())


def slot(n: int) -> Any:
    return at(8, 30 * (n % SLOTS_A_DAY), day=n // SLOTS_A_DAY)


def book(
    booking: Scheduling, doctor_key: str, patient_key: str, n: int, key: str | None = None
) -> Any:
    patient_id = PatientId(patient_key)
    return booking.book(
        Actor.patient(patient_id),
        BookingRequest(
            doctor_id=DoctorId(doctor_key),
            patient_id=patient_id,
            start=slot(n),
            idempotency_key=key,
        ),
    )


# -- 1. operations per booking -----------------------------------------------------------------


# Where a write command lists its statements (the server's opcounters count each one).
_STATEMENTS = {"insert": "documents", "update": "updates", "delete": "deletes"}


class Commands(monitoring.CommandListener):
    """Counts the commands (and their statements) a client sends while ``counting``."""

    def __init__(self) -> None:
        self.counting = False
        self.commands: Counter[str] = Counter()
        self.statements: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.counting:
            return
        name = event.command_name
        self.commands[name] += 1
        self.statements[name] += len(event.command.get(_STATEMENTS.get(name, ""), [])) or 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def count_operations(url: str, counted: int) -> dict[str, tuple[float, float, Counter[str]]]:
    """Commands and statements per booking, without and with an Idempotency-Key."""
    listener = Commands()
    database = f"hellodoctor_bench_{uuid.uuid4().hex[:8]}"
    factory = factory_for(url, database, event_listeners=[listener])
    patients = [f"p{n}" for n in range(2 * counted + 2)]
    open_clinic(factory, ["d1"], patients)
    booking = scheduling(factory)
    book(booking, "d1", patients[-1], 0)  # warm up: indexes, the doctor's day cell
    found = {}
    for label, offset in (("without an Idempotency-Key", 0), ("with an Idempotency-Key", 1)):
        listener.commands.clear()
        listener.statements.clear()
        listener.counting = True
        for n in range(counted):
            index = offset * counted + n
            key = None if offset == 0 else f"key-{index}"
            book(booking, "d1", patients[index], 1 + index, key)
        listener.counting = False
        commands = sum(listener.commands.values()) / counted
        statements = sum(listener.statements.values()) / counted
        found[label] = (commands, statements, Counter(listener.commands))
    factory.client.drop_database(database)
    factory.close()
    return found


# -- 2. bookings per second beside raw insert_one ----------------------------------------------


def throughput_worker(
    url: str, database: str, mode: str, index: int, count: int, barrier: Any, done: Any
) -> None:
    factory = factory_for(url, database)
    factory.ensure_indexes()
    booking = scheduling(factory)
    documents = [
        appointment_to_document(
            appointment(f"raw-{index}-{n}", slot(n), 30, doctor_key=f"d{index}")
        )
        for n in range(count)
    ]
    collection = factory.store.collection("appointments")
    barrier.wait()
    if mode == "raw":
        for document in documents:
            collection.insert_one(document)
    else:
        for n in range(count):
            book(booking, f"d{index}", f"p{index}", n)
    done.put(index)
    factory.close()


def throughput(url: str, mode: str, workers: int, total: int) -> float:
    database = f"hellodoctor_bench_{uuid.uuid4().hex[:8]}"
    factory = factory_for(url, database)
    keys = [str(index) for index in range(workers)]
    open_clinic(factory, [f"d{k}" for k in keys], [f"p{k}" for k in keys])
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(workers + 1)
    done = spawn.Queue()
    per_worker = max(1, total // workers)
    processes = [
        spawn.Process(
            target=throughput_worker, args=(url, database, mode, i, per_worker, barrier, done)
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    for _ in processes:
        done.get(timeout=900)
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    stored = factory.store.collection("appointments").count_documents({})
    assert stored == per_worker * workers, (stored, per_worker * workers)
    factory.client.drop_database(database)
    factory.close()
    return per_worker * workers / elapsed


# -- 3. racing for one slot --------------------------------------------------------------------


def race_worker(
    url: str, database: str, process: int, threads: int, plan: list[str], barrier: Any, out: Any
) -> None:
    """One process of racing clients: for each round of ``plan`` -- ``race`` (every client the
    same slot of d0), ``apart`` (each client its own doctor) or ``single`` (client 0 of process
    0 alone) -- wait at ``barrier``, book, and report ``(round, outcome, seconds)``."""
    factory = factory_for(url, database, maxPoolSize=threads + 4)
    factory.ensure_indexes()
    booking = scheduling(factory)

    def client(thread: int) -> None:
        me = process * threads + thread
        for number, kind in enumerate(plan):
            barrier.wait()
            if kind == "single" and me != 0:
                continue
            doctor_key = f"d{me + 1}" if kind == "apart" else "d0"
            started = time.perf_counter()
            try:
                book(booking, doctor_key, f"r{me}", number)
                outcome = "won"
            except SlotUnavailable:
                outcome = "lost"
            except Exception as error:  # reported, and fails the run
                outcome = f"{type(error).__name__}: {error}"
            out.put((number, kind, outcome, time.perf_counter() - started))

    running = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    factory.close()


def race(url: str, clients: int, rounds: int, singles: int) -> dict[str, list[Any]]:
    database = f"hellodoctor_bench_{uuid.uuid4().hex[:8]}"
    factory = factory_for(url, database)
    open_clinic(factory, [f"d{n}" for n in range(clients + 1)], [f"r{n}" for n in range(clients)])
    processes_count = min(8, clients)
    threads = clients // processes_count
    # Warm-up rounds first (connections, imports), then singles, apart and races interleaved.
    plan = ["apart", "race"] + ["single"] * singles + ["apart", "race"] * rounds
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(processes_count * threads, timeout=600)
    out = spawn.Queue()
    processes = [
        spawn.Process(target=race_worker, args=(url, database, p, threads, plan, barrier, out))
        for p in range(processes_count)
    ]
    for process in processes:
        process.start()
    expected = sum(1 if kind == "single" else clients for kind in plan)
    results = [out.get(timeout=900) for _ in range(expected)]
    for process in processes:
        process.join()
    factory.client.drop_database(database)
    factory.close()
    by_round: dict[int, list[Any]] = {}
    for number, kind, outcome, seconds in results:
        by_round.setdefault(number, []).append((kind, outcome, seconds))
    found: dict[str, list[Any]] = {"single": [], "apart": [], "losers": [], "winners": []}
    for number, rows in sorted(by_round.items()):
        if number < 2:
            continue  # warm-up
        kind = rows[0][0]
        outcomes = Counter(outcome for _, outcome, _ in rows)
        if kind == "race":
            if outcomes != Counter({"won": 1, "lost": clients - 1}):
                raise SystemExit(f"race round {number}: {dict(outcomes)}")
            found["losers"].extend(s for _, outcome, s in rows if outcome == "lost")
            found["winners"].extend(s for _, outcome, s in rows if outcome == "won")
        else:
            if set(outcomes) != {"won"}:
                raise SystemExit(f"{kind} round {number}: {dict(outcomes)}")
            found[kind].extend(s for _, _, s in rows)
    return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def milliseconds(value: float) -> str:
    return f"{value * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--total", type=int, default=960, help="writes per measurement")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=list(WORKER_COUNTS), help="worker processes"
    )
    parser.add_argument("--counted", type=int, default=20, help="bookings counted (step 1)")
    parser.add_argument("--clients", type=int, default=64, help="racing clients (step 3)")
    parser.add_argument("--rounds", type=int, default=5, help="races (step 3)")
    parser.add_argument("--singles", type=int, default=20, help="lone bookings (step 3)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["count", "rate", "race"])
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
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    failed = False
    try:
        if "count" not in arguments.skip:
            print("\n1. server operations per booking (Scheduling.book, command monitoring)")
            for label, (commands, statements, names) in count_operations(
                url, arguments.counted
            ).items():
                by_name = ", ".join(
                    f"{name} {count / arguments.counted:.2f}"
                    for name, count in sorted(names.items())
                )
                print(f"  {label}: {commands:.2f} commands, {statements:.2f} statements")
                print(f"    {by_name}")
                if label.startswith("without"):
                    met = "met" if commands <= GOAL_OPERATIONS else "NOT met"
                    print(f"    goal: at most {GOAL_OPERATIONS} commands: {met}")
        if "rate" not in arguments.skip:
            print("\n2. bookings/s through Scheduling.book beside raw insert_one")
            print(f"  {'workers':>7} {'bookings/s':>11} {'raw inserts/s':>14}")
            rates = []
            for workers in arguments.workers:
                raw = throughput(url, "raw", workers, arguments.total)
                booked = throughput(url, "book", workers, arguments.total)
                print(f"  {workers:>7} {booked:>11.0f} {raw:>14.0f}")
                rates.append((workers, raw, booked))
            for workers, raw, booked in rates:
                met = "met" if booked / raw >= GOAL_RATIO else "NOT met"
                print(
                    f"booking / raw insert_one, workers={workers}: {booked / raw:.0%}"
                    f"  (goal {GOAL_RATIO:.0%}: {met})"
                )
        if "race" not in arguments.skip:
            print(
                f"\n3. {arguments.clients} clients racing for one slot, {arguments.rounds} rounds"
            )
            found = race(url, arguments.clients, arguments.rounds, arguments.singles)
            single = statistics.median(found["single"])
            losers_p99 = percentile(found["losers"], 0.99)
            apart_p99 = percentile(found["apart"], 0.99)
            print(f"  one winner in every round: yes ({len(found['winners'])} rounds)")
            print(f"  single uncontended booking, median: {milliseconds(single)}")
            print(
                f"  {arguments.clients} clients, each its own doctor: p50 "
                f"{milliseconds(percentile(found['apart'], 0.5))}, p99 {milliseconds(apart_p99)}"
            )
            print(
                f"  winners: median {milliseconds(statistics.median(found['winners']))}; "
                f"losers: p50 {milliseconds(percentile(found['losers'], 0.5))}, "
                f"p99 {milliseconds(losers_p99)}"
            )
            met = "met" if losers_p99 <= GOAL_RACE * single else "NOT met"
            print(
                f"losers' p99 / single uncontended booking: {losers_p99 / single:.0%}"
                f"  (goal at most {GOAL_RACE:.0%}: {met})"
            )
            apart = f"p99 of {arguments.clients} uncontended"
            print(f"losers' p99 / {apart}: {losers_p99 / apart_p99:.0%}")
    except SystemExit as error:
        print(error, file=sys.stderr)
        failed = True
    finally:
        if server is not None:
            server.stop()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
