"""Storage benchmark (not a test): PostgreSQL through the SQLAlchemy adapter.

1. Bookings per second through the use-case layer (``Scheduling.book``: one query for the
   doctor and its availability, the rules, then one statement inserting the appointment and
   its outbox row, which commits itself) at 1, 8 and 32 concurrent worker processes, beside
   raw psycopg INSERTs of the same rows into the same table at the same concurrency, measured
   in the same run.
2. 64 clients (spawned processes, connected and warmed up) racing through ``Scheduling.book``
   for one slot of one doctor at the same moment: exactly one must win; the losers' latency
   p50/p99 (goal on PostgreSQL: p99 under 50 ms), beside a free slot's after warm-up.
3. Free-slot listing latency (p50/p99) for one doctor over 30 days with 10^4 and then 10^6
   appointments in the table: the adapter's query alone (``for_doctor``) and the whole use case
   (``Scheduling.free_slots``, which adds the domain's grid and filtering).

    HELLODOCTOR_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python benchmarks/bench_storage.py [--seconds 4] [--big 1000000]

Everything happens in a schema of its own, dropped at the end. Results are printed as ratios
against the raw baseline of the same run; absolute figures depend on the machine. ``--smoke``
runs everything for about a second (one worker, tiny tables) to prove the script still works.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from multiprocessing.managers import SyncManager
from typing import Any

import psycopg

from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory, create_engine, upgrade
from hellodoctor_adapters.sqlalchemy.provision import (
    create_postgres_schema,
    drop_postgres_schema,
    empty_tables,
)
from hellodoctor_adapters.testing.fixtures import doctor, patient
from hellodoctor_domain import (
    Actor,
    Availability,
    BookingRequest,
    DoctorId,
    LocalWindow,
    PatientId,
    Scheduling,
    TimeRange,
    Weekday,
    WorkingDay,
)
from hellodoctor_domain.errors import SlotUnavailable

NOW = datetime(2030, 1, 6, 12, tzinfo=UTC)
FIRST_DAY = datetime(2030, 1, 7, tzinfo=UTC)
SLOT = timedelta(minutes=30)
SLOTS_PER_DAY = 47  # 00:00-23:59 working day, 30-minute grid
WORKER_COUNTS = (1, 8, 32)
# --smoke: every step, briefly; the figures mean nothing.
SMOKE = {
    "seconds": 0.2,
    "workers": [1],
    "small": 1_000,
    "big": 2_000,
    "repeats": 3,
    "racers": 4,
}
RACERS = 64
RACE_SLOT = SLOTS_PER_DAY * 2000  # one slot everyone wants, far from the others
WARM_UP_SLOT = SLOTS_PER_DAY * 3000  # far from the measured slots, inside the horizon

INSERT = """
INSERT INTO appointments (id, doctor_id, patient_id, starts_at, ends_at, blocked_until, status,
    price_minor_units, price_currency, created_at, appointment_type, visit_kind, reason, version)
