"""A cache of public answers (the doctors' directory): bytes under a key, for a while.

Nothing per person goes in it: callers put only answers that are the same for everyone.
``generation`` names the current state of the public data; keys carry it, so ``bump`` (on any
change to doctors, their hours or their bookings) retires every answer at once without
listing them, and the old entries simply expire.
"""

from __future__ import annotations

import abc
from datetime import timedelta


class PublicCache(abc.ABC):
    @abc.abstractmethod
    def get(self, key: str) -> bytes | None:
        """The bytes stored under ``key``, unless absent or expired."""

    @abc.abstractmethod
    def put(self, key: str, value: bytes, ttl: timedelta) -> None:
        """Store ``value`` under ``key`` for ``ttl``."""

    @abc.abstractmethod
    def generation(self) -> int:
        """The current generation (0 before any bump)."""

    @abc.abstractmethod
    def bump(self) -> None:
        """Move to the next generation, atomically across processes."""


class NoPublicCache(PublicCache):
    """The default: nothing is kept, every answer is computed afresh."""

    def get(self, key: str) -> bytes | None:
        return None

    def put(self, key: str, value: bytes, ttl: timedelta) -> None:
        return None

    def generation(self) -> int:
        return 0

    def bump(self) -> None:
        return None
