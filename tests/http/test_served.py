"""The real thing: ``hellodoctor serve`` (gunicorn, several worker processes) on a free port
against a SQLite file, driven over HTTP."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hellodoctor_adapters.notify import MaildirNotifier
from hellodoctor_adapters.runtime import SystemClock
from hellodoctor_adapters.sqlalchemy.testing import migrated_sqlite_file
from hellodoctor_adapters.testing.files import pdf_of_size
from hellodoctor_domain import (
    Actor,
    Availability,
    Doctor,
    DoctorId,
    LocalWindow,
    Money,
    Patient,
    PatientId,
    UserId,
    Weekday,
    WorkingDay,
)
from hellodoctor_http.auth import TokenCodec
from hellodoctor_http.bootstrap import bootstrap
from hellodoctor_http.config import Settings
from hellodoctor_http.testing import SECRET, check_response

CONTENDERS = 64
START_TIMEOUT_SECONDS = 60

UPLOAD_LIMIT = 200 * 1024  # above the JSON body limit (64 KiB): uploads have their own


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _seed(url: str) -> None:
    components = bootstrap(Settings(database_url=url, jwt_secret=SECRET))
    scheduling = components.scheduling
    admin = Actor.admin(UserId("admin"))
    scheduling.register_doctor(
        admin,
        Doctor(DoctorId("dr-e2e"), "Dr E2E", "General practice", "R-E2E", Money(0, "EUR"), "UTC"),
    )
    whole_days = [
        WorkingDay(day, [LocalWindow(datetime.min.time(), datetime.min.time())]) for day in Weekday
    ]
    scheduling.define_availability(
        admin,
        Availability(DoctorId("dr-e2e"), "UTC", whole_days, minimum_notice=timedelta(hours=1)),
    )
    for index in range(CONTENDERS + 1):
        scheduling.register_patient(Patient(PatientId(f"pat-{index}"), f"Patient {index}"))
    components.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("served")


@pytest.fixture(scope="module")
def mail(folder: Path) -> MaildirNotifier:
    """The server's outbox: it writes e-mails here, the test reads them like an inbox."""
    return MaildirNotifier(folder / "mail")


@pytest.fixture(scope="module")
def server(folder: Path, mail: MaildirNotifier) -> Iterator[str]:
    url = migrated_sqlite_file(folder)
    _seed(url)
    port = _free_port()
    environment = {
        **os.environ,
        "HELLODOCTOR_DATABASE_URL": url,
        "HELLODOCTOR_JWT_SECRET": SECRET,
        "HELLODOCTOR_ENV": "development",
        "HELLODOCTOR_MAIL_DIR": str(mail.folder),
        "HELLODOCTOR_BCRYPT_COST": "4",
        "HELLODOCTOR_BLOB_URL": f"file:{folder / 'blobs'}",
        "HELLODOCTOR_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT),
        "HELLODOCTOR_PUBLIC_URL": f"http://127.0.0.1:{port}",  # signed download links
    }
    command = [sys.executable, "-m", "hellodoctor_http", "serve", "--bind", f"127.0.0.1:{port}"]
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start:\n{Path(log.name).read_text()}")
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
    assert "Traceback" not in (folder / "server.log").read_text()


