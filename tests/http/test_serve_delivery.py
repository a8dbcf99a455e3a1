"""``hellodoctor serve`` in development with no broker delivers the outbox itself, and does it
outside gunicorn's master: a master holding a database connection hands its lock state to
every worker it forks, and a worker forked mid-transaction then waited out SQLite's busy
timeout on every write ("database is locked" in the schemathesis runs)."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path

from hellodoctor_adapters.notify import MaildirNotifier
from hellodoctor_adapters.sqlalchemy.testing import migrated_sqlite_file
from hellodoctor_http.testing import SECRET, served

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
        body = {"email": "new@patient.example", "password": PASSWORD, "name": "New Patient"}
        request = urllib.request.Request(
            f"{base}/api/v1/auth/register",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status in (201, 202)
        # The verification mail goes through the outbox: the delivery process relays it.
        deadline = time.monotonic() + 30
        recipients: set[str] = set()
        while time.monotonic() < deadline and "new@patient.example" not in recipients:
            if mail_dir.exists():
                messages = MaildirNotifier(str(mail_dir)).messages()
                recipients = {str(message["To"]) for message in messages}
            time.sleep(0.1)
        assert "new@patient.example" in recipients

        bind = base.removeprefix("http://")
        (master,) = [
            pid
            for pid in _children_of(os.getpid())
            if bind in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
        ]
        database = Path(url.removeprefix("sqlite:///")).name
        held = {name for name in _open_files(master) if Path(name).name.startswith(database)}
        assert held == set(), f"gunicorn's master holds {held}"
