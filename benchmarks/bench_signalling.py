"""Signalling benchmark (not a test): relayed messages per second and relay latency for many
concurrent consultation rooms, beside a bare echo WebSocket server, in the same run.

    .venv/bin/python benchmarks/bench_signalling.py --rooms 100 --seconds 5

Both servers are one uvicorn process each (same WebSocket implementation), on loopback.
``hellodoctor signal`` runs over a SQLite file holding the rooms' appointments (storage is
touched only when a peer connects and leaves, before and after the measured part), with
in-process fan-out and the per-connection rate limit lifted: this measures the relay, not the
limiter. In each room the doctor sends an ICE candidate, the patient's client answers with one
as soon as it arrives, and so on: one message in flight per room, each counted when it is
delivered, its latency from send to delivery. The baseline has one client per room sending to
the echo server the same way: one message in flight, counted and timed when it comes back.
Clients run in this process (one event loop), so both sides pay the same client costs.
``--smoke`` runs half a second with 5 rooms to prove the script still works.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from hellodoctor_adapters.runtime import SystemClock, UuidIds
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory, upgrade_url
from hellodoctor_adapters.testing.fixtures import appointment, doctor, patient
from hellodoctor_domain import Actor, AppointmentId, AppointmentType, DoctorId, PatientId, UserId
from hellodoctor_domain.model.consultation import RoomPolicy
from hellodoctor_domain.use_cases.consultations import Consultations
from hellodoctor_domain.use_cases.scheduling import Scheduling
from hellodoctor_http.bootstrap import gateway_for
from hellodoctor_http.config import Settings
from hellodoctor_http.signalling.testing import CANDIDATES

HERE = Path(__file__).resolve().parent
SMOKE = {"seconds": 0.5, "rooms": 5}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """Start a server and wait for the line it prints once it listens."""
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert server.stdout is not None
        for line in server.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen = []
    while (line := lines.get(timeout=60)) is not None:
        seen.append(line)
        if "listening" in line:
            return server
    raise RuntimeError(f"{command} did not start:\n{''.join(seen)}")


def _stop(server: subprocess.Popen[str]) -> None:
    server.terminate()
    server.wait(timeout=30)


def _rooms(database: str, count: int) -> list[tuple[str, str, str]]:
    """``count`` telemedicine rooms open now; (room, doctor's ticket, patient's ticket) each."""
    upgrade_url(database)
    storage = SqlUnitOfWorkFactory(database)
    start = SystemClock().now().replace(microsecond=0) + timedelta(minutes=5)
    with storage() as uow:
        for index in range(count):
            uow.doctors.add(doctor(f"d{index}"))
            uow.patients.add(patient(f"p{index}"))
            visit = appointment(
                f"room{index}", start, doctor_key=f"d{index}", patient_key=f"p{index}"
            )
            visit.appointment_type = AppointmentType.TELEMEDICINE
            uow.appointments.add(visit)
        uow.commit()
    clock = SystemClock()
    gateway = gateway_for(Settings())
    rooms = Consultations(
        storage, clock, Scheduling(storage, clock, UuidIds(), gateway), RoomPolicy()
    )
    issued = []
    for index in range(count):
        room = AppointmentId(f"room{index}")
        doctor_ticket = rooms.issue_ticket(
            Actor.doctor(DoctorId(f"d{index}"), UserId(f"u-d{index}")), room
        ).ticket
        patient_ticket = rooms.issue_ticket(
            Actor.patient(PatientId(f"p{index}"), UserId(f"u-p{index}")), room
        ).ticket
        issued.append((room.value, doctor_ticket, patient_ticket))
    storage.dispose()
    return issued


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []


def _message(kind: str | None) -> str:
    candidate = {**CANDIDATES[0], "sent": time.perf_counter()}
    return json.dumps({"type": kind, "candidate": candidate} if kind else candidate)


async def _next(ws: ClientConnection) -> dict[str, object]:
    """The next message that is not a heartbeat (answered) nor presence news."""
    while True:
        message = json.loads(await ws.recv())
        if message.get("type") == "ping":
            await ws.send('{"type":"pong"}')
        elif message.get("type") not in ("welcome", "peer-joined", "peer-left"):
            return dict(message)


async def _bounce(
    sender: ClientConnection,
    receiver: ClientConnection,
    kind: str | None,
    until: float,
    tally: Tally,
) -> None:
    """Send, wait for the delivery on ``receiver``, time it; receiver and sender swap when the
    delivery was relayed to the other peer."""
    while time.perf_counter() < until:
        await sender.send(_message(kind))
        got = await _next(receiver)
        candidate = got["candidate"] if kind else got
        assert isinstance(candidate, dict)
        tally.latencies.append(time.perf_counter() - float(candidate["sent"]))
        if sender is not receiver:
            sender, receiver = receiver, sender


async def _measure(
    pairs: Callable[[], Awaitable[list[tuple[ClientConnection, ClientConnection]]]],
    kind: str | None,
    seconds: float,
) -> tuple[float, list[float]]:
    connections = await pairs()
    tally = Tally()
    began = time.perf_counter()
    await asyncio.gather(*(_bounce(a, b, kind, began + seconds, tally) for a, b in connections))
    elapsed = time.perf_counter() - began
    for a, b in connections:
        await a.close()
        if b is not a:
            await b.close()
    return len(tally.latencies) / elapsed, tally.latencies


def _p99(latencies: list[float]) -> float:
    return statistics.quantiles(latencies, n=100)[98] if len(latencies) > 1 else latencies[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--smoke", action="store_true", help="half a second, 5 rooms")
    arguments = parser.parse_args()
    rooms_count = SMOKE["rooms"] if arguments.smoke else arguments.rooms
    seconds = SMOKE["seconds"] if arguments.smoke else arguments.seconds

    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite:///{Path(folder) / 'bench.db'}"
        rooms = _rooms(database, int(rooms_count))
        signal_port, echo_port = _free_port(), _free_port()
        environment = {
            **os.environ,
            "HELLODOCTOR_DATABASE_URL": database,
            "HELLODOCTOR_MAIL_DIR": str(Path(folder) / "mail"),
            "HELLODOCTOR_SIGNALLING_MESSAGES_PER_SECOND": "1000000",
            "HELLODOCTOR_SIGNALLING_BURST": "1000000",
        }
        environment.pop("HELLODOCTOR_REDIS_URL", None)  # in-process fan-out
        signalling = _start(
            [
                sys.executable,
                "-m",
                "hellodoctor_http",
                "signal",
                "--bind",
                f"127.0.0.1:{signal_port}",
            ],
            environment,
        )
        echo = _start([sys.executable, str(HERE / "bare_echo.py"), str(echo_port)], environment)
        try:

            async def room_pairs() -> list[tuple[ClientConnection, ClientConnection]]:
                pairs = []
                for room, doctor_ticket, patient_ticket in rooms:
                    base = f"ws://127.0.0.1:{signal_port}/ws/rooms/{room}?ticket="
                    doctor_side = await connect(base + doctor_ticket)
                    patient_side = await connect(base + patient_ticket)
                    for side in (doctor_side, patient_side):  # both in the room from here
                        assert json.loads(await side.recv())["type"] == "welcome"
                    pairs.append((doctor_side, patient_side))
                return pairs

            async def echo_clients() -> list[tuple[ClientConnection, ClientConnection]]:
                clients = []
                for _ in rooms:
                    client = await connect(f"ws://127.0.0.1:{echo_port}")
                    clients.append((client, client))
                return clients

            relayed, relay_latencies = asyncio.run(_measure(room_pairs, "candidate", seconds))
            echoed, echo_latencies = asyncio.run(_measure(echo_clients, None, seconds))
        finally:
            _stop(signalling)
            _stop(echo)

    relay_p99, echo_p99 = _p99(relay_latencies), _p99(echo_latencies)
    print(f"{len(rooms)} rooms, {seconds:g} s each, one message in flight per room")
    print(f"  signalling: {relayed:,.0f} relayed msgs/s, p99 {relay_p99 * 1000:.2f} ms")
    print(f"  bare echo:  {echoed:,.0f} echoed msgs/s,  p99 {echo_p99 * 1000:.2f} ms")
    print(f"signalling relayed msgs/s / bare echo msgs/s: {relayed / echoed:.0%}")
    print(f"signalling p99 latency / bare echo p99 latency: {relay_p99 / echo_p99:.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
