"""Serving the app with gunicorn through its Python API.

Settings are read once, in the master, so every worker signs with the same key (even a
generated development key) and a misconfiguration stops the master before any worker forks.
Each worker builds its own app (``preload_app`` off): database engines and pools must not be
shared across ``fork``. Each worker reads requests on an event loop and runs the app in
``THREADS_PER_WORKER`` threads (``front.py``), so slow clients hold sockets, not workers, and
connections are kept alive between requests.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from typing import Any

from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

from hellodoctor_http.config import MULTIPROCESS_VARIABLE, Settings

_log = logging.getLogger(__name__)

MAX_WORKERS = 12
# Requests one worker runs at once (the app is thread-safe; each thread may hold a database
# connection, within SQLAlchemy's pool of 5 + 10 overflow).
THREADS_PER_WORKER = 4
# Open connections one worker keeps (idle keep-alive and slow ones included); more are closed.
CONNECTIONS_PER_WORKER = 1000
# Header fields in one request (gunicorn's limit, now enforced by front.Guard).
MAX_HEADER_FIELDS = 100


def default_workers() -> int:
    """gunicorn's rule of thumb, 2 x cores + 1, capped so a big host does not open more
    database connections than the database wants."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(2 * (cores or 1) + 1, MAX_WORKERS)


def configure_logging() -> None:
    """JSON access lines on stdout, as they are; everything else as plain lines on stderr."""
    access = logging.getLogger("hellodoctor.access")
    if not access.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


class HelloDoctorServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self._settings = settings
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """The app factory, run in each worker after the fork: the Falcon app in a thread pool
        behind the front's guard (an ASGI app for the worker's event loop)."""
        from hellodoctor_http.app import create_app
        from hellodoctor_http.bootstrap import bootstrap

        return guarded(create_app(bootstrap(self._settings)), self.cfg, self._settings)


def guarded(app: Any, cfg: Any, settings: Settings) -> Any:
    """A WSGI app as each worker serves it: in ``cfg.threads`` threads (``bridge.py``) behind
    the front's guard (``front.Guard``). Benchmarks serve their baseline apps through this too,
    so they compare apps, not serving stacks."""
    from hellodoctor_http.api.documents import upload_limits
    from hellodoctor_http.bridge import ThreadedWsgi
    from hellodoctor_http.front import Guard

    return Guard(
        ThreadedWsgi(app, threads=cfg.threads),
        max_header_fields=MAX_HEADER_FIELDS,
        max_body_bytes=settings.max_body_bytes,
        timeout=cfg.timeout,
        # Uploads arrive whole before a thread takes them, like every body (bounded).
        upload_limits=upload_limits(settings.max_upload_bytes),
    )


def serve(settings: Settings, *, bind: str, workers: int, timeout: int = 30) -> None:
    options = gunicorn_options(bind=bind, workers=workers, timeout=timeout)
    if not settings.is_production and not settings.broker_url:
        options.update(_background_delivery(settings))
    HelloDoctorServer(settings, options).run()


def gunicorn_options(*, bind: str, workers: int, timeout: int = 30) -> dict[str, Any]:
    """gunicorn's settings for ``serve`` (and for a benchmark's baseline app beside it)."""
    # Metrics summed over workers: prometheus_client reads this variable when first imported,
    # which happens in the workers, after this.
    if not os.environ.get(MULTIPROCESS_VARIABLE):
        os.environ[MULTIPROCESS_VARIABLE] = tempfile.mkdtemp(prefix="hellodoctor-metrics-")
    return {
        "bind": bind,
        "workers": workers,
        # An event loop per worker (uvicorn's), the app in threads: see front.py.
        "worker_class": "hellodoctor_http.front.FrontWorker",
        "threads": THREADS_PER_WORKER,
        "worker_connections": CONNECTIONS_PER_WORKER,
        # A request unanswered after this many seconds is answered 503; a worker whose loop
        # is stuck that long is restarted.
        "timeout": timeout,
        "graceful_timeout": timeout,
        # Idle seconds a kept-alive connection waits for its next request.
        "keepalive": 5,
        # The app writes one JSON line per request; gunicorn's own access log would double it.
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "preload_app": False,
        "child_exit": _child_exit,
        "proc_name": "hellodoctor",
        # Request head limits are front.py's: gunicorn's own parser no longer reads requests.
    }


def _background_delivery(settings: Settings) -> dict[str, Any]:
    """Gunicorn hooks that run the outbox delivery beside the workers (development, no
    broker): the demo's mails arrive with nothing but ``hellodoctor serve``.

    The delivery runs in a *spawned* process, not in a thread of the master: gunicorn forks
    workers whenever one is (re)started, and a fork taken while the master held a SQLite
    transaction (or any pooled connection) gave the child a copy of that lock state, so every
    write in that worker waited out the busy timeout ("database is locked", schemathesis on
    SQLite). The master itself opens no database connection at all."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    running: list[Any] = []

    def when_ready(_server: Any) -> None:
        process = context.Process(
            target=deliver_until_stopped,
            args=(settings,),
            name="hellodoctor-delivery",
            daemon=True,
        )
        process.start()
        running.append(process)

    def on_exit(_server: Any) -> None:
        from multiprocessing.connection import wait

        for process in running:
            # SIGTERM asks for a stop after the pass in flight. The sentinel, not join(): the
            # arbiter reaps any child that exits (waitpid -1).
            process.terminate()
            if not wait([process.sentinel], timeout=30):
                process.kill()

    return {"when_ready": when_ready, "on_exit": on_exit}


def deliver_until_stopped(settings: Settings) -> None:
    """The delivery process's body (module level, so a spawned process can import it): drain
    the outbox every second until SIGTERM. Ctrl-C reaches the whole process group, so SIGINT
    is ignored here: the master stops this process after its workers. (A multiprocessing
    Event would not do: a waiter killed inside ``wait`` leaves ``set`` blocked for ever.)"""
    import signal
    import threading

    from hellodoctor_http.bootstrap import bootstrap
    from hellodoctor_http.delivery import deliver_until

    stop = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    configure_logging()
    components = bootstrap(settings)
    try:
        if components.delivery is not None:
            deliver_until(stop, components.delivery.relay.drain)
    finally:
        components.close()
