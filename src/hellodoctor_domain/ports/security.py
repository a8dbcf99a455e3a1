"""Password hashing, one-time passwords and sign-in throttling."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol


class PasswordHasher(Protocol):
    """A slow, salted password hash (bcrypt in production)."""

    def hash(self, password: str) -> str: ...

    def verify(self, password: str, hashed: str) -> bool: ...

    def needs_rehash(self, hashed: str) -> bool:
        """Whether ``hashed`` was made with weaker settings than the current ones."""


class TotpVerifier(Protocol):
    """Time-based one-time passwords (RFC 6238)."""

    def new_secret(self) -> str: ...

    def matched_step(self, secret: str, code: str, at: datetime) -> int | None:
        """The time step (Unix time // 30) whose code ``code`` is, within the allowed drift
        around ``at``; ``None`` if it matches none."""

    def provisioning_uri(self, secret: str, account_name: str, issuer: str) -> str: ...


class LoginThrottle(Protocol):
    """Counts failed sign-ins per key (an account, a client address) and locks a key out for a
    while after too many. Must be shared by every process serving sign-ins."""

    def blocked_for(self, keys: Sequence[str], now: datetime) -> timedelta | None:
        """How long until the most locked of ``keys`` may try again, or ``None``."""

    def failed(self, keys: Sequence[str], now: datetime) -> None: ...

    def succeeded(self, keys: Sequence[str]) -> None:
        """Forget the failures of ``keys`` (the account's, after a successful sign-in)."""
