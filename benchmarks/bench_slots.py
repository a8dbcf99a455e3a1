"""Slot listing benchmark (not a test): one doctor's month of free slots on PostgreSQL, with
10^4 and then 10^6 appointments of other doctors in the table.

For each table size, in the same run and on the same data:

* **raw SELECT** (the baseline): raw psycopg on one open connection, autocommit, fetching only
  the doctor's busy ``(starts_at, blocked_until)`` pairs of the month -- the least any listing
  must ask the database;
* **for_doctor**: a unit of work and the adapter's ``for_doctor`` (whole ``Appointment``
  entities), what the listing read before it had a narrow port method;
* **busy times**: a unit of work and ``AppointmentRepository.busy_times`` (only the ranges);
* **use case**: ``Scheduling.free_slots`` over 30 days (doctor, availability, busy times, the
  domain's grid and filtering, ``FreeSlot`` values), which the API calls once per request;
* **API**: ``GET /api/v1/doctors/{id}/slots`` for the month through the app in process
  (Falcon's test client: routing, query parsing, the use case, the JSON, the middleware; no
  socket or server, which ``bench_http.py`` measures).

Prints p50/p99 of each, the ratio of each p50 to the baseline's, the use case's p50 at the
largest size against the smallest (flat means about 100%), and whether the goal (use case and
API p50 under 5 ms at every size) is met.

    HELLODOCTOR_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python benchmarks/bench_slots.py [--sizes 10000,1000000] [--repeats 300]

Everything happens in a schema of its own, dropped at the end. ``--smoke``: tiny tables and a
few repeats; the figures mean nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time

import falcon.testing
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
    TimeRange,
    Weekday,
    WorkingDay,
)
from hellodoctor_domain.ports.scheduling import AppointmentRepository
from hellodoctor_http.app import create_app
from hellodoctor_http.bootstrap import bootstrap
from hellodoctor_http.config import Settings

NOW = datetime(2030, 1, 6, 12, tzinfo=UTC)
FIRST_DAY = datetime(2030, 1, 7, tzinfo=UTC)
MONTH = TimeRange(FIRST_DAY, FIRST_DAY + timedelta(days=30))
SLOT = timedelta(minutes=30)
TARGET = DoctorId("target")
PER_DOCTOR = 1_000  # appointments per background doctor
GOAL_MS = 5.0
SMOKE = {"sizes": "2000,4000", "repeats": 5}

BUSY = """SELECT starts_at, blocked_until FROM appointments
WHERE doctor_id = %s AND blocked_until > %s AND starts_at < %s AND status IN ('held', 'booked')
ORDER BY starts_at"""

# Other doctors' calendars, by set-based SQL: 90% completed history, 10% booked future (one
# patient each, so the patient constraint has real rows too).
BACKGROUND = [
    """INSERT INTO doctors (id, name, specialty, registration_number, fee_minor_units,
        fee_currency, time_zone, qualifications, languages, accepting_bookings, version,
        name_key, specialty_key)
    SELECT 'bg-d' || g, 'Dr ' || g, 'GP', 'REG-bg-' || g, 0, 'EUR', 'UTC', '[]', '[]', true, 1,
        'dr ' || g, 'gp'
    FROM generate_series(%(first)s::int, %(last)s::int) AS g""",
    """INSERT INTO patients (id, name, emergency_contacts, allergies, version)
    SELECT 'bg-p' || g, 'P', '[]', '[]', 1
    FROM generate_series(%(first)s::int, %(last)s::int) AS g""",
    """INSERT INTO appointments (id, doctor_id, patient_id, starts_at, ends_at, blocked_until,
        status, price_minor_units, price_currency, created_at, appointment_type, visit_kind,
        reason, version)
    SELECT 'bg-' || g || '-' || i, 'bg-d' || g, 'bg-p' || g, t, t + interval '30 minutes',
        t + interval '40 minutes', CASE WHEN i %% 10 = 0 THEN 'booked' ELSE 'completed' END,
        0, 'EUR', %(now)s - interval '400 days', 'in_person', 'regular', '', 1
    FROM generate_series(%(first)s::int, %(last)s::int) AS g,
        generate_series(0, %(per_doctor)s::int - 1) AS i,
        LATERAL (SELECT CASE WHEN i %% 10 = 0 THEN %(now)s + i * interval '1 hour'
                        ELSE %(now)s - (i + 1) * interval '1 hour' END AS t) AS s""",
    # As a table in service is (autovacuum keeps up with it): statistics and a visibility map,
    # and no autovacuum of the fresh rows competing with the measurement for the CPU.
    "VACUUM (ANALYZE) appointments",
    "ANALYZE",
]


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _timed(run: Callable[[], object], repeats: int) -> list[float]:
    for _ in range(3):
        run()  # warm the pool, the compiled statements, psycopg's prepared statements
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _p50_p99(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _target(factory: SqlUnitOfWorkFactory) -> None:
    """The doctor listed: weekdays 09:00-17:00, 30-minute slots, every other slot of the month
    booked (through the use case, as patients would)."""
    weekdays = [
        WorkingDay(day, [LocalWindow(clock_time(9), clock_time(17))]) for day in list(Weekday)[:5]
    ]
    with factory() as uow:
        uow.doctors.add(doctor(TARGET.value))
        uow.availability.save(
            Availability(
                TARGET,
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
    scheduling = Scheduling(factory, ManualClock(NOW), SequentialIds("t"), OfflinePaymentGateway())
    for position, slot in enumerate(scheduling.free_slots(TARGET, MONTH)):
        if position % 2 == 0:
            who = PatientId(f"tp{position // 2 % 2}")
            scheduling.book(
                Actor.patient(who),
                BookingRequest(doctor_id=TARGET, patient_id=who, start=slot.time.start),
            )


def _measure(
    factory: SqlUnitOfWorkFactory, raw: psycopg.Connection, repeats: int
) -> dict[str, list[float]]:
    scheduling = Scheduling(factory, ManualClock(NOW), SequentialIds("x"), OfflinePaymentGateway())

    def baseline() -> object:
        return raw.execute(BUSY, (TARGET.value, MONTH.start, MONTH.end)).fetchall()

    def entities() -> object:
        with factory() as uow:
            return uow.appointments.for_doctor(TARGET, MONTH)

    def busy() -> object:
        with factory() as uow:
            return uow.appointments.busy_times(TARGET, MONTH, NOW)

    def use_case() -> object:
        return scheduling.free_slots(TARGET, MONTH)

    # The API's listing, in process (Falcon's test client: no socket, no server): the use case
    # plus routing, query parsing, the JSON of 176 slots and the middleware.
    components = bootstrap(Settings(jwt_secret="b" * 40), storage=factory, clock=ManualClock(NOW))
    client = falcon.testing.TestClient(create_app(components))
    window = {"from": MONTH.start.isoformat(), "to": MONTH.end.isoformat()}

    def api() -> object:
        answer = client.simulate_get(f"/api/v1/doctors/{TARGET.value}/slots", params=window)
        assert answer.status_code == 200, answer.text
        return answer

    runs: dict[str, Callable[[], object]] = {"raw SELECT": baseline, "for_doctor": entities}
    if hasattr(AppointmentRepository, "busy_times"):  # absent before it existed (main)
        runs["busy times"] = busy
    runs["use case"] = use_case
    runs["API"] = api
    return {name: _timed(run, repeats) for name, run in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,1000000", help="appointments in the table")
    parser.add_argument("--repeats", type=int, default=300, help="timed calls per measurement")
    parser.add_argument("--smoke", action="store_true", help=f"a few seconds: {SMOKE}")
    options = parser.parse_args()
    if options.smoke:
        vars(options).update(SMOKE)
    sizes = [int(size) for size in str(options.sizes).split(",")]
    server = os.environ.get(
        "HELLODOCTOR_BENCH_POSTGRES_URL",
        os.environ.get(
            "HELLODOCTOR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    schema_url = create_postgres_schema(server, prefix="hellodoctor_bench_slots")
    url = schema_url.render_as_string(hide_password=False)
    schema = str(schema_url.query["options"]).removeprefix("-csearch_path=")
    load = ", ".join(f"{figure:.1f}" for figure in os.getloadavg())
    print(f"PostgreSQL, {os.cpu_count()} CPUs, load average {load} at start")
    print(f"one doctor's free slots over 30 days, {options.repeats} calls each (ms)")
    results: list[tuple[int, dict[str, list[float]]]] = []
    try:
        engine = create_engine(schema_url)
        upgrade(engine)
        engine.dispose()
        factory = SqlUnitOfWorkFactory(url)
        _target(factory)
        with psycopg.connect(_libpq(server), autocommit=True) as raw:
            raw.execute(f'SET search_path TO "{schema}", public')
            raw.execute("SET timezone TO 'UTC'")
            loaded = 0
            for size in sizes:
                doctors = (size - loaded) // PER_DOCTOR
                values = {
                    "first": loaded // PER_DOCTOR,
                    "last": loaded // PER_DOCTOR + doctors - 1,
                    "per_doctor": PER_DOCTOR,
                    "now": NOW,
                }
                started = time.perf_counter()
                for statement in BACKGROUND:
                    raw.execute(statement, values if "%(" in statement else None)
                loaded += doctors * PER_DOCTOR
                print(
                    f"\n{loaded:,} other appointments (loaded in "
                    f"{time.perf_counter() - started:.0f} s)"
                )
                plan = raw.execute(
                    f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {BUSY}",
                    (TARGET.value, MONTH.start, MONTH.end),
                ).fetchall()
                print("  the busy times' plan:")
                for (line,) in plan:
                    print(f"    {line}")
                figures = _measure(factory, raw, options.repeats)
                results.append((loaded, figures))
                base = statistics.median(figures["raw SELECT"])
                for name, times in figures.items():
                    p50, p99 = _p50_p99(times)
                    print(f"  {name:12} p50 {p50:7.2f}  p99 {p99:7.2f}")
                for name, times in figures.items():
                    if name != "raw SELECT":
                        ratio = statistics.median(times) / base
                        print(f"{name} / raw SELECT p50 at {loaded:,}: {ratio:.0%}")
        factory.dispose()
    finally:
        drop_postgres_schema(schema_url)
    (small, first), (big, last) = results[0], results[-1]
    flat = statistics.median(last["use case"]) / statistics.median(first["use case"])
    print(f"\nuse case p50 at {big:,} / at {small:,}: {flat:.0%}")
    for name in ("use case", "API"):
        worst = max(statistics.median(figures[name]) for _, figures in results)
        verdict = "met" if worst < GOAL_MS else "NOT met"
        print(f"goal ({name} p50 under {GOAL_MS:g} ms at every size): {verdict} ({worst:.2f} ms)")


if __name__ == "__main__":
    main()
