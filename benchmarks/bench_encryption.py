"""Encryption cost (not a test): patient profiles written and read per second through the real
storage adapters with their health data sealed by AES-256-GCM, beside the same adapters
writing the same values in clear, in the same run.

    HELLODOCTOR_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python benchmarks/bench_encryption.py --patients 2000

A patient profile carries seven sealed fields (date of birth, phone, e-mail, health ID, blood
group; emergency contacts and allergies as JSON) and four blind indexes. *Sealed* is the
adapters as deployed (``FieldCipher`` over a key ring). *Clear* is the same adapters with a
cipher whose ``seal`` returns the plaintext: every write runs the same code, statements and
blind indexes, and every read takes the adapters' "written before encryption" path, so the
difference is AES-GCM, its base64 and the longer values. A *write* is one unit of work adding
one profile and committing; a *read* is one unit of work getting one profile by id. Storages:
SQLite (a file in a temporary folder), PostgreSQL (a schema of its own, dropped afterwards),
MongoDB (``HELLODOCTOR_BENCH_MONGODB_URI``, else SecantusDB started in this process). Each
figure is the best of two alternating rounds, after a warm-up of each, to damp a shared
machine's noise.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from hellodoctor_adapters.crypto import FieldCipher, development_key_ring
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.provision import create_postgres_schema, drop_postgres_schema
from hellodoctor_adapters.sqlalchemy.testing import migrate
from hellodoctor_domain.model.profiles import EmergencyContact, Patient
from hellodoctor_domain.model.values import EmailAddress, PatientId
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory

SMOKE = {"patients": 20}
Factory = Callable[[FieldCipher], UnitOfWorkFactory]


class ClearCipher(FieldCipher):
    """Seals nothing: the value is stored as it is (JSON for what is not text)."""

    def seal(self, table: str, field_name: str, row_id: str, plaintext: str) -> str:
        return plaintext


def profile(key: str) -> Patient:
    return Patient(
        PatientId(key),
        f"Patient {key}",
        date_of_birth=date(1980, 1, 1),
        phone="+447700900123",
        email=EmailAddress(f"{key}@example.org"),
        health_id=f"NHS-{key}",
        blood_group="O+",
        emergency_contacts=(EmergencyContact("Next Of Kin", "+447700900456", "sister"),),
        allergies=("penicillin", "latex"),
    )


def measure(factory: UnitOfWorkFactory, prefix: str, count: int) -> tuple[float, float]:
    """(writes/s, reads/s) of ``count`` profiles."""
    keys = [f"{prefix}-{index}" for index in range(count)]
    started = time.perf_counter()
    for key in keys:
        with factory() as uow:
            uow.patients.add(profile(key))
            uow.commit()
    written = time.perf_counter() - started
    started = time.perf_counter()
    for key in keys:
        with factory() as uow:
            got = uow.patients.get(PatientId(key))
            assert got.phone == "+447700900123"  # opened, not ciphertext
    read = time.perf_counter() - started
    return count / written, count / read


def cipher_alone(cipher: FieldCipher, count: int) -> tuple[float, float]:
    """Microseconds to seal, and to open, one profile's seven values with no storage."""
    values = ["1980-01-01", "+447700900123", "p@example.org", "NHS-1", "O+", "[]", "[]"]
    started = time.perf_counter()
    sealed = [
        [cipher.seal("patients", str(i), f"p{n}", value) for i, value in enumerate(values)]
        for n in range(count)
    ]
    middle = time.perf_counter()
    for n, row in enumerate(sealed):
        for i, token in enumerate(row):
            cipher.open("patients", str(i), f"p{n}", token)
    ended = time.perf_counter()
    return 1e6 * (middle - started) / count, 1e6 * (ended - middle) / count


@contextmanager
def sqlite() -> Iterator[Factory]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        migrate(url)
        made: list[SqlUnitOfWorkFactory] = []

        def build(cipher: FieldCipher) -> UnitOfWorkFactory:
            made.append(SqlUnitOfWorkFactory(url, cipher=cipher))
            return made[-1]

        yield build
        for factory in made:
            factory.dispose()


@contextmanager
def postgres() -> Iterator[Factory]:
    server = os.environ.get(
        "HELLODOCTOR_BENCH_POSTGRES_URL",
        os.environ.get(
            "HELLODOCTOR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    schema_url = create_postgres_schema(server, prefix="hellodoctor_bench")
    made: list[SqlUnitOfWorkFactory] = []
    try:
        migrate(schema_url)

        def build(cipher: FieldCipher) -> UnitOfWorkFactory:
            made.append(SqlUnitOfWorkFactory(schema_url, cipher=cipher))
            return made[-1]

        yield build
    finally:
        for factory in made:
            factory.dispose()
        drop_postgres_schema(schema_url)


@contextmanager
def mongodb() -> Iterator[Factory]:
    from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
    from hellodoctor_adapters.mongodb.testing import fresh_database_name, server_url

    url = os.environ.get("HELLODOCTOR_BENCH_MONGODB_URI") or server_url()
    database = fresh_database_name()
    made: list[MongoUnitOfWorkFactory] = []

    def build(cipher: FieldCipher) -> UnitOfWorkFactory:
        made.append(MongoUnitOfWorkFactory(url, database=database, cipher=cipher))
        return made[-1]

    try:
        yield build
    finally:
        if made:
            made[0].client.drop_database(database)
        for factory in made:
            factory.close()


STORAGES = {"sqlite": sqlite, "postgresql": postgres, "mongodb": mongodb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=2000, help="profiles per round")
    parser.add_argument("--storage", choices=sorted(STORAGES), action="append")
    parser.add_argument("--smoke", action="store_true", help=f"does it run? {SMOKE}")
    options = parser.parse_args()
    count = SMOKE["patients"] if options.smoke else options.patients
    ring = development_key_ring()
    ciphers = {"clear": ClearCipher(ring), "sealed": FieldCipher(ring)}
    load = ", ".join(f"{figure:.1f}" for figure in os.getloadavg())
    print(f"{count} patient profiles per round, {os.cpu_count()} CPUs, load average {load}")
    print("storage      mode     writes/s   reads/s")
    ratios: list[str] = []
    for name in options.storage or list(STORAGES):
        with STORAGES[name]() as build:
            factories = {mode: build(cipher) for mode, cipher in ciphers.items()}
            for mode, factory in factories.items():  # connections, caches, imports
                measure(factory, f"warm-{mode}", 5)
            best: dict[str, tuple[float, float]] = {}
            for round_ in range(2):
                for mode, factory in factories.items():
                    writes, reads = measure(factory, f"{mode}{round_}", count)
                    old = best.get(mode, (0.0, 0.0))
                    best[mode] = (max(old[0], writes), max(old[1], reads))
            for mode, (writes, reads) in best.items():
                print(f"{name:<12} {mode:<7} {writes:>9.0f} {reads:>9.0f}")
            (clear_w, clear_r), (sealed_w, sealed_r) = best["clear"], best["sealed"]
            ratios.append(f"{name} writes sealed / clear: {round(100 * sealed_w / clear_w)}%")
            ratios.append(f"{name} reads sealed / clear: {round(100 * sealed_r / clear_r)}%")
    seal_us, open_us = cipher_alone(ciphers["sealed"], max(count, 1000))
    print(f"AES-GCM alone: {seal_us:.0f} us to seal a profile's 7 values, {open_us:.0f} us to open")
    for line in ratios:
        print(line)


if __name__ == "__main__":
    main()
