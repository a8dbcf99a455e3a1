"""The MongoDB claim protocol across shards, simulated (not a test, and not a sharded cluster):
racing processes book through the real adapter (``MongoUnitOfWork``, ``claims.py`` unchanged)
while a small router in this script plays ``mongos``, sending each operation to one of N
separate servers by a hash of the document's ``_id`` -- the shard key ``{_id: "hashed"}`` on
every collection, as docs/scaling.md proposes. A doctor's claim cell, a patient's claim cell
and the appointment document therefore usually live on different shards.

Each run: W worker processes make random attempts over a small pool of doctors, patients and
start times (15 minutes apart, 30-minute visits with a 10-minute buffer, some across midnight
UTC, so doctors and patients collide often and ranges overlap partially). A few attempts
"crash": they take the doctor's claim only, or both claims, and then vanish without writing
the appointment or releasing anything -- later writers must fence and release them after the
lease. At the end the script waits out the lease, sweeps, reads every shard directly and
checks the invariants:

* no two active appointments of one doctor overlap (blocked ranges), nor of one patient;
* every claim entry left is live (its appointment active, at exactly that range): nothing is
  half-claimed after compensation or a crash;
* every active appointment holds its doctor's and its patient's claims;
* every attempt reported as won is stored, active.

It does this for 1, 2 and 4 shards with the same attempts, then once more on one shard with a
deliberately broken protocol (the patient's claim skipped), which the checks must catch. It
exits non-zero when a correct run breaks an invariant or the broken one breaks none.

What the figures mean: every shard here is a SecantusDB server in its own process on the
same machine (2 cores, shared), so the measured throughput ratio between shard counts shows
the protocol's overhead, not a cluster's capacity. The script also counts the operations each
shard served: ``ops / busiest shard`` is the speed-up bound if each shard had its own machine
(derived, not measured). With ``HELLODOCTOR_BENCH_MONGODB_URI`` the shards are databases on that
one server: correctness only. Never quote SecantusDB's timings as MongoDB's.

    .venv/bin/python benchmarks/bench_shards.py [--workers 8] [--attempts 150] [--shards 1 2 4]

``--smoke``: one worker, few attempts, 1 and 2 shards (about a second of booking).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

from attrs import define
from pymongo import MongoClient

from hellodoctor_adapters.mongodb import appointments as mongodb_appointments
from hellodoctor_adapters.mongodb.claims import Scope, Wanted
from hellodoctor_adapters.mongodb.documents import to_micros
from hellodoctor_adapters.mongodb.sharded import ShardedStore, sharded_factory
from hellodoctor_adapters.testing.fixtures import appointment, at, doctor, patient
from hellodoctor_domain.errors import PortError, SlotUnavailable

SHARD_COUNTS = (1, 2, 4)
LEASE = timedelta(seconds=1)
WAIT_FOR_IN_FLIGHT = timedelta(milliseconds=300)
PROTOCOL = {"lease": LEASE, "wait_for_in_flight": WAIT_FOR_IN_FLIGHT}
STARTS = 32  # 15 minutes apart from 20:00 UTC: the last ones cross midnight
CRASH_RATE = 0.03
SMOKE = {"workers": 1, "attempts": 40, "shards": [1, 2], "doctors": 6, "patients": 4}
ACTIVE = {"held", "booked"}


# -- the workload -------------------------------------------------------------------------


@define(frozen=True)
class Attempt:
    key: str
    doctor: str
    patient: str
    start: int  # index into the 15-minute grid from 20:00 UTC
    crash: str  # "", "after doctor claim", "after both claims"


def attempts(
    seed: int, workers: int, count: int, doctors: int, patients: int
) -> list[list[Attempt]]:
    chooser = random.Random(seed)
    plan = []
    for worker in range(workers):
        mine = []
        for number in range(count):
            roll = chooser.random()
            crash = ""
            if roll < CRASH_RATE / 2:
                crash = "after doctor claim"
            elif roll < CRASH_RATE:
                crash = "after both claims"
            mine.append(
                Attempt(
                    f"a-{worker}-{number}",
                    f"d{chooser.randrange(doctors)}",
                    f"p{chooser.randrange(patients)}",
                    chooser.randrange(STARTS),
                    crash,
                )
            )
        plan.append(mine)
    return plan


def _visit(attempt: Attempt) -> Any:
    return appointment(
        attempt.key,
        at(20, 15 * attempt.start),
        30,
        doctor_key=attempt.doctor,
        patient_key=attempt.patient,
        buffer_minutes=10,
    )


def _skip_patient_claims() -> None:
    """The broken protocol: only the doctor's time is claimed."""
    whole = mongodb_appointments._ranges

    def doctor_only(booked: Any) -> Any:
        return [item for item in whole(booked) if item[0] is Scope.DOCTOR]

    mongodb_appointments._ranges = doctor_only


