"""Slow-client benchmark (not a test): a normal client's latency with and without 200
connections trickling their request headers one byte a second, in the same run.

    .venv/bin/python benchmarks/bench_slow_clients.py --seconds 20

Starts the shipped serving configuration (``hellodoctor serve``, production settings, the
default number of workers) on a free loopback port over a SQLite file with a few doctors. The
normal client opens a new connection for each request (what a new visitor does) and asks in
turn for ``/healthz`` and the first page of ``/api/v1/doctors``, one request at a time, for
``--seconds``: first alone (the baseline), then while ``--attackers`` connections each send
one more byte of an endless header every second (a slowloris attack; a connection the server
closes is opened again at once, so the attack never thins out). A normal request that takes
more than ``REQUEST_TIMEOUT_SECONDS`` counts as failed. Prints p50 and p99 of both phases and
their ratios; exits non-zero when any normal request failed or was not answered 200.
``--smoke`` runs about a second with one worker and 20 attackers to prove the script works.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from hellodoctor_adapters.crypto import new_key_text
from hellodoctor_adapters.sqlalchemy import upgrade_url
from hellodoctor_adapters.testing.fixtures import doctor
from hellodoctor_domain import Actor, UserId
from hellodoctor_http.bootstrap import bootstrap
from hellodoctor_http.config import Settings

PATHS = ("/healthz", "/api/v1/doctors?limit=20")
REQUEST_TIMEOUT_SECONDS = 30.0
GOAL_P99_MS = 100.0
# --smoke: every step, briefly; the figures mean nothing.
SMOKE = {"seconds": 0.5, "attackers": 20, "workers": 1}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _seed(url: str, secret: str, phi_keys: dict[str, str]) -> None:
    upgrade_url(url)
    components = bootstrap(
        Settings(
            database_url=url,
            jwt_secret=secret,
            phi_keys=phi_keys["HELLODOCTOR_PHI_KEYS"],
            phi_index_key=phi_keys["HELLODOCTOR_PHI_INDEX_KEY"],
        )
    )
    admin = Actor.admin(UserId("bench-admin"))
    for number in range(20):
        components.scheduling.register_doctor(admin, doctor(f"d{number}"))
    components.close()


def _start(port: int, workers: int | None, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "hellodoctor_http", "serve", "--bind", f"127.0.0.1:{port}"]
    if workers:
        command += ["--workers", str(workers)]
    server = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _ask(port, "/readyz")[0] == 200:
                return server
        except OSError:
            time.sleep(0.2)
    _stop(server)
    raise RuntimeError(f"server on port {port} did not come up")


def _stop(server: subprocess.Popen[bytes]) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=60)


def _ask(port: int, path: str) -> tuple[int, float]:
    began = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_SECONDS)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    return response.status, time.perf_counter() - began


def _measure(port: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    failures = 0
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        try:
            status, elapsed = _ask(port, PATHS[len(latencies) % len(PATHS)])
        except OSError:  # a timeout or a refused connection
            failures += 1
            latencies.append(REQUEST_TIMEOUT_SECONDS)
            continue
        latencies.append(elapsed)
        failures += status != 200
    latencies.sort()
    return {
        "requests": len(latencies),
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        "max": latencies[-1] * 1000,
        "failures": failures,
    }


class Trickle:
    """``count`` connections, each sending one more header byte every second, reopened when
    the server closes them, until ``stop``."""

    HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "

    def __init__(self, port: int, count: int) -> None:
        self._port = port
        self._connections = [self._open() for _ in range(count)]
        self.reopened = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _open(self) -> socket.socket:
        connection = socket.create_connection(("127.0.0.1", self._port), timeout=5)
        connection.setblocking(False)
        connection.send(self.HEAD)
        return connection

    def _run(self) -> None:
        while not self._stopping.wait(1.0):
            for index, connection in enumerate(self._connections):
                try:
                    connection.send(b"a")
                except OSError:  # closed by the server (timeout, cap): come back at once
                    connection.close()
                    try:
                        self._connections[index] = self._open()
                        self.reopened += 1
                    except OSError:
                        pass

    def __enter__(self) -> Trickle:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        for connection in self._connections:
            connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="of each phase")
    parser.add_argument("--attackers", type=int, default=200)
    parser.add_argument("--workers", type=int, default=None, help="default: the API's default")
    parser.add_argument("--smoke", action="store_true", help=f"about a second: {SMOKE}")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)

    with tempfile.TemporaryDirectory(prefix="hellodoctor-bench-slow-") as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite'}"
        secret = secrets.token_urlsafe(48)
        # Production refuses to start without a key ring of its own: a fresh one per run.
        phi_keys = {
            "HELLODOCTOR_PHI_KEYS": f"bench:{new_key_text()}",
            "HELLODOCTOR_PHI_INDEX_KEY": new_key_text(),
        }
        _seed(url, secret, phi_keys)
        env = {
            **os.environ,
            "HELLODOCTOR_DATABASE_URL": url,
            "HELLODOCTOR_ENV": "production",
            "HELLODOCTOR_JWT_SECRET": secret,
            **phi_keys,
        }
        port = _free_port()
        server = _start(port, args.workers, env)
        try:
            _measure(port, min(args.seconds, 1.0))  # warm every worker up
            alone = _measure(port, args.seconds)
            with Trickle(port, args.attackers) as attack:
                attacked = _measure(port, args.seconds)
        finally:
            _stop(server)

    load = os.getloadavg()
    print(
        f"{os.cpu_count()} CPUs, load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
        f"workers: {args.workers or 'default'}; {args.seconds:g} s a phase; "
        f"{args.attackers} trickling connections ({attack.reopened} reopened)"
    )
    print(f"{'phase':<24} {'requests':>8} {'p50':>9} {'p99':>9} {'max':>9} {'failed':>6}")
    for name, figures in (("alone", alone), (f"{args.attackers} trickling", attacked)):
        print(
            f"{name:<24} {figures['requests']:>8} {figures['p50']:>7.1f}ms "
            f"{figures['p99']:>7.1f}ms {figures['max']:>7.1f}ms {figures['failures']:>6}"
        )
    for figure in ("p50", "p99"):
        ratio = attacked[figure] / alone[figure] * 100
        print(f"{figure} under attack / {figure} alone: {ratio:.0f}%")
    verdict = "met" if attacked["p99"] < GOAL_P99_MS else "NOT met"
    print(f"goal: p99 under attack below {GOAL_P99_MS:g} ms: {verdict}")
    if alone["failures"] or attacked["failures"]:
        sys.exit("some normal requests failed or were not answered 200")


if __name__ == "__main__":
    main()
