"""Public caches: in memory (one process, tests) and in Redis (every worker and host)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hellodoctor_domain.errors import BackendUnavailable
from hellodoctor_domain.ports.cache import PublicCache


class InMemoryPublicCache(PublicCache):
    """A dictionary with expiry times by ``clock`` (seconds, monotonic by default); entries of
    old generations are dropped when the generation moves."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            if found[0] <= self._clock():
                del self._entries[key]
                return None
            return found[1]

    def put(self, key: str, value: bytes, ttl: timedelta) -> None:
        with self._lock:
            self._entries[key] = (self._clock() + ttl.total_seconds(), value)

    def generation(self) -> int:
        with self._lock:
            return self._generation

    def bump(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


class RedisPublicCache(PublicCache):
    """Entries are Redis strings with a TTL (``SET ... PX``); the generation is a counter
    (``INCR``), so every worker moves together. Redis errors are ``BackendUnavailable``: the
    caller answers without the cache."""

    def __init__(self, client: Any, prefix: str = "hellodoctor:public:") -> None:
        self._redis = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisPublicCache:
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=1), **options)

    def _call(self, action: Callable[[], Any]) -> Any:
        import redis

        try:
            return action()
        except redis.RedisError as error:
            raise BackendUnavailable(f"public cache unavailable: {error}") from error

    def get(self, key: str) -> bytes | None:
        found = self._call(lambda: self._redis.get(f"{self._prefix}entry:{key}"))
        return None if found is None else bytes(found)

    def put(self, key: str, value: bytes, ttl: timedelta) -> None:
        milliseconds = max(1, int(ttl.total_seconds() * 1000))
        self._call(lambda: self._redis.set(f"{self._prefix}entry:{key}", value, px=milliseconds))

    def generation(self) -> int:
        found = self._call(lambda: self._redis.get(f"{self._prefix}generation"))
        return 0 if found is None else int(found)

    def bump(self) -> None:
        self._call(lambda: self._redis.incr(f"{self._prefix}generation"))
