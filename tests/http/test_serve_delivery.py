"""``hellodoctor serve`` in development with no broker delivers the outbox itself, and does it
outside gunicorn's master: a master holding a database connection hands its lock state to
every worker it forks, and a worker forked mid-transaction then waited out SQLite's busy
timeout on every write ("database is locked" in the schemathesis runs)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hellodoctor_adapters.notify import MaildirNotifier
from hellodoctor_adapters.sqlalchemy.testing import migrated_sqlite_file
from hellodoctor_http.testing import SECRET, free_port, served

PASSWORD = "correct horse battery staple"


def _children_of(parent: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (name) state ppid ...": the name may hold spaces, so split after its ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            children.append(int(entry.name))
    return children


def _open_files(pid: int) -> set[str]:
    folder = Path(f"/proc/{pid}/fd")
    names = set()
    for fd in folder.iterdir():
        try:
            names.add(os.readlink(fd))
        except OSError:
            continue
    return names


def _a_registration_mail_arrives(base: str, mail_dir: Path) -> bool:
    """Register a patient; the verification mail goes through the outbox, so it arrives only
    when the delivery process relays it."""
    body = {"email": "new@patient.example", "password": PASSWORD, "name": "New Patient"}
    request = urllib.request.Request(
        f"{base}/api/v1/auth/register",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status in (201, 202)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if mail_dir.exists():
            messages = MaildirNotifier(str(mail_dir)).messages()
            if "new@patient.example" in {str(message["To"]) for message in messages}:
                return True
        time.sleep(0.1)
    return False


def test_serve_delivers_mail_and_its_master_holds_no_database_file(tmp_path: Path) -> None:
    url = migrated_sqlite_file(tmp_path)
    mail_dir = tmp_path / "mail"
    environment = {
        "HELLODOCTOR_DATABASE_URL": url,
        "HELLODOCTOR_JWT_SECRET": SECRET,
        "HELLODOCTOR_ENV": "development",
        "HELLODOCTOR_MAIL_DIR": str(mail_dir),
        "HELLODOCTOR_BCRYPT_COST": "4",
    }
    with served(environment, tmp_path / "server.log") as base:
        assert _a_registration_mail_arrives(base, mail_dir)

        bind = base.removeprefix("http://")
        (master,) = [
            pid
            for pid in _children_of(os.getpid())
            if bind in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
        ]
        database = Path(url.removeprefix("sqlite:///")).name
        held = {name for name in _open_files(master) if Path(name).name.startswith(database)}
        assert held == set(), f"gunicorn's master holds {held}"


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_serve_s_whole_group_stops_it_and_its_delivery(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """systemd (KillMode=control-group) and ``timeout`` send SIGTERM to every process of the
    service, Ctrl-C sends SIGINT to the terminal's group. Killed by SIGTERM inside a
    multiprocessing Event's wait, the delivery process left the master's ``set`` blocked for
    ever."""
    port = free_port()
    environment = {
        **os.environ,
        "HELLODOCTOR_DATABASE_URL": migrated_sqlite_file(tmp_path),
        "HELLODOCTOR_JWT_SECRET": SECRET,
        "HELLODOCTOR_ENV": "development",
        "HELLODOCTOR_MAIL_DIR": str(tmp_path / "mail"),
        "HELLODOCTOR_BCRYPT_COST": "4",
    }
    with (tmp_path / "server.log").open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "hellodoctor_http", "serve", "--bind", f"127.0.0.1:{port}"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, as a terminal gives it
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                        break
                except OSError:
                    assert server.poll() is None
                    assert time.monotonic() < deadline
                    time.sleep(0.1)
            # The delivery process is in its loop (it relayed a mail), waiting between passes.
            assert _a_registration_mail_arrives(f"http://127.0.0.1:{port}", tmp_path / "mail")
            os.killpg(server.pid, stop)
            assert server.wait(timeout=60) is not None
            deadline = time.monotonic() + 30
            while True:  # nothing of the group is left, the delivery process included
                try:
                    os.killpg(server.pid, 0)
                except ProcessLookupError:
                    break
                assert time.monotonic() < deadline, "a process of serve's group outlived it"
                time.sleep(0.1)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
