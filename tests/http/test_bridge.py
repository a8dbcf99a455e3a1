"""The WSGI app in threads (``bridge.ThreadedWsgi``) and the worker loop's fair accepting
(``front.FairAcceptLoop``), driven directly: what the app sees and what the client is sent."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from hellodoctor_http.bridge import ThreadedWsgi, environ_of
from hellodoctor_http.front import FairAcceptLoop


def _scope(body: bytes = b"") -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/caf\u00e9/things",
        "query_string": b"a=1&b=2",
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("10.0.0.7", 5555),
        "headers": [
            (b"host", b"x"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-thing", b"one"),
            (b"x-thing", b"two"),
        ],
    }


def _serve(app: Any, body: bytes = b"", chunks: list[bytes] | None = None) -> list[Any]:
    """One request through ``ThreadedWsgi`` (the body in ``chunks``, as the Guard may replay
    it); the messages sent back."""
    sent: list[Any] = []
    parts = list(chunks if chunks is not None else [body])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": parts.pop(0), "more_body": bool(parts)}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = _scope(b"".join(parts))
    asyncio.run(asyncio.wait_for(ThreadedWsgi(app, threads=2)(scope, receive, send), 10))
    return sent


def test_the_app_sees_the_request_as_wsgi_and_its_answer_is_sent_whole() -> None:
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ, body=environ["wsgi.input"].read())
        start_response("201 Created", [("Content-Type", "text/plain"), ("X-Id", " 7 ")])
        return [b"made ", b"it"]

    sent = _serve(app, chunks=[b'{"a":', b"1}"])

    assert sent == [
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"text/plain"), (b"x-id", b"7")],
        },
        {"type": "http.response.body", "body": b"made it"},
    ]
    assert seen["body"] == b'{"a":1}'
    assert (seen["REQUEST_METHOD"], seen["QUERY_STRING"]) == ("POST", "a=1&b=2")
    assert seen["PATH_INFO"] == "/caf\u00e9/things".encode().decode("latin-1")  # PEP 3333
    assert (seen["CONTENT_TYPE"], seen["CONTENT_LENGTH"]) == ("application/json", "7")
    assert seen["HTTP_X_THING"] == "one,two"
    assert (seen["REMOTE_ADDR"], seen["SERVER_NAME"], seen["SERVER_PORT"]) == (
        "10.0.0.7",
        "127.0.0.1",
        "8000",
    )


def test_a_streamed_answer_is_sent_chunk_by_chunk() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        # A generator starts the response only when first iterated.
        start_response("200 OK", [("Content-Type", "application/fhir+json")])
        yield b"["
        for n in range(20):  # more chunks than the queue holds: the thread waits its turn
            yield b"%d," % n
        yield b""  # empty chunks are not sent
        yield b"]"

    sent = _serve(app)

    assert sent[0]["status"] == 200
    bodies = [message["body"] for message in sent[1:]]
    assert b"".join(bodies) == b"[" + b"".join(b"%d," % n for n in range(20)) + b"]"
    assert len(bodies) == 23
    assert bodies[-1] == b""
    assert all(message.get("more_body") for message in sent[1:-1])


def test_an_exception_in_the_app_reaches_the_guard() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _serve(app)


def test_an_exception_in_the_middle_of_a_stream_ends_it_with_the_error() -> None:
    def app(environ: dict[str, Any], start_response: Any) -> Iterator[bytes]:
        start_response("200 OK", [])
        yield b"a"
        raise RuntimeError("broken stream")

    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    with pytest.raises(RuntimeError, match="broken stream"):
        asyncio.run(ThreadedWsgi(app, threads=1)(_scope(), receive, send))
    assert [message.get("body") for message in sent] == [None, b"a"]


def test_an_app_that_never_starts_a_response_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="start_response"):
        _serve(lambda environ, start_response: [b"x"])


def test_the_environ_of_a_bodiless_request() -> None:
    scope = _scope()
    scope["headers"] = [(b"host", b"x")]
    del scope["client"]
    environ = environ_of(scope, b"")
    assert environ["wsgi.input"].read() == b""
    assert "REMOTE_ADDR" not in environ
    assert "CONTENT_LENGTH" not in environ
    assert environ["HTTP_HOST"] == "x"


def test_the_worker_loop_accepts_one_waiting_connection_per_turn() -> None:
    """asyncio accepts up to the listen backlog per turn: a burst of kept-alive connections
    all went to the first worker awake. FairAcceptLoop leaves the others in the queue for the
    other workers (or its own next turn)."""
    loop = FairAcceptLoop()
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    listener.setblocking(False)
    clients = [socket.create_connection(listener.getsockname(), timeout=10) for _ in range(3)]
    try:
        loop._accept_connection(_Closing, listener, backlog=100)
        waiting = []
        for _ in range(3):
            try:
                waiting.append(listener.accept()[0])
            except BlockingIOError:
                break
        assert len(waiting) == 2  # one of three was taken this turn
        for connection in waiting:
            connection.close()
    finally:
        for client in clients:
            client.close()
        listener.close()
        loop.run_until_complete(asyncio.sleep(0.01))  # the accepted one is made, and closed
        loop.close()


class _Closing(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()
