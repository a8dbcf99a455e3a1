"""Test support for the HTTP layer (needs the dev extra: jsonschema): a Falcon test client that
validates every response against /openapi.json, and a small seeded clinic."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time as time_module
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import falcon.testing
import jsonschema  # type: ignore[import-untyped]

from hellodoctor_domain import (
    Actor,
    Availability,
    Doctor,
    DoctorId,
    LocalWindow,
    Money,
    Patient,
    PatientId,
    Scheduling,
    UserId,
    Weekday,
    WorkingDay,
)
from hellodoctor_http.app import openapi_document

# Monday 7 January 2030, 06:00 UTC: the whole week ahead is bookable.
NOW = datetime(2030, 1, 7, 6, 0, tzinfo=UTC)
SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
FEE_DOCTOR = "dr-fee"  # London, charges a fee: bookings are held
FREE_DOCTOR = "dr-free"  # New York, free: bookings are booked at once
OPENAPI = openapi_document()


def at(hour: int, minute: int = 0, day: int = 0) -> str:
    return (NOW.replace(hour=hour, minute=minute) + timedelta(days=day)).isoformat()


class ValidatingClient(falcon.testing.TestClient):
    """Every response must be one the OpenAPI document describes: its status is listed for
    the operation, its content type matches, and a JSON body validates against the schema."""

    def simulate_request(self, *args: Any, **kwargs: Any) -> falcon.testing.Result:
        result = super().simulate_request(*args, **kwargs)
        method = (kwargs.get("method") or args[0]).lower()
        path = kwargs.get("path") or args[1]
        check_against_openapi(method, path, result)
        return result


def _template_of(path: str) -> str | None:
    for template in OPENAPI["paths"]:
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return str(template)
    return None


def check_against_openapi(method: str, path: str, result: falcon.testing.Result) -> None:
    check_response(
        method, path, result.status_code, result.headers.get("content-type"), result.content
    )


def check_response(
    method: str, path: str, status: int, content_type: str | None, content: bytes
) -> None:
    """Any HTTP answer (from the test client or a real server) against the document."""
    path = path.split("?", 1)[0]
    template = _template_of(path.rstrip("/") or "/")
    media_type = (content_type or "").split(";")[0]
    if template is None or method not in OPENAPI["paths"][template]:
        # Unknown routes and methods still answer documented problems.
        assert status in (404, 405), (method, path, status)
        assert media_type == "application/problem+json"
        return
    responses = OPENAPI["paths"][template][method]["responses"]
    assert str(status) in responses, (
        f"{method.upper()} {template} answered {status}, not documented: {content[:300]!r}"
    )
    documented = responses[str(status)].get("content")
    if documented is None:
        assert not content, f"{method.upper()} {template} answered a body with no schema"
        return
    media = media_type if media_type in documented else "*/*"
    assert media in documented, (media_type, list(documented))
    schema = documented[media].get("schema")
    if schema is not None:
        wrapped = {"components": OPENAPI["components"], **schema}
        jsonschema.Draft202012Validator(
            wrapped, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        ).validate(json.loads(content))


def office_hours(doctor_id: str, zone: str) -> Availability:
    return Availability(
        DoctorId(doctor_id),
        zone,
        [
            WorkingDay(day, [LocalWindow(time(9), time(17))], breaks=[])
            for day in (Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY)
        ],
        slot_length=timedelta(minutes=30),
        minimum_notice=timedelta(hours=1),
    )


def seed(scheduling: Scheduling) -> None:
    admin = Actor.admin(UserId("admin-1"))
    for key, zone, fee in (
        (FEE_DOCTOR, "Europe/London", Money(8000, "GBP")),
        (FREE_DOCTOR, "America/New_York", Money(0, "USD")),
    ):
        scheduling.register_doctor(
            admin,
            Doctor(
                DoctorId(key),
                f"Dr {key}",
                "Cardiology" if fee.minor_units else "General practice",
                f"REG-{key}",
                fee,
                zone,
                languages=("en", "fr") if fee.minor_units else ("en", "es"),
            ),
        )
        scheduling.define_availability(admin, office_hours(key, zone))
    for key in ("pat-1", "pat-2"):
        scheduling.register_patient(Patient(PatientId(key), f"Patient {key}"))


Headers = Callable[..., dict[str, str]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def served(environment: dict[str, str], log_path: Path, timeout: float = 60) -> Iterator[str]:
    """``hellodoctor serve`` (gunicorn) on a free local port with these settings; yields its
    base URL once /readyz answers, and stops it after."""
    port = free_port()
    command = [sys.executable, "-m", "hellodoctor_http", "serve", "--bind", f"127.0.0.1:{port}"]
    base = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, env={**os.environ, **environment}, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time_module.monotonic() + timeout
            while True:
                try:
                    with urllib.request.urlopen(f"{base}/readyz", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    if process.poll() is not None or time_module.monotonic() > deadline:
                        raise RuntimeError(
                            f"the server did not start:\n{log_path.read_text()}"
                        ) from None
                    time_module.sleep(0.2)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)
