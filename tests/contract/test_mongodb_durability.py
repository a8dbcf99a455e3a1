"""MongoDB durability: the adapter's default write concern waits for the journal (and a
majority), the URL can say otherwise, and a booking answered before the server is killed
(``kill -9``) is there when it comes back.

The crash test runs SecantusDB as a separate process over a data directory (WiredTiger with its
journal), kills it, restarts it on the same directory, and reads the booking back.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient, monitoring

from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb.testing import fresh_database_name, server_url
from hellodoctor_adapters.testing.clinic import Clinic
from hellodoctor_adapters.testing.contract_failures import closed_port
from hellodoctor_adapters.testing.fixtures import doctor, state_of
from hellodoctor_adapters.testing.services import unavailable
from hellodoctor_domain.errors import BackendUnavailable

JOURNALED_MAJORITY = {"w": "majority", "j": True}


class _Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.sent: list[monitoring.CommandStartedEvent] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append(event)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_writes_wait_for_the_journal_and_a_majority_by_default() -> None:
    commands = _Commands()
    client: MongoClient[Any] = MongoClient(server_url(), event_listeners=[commands])
    factory = MongoUnitOfWorkFactory(server_url(), client=client, database=fresh_database_name())
    try:
        with factory() as uow:
            uow.doctors.add(doctor("d1"))
            uow.commit()
        writes = [e.command for e in commands.sent if e.command_name in ("insert", "update")]
        assert writes, [e.command_name for e in commands.sent]
        assert all(write["writeConcern"] == JOURNALED_MAJORITY for write in writes)
    finally:
        client.drop_database(factory.store.database.name)
        factory.close()


@pytest.mark.parametrize(
    ("query", "write_concern"),
    [
        ("", JOURNALED_MAJORITY),
        ("?wtimeoutMS=5000", {**JOURNALED_MAJORITY, "wtimeout": 5000}),
        ("?w=1", {"w": 1}),
        ("?journal=false", {"j": False}),
        ("?w=2&journal=true", {"w": 2, "j": True}),
    ],
)
def test_the_url_can_choose_another_write_concern(
    query: str, write_concern: dict[str, object]
) -> None:
    factory = MongoUnitOfWorkFactory(f"mongodb://127.0.0.1:{closed_port()}/hellodoctor{query}")
    try:  # nothing is sent: the client connects lazily
        assert factory.store.database.write_concern.document == write_concern
    finally:
        factory.close()


# -- a crash ---------------------------------------------------------------------------------


def _secantus(port: int, data: Path) -> subprocess.Popen[bytes]:
    """SecantusDB in a process of its own, standalone, over ``data`` (created if missing)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SECANTUS_")}
    command = [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--storage-path", str(data), "--standalone", "--log-level", "WARNING"]
    server = subprocess.Popen(command, env=environment, stdin=subprocess.DEVNULL)
    # Wait until it answers (the driver's server selection does the waiting), or it died.
    probe: MongoClient[Any] = MongoClient(port=port, serverSelectionTimeoutMS=60_000)
    try:
        probe.admin.command("ping")
    finally:
        probe.close()
    assert server.poll() is None, f"SecantusDB exited with {server.returncode}"
    return server


def _kill(server: subprocess.Popen[bytes]) -> None:
    server.kill()  # SIGKILL: no shutdown, no final checkpoint
    server.wait(timeout=60)


@pytest.fixture
def crashable_server(tmp_path: Path) -> Iterator[tuple[int, Path, list[subprocess.Popen[bytes]]]]:
    if importlib.util.find_spec("secantus") is None:
        unavailable("the MongoDB crash test needs SecantusDB (pip install secantusdb)")
    servers: list[subprocess.Popen[bytes]] = []
    yield closed_port(), tmp_path / "data", servers
    for server in servers:
        if server.poll() is None:
            _kill(server)


def test_a_booking_answered_before_a_crash_is_there_after_the_restart(
    crashable_server: tuple[int, Path, list[subprocess.Popen[bytes]]],
) -> None:
    port, data, servers = crashable_server
    servers.append(_secantus(port, data))
    factory = MongoUnitOfWorkFactory(
        f"mongodb://127.0.0.1:{port}/hellodoctor?serverSelectionTimeoutMS=3000"
    )
    try:
        clinic = Clinic(factory)
        booked = clinic.hold("p1")  # what the API answers 201 for
        _kill(servers[-1])
        with pytest.raises(BackendUnavailable), factory() as uow:  # the next request
            uow.appointments.get(booked.id)
        servers.append(_secantus(port, data))
        assert state_of(clinic.appointment(booked.id)) == state_of(booked)
    finally:
        factory.close()