def _call(
    base: str, method: str, path: str, token: str | None = None, body: Any = None
) -> tuple[int, Any, Any]:
    """One request over HTTP; the answer must be one /openapi.json describes."""
    request = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            **({"Authorization": f"Bearer {token}"} if token else {}),
            **({"Content-Type": "application/json"} if body is not None else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            status, headers, content = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as refused:
        status, headers, content = refused.code, refused.headers, refused.read()
    check_response(method.lower(), path, status, headers["Content-Type"], content)
    return status, headers, json.loads(content or b"null")


def _delivered_to(mail: MaildirNotifier, address: str, within: float = 20.0) -> list[Any]:
    """The messages to ``address`` once there are any (polled until ``within`` seconds)."""
    deadline = time.monotonic() + within
    while not (found := [m for m in mail.messages() if m["To"] == address]):
        assert time.monotonic() < deadline, f"no mail to {address} within {within} s"
        time.sleep(0.1)
    return found


def _token(patient: str) -> str:
    codec = TokenCodec(SECRET, "hellodoctor", "hellodoctor-api", SystemClock())
    return codec.issue(f"acct-{patient}", "patient", patient_id=patient)[0]


def _slots(base: str) -> list[dict[str, str]]:
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    query = f"?from={tomorrow.isoformat().replace('+00:00', 'Z')}&tz=Europe/Paris"
    status, _, body = _call(base, "GET", f"/api/v1/doctors/dr-e2e/slots{query}")
    assert status == 200, body
    return list(body["slots"])


def test_register_verify_login_book_and_cancel_over_http(
    server: str, mail: MaildirNotifier
) -> None:
    account = {"email": "e2e@example.com", "password": "an end-to-end passphrase"}
    status, _, accepted = _call(
        server, "POST", "/api/v1/auth/register", body={**account, "name": "E2E Patient"}
    )
    assert status == 202, accepted
    # The request only wrote the outbox; the server's background relay mails it (every second).
    (message,) = _delivered_to(mail, account["email"])
    code = re.search(r"Your code is (\d{6})", str(message.get_content()))
    assert code is not None
    status, _, _ = _call(
        server,
        "POST",
        "/api/v1/auth/verify",
        body={"email": account["email"], "code": code.group(1)},
    )
    assert status == 204
    status, _, tokens = _call(server, "POST", "/api/v1/auth/login", body=account)
    assert status == 200, tokens
    token = tokens["access_token"]
    status, _, me = _call(server, "GET", "/api/v1/me", token)
    assert (status, me["role"], me["status"]) == (200, "patient", "active")

    slot = _slots(server)[0]
    assert slot["local_start"].endswith("+01:00") or slot["local_start"].endswith("+02:00")
    status, headers, booked = _call(
        server,
        "POST",
        "/api/v1/appointments",
        token,
        {"doctor_id": "dr-e2e", "start": slot["start"]},
    )
    assert status == 201, booked
    assert booked["status"] == "booked"
    assert booked["patient_id"] == me["patient_id"]
    assert headers["X-Request-ID"]
    status, _, mine = _call(server, "GET", "/api/v1/appointments", token)
    assert [a["id"] for a in mine["items"]] == [booked["id"]]
    status, _, cancelled = _call(
        server, "POST", f"/api/v1/appointments/{booked['id']}/cancel", token, {"reason": "e2e"}
    )
    assert status == 200
    assert cancelled["status"] == "cancelled"
    assert slot["start"] in {s["start"] for s in _slots(server)}  # free again
    # The composition root built Billing over the served storage (not a 501): cancelling went
    # through it, and the patient's wallet and payments answer.
    status, _, wallet = _call(server, "GET", "/api/v1/wallet", token)
    assert (status, wallet["balance"]["minor_units"], wallet["entries"]) == (200, 0, [])
    status, _, payments = _call(server, "GET", "/api/v1/payments", token)
    assert (status, payments["items"]) == (200, [])


def test_a_bad_token_is_401_over_http(server: str) -> None:
    status, headers, problem = _call(server, "GET", "/api/v1/appointments", "not-a-token")
    assert status == 401
    assert headers["WWW-Authenticate"].startswith("Bearer")
    assert headers["Content-Type"] == "application/problem+json"
    assert problem["type"].endswith("/unauthorized")


def test_a_chunked_body_over_the_limit_is_413(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        chunk = b"x" * (70 * 1024)
        connection.sendall(
            b"POST /api/v1/appointments HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Authorization: Bearer " + _token("pat-1").encode() + b"\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            + f"{len(chunk):x}\r\n".encode()
            + chunk
            + b"\r\n0\r\n\r\n"
        )
        answer = b""
        while part := connection.recv(65536):
            answer += part
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_64_concurrent_bookings_of_one_slot_make_exactly_one_appointment(server: str) -> None:
    slot = _slots(server)[3]
    tokens = [_token(f"pat-{index}") for index in range(CONTENDERS)]
    starting_gun = threading.Barrier(CONTENDERS)

    def contend(token: str) -> int:
        starting_gun.wait(timeout=60)
        status, _, _ = _call(
            server,
            "POST",
            "/api/v1/appointments",
            token,
            {"doctor_id": "dr-e2e", "start": slot["start"]},
        )
        return status

    with ThreadPoolExecutor(CONTENDERS) as pool:
        outcomes = Counter(pool.map(contend, tokens))
    assert outcomes == {201: 1, 409: CONTENDERS - 1}
    _status, _, taken = _call(server, "GET", f"/api/v1/doctors/dr-e2e/slots?from={slot['start']}")
    assert slot["start"] not in {s["start"] for s in taken["slots"]}


# -- slow and hostile clients (front.py) ------------------------------------------------------

SLOW_CLIENTS = 60  # far more than workers x threads: under sync workers this stopped the API
NORMAL_ANSWER_SECONDS = 10


def _raw(server: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are and read one answer (its head, then Content-Length bytes)."""
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer and (part := connection.recv(65536)):
            answer += part
        head, _, body = answer.partition(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").split("\r\n")
        headers = {n.lower(): v.strip() for n, _, v in (f.partition(":") for f in fields)}
        while len(body) < int(headers["content-length"]) and (part := connection.recv(65536)):
            body += part
    return int(status_line.split()[1]), headers, body


def _assert_problem(answer: tuple[int, dict[str, str], bytes], status: int, slug: str) -> None:
    got_status, headers, body = answer
    assert got_status == status, body
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["type"] == f"https://hellodoctor.dev/problems/{slug}"
    assert problem["status"] == status
    assert problem["request_id"] == headers["x-request-id"]


def test_a_normal_request_is_answered_while_many_clients_trickle_their_headers(
    server: str,
) -> None:
    host, port = server.removeprefix("http://").split(":")
    slow = [socket.create_connection((host, int(port)), timeout=30) for _ in range(SLOW_CLIENTS)]
    try:
        for connection in slow:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        # Every slow connection is open and unfinished; a new visitor is answered at once
        # (the socket timeout bounds "at once": sync workers took minutes here).
        for _ in range(5):
            visitor = http.client.HTTPConnection(host, int(port), timeout=NORMAL_ANSWER_SECONDS)
            visitor.request("GET", "/api/v1/doctors")
            answer = visitor.getresponse()
            assert (answer.status, answer.getheader("Content-Type")) == (200, "application/json")
            visitor.close()
        # The slow ones were held, not dropped: finishing a head gets its answer.
        slow[0].sendall(b"\r\nConnection: close\r\n\r\n")
        assert slow[0].recv(65536).startswith(b"HTTP/1.1 200")
    finally:
        for connection in slow:
            connection.close()


def test_the_server_refuses_a_bad_request_line_as_problem_json(server: str) -> None:
    _assert_problem(_raw(server, b"NOT AN HTTP REQUEST\r\n\r\n"), 400, "bad-request")
    _assert_problem(_raw(server, b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n"), 400, "bad-request")


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([b"X-Big: " + b"a" * 20_000], id="one-oversized-field"),
        pytest.param([b"X-%d: a" % n for n in range(150)], id="too-many-fields"),
    ],
)
def test_the_server_refuses_an_oversized_head_as_problem_json(
    server: str, headers: list[bytes]
) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(h + b"\r\n" for h in headers)
    _assert_problem(_raw(server, head + b"\r\n"), 431, "request-header-fields-too-large")


def test_a_head_still_growing_past_the_limit_is_refused_as_problem_json(server: str) -> None:
    """The parser's own limit: the head has no end yet when it passes 16 KiB."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000
    _assert_problem(_raw(server, head), 431, "request-header-fields-too-large")


def test_an_announced_body_over_the_limit_is_refused_before_it_arrives(server: str) -> None:
    request = (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 10000000\r\n\r\n"
    )
    _assert_problem(_raw(server, request), 413, "payload-too-large")


def test_connections_are_kept_alive_between_requests(server: str) -> None:
    host, port = server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        for _ in range(3):
            connection.request("GET", "/healthz")
            answer = connection.getresponse()
            assert (answer.status, answer.read()) == (200, b'{"status":"ok"}')
            assert answer.getheader("Connection") != "close"
        first_socket = connection.sock
        connection.request("GET", "/readyz")
        connection.getresponse().read()
        assert connection.sock is first_socket
    finally:
        connection.close()


def _upload(server: str, body: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{server}/api/v1/documents?kind=report&filename=scan.pdf",
        method="POST",
        data=body,
        headers={"Authorization": f"Bearer {_token('pat-1')}", "Content-Type": "application/pdf"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            status, headers, content = answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as refused:
        status, headers, content = refused.code, refused.headers, refused.read()
    check_response("post", "/api/v1/documents", status, headers["Content-Type"], content)
    return status, json.loads(content)


def test_a_file_larger_than_a_json_body_uploads_and_downloads_over_http(
    server: str, folder: Path
) -> None:
    status, document = _upload(server, pdf_of_size(UPLOAD_LIMIT))
    assert status == 201, document
    _, _, link = _call(
        server, "GET", f"/api/v1/documents/{document['id']}/download", _token("pat-1")
    )
    with urllib.request.urlopen(link["url"], timeout=60) as answer:
        assert answer.read() == pdf_of_size(UPLOAD_LIMIT)
        assert answer.headers["Content-Disposition"].startswith('attachment; filename="scan.pdf"')
    status, refused = _upload(server, pdf_of_size(UPLOAD_LIMIT + 1))
    assert status == 413, refused
    stored = [p.name for p in (folder / "blobs" / "documents").iterdir()]
    assert stored == [document["id"]]