def worker(
    targets: list[tuple[str, str]], plan: list[Attempt], broken: bool, barrier: Any, done: Any
) -> None:
    if broken:
        _skip_patient_claims()
    factory = sharded_factory(targets, make_indexes=False, **PROTOCOL)
    store = factory.store
    assert isinstance(store, ShardedStore)
    outcomes: Counter[str] = Counter()
    won: list[str] = []
    spread = 0
    barrier.wait()
    started = time.perf_counter()
    for attempt in plan:
        visit = _visit(attempt)
        store.touched()
        try:
            if attempt.crash == "after doctor claim":
                store.claims.claim_all(
                    [
                        Wanted(
                            Scope.DOCTOR,
                            attempt.doctor,
                            to_micros(visit.blocked.start),
                            to_micros(visit.blocked.end),
                        )
                    ],
                    attempt.key,
                    version=1,
                    token=uuid.uuid4().hex,
                    exempt=(),
                )
                outcomes["crashed"] += 1
                continue
            if attempt.crash == "after both claims":
                abandoned = factory()
                abandoned.__enter__()
                abandoned.appointments.add(visit)
                outcomes["crashed"] += 1  # no commit, no rollback: the process "died"
                continue
            with factory() as uow:
                uow.appointments.add(visit)
                uow.commit()
            won.append(attempt.key)
            outcomes["won"] += 1
            spread += len(store.touched()) > 1
        except SlotUnavailable:
            outcomes["refused"] += 1
        except PortError as error:  # a fenced slow writer, say: counted, never hidden
            outcomes[type(error).__name__] += 1
    elapsed = time.perf_counter() - started
    done.put((outcomes, won, dict(store.served), spread, elapsed))
    factory.close()


# -- the invariants -----------------------------------------------------------------------


def _overlaps(ranges: dict[str, list[tuple[int, int, str]]]) -> list[tuple[str, str, str]]:
    found = []
    for owner, items in ranges.items():
        items.sort()
        reach, holder = items[0][1], items[0][2]
        for start, end, key in items[1:]:
            if start < reach:  # overlaps the one reaching furthest so far
                found.append((owner, holder, key))
            if end > reach:
                reach, holder = end, key
    return found


def check(databases: list[Any], won: list[str]) -> dict[str, int]:
    """Read every shard directly; count each invariant's violations (0 everywhere is right)."""
    stored = [d for database in databases for d in database.appointments.find()]
    active = {d["_id"]: d for d in stored if d.get("status") in ACTIVE and "_revoked" not in d}
    by_doctor: dict[str, list[tuple[int, int, str]]] = {}
    by_patient: dict[str, list[tuple[int, int, str]]] = {}
    for key, d in active.items():
        start = d["time"]["start_us"]
        by_doctor.setdefault(d["doctor_id"], []).append((start, d["blocked_end_us"], key))
        by_patient.setdefault(d["patient_id"], []).append((start, d["time"]["end_us"], key))
    entries = [
        (cell["_id"].split("|")[0], cell["_id"].split("|")[1], entry)
        for database in databases
        for cell in database.claims.find()
        for entry in cell["c"]
    ]
    held = {(scope, owner, e["a"], e["s"], e["e"]) for scope, owner, e in entries}
    not_live = 0
    for scope, owner, entry in entries:
        d = active.get(entry["a"])
        wanted = None
        if d is not None:
            start = d["time"]["start_us"]
            wanted = (
                (d["doctor_id"], start, d["blocked_end_us"])
                if scope == "doctor"
                else (d["patient_id"], start, d["time"]["end_us"])
            )
        not_live += wanted != (owner, entry["s"], entry["e"])
    unclaimed = sum(
        (scope, owner, key, start, end) not in held
        for key, d in active.items()
        for scope, owner, start, end in (
            ("doctor", d["doctor_id"], d["time"]["start_us"], d["blocked_end_us"]),
            ("patient", d["patient_id"], d["time"]["start_us"], d["time"]["end_us"]),
        )
    )
    return {
        "doctor overlaps": len(_overlaps(by_doctor)),
        "patient overlaps": len(_overlaps(by_patient)),
        "claim entries not live": not_live,
        "active appointments missing a claim": unclaimed,
        "won but not stored active": sum(key not in active for key in won),
    }


