"""Doctor search benchmark (not a test): PostgreSQL through the SQLAlchemy adapter.

For each doctor count (default 10^3 then 10^5), with 10^6 appointments in the table, times
each kind of search page (``DoctorFinder.search``: the use case, its unit of work and the
adapter's one SELECT) and, as the baseline in the same run, a plain indexed ``SELECT`` of a
page of doctors by id with raw psycopg. Prints p50/p99 and the ratio to the baseline's p50.
Then times the other way to know each hit's earliest free slot, a bounded query per doctor
(``DoctorFinder.free_slots_of``: the slot listing over 30 days, 1,000 appointments of that
doctor in the table), for a page of 20 doctors.

    HELLODOCTOR_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python benchmarks/bench_search.py [--doctors 1000,100000] \\
        [--appointments 1000000] [--repeats 200]

The data are made by set-based SQL (``INSERT ... SELECT generate_series``) in a schema of its
own, dropped at the end. ``--smoke``: tiny counts, a few repeats; the figures mean nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import psycopg

from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory, create_engine, upgrade
from hellodoctor_adapters.sqlalchemy.provision import create_postgres_schema, drop_postgres_schema
from hellodoctor_adapters.testing.fixtures import every_day
from hellodoctor_domain import DoctorId, Scheduling
from hellodoctor_domain.model.values import SchemeId
from hellodoctor_domain.ports.search import DoctorSearch, SearchSort
from hellodoctor_domain.use_cases.search import DoctorFinder

NOW = datetime(2030, 1, 7, 6, tzinfo=UTC)
SMOKE = {"doctors": [200], "appointments": 2_000, "repeats": 5, "page": 2}

NAMES = "ARRAY['ada','grace','alan','edsger','barbara','donald','frances','ken','linus','guido']"
SPECIALTIES = (
    "ARRAY['Cardiology','Dermatology','General practice','Neurology','Oncology','Paediatrics',"
    "'Psychiatry','Radiology','Urology','Ophthalmology']"
)
LANGUAGES = "ARRAY['en','fr','de','es','hi','pt-br','ar','zh']"

LOAD = [
    # Doctors: names, specialties, fees and languages spread by the series number.
    """INSERT INTO doctors (id, name, specialty, registration_number, fee_minor_units,
        fee_currency, time_zone, qualifications, languages, email, accepting_bookings, version,
        name_key, specialty_key)
    SELECT 'dr-' || lpad(g::text, 7, '0'), n, s, 'REG-' || g, (g * 37) % 20000, 'EUR', 'UTC',
        jsonb_build_array('MBBS', CASE WHEN g % 3 = 0 THEN 'MD' ELSE 'FRCS' END),
        jsonb_build_array(l1, l2), NULL, g % 10 <> 0, 1, lower(n), lower(s)
    FROM (SELECT g,
            initcap(({names})[1 + g % 10]) || ' ' || initcap(({names})[1 + (g / 10) % 10])
                || ' ' || g AS n,
            ({specialties})[1 + (g / 7) % 10] AS s,
            ({languages})[1 + g % 8] AS l1, ({languages})[1 + (g / 8) % 8] AS l2
          FROM generate_series(1, %(doctors)s) AS g) AS d""",
    """INSERT INTO doctor_languages (doctor_id, language_key)
    SELECT DISTINCT id, lower(x) FROM doctors, jsonb_array_elements_text(languages) AS x""",
    """INSERT INTO doctor_ratings (doctor_id, review_count, rating_total)
    SELECT id, 1 + g % 40, (1 + g % 40) * (1 + g % 5)
    FROM (SELECT id, row_number() OVER (ORDER BY id) AS g FROM doctors) AS d WHERE g % 5 <> 0""",
    # The stored average the rating ledger keeps beside them (migration 0017_discovery).
    """UPDATE doctors SET rating_average = r.rating_total::float8 / r.review_count
    FROM doctor_ratings AS r WHERE r.doctor_id = doctors.id""",
    """INSERT INTO doctor_schemes (doctor_id, scheme_id)
    SELECT id, 's' || (abs(hashtext(id)) % 20) FROM doctors""",
    """INSERT INTO doctor_free_slots (doctor_id, computed_at, next_free_at)
    SELECT id, %(now)s, CASE WHEN abs(hashtext(id)) % 10 = 0 THEN NULL
        ELSE %(now)s + (abs(hashtext(id)) % 700) * interval '1 hour' END FROM doctors""",
    """INSERT INTO doctor_free_days (day, doctor_id)
    SELECT (next_free_at AT TIME ZONE 'UTC')::date + k, doctor_id
    FROM doctor_free_slots, generate_series(0, 4) AS k WHERE next_free_at IS NOT NULL""",
    """INSERT INTO patients (id, name, emergency_contacts, allergies, version)
    SELECT 'p-' || g, 'Patient ' || g, '[]', '[]', 1 FROM generate_series(1, %(patients)s) AS g""",
    # Appointments: the doctor's and the patient's never overlap (the EXCLUDE constraints hold).
    """INSERT INTO appointments (id, doctor_id, patient_id, starts_at, ends_at, blocked_until,
        status, price_minor_units, price_currency, created_at, appointment_type, visit_kind,
        reason, version)
    SELECT 'a-' || g, 'dr-' || lpad((1 + g % %(doctors)s)::text, 7, '0'),
        'p-' || (1 + g % %(patients)s), t, t + interval '30 minutes', t + interval '30 minutes',
        CASE WHEN g % 10 = 0 THEN 'booked' ELSE 'completed' END, 4000, 'EUR', %(now)s,
        'in_person', 'regular', '', 1
    FROM (SELECT g, %(start)s + (g / %(doctors)s) * interval '30 minutes' AS t
          FROM generate_series(0, %(appointments)s - 1) AS g) AS a""",
    "ANALYZE",
]


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _timed(run: Callable[[], object], repeats: int) -> list[float]:
    run()  # warm the caches and the connection pool
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _p(times: list[float], q: float) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def searches() -> dict[str, DoctorSearch]:
    return {
        "by id (no filter)": DoctorSearch(),
        "specialty, by rating": DoctorSearch(specialty="neurology", sort=SearchSort.RATING),
        "text, by relevance": DoctorSearch(text="grace", sort=SearchSort.RELEVANCE),
        "text prefix + language": DoctorSearch(text="ed md", language="fr"),
        "fee range, by fee": DoctorSearch(
            fee_currency="EUR", fee_min=5000, fee_max=9000, sort=SearchSort.FEE
        ),
        "within 3 days, earliest": DoctorSearch(
            free_before=NOW + timedelta(days=3), sort=SearchSort.EARLIEST
        ),
        "free on a date, rating >= 4": DoctorSearch(
            free_on=date(2030, 1, 9), min_rating=4.0, sort=SearchSort.RATING
        ),
        "scheme + rating >= 3, by id": DoctorSearch(scheme_id=SchemeId("s7"), min_rating=3.0),
    }


def measure(
    server: str, doctors: int, appointments: int, repeats: int, page_size: int = 20
) -> None:
    url = create_postgres_schema(server, prefix="hellodoctor_bench_search")
    engine = create_engine(url)
    try:
        upgrade(engine)
        schema = str(url.query["options"]).removeprefix("-csearch_path=")
        started = time.perf_counter()
        values = {
            "doctors": doctors,
            "patients": doctors,
            "appointments": appointments,
            "now": NOW,
            "start": NOW - timedelta(days=400),
        }
        with psycopg.connect(_libpq(server), autocommit=True) as raw:
            raw.execute(f'SET search_path TO "{schema}", public')
            for statement in LOAD:
                sql = statement.format(names=NAMES, specialties=SPECIALTIES, languages=LANGUAGES)
                raw.execute(sql.replace(" % ", " %% "), values)
            print(
                f"\n{doctors:,} doctors, {appointments:,} appointments: loaded in "
                f"{time.perf_counter() - started:.0f} s"
            )

            def baseline() -> object:
                return raw.execute(
                    "SELECT * FROM doctors WHERE id > %s ORDER BY id LIMIT 21", ("dr-0000100",)
                ).fetchall()

            base = _timed(baseline, repeats)
        base_p50 = statistics.median(base)
        print(
            f"{'plain indexed SELECT (baseline)':34} p50 {base_p50:7.2f} ms  "
            f"p99 {_p(base, 0.99):7.2f} ms"
        )
        storage = SqlUnitOfWorkFactory(url.render_as_string(hide_password=False))
        clock = ManualClock(NOW)
        scheduling = Scheduling(storage, clock, SequentialIds("b"), OfflinePaymentGateway())
        finder = DoctorFinder(storage, clock, scheduling)
        for name, query in searches().items():
            found = finder.search(query)
            times = _timed(lambda q=query: finder.search(q), repeats)  # type: ignore[misc]
            p50 = statistics.median(times)
            print(
                f"{name:34} p50 {p50:7.2f} ms  p99 {_p(times, 0.99):7.2f} ms  "
                f"({len(found.hits)} hits)  search / baseline p50: {p50 / base_p50 * 100:.0f}%"
            )
        # The other way: a bounded slot query per doctor of a page (20 doctors).
        page = [DoctorId(f"dr-{n:07d}") for n in range(1, page_size + 1)]
        with storage() as uow:
            for doctor_id in page:
                uow.availability.save(every_day(doctor_id))
            uow.commit()
        times = _timed(lambda: [finder.free_slots_of(d, NOW) for d in page], max(3, repeats // 20))
        p50 = statistics.median(times)
        print(
            f"{f'bounded query, {page_size} doctors':34} p50 {p50:7.2f} ms  "
            f"p99 {_p(times, 0.99):7.2f} ms  "
            f"bounded page / baseline p50: {p50 / base_p50 * 100:.0f}%"
        )
        storage.dispose()
    finally:
        engine.dispose()
        drop_postgres_schema(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--doctors", default="1000,100000")
    parser.add_argument("--appointments", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--smoke", action="store_true")
    options = parser.parse_args()
    server = os.environ.get("HELLODOCTOR_BENCH_POSTGRES_URL")
    if not server:
        raise SystemExit("set HELLODOCTOR_BENCH_POSTGRES_URL")
    counts = [int(n) for n in options.doctors.split(",")]
    appointments, repeats = options.appointments, options.repeats
    if options.smoke:
        counts, appointments, repeats = SMOKE["doctors"], SMOKE["appointments"], SMOKE["repeats"]
    page_size = SMOKE["page"] if options.smoke else 20
    for doctors in counts:
        measure(server, doctors, appointments, repeats, page_size)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
