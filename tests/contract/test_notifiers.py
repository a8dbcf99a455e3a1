"""The notifiers against a real SMTP server (aiosmtpd on a free loopback port) and a real
Maildir folder."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from hellodoctor_adapters.notify import MaildirNotifier, SmtpNotifier
from hellodoctor_domain.errors import BackendUnavailable
from hellodoctor_domain.model.values import EmailAddress
from hellodoctor_domain.ports.notifications import Notification

CODE = Notification(
    EmailAddress("grace@example.org"), "Your code", "Your code is 123456.", "verify_email"
)


class Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=default)
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_smtp_delivers_one_message_with_the_kind_header(smtp_server: tuple[Inbox, int]) -> None:
    inbox, port = smtp_server
    SmtpNotifier("127.0.0.1", port, "no-reply@hellodoctor.test", security="none").send(CODE)
    ((sender, recipients, message),) = inbox.received
    assert sender == "no-reply@hellodoctor.test"
    assert recipients == ["grace@example.org"]
    assert message["Subject"] == "Your code"
    assert message["X-HelloDoctor-Kind"] == "verify_email"
    assert "123456" in message.get_content()


def test_an_unreachable_smtp_server_is_backend_unavailable() -> None:
    notifier = SmtpNotifier(
        "127.0.0.1", _free_port(), "x@hellodoctor.test", security="none", timeout=2
    )
    with pytest.raises(BackendUnavailable):
        notifier.send(CODE)


def test_maildir_keeps_messages_in_delivery_order(tmp_path: Path) -> None:
    notifier = MaildirNotifier(tmp_path / "mail")
    second = Notification(EmailAddress("ada@example.org"), "Reset", "link", "reset_password")
    notifier.send(CODE)
    notifier.send(second)
    kinds = [m["X-HelloDoctor-Kind"] for m in MaildirNotifier(tmp_path / "mail").messages()]
    assert kinds == ["verify_email", "reset_password"]
    assert len(list((tmp_path / "mail" / "new").iterdir())) == 2
