"""How far one PostgreSQL primary goes (not a test): bookings per second and per CPU core, with
the commit's WAL flush as the limit. docs/scaling.md reads these figures.

Four ways to write a booking, each at 1 and 8 worker processes, in one run, into a schema of
its own (dropped at the end):

* ``raw``: one psycopg ``INSERT`` of an appointment row, then ``COMMIT`` (two round trips);
* ``raw, async commit``: the same with ``synchronous_commit = off`` for the session, so the
  ``COMMIT`` returns before its WAL record is flushed to disk;
* ``book``: ``Scheduling.book`` through the SQLAlchemy adapter (reads, rules, insert, outbox,
  commit);
* ``book, async commit``: the same with ``synchronous_commit = off``.

Every worker books its own doctor's calendar (no contention: this measures cost, not races).
For each run the script prints bookings/s, the CPU milliseconds one booking costs in the
client process and in its PostgreSQL backend (read from ``/proc/<backend pid>/stat``, so other
helpers' load does not count), bookings per core-second derived from them, and the wall-clock
milliseconds one booking takes in one worker: what is not CPU is waiting (the WAL flush, round
trips, and on a shared machine the run queue).

    HELLODOCTOR_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python benchmarks/bench_commit.py [--seconds 3] [--workers 1 8]

Ratios are against the synchronous raw INSERT of the same run. ``--smoke`` runs every mode
for a fraction of a second (one worker) to prove the script still works.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import psycopg

from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory, create_engine, upgrade
from hellodoctor_adapters.sqlalchemy.provision import create_postgres_schema, drop_postgres_schema
from hellodoctor_adapters.testing.fixtures import doctor, patient
from hellodoctor_domain import (
    Actor,
    Availability,
    BookingRequest,
    DoctorId,
    LocalWindow,
    PatientId,
    Scheduling,
    Weekday,
    WorkingDay,
)

NOW = datetime(2030, 1, 6, 12, tzinfo=UTC)
FIRST_DAY = datetime(2030, 1, 7, tzinfo=UTC)
SLOT = timedelta(minutes=30)
SLOTS_PER_DAY = 47  # 00:00-23:59 working day, 30-minute grid
WARM_UP_SLOT = SLOTS_PER_DAY * 3000  # far from the measured slots, inside the horizon
WORKER_COUNTS = (1, 8)
MODES = ("raw", "raw, async commit", "book", "book, async commit")
ASYNC = "-csynchronous_commit%3Doff"
# --smoke: every step, briefly; the figures mean nothing.
SMOKE = {"seconds": 0.2, "workers": [1]}
TICK = os.sysconf("SC_CLK_TCK")

INSERT = """
INSERT INTO appointments (id, doctor_id, patient_id, starts_at, ends_at, blocked_until, status,
    price_minor_units, price_currency, created_at, appointment_type, visit_kind, reason, version)
