"""The portal in a real browser: the app served by a real HTTP server (wsgiref, threaded) on a
free port, in this process, over in-memory storage and a manual clock (so a visit can be
"over" when the doctor completes it); Debian's chromium driven by Python playwright through
``executable_path`` (never a downloaded browser). Without chromium or playwright the tests
skip, and under ``HELLODOCTOR_REQUIRE_SERVICES=1`` (CI) they fail.

Every page a test visits goes through ``Browser.check``: axe-core (shipped inside the
``axe-playwright-python`` package, no npm) must report no WCAG 2.x A/AA violation, the
browser must report no Content-Security-Policy refusal, and a screenshot is saved to
``var/screenshots/`` (the CI artefacts folder, git-ignored).
"""

from __future__ import annotations

import os
import re
import shutil
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory
from hellodoctor_adapters.memory.services import InMemoryBlobStorage, ManualClock, SequentialIds
from hellodoctor_adapters.notify import MaildirNotifier
from hellodoctor_adapters.testing.services import unavailable
from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.model.values import DoctorId, EmailAddress, Role, UserId
from hellodoctor_http.app import create_app
from hellodoctor_http.bootstrap import Components, bootstrap
from hellodoctor_http.config import Settings
from hellodoctor_http.testing import FEE_DOCTOR, NOW, SECRET, free_port, seed

CHROMIUM = "/usr/bin/chromium"
# As the machine notes say: without the background-networking flags chromium keeps trying
# Google's hosts, which a closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery"
ADMIN_EMAIL = "admin@portal.example"
DOCTOR_EMAIL = "doctor@portal.example"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
AXE_LEVELS = {"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"}
# Pages already checked in this run (by name): a page seen again is not checked twice.
_CHECKED: set[str] = set()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class World:
    """The served app, its clock and its mailbox."""

    def __init__(self, directory: Path) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.clock = ManualClock(NOW)
        self.mail = MaildirNotifier(directory / "mail")
        settings = Settings(
            jwt_secret=SECRET,
            bcrypt_cost=4,
            mail_folder=self.mail.folder,
            public_url=self.base,  # the e-mailed links open this server's /set-password
        )
        self.components: Components = bootstrap(
            settings,
            storage=InMemoryUnitOfWorkFactory(),
            clock=self.clock,
            ids=SequentialIds("id"),
            blobs=InMemoryBlobStorage(self.clock.now),
        )
        seed(self.components.scheduling)
        self._account(ADMIN_EMAIL, Role.ADMIN, "acct-admin")
        self._account(DOCTOR_EMAIL, Role.DOCTOR, "acct-doctor", doctor=DoctorId(FEE_DOCTOR))
        self.server = make_server(
            "127.0.0.1",
            port,
            create_app(self.components),
            server_class=_ThreadingServer,
            handler_class=_QuietHandler,
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _account(self, email: str, role: Role, key: str, doctor: DoctorId | None = None) -> None:
        account = Account(
            UserId(key),
            EmailAddress(email),
            role,
            AccountStatus.ACTIVE,
            self.clock.now(),
            password_hash=self.components.hasher.hash(PASSWORD),
            doctor_id=doctor,
        )
        with self.components.storage() as uow:
            uow.accounts.add(account)
            uow.commit()

    def last_mail(self, to: str, kind: str) -> str:
        """The newest e-mail of ``kind`` to ``to``, once the outbox was delivered."""
        assert self.components.delivery is not None
        self.components.delivery.relay.drain()
        found = [
            m
            for m in self.mail.messages()
            if m["X-HelloDoctor-Kind"] == kind and to in str(m["To"])
        ]
        assert found, f"no {kind} mail to {to}"
        return str(found[-1].get_content())

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.components.close()


class Browser:
    """One page of chromium, and the checks every visited page passes."""

    def __init__(self, page: Any, base: str) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self.page = page
        self.base = base
        self.axe = Axe()
        self.csp_refusals: list[str] = []
        page.on("console", self._console)
        page.on("dialog", lambda dialog: dialog.accept())

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.csp_refusals.append(message.text)

    def go(self, path: str) -> None:
        self.page.goto(self.base + path)

    def check(self, name: str) -> None:
        """axe-core finds no A/AA violation, no CSP refusal; a screenshot is kept."""
        assert not self.csp_refusals, self.csp_refusals
        if name in _CHECKED:
            return
        _CHECKED.add(name)
        results = self.axe.run(self.page)
        violations = [
            f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes: {v['nodes'][0]['html'][:120]})"
            for v in results.response["violations"]
            if AXE_LEVELS & set(v["tags"])
        ]
        assert not violations, f"{name} ({self.page.url}): {violations}"
        assert not self.csp_refusals, self.csp_refusals
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        self.go("/sign-in")
        self.page.get_by_label("E-mail address").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()

    def sign_out(self) -> None:
        self.page.get_by_role("button", name="Sign out").click()


def _chromium() -> str:
    """``HELLODOCTOR_TEST_CHROMIUM`` (another build's path), else Debian's chromium."""
    path = os.environ.get("HELLODOCTOR_TEST_CHROMIUM") or shutil.which("chromium") or CHROMIUM
    if not Path(path).is_file():
        unavailable(f"the browser tests need chromium at {path} (apt-get install chromium)")
    return path


# Module scope, not session: while playwright's sync API is open its event loop counts as
# running in this thread, and every later test that calls asyncio.run() (tests/http/test_front.py)
# would fail with "cannot be called from a running event loop".
@pytest.fixture(scope="module")
def browser_engine() -> Iterator[Any]:
    executable = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the browser tests need playwright (the dev extra)")
    with sync_playwright() as playwright:
        engine = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield engine
        engine.close()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = World(tmp_path)
    yield built
    built.close()


@pytest.fixture
def browser(browser_engine: Any, world: World) -> Iterator[Browser]:
    context = browser_engine.new_context(viewport={"width": 1024, "height": 720})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield Browser(page, world.base)
    context.close()


def code_in(body: str) -> str:
    match = re.search(r"Your code is (\d{6})", body)
    assert match, body
    return match.group(1)


def link_in(body: str) -> str:
    match = re.search(r"(http://\S+/set-password\?token=\S+)", body)
    assert match, body
    return match.group(1)
