"""The WSGI app in a worker's threads, as an ASGI app for the worker's event loop.

``front.Guard`` hands each request over with its whole body, so a thread needs nothing more
from the loop: it runs the app and hands back the whole answer in one step. An answer the app
gives as a list (every Falcon answer with ``text``, ``data`` or ``media``) crosses between the
thread and the loop twice per request in all (the request to a thread, the answer back).
a2wsgi, which this replaces, crossed about ten times (reading the body, the response start,
each body chunk and the end, each a round trip that waited for the other side), and under
load every crossing queued for the GIL behind the other threads: the worker's loop spent more
of its time passing messages than the app spent booking.

A streamed answer (``resp.stream``: exports, downloads) keeps its thread for the whole
stream, which hands its chunks to the loop through a bounded queue, so a slow reader holds back
the thread (as with a2wsgi) rather than filling memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Head = tuple[int, list[tuple[bytes, bytes]]]

# Chunks of a streamed answer waiting for the loop before the thread waits for it.
STREAM_QUEUE_CHUNKS = 8
# How often a thread waiting to hand over a chunk checks whether the request was abandoned.
_HANDOVER_POLL_SECONDS = 1.0
_END = object()

_BASE_ENVIRON: dict[str, Any] = {
    "SCRIPT_NAME": "",
    "wsgi.version": (1, 0),
    "wsgi.errors": sys.stderr,
    "wsgi.multithread": True,
    "wsgi.multiprocess": True,
    "wsgi.run_once": False,
}


def environ_of(scope: Scope, body: bytes) -> dict[str, Any]:
    """The WSGI environ of an ASGI HTTP scope whose body has arrived whole (PEP 3333)."""
    environ = dict(_BASE_ENVIRON)
    environ["REQUEST_METHOD"] = scope["method"]
    environ["PATH_INFO"] = scope["path"].encode("utf-8").decode("latin-1")
    environ["QUERY_STRING"] = scope["query_string"].decode("latin-1")
    environ["SERVER_PROTOCOL"] = f"HTTP/{scope.get('http_version', '1.1')}"
    environ["wsgi.url_scheme"] = scope.get("scheme", "http")
    environ["wsgi.input"] = io.BytesIO(body)
    server = scope.get("server") or ("localhost", 80)
    environ["SERVER_NAME"], environ["SERVER_PORT"] = server[0], str(server[1] or 0)
    client = scope.get("client")
    if client is not None:
        environ["REMOTE_ADDR"], environ["REMOTE_PORT"] = client[0], str(client[1])
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1")
        if name == "content-length":
            key = "CONTENT_LENGTH"
        elif name == "content-type":
            key = "CONTENT_TYPE"
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


class _Exchange:
    """One request's trip through a thread: ``run`` in the thread, ``answer`` on the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        # Set once, from the thread: (head, whole body) or (head, None) for a stream.
        self.answer: asyncio.Future[tuple[Head, bytes | None]] = loop.create_future()
        # A stream's chunks; made only for a stream (most answers are whole, and a queue, like
        # a threading.Event, costs a Condition and its lock per request).
        self.chunks: asyncio.Queue[Any] | None = None
        # Set by the loop when the request ends; read by a streaming thread (a plain flag:
        # one attribute written once).
        self.abandoned = False
        self._head: Head | None = None
        self._written: list[bytes] = []
        self._streaming = False

    def run(self, app: WsgiApp, environ: dict[str, Any]) -> None:
        try:
            result = app(environ, self._start_response)
        except BaseException as error:
            self._settle(error=error)
            return
        if isinstance(result, list | tuple):
            try:
                body = b"".join([*self._written, *result])
                head = self._started()
            except BaseException as error:
                self._settle(error=error)
            else:
                self._settle((head, body))
            finally:
                _close(result)
            return
        self._stream(result)

    def _stream(self, result: Iterable[bytes]) -> None:
        try:
            iterator = iter(result)
            first = next(iterator, None)  # the app may call start_response only now
            self._streaming = True
            self.chunks = asyncio.Queue(STREAM_QUEUE_CHUNKS)  # before the loop looks for it
            self._settle((self._started(), None))
            for chunk in (*self._written, first):
                if chunk and not self._hand_over(chunk):
                    return
            for chunk in iterator:
                if chunk and not self._hand_over(chunk):
                    return
            self._hand_over(_END)
        except BaseException as error:
            if self._streaming:
                self._hand_over(error)
            else:
                self._settle(error=error)
        finally:
            _close(result)

    def _start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        if exc_info is not None and self._streaming:
            raise exc_info[1].with_traceback(exc_info[2])
        if self._head is not None and exc_info is None:
            raise RuntimeError("start_response called twice without exc_info")
        self._head = (
            int(status.split(" ", 1)[0]),
            [
                (k.strip().lower().encode("latin-1"), v.strip().encode("latin-1"))
                for k, v in headers
            ],
        )
        return self._written.append

    def _started(self) -> Head:
        if self._head is None:
            raise RuntimeError("the WSGI app returned without calling start_response")
        return self._head

    def _settle(
        self, answer: tuple[Head, bytes | None] | None = None, *, error: BaseException | None = None
    ) -> None:
        def settle() -> None:
            if self.answer.done():  # cancelled: the request was abandoned
                return
            if error is not None:
                self.answer.set_exception(error)
            else:
                self.answer.set_result(answer)  # type: ignore[arg-type]

        # A closed loop (the worker is stopping) raises RuntimeError: nobody waits any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(settle)

    def _hand_over(self, item: Any) -> bool:
        """A stream's chunk (or its end, or its error) to the loop, waiting while the queue is
        full; False once the request was abandoned."""
        assert self.chunks is not None
        while not self.abandoned:
            try:
                handed = asyncio.run_coroutine_threadsafe(self.chunks.put(item), self._loop)
            except RuntimeError:  # the loop closed
                return False
            try:
                handed.result(_HANDOVER_POLL_SECONDS)
                return True
            except TimeoutError:
                handed.cancel()
        return False


def _close(result: Any) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()


class ThreadedWsgi:
    """An ASGI app running a WSGI app in ``threads`` threads of its own; see the module's
    docstring."""

    def __init__(self, app: WsgiApp, *, threads: int) -> None:
        self._app = app
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # no lifespan, no WebSocket: FrontWorker turns both off
        chunks: list[bytes] = []
        while True:  # behind the Guard: one message, the whole body
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        exchange = _Exchange(asyncio.get_running_loop())
        self._executor.submit(exchange.run, self._app, environ_of(scope, b"".join(chunks)))
        try:
            (status, headers), body = await exchange.answer
            await send({"type": "http.response.start", "status": status, "headers": headers})
            if body is not None:
                await send({"type": "http.response.body", "body": body})
                return
            assert exchange.chunks is not None
            while (chunk := await exchange.chunks.get()) is not _END:
                if isinstance(chunk, BaseException):
                    raise chunk
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            exchange.abandoned = True
