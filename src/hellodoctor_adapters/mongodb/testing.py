"""A MongoDB-wire server for tests: the real server named by ``HELLODOCTOR_TEST_MONGODB_URI``
when it is set, otherwise SecantusDB (``pip install secantusdb``) started in this process on a
free loopback port, once, and stopped at exit. Each caller gets its own database.

Without either, tests skip with the reason -- or fail when ``HELLODOCTOR_REQUIRE_SERVICES=1``
(``hellodoctor_adapters.testing.services``).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import tempfile
import threading
import uuid
from typing import Any

from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
from hellodoctor_adapters.testing.services import unavailable

URI_VARIABLE = "HELLODOCTOR_TEST_MONGODB_URI"
_lock = threading.Lock()
_started: dict[str, Any] = {}


def availability() -> tuple[bool, str]:
    """Whether a server can be had, and if not, why (without starting anything)."""
    if os.environ.get(URI_VARIABLE):
        return True, ""
    if importlib.util.find_spec("secantus") is not None:
        return True, ""
    return False, f"no MongoDB: set {URI_VARIABLE} or `pip install secantusdb`"


def server_url() -> str:
    """The server's URL; skips (or fails, when services are required) if there is none."""
    available, reason = availability()
    if not available:
        unavailable(reason)
    if os.environ.get(URI_VARIABLE):
        return os.environ[URI_VARIABLE]
    with _lock:
        if "url" not in _started:
            _started["url"] = _start_secantus()
    return str(_started["url"])


def _start_secantus() -> str:
    from secantus import SecantusDBServer  # type: ignore[import-untyped,unused-ignore]

    directory = tempfile.mkdtemp(prefix="hellodoctor-secantus-")
    # Standalone (no replica set), like the plainest mongod: no transactions to lean on.
    server = SecantusDBServer("127.0.0.1", 0, directory, replica_set_name=None)
    server.start()

    def stop() -> None:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)

    atexit.register(stop)
    return str(server.uri)


def fresh_database_name(prefix: str = "hellodoctor_test") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def new_factory(**options: Any) -> MongoUnitOfWorkFactory:
    """A factory over a fresh, empty database of its own on the test server."""
    return MongoUnitOfWorkFactory(server_url(), database=fresh_database_name(), **options)


def add_when_released(
    url: str, database: str, attempts: list[tuple[str, Any]], barrier: Any, results: Any
) -> None:
    """Body of one racing process (importable by ``spawn``): with its own client, for each
    ``(label, appointment)`` wait at ``barrier``, then add it in a unit of work and commit; put
    ``(label, "won" or the error's class name)`` on ``results``."""
    factory = MongoUnitOfWorkFactory(url, database=database)
    try:
        for label, appointment in attempts:
            barrier.wait()
            try:
                with factory() as uow:
                    uow.appointments.add(appointment)
                    uow.commit()
                outcome = "won"
            except Exception as error:  # the outcome under test
                outcome = type(error).__name__
            results.put((label, outcome))
    finally:
        factory.close()