# -- one run ------------------------------------------------------------------------------


def run(
    urls: list[str],
    shards: int,
    plan: list[list[Attempt]],
    doctors: int,
    patients: int,
    broken: bool = False,
) -> dict[str, Any]:
    name = f"hellodoctor_shards_{uuid.uuid4().hex[:8]}"
    targets = [(urls[i % len(urls)], f"{name}_{i}") for i in range(shards)]
    setup = sharded_factory(targets, **PROTOCOL)
    with setup() as uow:
        for number in range(doctors):
            uow.doctors.add(doctor(f"d{number}"))
        for number in range(patients):
            uow.patients.add(patient(f"p{number}"))
        uow.commit()
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(len(plan))
    done = spawn.Queue()
    processes = [
        spawn.Process(target=worker, args=(targets, mine, broken, barrier, done)) for mine in plan
    ]
    for process in processes:
        process.start()
    results = [done.get(timeout=900) for _ in processes]
    for process in processes:
        process.join()
    outcomes: Counter[str] = Counter()
    served: Counter[int] = Counter()
    won: list[str] = []
    spread = 0
    for counted, keys, per_shard, multi, _ in results:
        outcomes.update(counted)
        served.update(per_shard)
        won.extend(keys)
        spread += multi
    elapsed = max(result[4] for result in results)
    time.sleep(LEASE.total_seconds() + 0.1)  # every crashed writer's lease runs out
    assert isinstance(setup.store, ShardedStore)
    swept = 0
    while released := setup.store.sweep_claims(limit=1000):
        swept += released
    databases = setup.store.shards
    violations = check(databases, won)
    tombstones = sum(
        database.appointments.count_documents({"_revoked": {"$exists": True}})
        for database in databases
    )
    for url, database in targets:
        with MongoClient(url) as client:
            client.drop_database(database)
    setup.close()
    attempted = sum(len(mine) for mine in plan)
    return {
        "attempted": attempted,
        "attempts/s": attempted / elapsed,
        "won/s": outcomes["won"] / elapsed,
        "outcomes": outcomes,
        "ops": sum(served.values()),
        "busiest": max(served.values()),
        "multi-shard": spread,
        "swept": swept,
        "fenced": tombstones,
        "violations": violations,
    }


# -- the shard servers ----------------------------------------------------------------------


