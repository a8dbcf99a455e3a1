"""Re-running a read-decide-write transaction that lost an optimistic-concurrency race."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from hellodoctor_domain.errors import ConcurrencyError

T = TypeVar("T")


def retrying(
    attempt: Callable[[], T],
    *,
    retries: int = 3,
    retry_on: tuple[type[Exception], ...] = (ConcurrencyError,),
) -> T:
    """Run ``attempt``; when another writer got there first, run it again (it re-reads and
    decides afresh) up to ``retries`` more times. Use it only where deciding again on fresh data
    is the right answer to a lost race."""
    for _ in range(retries):
        try:
            return attempt()
        except retry_on:
            continue
    return attempt()
