"""Notifiers: e-mail through an SMTP server, or into a local Maildir folder.

The Maildir notifier is the embedded default: a newcomer running the demo reads the
verification codes and links it "sends" from ``var/mail`` with any mail reader (or ``cat``),
and the end-to-end tests read them the same way.
"""

from __future__ import annotations

import email.policy
import mailbox
import re
import smtplib
import ssl
from email import message_from_bytes
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from hellodoctor_domain.errors import BackendUnavailable
from hellodoctor_domain.ports.notifications import Notification


def as_email(notification: Notification, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = str(notification.recipient)
    message["Subject"] = notification.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    # Lets a mail filter (or a test) tell verification codes from reset links.
    message["X-HelloDoctor-Kind"] = notification.kind
    message.set_content(notification.body)
    return message


def _stamp(message: EmailMessage, sender: str) -> None:
    """The headers every message carries: a composed one may leave them to the notifier."""
    if "From" not in message:
        message["From"] = sender
    if "Message-ID" not in message:
        message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].rstrip(">") or None)


class SmtpNotifier:
    """Sends each notification as one message. ``security`` is ``starttls`` (port 587),
    ``tls`` (implicit, port 465) or ``none`` (a relay on localhost)."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        security: str = "starttls",
        timeout: float = 10.0,
    ) -> None:
        if security not in {"starttls", "tls", "none"}:
            raise ValueError("security is starttls, tls or none")
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password = username, password
        self._security, self._timeout = security, timeout

    def send(self, notification: Notification) -> None:
        self.deliver(as_email(notification, self._sender))

    def deliver(self, message: EmailMessage) -> None:
        """Send a message already composed (appointment mails, ``mail/``)."""
        _stamp(message, self._sender)
        try:
            if self._security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self._host,
                    self._port,
                    timeout=self._timeout,
                    context=ssl.create_default_context(),
                )
            else:
                client = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
            with client:
                if self._security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if self._username:
                    client.login(self._username, self._password or "")
                client.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise BackendUnavailable(f"cannot send e-mail through {self._host}: {error}") from error


class MaildirNotifier:
    """Delivers into a Maildir folder (created if missing); safe across processes, since
    Maildir writes each message to a unique file and renames it into place."""

    def __init__(
        self, folder: Path | str, sender: str = "HelloDoctor <no-reply@localhost>"
    ) -> None:
        self.folder = Path(folder)
        self._sender = sender

    def send(self, notification: Notification) -> None:
        self.deliver(as_email(notification, self._sender))

    def deliver(self, message: EmailMessage) -> None:
        """Deliver a message already composed (appointment mails, ``mail/``)."""
        _stamp(message, self._sender)
        try:
            box = mailbox.Maildir(self.folder, create=True)
            box.add(message)
        except OSError as error:
            raise BackendUnavailable(f"cannot write mail to {self.folder}: {error}") from error

    def messages(self) -> list[EmailMessage]:
        """Everything delivered so far, oldest first (for demos and tests)."""
        box = mailbox.Maildir(self.folder, create=True)
        found = []
        for key in sorted(box.iterkeys(), key=_delivery_order):
            with box.get_file(key) as handle:
                parsed = message_from_bytes(handle.read(), policy=email.policy.default)
            if isinstance(parsed, EmailMessage):
                found.append(parsed)
        return found


def _delivery_order(key: str) -> tuple[int, ...]:
    """Maildir names start ``{seconds}.M{microseconds}P{pid}Q{counter}``: order by time, then
    by the per-process counter."""
    seconds, _, rest = key.partition(".")
    fields = dict(re.findall(r"([MPQ])(\d+)", rest.split(".", 1)[0]))
    return (int(seconds), int(fields.get("M", 0)), int(fields.get("Q", 0)))
