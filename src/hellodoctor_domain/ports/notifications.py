"""Messages to people."""

from __future__ import annotations

from typing import Protocol

from attrs import define

from hellodoctor_domain.model.values import (
    EmailAddress,
)


@define(frozen=True)
class Notification:
    recipient: EmailAddress
    subject: str
    body: str
    kind: str


class Notifier(Protocol):
    def send(self, notification: Notification) -> None: ...
