"""The serving front (``hellodoctor_http.front``) on its own: the guard driven as an ASGI app,
and uvicorn with ``FrontProtocol`` in a thread on a free loopback port. Deadlines are made short
and bound with socket or task timeouts; nothing sleeps to wait for them."""

from __future__ import annotations

import asyncio
import functools
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn

from hellodoctor_http import front
from hellodoctor_http.front import FrontProtocol, FrontWorker, Guard

PROBLEM = "https://hellodoctor.dev/problems/"


async def _hello(scope: Any, receive: Any, send: Any) -> None:
    message = await receive()
    body = b"hello " + message.get("body", b"")
    length = (b"content-length", str(len(body)).encode())
    await send({"type": "http.response.start", "status": 200, "headers": [length]})
    await send({"type": "http.response.body", "body": body})


def _scope(headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": "/things",
        "raw_path": b"/things",
        "query_string": b"",
        "headers": headers or [(b"host", b"x")],
    }


def _drive(guard: Guard, scope: dict[str, Any], chunks: list[bytes] | None) -> list[Any]:
    """Run one request through the guard; ``chunks`` None is a body that never comes."""
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        if chunks is None:
            await asyncio.Event().wait()
        chunk = chunks.pop(0)  # type: ignore[union-attr]
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(guard(scope, receive, send), 10))
    return sent


def _problem(sent: list[Any]) -> tuple[int, dict[bytes, bytes], dict[str, Any]]:
    start, body = sent
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/problem+json"
    problem = json.loads(body["body"])
    assert problem["request_id"] == headers[b"x-request-id"].decode()
    assert problem["status"] == start["status"]
    return start["status"], headers, problem


def _guard(app: Any, timeout: float = 10) -> Guard:
    return Guard(app, max_header_fields=100, max_body_bytes=1000, timeout=timeout)


def test_the_guard_hands_the_whole_body_to_the_app() -> None:
    sent = _drive(_guard(_hello), _scope(), [b"in ", b"two parts"])
    assert [m.get("status") or m.get("body") for m in sent] == [200, b"hello in two parts"]


def test_a_body_over_the_limit_is_413_before_the_app_runs() -> None:
    status, _, problem = _problem(_drive(_guard(_hello), _scope(), [b"x" * 600, b"x" * 600]))
    assert (status, problem["type"]) == (413, PROBLEM + "payload-too-large")


def test_a_body_that_does_not_arrive_in_time_is_408() -> None:
    status, _, problem = _problem(_drive(_guard(_hello, timeout=0.05), _scope(), None))
    assert (status, problem["type"]) == (408, PROBLEM + "request-timeout")


def test_too_many_header_fields_are_431() -> None:
    headers = [(b"x-%d" % n, b"a") for n in range(101)]
    status, _, problem = _problem(_drive(_guard(_hello), _scope(headers), [b""]))
    assert (status, problem["type"]) == (431, PROBLEM + "request-header-fields-too-large")


def test_an_exception_escaping_the_app_is_500_problem_json() -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    status, _, problem = _problem(_drive(_guard(broken), _scope(), [b""]))
    assert (status, problem["type"]) == (500, PROBLEM + "internal-error")
    assert "boom" not in json.dumps(problem)


def test_an_app_that_does_not_answer_in_time_is_503_and_its_late_answer_is_dropped() -> None:
    release = asyncio.Event()

    async def stuck(scope: Any, receive: Any, send: Any) -> None:
        await release.wait()
        await _hello(scope, receive, send)

    guard = _guard(stuck, timeout=0.05)
    sent: list[Any] = []

    async def scenario() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Any) -> None:
            sent.append(message)

        await guard(_scope(), receive, send)
        (overdue,) = guard._overdue  # its thread still runs, and is not forgotten
        release.set()
        await asyncio.wait_for(overdue, 10)

    asyncio.run(scenario())
    status, headers, problem = _problem(sent)  # the 503 alone: the late answer went nowhere
    assert (status, problem["type"]) == (503, PROBLEM + "server-timeout")
    assert headers[b"retry-after"] == b"5"


# -- FrontProtocol, served by uvicorn in a thread ---------------------------------------------


@contextmanager
def _served(max_connections: int = 100, app: Any = _hello) -> Iterator[int]:
    """uvicorn configured as ``FrontWorker`` configures it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        **{
            **FrontWorker.CONFIG_KWARGS,
            "http": functools.partial(FrontProtocol, max_connections=max_connections),
        },
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:  # readiness, not timing
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _read_answer(connection: socket.socket) -> bytes:
    """One answer on a kept-alive connection (_hello's: "hello " and the body it was sent)."""
    answer = b""
    while not answer.endswith(b"\r\n\r\nhello ") and (part := connection.recv(65536)):
        answer += part
    return answer


def _read_all(connection: socket.socket) -> bytes:
    answer = b""
    while part := connection.recv(65536):
        answer += part
    return answer


@pytest.fixture
def short_head_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(front, "HEAD_TIMEOUT_SECONDS", 0.2)


@pytest.mark.usefixtures("short_head_timeout")
def test_a_head_that_does_not_arrive_in_time_is_408_problem_json() -> None:
    with _served() as port, socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        answer = _read_all(slow)  # the server closes it: the socket timeout is the bound
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 ")
    assert b"content-type: application/problem+json" in head
    assert json.loads(body)["type"] == PROBLEM + "request-timeout"


@pytest.mark.usefixtures("short_head_timeout")
def test_a_connection_that_never_asks_is_closed_without_an_answer() -> None:
    with _served() as port, socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
        assert _read_all(idle) == b""


@pytest.mark.usefixtures("short_head_timeout")
def test_the_head_deadline_starts_again_after_each_answer() -> None:
    with _served() as port, socket.create_connection(("127.0.0.1", port), timeout=10) as kept:
        kept.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _read_answer(kept).startswith(b"HTTP/1.1 200 ")
        kept.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        assert _read_all(kept).startswith(b"HTTP/1.1 408 ")


def test_connections_beyond_the_cap_are_closed_unanswered() -> None:
    with _served(max_connections=2) as port:
        kept = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(2)]
        try:
            for connection in kept:  # answered, so the server holds both
                connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert _read_answer(connection).startswith(b"HTTP/1.1 200 ")
            with socket.create_connection(("127.0.0.1", port), timeout=10) as third:
                assert _read_all(third) == b""
        finally:
            for connection in kept:
                connection.close()


def test_the_app_sees_the_peer_address_not_a_forwarded_one() -> None:
    """Trusting X-Forwarded-For is the app's decision (HELLODOCTOR_TRUSTED_PROXIES), not the
    server's: a loopback client must not pick its own throttling address."""

    async def peer(scope: Any, receive: Any, send: Any) -> None:
        body = scope["client"][0].encode()
        length = (b"content-length", str(len(body)).encode())
        await send({"type": "http.response.start", "status": 200, "headers": [length]})
        await send({"type": "http.response.body", "body": body})

    with _served(app=peer) as port, socket.create_connection(("127.0.0.1", port), 10) as client:
        client.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9\r\n"
            b"Connection: close\r\n\r\n"
        )
        assert _read_all(client).endswith(b"\r\n\r\n127.0.0.1")
