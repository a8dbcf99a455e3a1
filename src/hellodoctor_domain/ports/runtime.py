"""Time and identifiers."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, time-zone aware, in UTC."""


class IdGenerator(Protocol):
    def new_id(self) -> str:
        """A fresh, globally unique, URL-safe identifier."""