VALUES (%s, %s, %s, %s, %s, %s, 'booked', 0, 'EUR', %s, 'in_person', 'regular', '', 1)
"""


def _slot(index: int) -> datetime:
    return FIRST_DAY + timedelta(days=index // SLOTS_PER_DAY) + SLOT * (index % SLOTS_PER_DAY)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _with_async_commit(url: str) -> str:
    # The schema URL already carries "options=-csearch_path%3D..."; add one more -c option.
    return url.replace("options=-csearch_path", f"options={ASYNC}%20-csearch_path")


def _backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) the backend process ``pid`` has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


# -- the workers (spawned processes) --------------------------------------------------------


def _raw(url: str, worker: int, barrier: Any, seconds: float) -> tuple[int, float, float, float]:
    with psycopg.connect(_libpq(url)) as connection:
        pid = connection.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        connection.commit()
        barrier.wait()
        done, started = 0, time.perf_counter()
        cpu, server = time.process_time(), _backend_cpu(pid)
        while (elapsed := time.perf_counter() - started) < seconds:
            start = _slot(done)
            row = (f"raw-{worker}-{done}", f"d{worker}", f"p{worker}", start, start + SLOT)
            connection.execute(INSERT, (*row, start + SLOT, NOW))
            connection.commit()
            done += 1
        return done, elapsed, time.process_time() - cpu, _backend_cpu(pid) - server


def _book(url: str, worker: int, barrier: Any, seconds: float) -> tuple[int, float, float, float]:
    factory = SqlUnitOfWorkFactory(url)
    scheduling = Scheduling(
        factory, ManualClock(NOW), SequentialIds(f"w{worker}"), OfflinePaymentGateway()
    )
    actor = Actor.patient(PatientId(f"p{worker}"))

    def book(slot: int) -> None:
        scheduling.book(
            actor,
            BookingRequest(
                doctor_id=DoctorId(f"d{worker}"),
                patient_id=PatientId(f"p{worker}"),
                start=_slot(slot),
            ),
        )

    for warm_up in range(3):  # connection, compiled statements, cattrs' generated code
        book(WARM_UP_SLOT + warm_up)
    with factory.engine.connect() as connection:  # the pool's one connection, reused below
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    barrier.wait()
    done, started = 0, time.perf_counter()
    cpu, server = time.process_time(), _backend_cpu(pid)
    while (elapsed := time.perf_counter() - started) < seconds:
        book(done)
        done += 1
    measured = done, elapsed, time.process_time() - cpu, _backend_cpu(pid) - server
    factory.dispose()
    return measured


# -- one run --------------------------------------------------------------------------------


def run(url: str, mode: str, workers: int, seconds: float) -> dict[str, float]:
    target = _with_async_commit(url) if mode.endswith("async commit") else url
    job = _raw if mode.startswith("raw") else _book
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        barrier = manager.Barrier(workers)
        with context.Pool(workers) as pool:
            results = pool.starmap(
                job, [(target, worker, barrier, seconds) for worker in range(workers)]
            )
    done = sum(result[0] for result in results)
    client = sum(result[2] for result in results)
    server = sum(result[3] for result in results)
    return {
        "rate": sum(result[0] / result[1] for result in results),
        "client_ms": 1000 * client / done,
        "server_ms": 1000 * server / done,
        "per_core": done / (client + server) if client + server else 0.0,
        "wall_ms": 1000 * sum(result[1] for result in results) / done,
    }


def _prepare(url: str, workers: int) -> SqlUnitOfWorkFactory:
    factory = SqlUnitOfWorkFactory(url)
    anytime = [WorkingDay(day, [LocalWindow(clock_time(0), clock_time(23, 59))]) for day in Weekday]
    with factory() as uow:
        for worker in range(workers):
            uow.doctors.add(doctor(f"d{worker}"))
            uow.patients.add(patient(f"p{worker}"))
            uow.availability.save(
                Availability(
                    DoctorId(f"d{worker}"),
                    "UTC",
                    anytime,
                    slot_length=SLOT,
                    minimum_notice=timedelta(0),
                    booking_horizon=timedelta(days=3650),
                )
            )
        uow.commit()
    return factory


def _empty_appointments(factory: SqlUnitOfWorkFactory) -> None:
    # CASCADE: idempotency keys and payments name appointments by foreign key.
    with factory.engine.begin() as connection:
        connection.exec_driver_sql("TRUNCATE appointments, outbox CASCADE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per run")
    parser.add_argument("--workers", type=int, nargs="+", default=list(WORKER_COUNTS))
    parser.add_argument("--smoke", action="store_true", help=f"a second or so: {SMOKE}")
    arguments = parser.parse_args()
    if arguments.smoke:
        vars(arguments).update(SMOKE)
    server = os.environ.get(
        "HELLODOCTOR_BENCH_POSTGRES_URL",
        os.environ.get(
            "HELLODOCTOR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    schema_url = create_postgres_schema(server, prefix="hellodoctor_bench")
    url = schema_url.render_as_string(hide_password=False)
    try:
        engine = create_engine(schema_url)
        upgrade(engine)
        engine.dispose()
        with psycopg.connect(_libpq(url)) as connection:
            settings = dict(
                connection.execute(
                    "SELECT name, setting FROM pg_settings WHERE name IN "
                    "('fsync', 'synchronous_commit', 'wal_sync_method', 'commit_delay')"
                ).fetchall()
            )
        with psycopg.connect(_libpq(_with_async_commit(url))) as connection:
            asynchronous = connection.execute("SHOW synchronous_commit").fetchone()
        assert asynchronous == ("off",), asynchronous
        load = ", ".join(f"{figure:.1f}" for figure in os.getloadavg())
        print(f"PostgreSQL, {os.cpu_count()} CPUs, load average {load} at start")
        print(", ".join(f"{name}={value}" for name, value in sorted(settings.items())))
        print(f"{arguments.seconds:g} s per run; CPU ms per booking: client + its backend\n")
        print(
            f"{'mode':<20} {'workers':>7} {'bookings/s':>10} {'client ms':>9} "
            f"{'server ms':>9} {'per core-s':>10} {'wall ms':>8}"
        )
        factory = _prepare(url, max(arguments.workers))
        figures: dict[tuple[str, int], dict[str, float]] = {}
        for workers in arguments.workers:
            for mode in MODES:
                measured = run(url, mode, workers, arguments.seconds)
                _empty_appointments(factory)
                figures[mode, workers] = measured
                print(
                    f"{mode:<20} {workers:>7} {measured['rate']:>10.0f} "
                    f"{measured['client_ms']:>9.2f} {measured['server_ms']:>9.2f} "
                    f"{measured['per_core']:>10.0f} {measured['wall_ms']:>8.2f}"
                )
        factory.dispose()
        print(f"load average {', '.join(f'{f:.1f}' for f in os.getloadavg())} at end\n")
        for workers in arguments.workers:
            raw = figures["raw", workers]["rate"]
            for mode in MODES[1:]:
                share = figures[mode, workers]["rate"] / raw
                print(f"{mode} / raw INSERT+COMMIT, workers={workers}: {share:.0%}")
            book_async = figures["book, async commit", workers]["rate"]
            book = figures["book", workers]["rate"]
            print(f"book, async commit / book, workers={workers}: {book_async / book:.0%}")
    finally:
        drop_postgres_schema(schema_url)


if __name__ == "__main__":
    main()
