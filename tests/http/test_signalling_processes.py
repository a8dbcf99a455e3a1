"""Two ``hellodoctor signal`` processes joined through Redis (127.0.0.1:6379, or
``HELLODOCTOR_TEST_REDIS_URL``) over one SQLite file: a doctor connected to one and a patient
to the other relay to each other, and a seat held on one process is taken on the other too.
Channels and seat keys live under a prefix of this test's own."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from websockets.asyncio.client import connect

from hellodoctor_adapters.runtime import SystemClock, UuidIds
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.testing import migrated_sqlite_file
from hellodoctor_adapters.testing.fixtures import appointment, doctor, patient
from hellodoctor_adapters.testing.services import unavailable
from hellodoctor_domain import Actor, AppointmentId, AppointmentType, DoctorId, PatientId, UserId
from hellodoctor_domain.model.consultation import RoomPolicy
from hellodoctor_domain.use_cases.consultations import Consultations
from hellodoctor_domain.use_cases.scheduling import Scheduling
from hellodoctor_http.bootstrap import gateway_for
from hellodoctor_http.config import Settings
from hellodoctor_http.signalling import CloseCode
from hellodoctor_http.signalling.testing import ANSWER, CANDIDATES, OFFER, close_code

REDIS_URL = os.environ.get("HELLODOCTOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TIMEOUT = 20


@pytest.fixture
def prefix() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError:
        unavailable(f"the multi-process signalling test needs Redis at {REDIS_URL}")
    name = f"hd-test-{uuid.uuid4().hex}"
    yield name
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)
    client.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SignalProcess:
    """``hellodoctor signal`` in its own process; ready once it prints that it listens."""

    def __init__(self, environment: dict[str, str]) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hellodoctor_http",
                "signal",
                "--bind",
                f"127.0.0.1:{self.port}",
            ],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                lines.put(line)
            lines.put(None)

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        while True:
            try:
                line = lines.get(timeout=TIMEOUT)
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                raise AssertionError(f"signal did not start: {''.join(self.output)}")
            self.output.append(line)
            if "listening" in line:
                return

    def url(self, room: str, ticket: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/rooms/{room}?ticket={ticket}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=TIMEOUT)
        self._reader.join(timeout=TIMEOUT)  # it reads to the end of the pipe, then stops
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = migrated_sqlite_file(tmp_path)
    storage = SqlUnitOfWorkFactory(url)
    start = SystemClock().now() + timedelta(minutes=5)  # the room is open now
    with storage() as uow:
        uow.doctors.add(doctor("d1"))
        uow.patients.add(patient("p1"))
        visit = appointment("tele", start.replace(microsecond=0))
        visit.appointment_type = AppointmentType.TELEMEDICINE
        uow.appointments.add(visit)
        uow.commit()
    storage.dispose()
    return url


def test_peers_on_two_processes_relay_through_redis(
    database: str, prefix: str, tmp_path: Path
) -> None:
    environment = {
        **os.environ,
        "HELLODOCTOR_DATABASE_URL": database,
        "HELLODOCTOR_REDIS_URL": REDIS_URL,
        "HELLODOCTOR_SIGNALLING_CHANNEL_PREFIX": prefix,
        "HELLODOCTOR_MAIL_DIR": str(tmp_path / "mail"),
    }
    storage = SqlUnitOfWorkFactory(database)
    clock = SystemClock()
    settings = Settings()
    rooms = Consultations(
        storage,
        clock,
        Scheduling(storage, clock, UuidIds(), gateway_for(settings)),
        RoomPolicy(),
    )
    room = AppointmentId("tele")
    as_doctor = Actor.doctor(DoctorId("d1"), UserId("u-d1"))
    as_patient = Actor.patient(PatientId("p1"), UserId("u-p1"))
    first, second = SignalProcess(environment), SignalProcess(environment)
    try:
        doctor_url = first.url("tele", rooms.issue_ticket(as_doctor, room).ticket)
        patient_url = second.url("tele", rooms.issue_ticket(as_patient, room).ticket)
        intruder_url = second.url("tele", rooms.issue_ticket(as_doctor, room).ticket)

        async def scenario() -> int | None:
            async with asyncio.timeout(TIMEOUT):
                async with connect(doctor_url) as on_first:
                    welcome = json.loads(await on_first.recv())
                    assert (welcome["type"], welcome["peer_present"]) == ("welcome", False)
                    async with connect(patient_url) as on_second:
                        welcome = json.loads(await on_second.recv())
                        assert (welcome["type"], welcome["peer_present"]) == ("welcome", True)
                        joined = json.loads(await on_first.recv())
                        assert joined == {"type": "peer-joined", "seat": "patient"}
                        await on_first.send(json.dumps({"type": "offer", "sdp": OFFER}))
                        offer = json.loads(await on_second.recv())
                        assert offer == {"type": "offer", "sdp": OFFER, "from": "doctor"}
                        await on_second.send(json.dumps({"type": "answer", "sdp": ANSWER}))
                        assert json.loads(await on_first.recv())["sdp"] == ANSWER
                        for candidate in CANDIDATES:
                            message = {"type": "candidate", "candidate": candidate}
                            await on_second.send(json.dumps(message))
                            assert json.loads(await on_first.recv())["candidate"] == candidate
                        # The doctor's seat is held on the first process: the second knows.
                        async with connect(intruder_url) as intruder:
                            return await close_code(intruder, TIMEOUT)

        assert asyncio.run(scenario()) == CloseCode.SEAT_TAKEN
    finally:
        first.stop()
        second.stop()
        storage.dispose()