def _serve(directory: str, address: Any, stop: Any) -> None:
    from secantus import SecantusDBServer  # type: ignore[import-untyped,unused-ignore]

    server = SecantusDBServer("127.0.0.1", 0, directory, replica_set_name=None)
    server.start()
    address.put(server.uri)
    stop.wait()
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=8, help="racing processes")
    parser.add_argument("--attempts", type=int, default=150, help="per worker")
    parser.add_argument("--shards", type=int, nargs="+", default=list(SHARD_COUNTS))
    parser.add_argument("--doctors", type=int, default=200)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help=f"a few seconds: {SMOKE}")
    arguments = parser.parse_args()
    if arguments.smoke:
        vars(arguments).update(SMOKE)
    spawn = multiprocessing.get_context("spawn")
    named = os.environ.get("HELLODOCTOR_BENCH_MONGODB_URI")
    servers: list[Any] = []
    directories: list[str] = []
    stop = spawn.Event()
    if named:
        urls = [named]
        print(f"shards: databases on {named.split('@')[-1]} (one server: correctness only)")
    else:
        address = spawn.Queue()
        for _ in range(max(arguments.shards)):
            directories.append(tempfile.mkdtemp(prefix="hellodoctor-shard-"))
            servers.append(
                spawn.Process(target=_serve, args=(directories[-1], address, stop), daemon=True)
            )
            servers[-1].start()
        urls = [address.get(timeout=120) for _ in servers]
        print(
            f"shards: {len(urls)} SecantusDB servers, one process each, on this machine "
            "- simulated; not MongoDB's figures"
        )
    load = ", ".join(f"{figure:.1f}" for figure in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load} at start")
    print(
        f"{arguments.workers} workers x {arguments.attempts} attempts, {arguments.doctors} "
        f"doctors, {arguments.patients} patients, {STARTS} starts, crash rate {CRASH_RATE:.0%}, "
        f"lease {LEASE.total_seconds():g} s\n"
    )
    plan = attempts(
        arguments.seed,
        arguments.workers,
        arguments.attempts,
        arguments.doctors,
        arguments.patients,
    )
    failed = False
    try:
        print(
            f"{'shards':>6} {'attempts/s':>10} {'won/s':>6} {'won':>5} {'refused':>7} "
            f"{'crashed':>7} {'other':>5} {'multi-shard':>11} {'ops/try':>7} "
            f"{'ops/busiest':>11} {'fenced':>6} {'swept':>5}  violations"
        )
        measured = {}
        for shards in arguments.shards:
            result = run(urls, shards, plan, arguments.doctors, arguments.patients)
            measured[shards] = result
            failed |= any(result["violations"].values())
            _print(shards, result)
        broken = run(urls, 1, plan, arguments.doctors, arguments.patients, broken=True)
        print("broken protocol (patient claim skipped), 1 shard:")
        _print(1, broken)
        caught = broken["violations"]["patient overlaps"] > 0
        failed |= not caught
        print(f"load average {', '.join(f'{f:.1f}' for f in os.getloadavg())} at end\n")
        base = measured[arguments.shards[0]]
        for shards, result in measured.items():
            if shards == arguments.shards[0]:
                continue
            share = result["attempts/s"] / base["attempts/s"]
            print(
                f"attempts/s, {shards} shards / {arguments.shards[0]} shard (same machine): "
                f"{share:.0%}"
            )
            bound = result["ops"] / result["busiest"]
            print(
                f"ops / busiest shard's ops, {shards} shards (bound if one machine each): "
                f"{bound:.0%}"
            )
        print(
            f"invariants: {'held in every correct run' if not failed else 'BROKEN'}; "
            f"the broken protocol was {'caught' if caught else 'NOT caught'}"
        )
    finally:
        stop.set()
        for server in servers:
            server.join(timeout=30)
        for directory in directories:
            shutil.rmtree(directory, ignore_errors=True)
    if failed:
        raise SystemExit(1)


def _print(shards: int, result: dict[str, Any]) -> None:
    outcomes = result["outcomes"]
    other = sum(n for k, n in outcomes.items() if k not in ("won", "refused", "crashed"))
    won = max(outcomes["won"], 1)
    bad = {name: count for name, count in result["violations"].items() if count}
    print(
        f"{shards:>6} {result['attempts/s']:>10.0f} {result['won/s']:>6.0f} "
        f"{outcomes['won']:>5} {outcomes['refused']:>7} {outcomes['crashed']:>7} {other:>5} "
        f"{result['multi-shard'] / won:>11.0%} {result['ops'] / result['attempted']:>7.1f} "
        f"{result['ops'] / result['busiest']:>11.0%} {result['fenced']:>6} {result['swept']:>5}"
        f"  {bad or 'none'}"
    )


if __name__ == "__main__":
    main()
