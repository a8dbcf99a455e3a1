"""Test fixtures for the Stripe adapter (needs the ``dev`` extra: pytest, localstripe).

``localstripe()`` starts localstripe (patched by ``tests/support/localstripe_server.py``) in a
subprocess on a free loopback port and stops it afterwards. ``WebhookReceiver`` is a small
HTTP server on a free loopback port that records what localstripe POSTs to it, so a test can
take a real signed delivery. If localstripe cannot start, tests skip with the reason -- or fail when
``HELLODOCTOR_REQUIRE_SERVICES=1`` (``hellodoctor_adapters.testing.services``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from attrs import define, field

from hellodoctor_adapters.stripe.gateway import StripeGateway
from hellodoctor_adapters.testing.services import unavailable

STARTUP_SECONDS = 30.0
# localstripe waits a second before each delivery; allow for a slow machine on top.
DELIVERY_SECONDS = 30.0


@define
class LocalStripe:
    """A running localstripe: point ``StripeGateway(api_base=...)`` at ``api_base``."""

    api_base: str

    def new_secret_key(self) -> str:
        """A fresh test key: Stripe scopes idempotency keys by account, so each key is an
        isolated account for the fixed keys the contract suite uses."""
        return f"sk_test_{uuid.uuid4().hex}"

    def register_webhook(self, url: str, secret: str, name: str = "hellodoctor") -> None:
        """Have localstripe POST every event, signed with ``secret``, to ``url``."""
        body = json.dumps({"url": url, "secret": secret}).encode()
        request = urllib.request.Request(
            f"{self.api_base}/_config/webhooks/{name}",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    def gateway(self, secret_key: str, webhook_secret: str) -> StripeGateway:
        return StripeGateway(
            secret_key, webhook_secret, api_base=self.api_base, max_network_retries=0
        )


# localstripe is GPL-3.0; the launcher that imports and patches it lives with the tests, in the
# source tree, and is never shipped in the wheel.
LAUNCHER = Path(
    os.environ.get("HELLODOCTOR_LOCALSTRIPE_LAUNCHER")
    or Path(__file__).resolve().parents[3] / "tests" / "support" / "localstripe_server.py"
)


@contextmanager
def localstripe() -> Iterator[LocalStripe]:
    """localstripe in a subprocess for the duration of the block (skips or fails if it
    cannot be started)."""
    if importlib.util.find_spec("localstripe") is None:
        unavailable("the Stripe tests need localstripe: pip install -e '.[dev]'")
    launcher = LAUNCHER
    if not launcher.is_file():
        unavailable(f"the localstripe launcher is not at {launcher} (a source checkout has it)")
    with tempfile.TemporaryDirectory(prefix="hellodoctor-localstripe-") as directory:
        errors_path = os.path.join(directory, "stderr")
        with open(errors_path, "wb") as errors:
            process = subprocess.Popen(
                [sys.executable, str(launcher)],
                stdout=subprocess.PIPE,
                stderr=errors,
                cwd=directory,
            )
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], STARTUP_SECONDS)
            line = process.stdout.readline().strip() if ready else b""
            if not line.isdigit():
                process.kill()
                process.wait()
                with open(errors_path, "rb") as errors_file:
                    detail = errors_file.read().decode(errors="replace").strip()[-2000:]
                unavailable(f"localstripe did not start: {detail or 'no port printed'}")
            yield LocalStripe(f"http://127.0.0.1:{int(line)}")
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


@define(frozen=True)
class Delivery:
    """One webhook POST as it arrived: the raw body and its ``Stripe-Signature`` header."""

    body: bytes
    signature: str

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@define
class WebhookReceiver:
    """Records every POST it receives (answering 200) until closed."""

    _server: ThreadingHTTPServer
    _deliveries: list[Delivery] = field(factory=list)
    _arrived: threading.Condition = field(factory=threading.Condition)

    @classmethod
    @contextmanager
    def running(cls) -> Iterator[WebhookReceiver]:
        receiver: WebhookReceiver

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver._record(Delivery(body, self.headers.get("Stripe-Signature", "")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet test output

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        receiver = cls(server)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield receiver
        finally:
            server.shutdown()
            server.server_close()
            thread.join()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/webhooks/stripe"

    def _record(self, delivery: Delivery) -> None:
        with self._arrived:
            self._deliveries.append(delivery)
            self._arrived.notify_all()

    def wait_for(self, matches: Callable[[dict[str, Any]], bool]) -> Delivery:
        """The first delivery whose event ``matches``, waiting for it to arrive."""

        def found() -> Delivery | None:
            return next((d for d in self._deliveries if matches(d.event)), None)

        with self._arrived:
            delivery = self._arrived.wait_for(found, timeout=DELIVERY_SECONDS)
        if delivery is None:
            raise AssertionError(f"no matching webhook arrived within {DELIVERY_SECONDS}s")
        return delivery

    def wait_for_event(self, event_type: str, intent_id: str) -> Delivery:
        return self.wait_for(
            lambda event: (
                event.get("type") == event_type
                and event.get("data", {}).get("object", {}).get("id") == intent_id
            )
        )
