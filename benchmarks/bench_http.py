"""HTTP benchmark (not a test): booking requests per second through the API into PostgreSQL,
beside a bare Falcon endpoint served by the same stack, in the same run.

    HELLODOCTOR_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python benchmarks/bench_http.py --seconds 10 --connections 32

The API (``hellodoctor serve``, production settings) and the baseline (``bare_app.py`` served
by ``bare_server.py``: the same gunicorn worker class, options and guard, only the WSGI app
differs) run side by side on loopback; the load alternates between them, ``--rounds`` times,
after a warm-up of each. The load is ``wrk`` (``bench_http.lua``) over ``--connections``
kept-alive connections: every request books the next slot of one (patient, doctor) pair of its
own, with that patient's token, so no two requests want the same slot (no contention: this
measures the cost of the stack, not the refusals). Without ``wrk`` on the PATH, spawned Python
clients do the same over kept-alive ``http.client`` connections (slower: their figures are not
comparable with wrk's, and the script says which generator ran).

Prints both servers' rates and latencies, how many answers closed their connection (keep-alive
holds when none did), and the ratio line. Any answer but 201 makes the script exit non-zero
after printing its figures. ``--profile FILE`` samples the busiest API worker with ``py-spy``
during the last API round and writes its top functions to FILE. ``--smoke`` runs about a
second with one connection and one worker to prove the script still works.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from hellodoctor_adapters.crypto import FieldCipher, key_ring_from_text, new_key_text
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.runtime import SystemClock, UuidIds
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory, upgrade_url
from hellodoctor_adapters.sqlalchemy.provision import create_postgres_schema, drop_postgres_schema
from hellodoctor_adapters.testing.fixtures import doctor, patient
from hellodoctor_domain import (
    Actor,
    Availability,
    DoctorId,
    LocalWindow,
    Scheduling,
    UserId,
    Weekday,
    WorkingDay,
)
from hellodoctor_http.auth import TokenCodec

HERE = Path(__file__).resolve().parent
SLOT = timedelta(minutes=15)
PATH = "/api/v1/appointments"
# --smoke: every step, briefly; the figures mean nothing.
SMOKE = {"seconds": 0.5, "connections": 1, "workers": 1, "warmup": 0.2, "rounds": 1}
GOAL = 0.40


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_up(port: int, path: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            connection.request("GET", path)
            connection.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not come up")


def _start(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,  # the access log: written as in production, not kept
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _wait_until_up(port, "/", time.monotonic() + 60)
    return server


def _stop(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


def _first_slot() -> datetime:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    return datetime.combine(tomorrow, clock_time(0), tzinfo=UTC)


# -- load generators: one phase of load on one server, same figures from either ----------------


def _wrk(
    port: int, pairs_file: str, first: datetime, seconds: float, connections: int
) -> dict[str, float]:
    threads = min(2, connections)
    command = [
        "wrk",
        "--latency",
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=30s",
        f"--script={HERE / 'bench_http.lua'}",
        f"http://127.0.0.1:{port}{PATH}",
        "--",
        pairs_file,
        str(int(first.timestamp())),
        str(int(SLOT.total_seconds())),
        str(threads),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("HDBENCH "))
    requests, non_201, closed, slots_used, p50, p99, socket_errors = map(int, line.split()[1:])
    return {
        "seconds": max(1, round(seconds)),
        "requests": requests,
        "errors": non_201 + socket_errors,
        "closed": closed,
        "slots_used": slots_used,
        "p50": p50 / 1000,
        "p99": p99 / 1000,
    }


def _client(
    port: int, token: str, doctor_id: str, first: datetime, seconds: float, ready: Any, out: Any
) -> None:
    """One kept-alive connection booking the next slot of its pair for ``seconds``."""
    ready.wait()  # every client started before any clock starts
    latencies, errors, closed, index = [], 0, 0, 0
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        body = json.dumps({"doctor_id": doctor_id, "start": (first + index * SLOT).isoformat()})
        index += 1
        began = time.perf_counter()
        connection.request("POST", PATH, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - began)
        errors += response.status != 201
        if response.will_close:
            closed += 1
            connection.close()
    connection.close()
    out.put((latencies, errors, closed, index))


def _python(
    port: int, pairs: list[tuple[str, str]], first: datetime, seconds: float
) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    ready = context.Barrier(len(pairs))
    clients = [
        context.Process(target=_client, args=(port, token, doctor_id, first, seconds, ready, out))
        for token, doctor_id in pairs
    ]
    for client in clients:
        client.start()
    latencies: list[float] = []
    totals: Counter[str] = Counter()
    for _ in clients:
        got, errors, closed, used = out.get(timeout=seconds + 120)
        latencies.extend(got)
        totals.update(errors=errors, closed=closed)
        totals["slots_used"] = max(totals["slots_used"], used)
    for client in clients:
        client.join()
    latencies.sort()
    return {
        "seconds": seconds,
        "requests": len(latencies),
        **totals,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
    }


# -- profile: one API worker sampled by py-spy during the last API round ---------------------


def _worker_pids(server: subprocess.Popen[bytes]) -> list[int]:
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    return [int(pid) for pid in children]


def _cpu_seconds(server: subprocess.Popen[bytes]) -> float:
    """User + system CPU seconds its workers have used so far (Linux; 0 elsewhere): per
    request, a figure the other processes sharing the cores do not move much."""
    try:
        ticks = 0
        for pid in _worker_pids(server):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return 0.0


def _busiest_worker(server: subprocess.Popen[bytes], window: float) -> int:
    """The worker that used the most CPU over ``window`` seconds (one may hold no connection)."""

    def used() -> dict[int, int]:
        ticks = {}
        for pid in _worker_pids(server):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks[pid] = int(fields[11]) + int(fields[12])
        return ticks

    before = used()
    time.sleep(window)
    after = used()
    return max(after, key=lambda pid: after[pid] - before.get(pid, after[pid]))


def _start_profile(server: subprocess.Popen[bytes], seconds: float, raw: Path) -> Any:
    """py-spy on the busiest worker, from a second into the round to its end."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    worker = _busiest_worker(server, 1.0)
    return subprocess.Popen(
        [
            py_spy,
            "record",
            "--pid",
            str(worker),
            "--duration",
            str(max(1, round(seconds) - 2)),
            "--rate",
            "200",
            # Only the thread holding the GIL: where the worker's CPU goes. (Waits on the
            # database, the selector or the thread pool's queue are not sampled.)
            "--gil",
            "--format",
            "raw",
            "--output",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def summarise_profile(raw: Path, top: int = 25) -> str:
    """py-spy's collapsed stacks (``--gil``: the thread holding the GIL, so the worker's
    Python CPU time) as three tables: own samples by package, own samples by
    function, and total (inclusive) samples of the project's own functions."""
    total_samples = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(frame) for frame in stack.split(";") if " (" in frame]
        if not frames:
            continue
        total_samples += count
        for name, _package in set(frames):
            inclusive[name] += count
        own[frames[-1][0]] += count
        packages[frames[-1][1]] += count
    if not total_samples:
        return "no samples\n"

    def table(counts: Counter[str], keep: Any = lambda _name: True) -> list[str]:
        kept = [(name, n) for name, n in counts.most_common() if keep(name)][:top]
        return [f"  {n / total_samples:6.1%}  {name}" for name, n in kept]

    return "\n".join(
        [
            f"{total_samples} samples of one API worker, holding the GIL",
            "own samples by package:",
            *table(packages),
            "own samples by function:",
            *table(own),
            "total samples of the project's functions (callees included):",
            *table(inclusive, lambda name: "hellodoctor_" in name),
            "",
        ]
    )


def _frame(frame: str) -> tuple[str, str]:
    """``function (package/module.py:line)`` (py-spy's paths start at their ``sys.path``
    entry) as (``function (package/module.py)``, the package): the project's functions keep
    their path, others show their file only."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    package = parts[0].removesuffix(".py") if parts else path
    module = path if package.startswith("hellodoctor_") else (parts[-1] if parts else path)
    return f"{name} ({module})", package


# -- the run ------------------------------------------------------------------------------------


def _seed(url: str, pairs: int, phi_keys: dict[str, str]) -> None:
    cipher = FieldCipher(
        key_ring_from_text(
            phi_keys["HELLODOCTOR_PHI_KEYS"], None, phi_keys["HELLODOCTOR_PHI_INDEX_KEY"]
        )
    )
    factory = SqlUnitOfWorkFactory(url, cipher=cipher)
    scheduling = Scheduling(factory, SystemClock(), UuidIds(), OfflinePaymentGateway())
    admin = Actor.admin(UserId("bench-admin"))
    all_day = [WorkingDay(day, [LocalWindow(clock_time(0), clock_time(0))]) for day in Weekday]
    for number in range(pairs):
        scheduling.register_doctor(admin, doctor(f"d{number}"))
        scheduling.define_availability(
            admin,
            Availability(
                DoctorId(f"d{number}"),
                "UTC",
                all_day,
                slot_length=SLOT,
                minimum_notice=timedelta(0),
                booking_horizon=timedelta(days=3650),
            ),
        )
        scheduling.register_patient(patient(f"p{number}"))
    factory.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per round and server")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="default: the API's default")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds per server, unmeasured")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--python-clients", action="store_true", help="even when wrk is found")
    parser.add_argument("--profile", type=Path, help="py-spy one API worker; top items here")
    parser.add_argument("--smoke", action="store_true", help=f"about a second: {SMOKE}")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    server_url = os.environ.get("HELLODOCTOR_BENCH_POSTGRES_URL")
    if not server_url:
        sys.exit(
            "set HELLODOCTOR_BENCH_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test)"
        )

    from hellodoctor_http.server import default_workers

    workers = args.workers or default_workers()
    use_wrk = shutil.which("wrk") is not None and not args.python_clients
    load_before = os.getloadavg()
    schema_url = create_postgres_schema(server_url, "hellodoctor_bench_http")
    servers: list[subprocess.Popen[bytes]] = []
    rows: dict[str, list[dict[str, float]]] = {"api": [], "bare": []}
    scratch = Path(tempfile.mkdtemp(prefix="bench-http-"))
    try:
        url = schema_url.render_as_string(hide_password=False)
        upgrade_url(url)
        # Production refuses to start without a key ring of its own: a fresh one per run.
        phi_keys = {
            "HELLODOCTOR_PHI_KEYS": f"bench:{new_key_text()}",
            "HELLODOCTOR_PHI_INDEX_KEY": new_key_text(),
        }
        _seed(url, args.connections, phi_keys)
        secret = secrets.token_urlsafe(48)
        codec = TokenCodec(secret, "hellodoctor", "hellodoctor-api", SystemClock())
        pairs = [
            (codec.issue(f"u{n}", "patient", patient_id=f"p{n}")[0], f"d{n}")
            for n in range(args.connections)
        ]
        pairs_file = scratch / "pairs.txt"
        pairs_file.write_text("".join(f"{token} {doctor_id}\n" for token, doctor_id in pairs))
        env = {
            **os.environ,
            "HELLODOCTOR_DATABASE_URL": url,
            "HELLODOCTOR_ENV": "production",
            "HELLODOCTOR_JWT_SECRET": secret,
            **phi_keys,
        }
        ports = {"api": _free_port(), "bare": _free_port()}
        bind = {
            name: ["--bind", f"127.0.0.1:{port}", "--workers", str(workers)]
            for name, port in ports.items()
        }
        api = _start(
            [sys.executable, "-m", "hellodoctor_http", "serve", *bind["api"]], env, ports["api"]
        )
        servers.append(api)
        servers.append(
            _start(
                [sys.executable, str(HERE / "bare_server.py"), *bind["bare"]], env, ports["bare"]
            )
        )
        by_name = dict(zip(("api", "bare"), servers, strict=True))
        # The API consumes slots; each phase starts after the last one the previous used.
        first = _first_slot()

        def phase(name: str, seconds: float) -> dict[str, float]:
            nonlocal first
            cpu_before = _cpu_seconds(by_name[name])
            if use_wrk:
                row = _wrk(ports[name], str(pairs_file), first, seconds, args.connections)
            else:
                row = _python(ports[name], pairs, first, seconds)
            row["cpu"] = _cpu_seconds(by_name[name]) - cpu_before
            if name == "api":
                first += SLOT * (int(row["slots_used"]) + 1)
            return row

        for name in ("api", "bare"):
            if args.warmup:
                phase(name, args.warmup)
        for round_number in range(args.rounds):
            profiling: list[Any] = []
            if args.profile and round_number == args.rounds - 1:
                # Picks its worker once the load runs, so it starts beside the round.
                starter = threading.Thread(
                    target=lambda started=profiling: started.append(
                        _start_profile(api, args.seconds, scratch / "profile.txt")
                    )
                )
                starter.start()
            rows["api"].append(phase("api", args.seconds))
            if args.profile and round_number == args.rounds - 1:
                starter.join()
                profiling[0].wait(timeout=60)
                args.profile.write_text(summarise_profile(scratch / "profile.txt"))
            rows["bare"].append(phase("bare", args.seconds))
    finally:
        for server in servers:
            _stop(server)
        drop_postgres_schema(schema_url)
        shutil.rmtree(scratch, ignore_errors=True)

    load_after = os.getloadavg()
    print(
        f"{os.cpu_count()} CPUs, load {load_before[0]:.1f} before, {load_after[0]:.1f} after; "
        f"{workers} workers (event loop + threads) each; {args.connections} kept-alive "
        f"connections from {'wrk' if use_wrk else 'Python clients (wrk not found)'}; "
        f"{args.rounds} x {args.seconds:g} s per server"
    )
    print(
        f"{'':6}{'round':>6}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-201':>9}{'closed':>8}"
        f"{'CPU ms/req':>12}"
    )
    for number in range(args.rounds):
        for name in ("bare", "api"):
            row = rows[name][number]
            print(
                f"{name:6}{number + 1:6}{row['requests'] / row['seconds']:9.0f}{row['p50']:9.1f}"
                f"{row['p99']:9.1f}{row['errors']:9.0f}{row['closed']:8.0f}"
                f"{1000 * row['cpu'] / max(1, row['requests']):12.2f}"
            )
    rate = {
        name: sum(row["requests"] for row in got) / sum(row["seconds"] for row in got)
        for name, got in rows.items()
    }
    closed = sum(row["closed"] for got in rows.values() for row in got)
    print(f"answers that closed their connection: {closed:.0f} (keep-alive holds when 0)")
    ratio = rate["api"] / rate["bare"]
    print(f"goal: API at least {GOAL:.0%} of bare, {'met' if ratio >= GOAL else 'not met'}")
    print(f"API / bare: {ratio:.0%}")
    if args.profile:
        print(f"profile of one API worker: {args.profile}")
    refused = sum(int(row["errors"]) for got in rows.values() for row in got)
    if refused:
        sys.exit(f"{refused} requests were not answered 201: these figures measure failures")


if __name__ == "__main__":
    main()