VALUES (%s, %s, %s, %s, %s, %s, 'booked', 0, 'EUR', %s, 'in_person', 'regular', '', 1)
"""


def _slot(index: int) -> datetime:
    return FIRST_DAY + timedelta(days=index // SLOTS_PER_DAY) + SLOT * (index % SLOTS_PER_DAY)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


# -- booking throughput (runs in spawned worker processes) ------------------------------------


def _book_through_use_cases(url: str, worker: int, barrier: Any, seconds: float) -> float:
    factory = SqlUnitOfWorkFactory(url)
    scheduling = Scheduling(
        factory, ManualClock(NOW), SequentialIds(f"w{worker}"), OfflinePaymentGateway()
    )
    actor = Actor.patient(PatientId(f"p{worker}"))
    # Warm up before the start (connection, compiled statements, cattrs' generated code).
    for warm_up in range(3):
        scheduling.book(
            actor,
            BookingRequest(
                doctor_id=DoctorId(f"d{worker}"),
                patient_id=PatientId(f"p{worker}"),
                start=_slot(WARM_UP_SLOT + warm_up),
            ),
        )
    barrier.wait()
    done, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        scheduling.book(
            actor,
            BookingRequest(
                doctor_id=DoctorId(f"d{worker}"),
                patient_id=PatientId(f"p{worker}"),
                start=_slot(done),
            ),
        )
        done += 1
    factory.dispose()
    return done / elapsed


def _insert_raw(url: str, worker: int, barrier: Any, seconds: float) -> float:
    with psycopg.connect(_libpq(url)) as connection:
        connection.execute("SELECT 1")
        connection.commit()
        barrier.wait()
        done, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            start = _slot(done)
            connection.execute(
                INSERT,
                (
                    f"raw-{worker}-{done}",
                    f"d{worker}",
                    f"p{worker}",
                    start,
                    start + SLOT,
                    start + SLOT,
                    NOW,
                ),
            )
            connection.commit()
            done += 1
    return done / elapsed


def _throughput(manager: SyncManager, url: str, workers: int, seconds: float, job: Any) -> float:
    barrier = manager.Barrier(workers)
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        rates = pool.starmap(job, [(url, worker, barrier, seconds) for worker in range(workers)])
    return sum(rates)


def bench_bookings(
    url: str, seconds: float, worker_counts: list[int]
) -> list[tuple[int, float, float]]:
    global _patients_seeded
    factory = SqlUnitOfWorkFactory(url)
    anytime = [WorkingDay(day, [LocalWindow(clock_time(0), clock_time(23, 59))]) for day in Weekday]
    _patients_seeded = max(worker_counts)
    with factory() as uow:
        for worker in range(max(worker_counts)):
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
    results = []
    with multiprocessing.get_context("spawn").Manager() as manager:
        for workers in worker_counts:
            raw = _throughput(manager, url, workers, seconds, _insert_raw)
            _empty_appointments(factory)
            booked = _throughput(manager, url, workers, seconds, _book_through_use_cases)
            _empty_appointments(factory)
            results.append((workers, raw, booked))
    factory.dispose()
    return results


_patients_seeded = 0


def _empty_appointments(factory: SqlUnitOfWorkFactory) -> None:
    # CASCADE also empties what refers to appointments (idempotency keys, payments): PostgreSQL
    # refuses to truncate a table that another table's foreign key names, rows or not.
    with factory.engine.begin() as connection:
        connection.exec_driver_sql("TRUNCATE appointments, outbox CASCADE")


# -- many clients racing for one slot ---------------------------------------------------------


def _race(url: str, racer: int, barrier: Any) -> tuple[str, float, float]:
    """Book three warm-up slots of this racer's own, then (after the starting gun) the one slot
    everyone wants; report the outcome and both latencies in ms."""
    factory = SqlUnitOfWorkFactory(url)
    scheduling = Scheduling(
        factory, ManualClock(NOW), SequentialIds(f"r{racer}"), OfflinePaymentGateway()
    )
    who = PatientId(f"p{racer}")
    actor = Actor.patient(who)
    for warm_up in range(3):  # connect, compile, prepare; the last one is timed
        started = time.perf_counter()
        start = _slot(RACE_SLOT + 1 + racer * 3 + warm_up)
        scheduling.book(
            actor, BookingRequest(doctor_id=DoctorId("d0"), patient_id=who, start=start)
        )
    alone = (time.perf_counter() - started) * 1000
    barrier.wait()
    started = time.perf_counter()
    try:
        scheduling.book(
            actor,
            BookingRequest(doctor_id=DoctorId("d0"), patient_id=who, start=_slot(RACE_SLOT)),
        )
        outcome = "won"
    except SlotUnavailable:
        outcome = "lost"
    waited = (time.perf_counter() - started) * 1000
    factory.dispose()
    return outcome, waited, alone


def bench_race(url: str, racers: int) -> dict[str, Any]:
    """Run after ``bench_bookings`` (its doctors and patients; ``d0`` is the one raced for)."""
    factory = SqlUnitOfWorkFactory(url)
    with factory() as uow:
        for racer in range(racers):
            if racer >= _patients_seeded:
                uow.patients.add(patient(f"p{racer}"))
        uow.commit()
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(racers) as pool:
        barrier = manager.Barrier(racers)
        results = pool.starmap(_race, [(url, racer, barrier) for racer in range(racers)])
    _empty_appointments(factory)
    factory.dispose()
    lost = [waited for outcome, waited, _ in results if outcome == "lost"]
    return {
        "winners": sum(outcome == "won" for outcome, _, _ in results),
        "losers": len(lost),
        "lost": _percentiles(lost) if lost else (0.0, 0.0),
        "alone": _percentiles([alone for _, _, alone in results]),
    }


# -- slot listing latency -------------------------------------------------------------------


def _background_rows(first_doctor: int, doctors: int, per_doctor: int) -> Iterator[tuple]:
    """Other doctors' calendars: 90% completed history, 10% booked future, one patient each
    so that the patient constraint has real rows to look at too."""
    for number in range(first_doctor, first_doctor + doctors):
        for index in range(per_doctor):
            future = index % 10 == 0
            start = (NOW + timedelta(hours=index)) if future else (NOW - timedelta(hours=index + 1))
            yield (
                f"bg-{number}-{index}",
                f"bg-d{number}",
                f"bg-p{number}",
                start,
                start + SLOT,
                start + SLOT + timedelta(minutes=10),
                "booked" if future else "completed",
                NOW - timedelta(days=400),
            )


def _load_background(url: str, first_doctor: int, doctors: int, per_doctor: int) -> None:
    with psycopg.connect(_libpq(url)) as connection:
        with connection.cursor() as cursor:
            with cursor.copy(
                "COPY doctors (id, name, specialty, registration_number, fee_minor_units, "
                "fee_currency, time_zone, qualifications, languages, accepting_bookings, version) "
                "FROM STDIN"
            ) as copy:
                for number in range(first_doctor, first_doctor + doctors):
                    copy.write_row(
                        (
                            f"bg-d{number}",
                            "Dr",
                            "GP",
                            f"REG-bg-{number}",
                            0,
                            "EUR",
                            "UTC",
                            "[]",
                            "[]",
                            True,
                            1,
                        )
                    )
            with cursor.copy(
                "COPY patients (id, name, emergency_contacts, allergies, version) FROM STDIN"
            ) as copy:
                for number in range(first_doctor, first_doctor + doctors):
                    copy.write_row((f"bg-p{number}", "P", "[]", "[]", 1))
            with cursor.copy(
                "COPY appointments (id, doctor_id, patient_id, starts_at, ends_at, blocked_until, "
                "status, created_at, price_minor_units, price_currency, appointment_type, "
                "visit_kind, reason, version) FROM STDIN"
            ) as copy:
                for row in _background_rows(first_doctor, doctors, per_doctor):
                    copy.write_row((*row, 0, "EUR", "in_person", "regular", "", 1))
        connection.execute("ANALYZE")
        connection.commit()


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _measure_listing(factory: SqlUnitOfWorkFactory, repeats: int) -> dict[str, tuple[float, float]]:
    scheduling = Scheduling(factory, ManualClock(NOW), SequentialIds("x"), OfflinePaymentGateway())
    month = TimeRange(FIRST_DAY, FIRST_DAY + timedelta(days=30))
    query, whole = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        with factory() as uow:
            uow.appointments.for_doctor(DoctorId("target"), month)
        query.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        scheduling.free_slots(DoctorId("target"), month)
        whole.append((time.perf_counter() - started) * 1000)
    return {"query": _percentiles(query), "use case": _percentiles(whole)}


def bench_listing(
    url: str, sizes: tuple[int, int], repeats: int
) -> list[tuple[int, dict[str, Any]]]:
    factory = SqlUnitOfWorkFactory(url)
    empty_tables(factory.engine)
    # The doctor being listed: weekdays 09:00-17:00, 30-minute slots, every other slot of the
    # next 30 days booked.
    weekdays = [
        WorkingDay(day, [LocalWindow(clock_time(9), clock_time(17))]) for day in list(Weekday)[:5]
    ]
    scheduling = Scheduling(factory, ManualClock(NOW), SequentialIds("t"), OfflinePaymentGateway())
    with factory() as uow:
        uow.doctors.add(doctor("target"))
        uow.availability.save(
            Availability(
                DoctorId("target"),
                "UTC",
                weekdays,
                slot_length=SLOT,
                minimum_notice=timedelta(0),
                booking_horizon=timedelta(days=60),
            )
        )
        for number in range(2):
            uow.patients.add(patient(f"tp{number}"))
        uow.commit()
    month = TimeRange(FIRST_DAY, FIRST_DAY + timedelta(days=30))
    for position, slot in enumerate(scheduling.free_slots(DoctorId("target"), month)):
        if position % 2 == 0:
            who = PatientId(f"tp{position // 2 % 2}")
            scheduling.book(
                Actor.patient(who),
                BookingRequest(doctor_id=DoctorId("target"), patient_id=who, start=slot.time.start),
            )
    per_doctor = 1000
    results = []
    loaded = 0
    for size in sizes:
        doctors = (size - loaded) // per_doctor
        _load_background(url, loaded // per_doctor, doctors, per_doctor)
        loaded += doctors * per_doctor
        results.append((loaded, _measure_listing(factory, repeats)))
    factory.dispose()
    return results


# -- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per throughput run")
    parser.add_argument(
        "--workers", type=int, nargs="+", default=list(WORKER_COUNTS), help="worker processes"
    )
    parser.add_argument("--small", type=int, default=10_000, help="smaller table size")
    parser.add_argument("--big", type=int, default=1_000_000, help="largest table size")
    parser.add_argument("--repeats", type=int, default=300, help="listings per table size")
    parser.add_argument("--racers", type=int, default=RACERS, help="clients racing for a slot")
    parser.add_argument("--smoke", action="store_true", help=f"about a second: {SMOKE}")
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
        load = ", ".join(f"{figure:.1f}" for figure in os.getloadavg())
        print(f"PostgreSQL, {os.cpu_count()} CPUs, load average {load} at start; ")
        print(f"{arguments.seconds:g} s per throughput run")
        print("\nbookings/s   workers  raw INSERT  use case")
        bookings = bench_bookings(url, arguments.seconds, arguments.workers)
        for workers, raw, booked in bookings:
            print(f"             {workers:>7}  {raw:>10.0f}  {booked:>8.0f}")
        for workers, raw, booked in bookings:
            print(f"use case / raw INSERT, workers={workers}: {booked / raw:.0%}")
        race = bench_race(url, arguments.racers)
        (lost50, lost99), (alone50, alone99) = race["lost"], race["alone"]
        print(f"\n{arguments.racers} clients racing for one slot through Scheduling.book:")
        print(f"  winners {race['winners']} (must be 1), losers {race['losers']}")
        print(f"  losers' wait p50 {lost50:.1f} ms, p99 {lost99:.1f} ms (goal: p99 under 50 ms)")
        print(f"  a free slot after warm-up: p50 {alone50:.1f} ms, p99 {alone99:.1f} ms")
        if race["winners"] != 1:
            raise SystemExit(f"{race['winners']} clients won one slot")
        print(f"losers' p99 / 50 ms goal: {lost99 / 50:.0%}")
        print("\nfree slots, one doctor, 30 days (ms)")
        print("  appointments   query p50   p99   use case p50    p99")
        sizes = (arguments.small, arguments.big)
        for rows, figures in bench_listing(url, sizes, arguments.repeats):
            (qp50, qp99), (up50, up99) = figures["query"], figures["use case"]
            print(f"  {rows:>12,}   {qp50:>9.2f} {qp99:>5.2f}   {up50:>12.2f} {up99:>6.2f}")
    finally:
        drop_postgres_schema(schema_url)


if __name__ == "__main__":
    main()
