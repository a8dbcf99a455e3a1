"""HTTP benchmark (not a test): booking requests per second through gunicorn into PostgreSQL,
beside a bare Falcon endpoint served the same way, in the same run.

    HELLODOCTOR_BENCH_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test \\
        .venv/bin/python benchmarks/bench_http.py --seconds 10 --clients 32

Both servers run under gunicorn with the same number of sync workers on loopback. The load
comes from client processes (spawned, so the client's GIL is not the bottleneck), each
client a connection booking consecutive free slots of its own doctor as its own patient (no
contention: this measures the cost of the stack, not the refusals). The API's schema lives
in a schema of its own, dropped afterwards. Any answer but 201 makes the script exit non-zero
after printing its figures. ``--smoke`` runs for about a second with one client and one worker
to prove the script still works.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
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
# --smoke: every step, briefly; the figures mean nothing.
SMOKE = {"seconds": 0.5, "clients": 1, "workers": 1}


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


def _start(
    command: list[str], env: dict[str, str], port: int, probe: str
) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    _wait_until_up(port, probe, time.monotonic() + 60)
    return server


def _stop(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=30)


def _first_slot() -> datetime:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    return datetime.combine(tomorrow, clock_time(0), tzinfo=UTC)


def _client(
    port: int, token: str, doctor_id: str, seconds: float, ready: Any, results: Any
) -> None:
    """One client: book the next slot of its doctor again and again for ``seconds``."""
    ready.wait()  # every client started before any clock starts
    first, latencies, errors, index = _first_slot(), [], 0, 0
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        body = json.dumps({"doctor_id": doctor_id, "start": (first + index * SLOT).isoformat()})
        index += 1
        began = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request(
            "POST",
            "/api/v1/appointments",
            body=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        response = connection.getresponse()
        response.read()
        connection.close()
        latencies.append(time.perf_counter() - began)
        if response.status != 201:
            errors += 1
    results.put((latencies, errors))


def _load(port: int, tokens: list[tuple[str, str]], seconds: float) -> dict[str, float]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    ready = context.Barrier(len(tokens))
    clients = [
        context.Process(target=_client, args=(port, token, doctor_id, seconds, ready, results))
        for token, doctor_id in tokens
    ]
    for client in clients:
        client.start()
    latencies: list[float] = []
    errors = 0
    for _ in clients:
        got, failed = results.get(timeout=seconds + 120)
        latencies.extend(got)
        errors += failed
    for client in clients:
        client.join()
    latencies.sort()
    return {
        "rps": len(latencies) / seconds,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors,
    }


def _seed(url: str, clients: int, phi_keys: dict[str, str]) -> None:
    cipher = FieldCipher(
        key_ring_from_text(
            phi_keys["HELLODOCTOR_PHI_KEYS"], None, phi_keys["HELLODOCTOR_PHI_INDEX_KEY"]
        )
    )
    factory = SqlUnitOfWorkFactory(url, cipher=cipher)
    scheduling = Scheduling(factory, SystemClock(), UuidIds(), OfflinePaymentGateway())
    admin = Actor.admin(UserId("bench-admin"))
    all_day = [WorkingDay(day, [LocalWindow(clock_time(0), clock_time(0))]) for day in Weekday]
    for number in range(clients):
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
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=None, help="default: the API's default")
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
    schema_url = create_postgres_schema(server_url, "hellodoctor_bench_http")
    try:
        url = schema_url.render_as_string(hide_password=False)
        upgrade_url(url)
        # Production refuses to start without a key ring of its own: a fresh one per run.
        phi_keys = {
            "HELLODOCTOR_PHI_KEYS": f"bench:{new_key_text()}",
            "HELLODOCTOR_PHI_INDEX_KEY": new_key_text(),
        }
        _seed(url, args.clients, phi_keys)
        secret = secrets.token_urlsafe(48)
        codec = TokenCodec(secret, "hellodoctor", "hellodoctor-api", SystemClock())
        tokens = [
            (codec.issue(f"u{n}", "patient", patient_id=f"p{n}")[0], f"d{n}")
            for n in range(args.clients)
        ]
        env = {
            **os.environ,
            "HELLODOCTOR_DATABASE_URL": url,
            "HELLODOCTOR_ENV": "production",
            "HELLODOCTOR_JWT_SECRET": secret,
            **phi_keys,
        }
        results = {}
        port = _free_port()
        api = _start(
            [
                sys.executable,
                "-m",
                "hellodoctor_http",
                "serve",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
            ],
            env,
            port,
            "/healthz",
        )
        try:
            results["api"] = _load(port, tokens, args.seconds)
        finally:
            _stop(api)
        port = _free_port()
        bare = _start(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--chdir",
                str(HERE),
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{port}",
                "bare_app:app",
            ],
            env,
            port,
            "/",
        )
        try:
            results["bare"] = _load(port, tokens, args.seconds)
        finally:
            _stop(bare)
    finally:
        drop_postgres_schema(schema_url)

    load = os.getloadavg()
    print(
        f"{os.cpu_count()} CPUs, load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
        f"{workers} gunicorn workers; {args.clients} concurrent clients; {args.seconds:g} s each"
    )
    print(f"{'':14}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-201':>9}")
    for name in ("bare", "api"):
        row = results[name]
        print(f"{name:14}{row['rps']:9.0f}{row['p50']:9.1f}{row['p99']:9.1f}{row['errors']:9.0f}")
    print(f"API / bare: {results['api']['rps'] / results['bare']['rps']:.0%}")
    refused = sum(int(row["errors"]) for row in results.values())
    if refused:
        sys.exit(f"{refused} requests were not answered 201: these figures measure failures")


if __name__ == "__main__":
    main()
