"""What stands between a socket and the WSGI app: uvicorn's event loop in each gunicorn worker.

Gunicorn's sync workers read a request head in the worker itself, so a few hundred clients
trickling their headers a byte a second held every worker and stopped the API. Here each
gunicorn worker runs an asyncio loop (uvicorn's h11 protocol): a connection costs a socket and a
few objects until its whole request has arrived, and only then does the request take one of the
worker's threads, where the Falcon app runs (``bridge.py``). Around that:

* ``FrontProtocol`` bounds the request head in time (``HEAD_TIMEOUT_SECONDS``, from the first
  byte of a connection or the end of the previous answer) and size (``HEAD_LIMIT_BYTES``),
  caps the connections per worker, and answers what it refuses as problem+json.
* ``Guard`` bounds the number of header fields, reads the whole body (size- and time-bounded)
  before a thread is taken, answers a request the app has not answered within the timeout with
  503 ``server-timeout``, and an exception that escaped the app with 500 ``internal-error``.
* ``FrontWorker`` is the gunicorn worker class: gunicorn still forks, restarts and stops the
  workers, and kills one whose loop stops answering its heartbeat. Its loop
  (``FairAcceptLoop``) accepts one new connection per turn, so kept-alive connections opened in
  a burst spread over the workers instead of all landing on the first one awake.

Every refusal gets a request id, an ``X-Request-ID`` header and a line in the JSON access log,
like the app's own answers. Where no request can be answered, the connection is closed: a
connection beyond the cap (nothing was asked yet), a head timeout before any byte arrived (an
idle keep-alive connection), and a worker that died (its sockets die with it).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from http import HTTPStatus
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn_worker import UvicornWorker  # type: ignore[import-untyped]

from hellodoctor_http.jsoncodec import dump_json
from hellodoctor_http.problems import PROBLEM_JSON, PROBLEMS, problem_document

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEAD_TIMEOUT_SECONDS = 10.0
# The request line and every header field together; gunicorn allowed 8190 bytes a line.
HEAD_LIMIT_BYTES = 16 * 1024
RETRY_AFTER_SECONDS = "5"

_log = logging.getLogger("hellodoctor.front")
_access_log = logging.getLogger("hellodoctor.access")


def problem_answer(
    slug: str, detail: str, instance: str | None = None, *, method: str | None = None
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body of a refusal the app never saw; logged as the app logs."""
    request_id = uuid.uuid4().hex
    problem_type = PROBLEMS[slug]
    body = dump_json(
        problem_document(problem_type, detail, instance or f"urn:uuid:{request_id}", request_id)
    )
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
        (b"cache-control", b"no-store"),
        (b"x-content-type-options", b"nosniff"),
    ]
    if problem_type.status == 503:
        headers.append((b"retry-after", RETRY_AFTER_SECONDS.encode()))
    _access_log.info(
        dump_json(
            {
                "event": "request",
                "request_id": request_id,
                "method": method,
                "route": "front",
                "path": instance,
                "status": problem_type.status,
                "duration_ms": 0,
                "problem": slug,
                "role": None,
            }
        ).decode()
    )
    return problem_type.status, headers, body


class FrontProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on the request head, a connection cap, and
    problem+json instead of its plain-text 400."""

    def __init__(self, *args: Any, max_connections: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._max_connections = max_connections
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._max_connections:
            _log.warning("over %d connections: closing a new one", self._max_connections)
            transport.close()
            return
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head arrived (or was refused)
            self._forget_head_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget_head_deadline()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        buffered, _closed = self.conn.trailing_data
        if len(buffered) > HEAD_LIMIT_BYTES:
            self._refuse(
                "request-header-fields-too-large",
                f"the request line and headers may be at most {HEAD_LIMIT_BYTES} bytes",
            )
        else:
            self._refuse("bad-request", "the request line or a header is not valid HTTP/1.1")

    def _await_head(self) -> None:
        self._forget_head_deadline()
        self._head_deadline = self.loop.call_later(HEAD_TIMEOUT_SECONDS, self._head_timed_out)

    def _forget_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        buffered, _closed = self.conn.trailing_data
        if buffered:
            self._refuse(
                "request-timeout",
                f"the request head must arrive within {HEAD_TIMEOUT_SECONDS:g} seconds",
            )
        else:  # an idle connection: nothing was asked, so there is nothing to answer
            self.transport.close()

    def _refuse(self, slug: str, detail: str) -> None:
        status, headers, body = problem_answer(slug, detail)
        head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n".encode()]
        head += [name + b": " + value + b"\r\n" for name, value in headers]
        self.transport.write(b"".join([*head, b"connection: close\r\n\r\n", body]))
        self.transport.close()


class _BodyTooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


def _announced_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return 0


class Guard:
    """ASGI middleware in front of the WSGI bridge; see the module's docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_header_fields: int,
        max_body_bytes: int,
        timeout: float,
        upload_limits: Mapping[str, int] | None = None,
    ) -> None:
        self._app = app
        self._max_header_fields = max_header_fields
        self._max_body_bytes = max_body_bytes
        # Paths that take files (POST) and their own, larger, limit (documents uploads).
        self._upload_limits = dict(upload_limits or {})
        self._timeout = timeout
        # Requests answered 503 whose threads still run: kept so their tasks are not collected.
        self._overdue: set[asyncio.Future[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        deadline = time.monotonic() + self._timeout
        path = scope.get("path")
        # h11 refuses a head that outgrows HEAD_LIMIT_BYTES while it arrives; one that came
        # whole in a single read is measured here.
        head_bytes = len(scope["raw_path"]) + len(scope["query_string"])
        head_bytes += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        if len(scope["headers"]) > self._max_header_fields or head_bytes > HEAD_LIMIT_BYTES:
            await self._answer(
                send,
                "request-header-fields-too-large",
                f"at most {self._max_header_fields} header fields "
                f"and {HEAD_LIMIT_BYTES} bytes of request line and headers",
                scope,
            )
            return
        limit = self._max_body_bytes
        if scope.get("method") == "POST" and isinstance(path, str):
            limit = self._upload_limits.get(path.rstrip("/"), limit)
        try:
            if _announced_length(scope) > limit:
                raise _BodyTooLarge
            body = await asyncio.wait_for(self._read_body(receive, limit), self._timeout)
        except TimeoutError:
            await self._answer(
                send, "request-timeout", f"the body must arrive within {self._timeout:g} s", scope
            )
            return
        except _BodyTooLarge:
            await self._answer(
                send,
                "payload-too-large",
                f"the body may be at most {limit} bytes",
                scope,
            )
            return
        except _Disconnected:
            return
        await self._run(scope, body, receive, send, deadline, path)

    async def _read_body(self, receive: Receive, limit: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _run(
        self, scope: Scope, body: bytes, receive: Receive, send: Send, deadline: float, path: Any
    ) -> None:
        delivered = False
        started = False
        overdue = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send_unless_overdue(message: Message) -> None:
            nonlocal started
            if overdue:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        task = asyncio.ensure_future(self._app(scope, replay, send_unless_overdue))
        try:
            await asyncio.wait({task}, timeout=max(0.0, deadline - time.monotonic()))
        except asyncio.CancelledError:
            task.cancel()
            raise
        if not task.done():
            if started:  # an answer is under way: let it finish
                await task
                return
            overdue = True
            self._overdue.add(task)
            task.add_done_callback(self._overdue.discard)
            _log.error("%s %s not answered within %g s", scope["method"], path, self._timeout)
            await self._answer(
                send,
                "server-timeout",
                f"no answer within {self._timeout:g} seconds",
                scope,
            )
            return
        error = task.exception()
        if error is None:
            return
        if started:
            raise error
        _log.error("unhandled error on %s %s", scope["method"], path, exc_info=error)
        await self._answer(
            send, "internal-error", "The error was logged with the request id.", scope
        )

    @staticmethod
    async def _answer(send: Send, slug: str, detail: str, scope: Scope) -> None:
        target = scope.get("raw_path", b"").decode("latin-1") or None
        status, headers, body = problem_answer(slug, detail, target, method=scope.get("method"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


# New connections one worker accepts per turn of its loop. asyncio accepts up to the listen
# backlog (2048) per turn: a burst of kept-alive connections (a proxy's pool, a load generator)
# all went to whichever worker woke first, and stayed there while the others idled. One per
# turn lets every woken worker take its share, and a busy worker (longer turns) takes fewer.
ACCEPTS_PER_TURN = 1


class FairAcceptLoop(asyncio.SelectorEventLoop):
    """The worker's event loop (uvicorn's ``loop`` setting): asyncio's, accepting
    ``ACCEPTS_PER_TURN`` connections per turn instead of up to the listen backlog (which the
    listening socket keeps: only the accept loop is shortened)."""

    def _accept_connection(
        self,
        protocol_factory: Any,
        sock: Any,
        sslcontext: Any = None,
        server: Any = None,
        backlog: int = 100,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super()._accept_connection(  # type: ignore[misc]
            protocol_factory, sock, sslcontext, server, ACCEPTS_PER_TURN, *args, **kwargs
        )


class FrontWorker(UvicornWorker):  # type: ignore[misc]
    """gunicorn's worker running uvicorn with ``FrontProtocol``; gunicorn's ``keepalive``,
    ``graceful_timeout`` and ``worker_connections`` settings apply."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "hellodoctor_http.front:FairAcceptLoop",
        "lifespan": "off",
        "ws": "none",  # no WebSocket route: an upgrade request is served as plain HTTP
        "access_log": False,  # the app writes one JSON line per request
        "server_header": False,
        # The app reads X-Forwarded-For itself, from HELLODOCTOR_TRUSTED_PROXIES only
        # (api/accounts.client_address): the peer address must reach it unchanged.
        "proxy_headers": False,
        "h11_max_incomplete_event_size": HEAD_LIMIT_BYTES,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.http = functools.partial(
            FrontProtocol, max_connections=self.cfg.worker_connections
        )
        self.config.timeout_graceful_shutdown = self.cfg.graceful_timeout
