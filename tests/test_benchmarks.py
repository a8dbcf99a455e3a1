"""Benchmarks cannot rot: every ``benchmarks/bench_*.py`` runs with ``--smoke`` (about a second,
one worker, tiny counts) against the real services, and must exit 0 and print its ratio lines
(``<measured> / <baseline>...: <n>%``, both measured in that run). A new script is picked up
by its name; one without ``--smoke`` fails here.

A script gets a service when it reads that service's variable: PostgreSQL is the test server
(``HELLODOCTOR_TEST_POSTGRES_URL``); MongoDB is ``HELLODOCTOR_TEST_MONGODB_URI`` when set,
otherwise the script starts SecantusDB itself, as it does for anyone running it. Without a
service the script's test skips, or fails under ``HELLODOCTOR_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hellodoctor_adapters.mongodb.testing import URI_VARIABLE as MONGODB_URI_VARIABLE
from hellodoctor_adapters.mongodb.testing import availability as mongodb_availability
from hellodoctor_adapters.sqlalchemy.testing import reachable_postgres_server_url
from hellodoctor_adapters.testing.services import unavailable

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("bench_*.py"))
RATIO_LINE = re.compile(r"^\S.* / .+: \d+%$", re.MULTILINE)
SMOKE_TIMEOUT_SECONDS = 180  # a hung script fails instead of stalling the suite


def _postgres() -> dict[str, str]:
    return {"HELLODOCTOR_BENCH_POSTGRES_URL": reachable_postgres_server_url()}


def _mongodb() -> dict[str, str]:
    available, reason = mongodb_availability()
    if not available:
        unavailable(reason)
    named = os.environ.get(MONGODB_URI_VARIABLE)
    return {"HELLODOCTOR_BENCH_MONGODB_URI": named} if named else {}


def _rabbitmq() -> dict[str, str]:
    import pika

    url = os.environ.get("HELLODOCTOR_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
    except pika.exceptions.AMQPError as error:
        unavailable(f"bench_relay.py needs RabbitMQ at {url} ({error!r})")
    return {"HELLODOCTOR_BENCH_AMQP_URL": url}


# The variable a script reads -> the service's settings for it.
SERVICES: dict[str, Callable[[], dict[str, str]]] = {
    "HELLODOCTOR_BENCH_POSTGRES_URL": _postgres,
    "HELLODOCTOR_BENCH_MONGODB_URI": _mongodb,
    "HELLODOCTOR_BENCH_AMQP_URL": _rabbitmq,
}


def test_every_benchmark_is_found() -> None:
    assert {script.name for script in SCRIPTS} >= {
        "bench_storage.py",
        "bench_http.py",
        "bench_mongodb.py",
        "bench_slow_clients.py",
    }


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda script: script.name)
def test_the_benchmark_runs_in_smoke_mode(script: Path) -> None:
    source = script.read_text()
    environment = {name: value for name, value in os.environ.items() if name not in SERVICES}
    for variable, settings in SERVICES.items():
        if variable in source:
            environment |= settings()
    run = subprocess.run(
        [sys.executable, str(script), "--smoke"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_SECONDS,
        check=False,
    )
    assert run.returncode == 0, (
        f"{script.name} --smoke exited {run.returncode}:\n{run.stderr[-4000:]}"
    )
    assert RATIO_LINE.search(run.stdout), f"{script.name} printed no ratio line:\n{run.stdout}"
