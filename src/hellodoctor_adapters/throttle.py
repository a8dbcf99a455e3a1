"""Login throttling: failures counted per key (``account:...``, ``address:...``) in a window;
too many lock the key out for a while. In memory for one process, in Redis for many."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from attrs import define

from hellodoctor_domain.errors import BackendUnavailable


@define(frozen=True)
class ThrottleRule:
    max_failures: int
    window: timedelta
    lockout: timedelta


# Five wrong passwords lock an account for 15 minutes; one address may fail 20 times (it may be
# a clinic's shared NAT) before it is locked out too.
DEFAULT_RULES: Mapping[str, ThrottleRule] = {
    "account": ThrottleRule(5, timedelta(minutes=15), timedelta(minutes=15)),
    "address": ThrottleRule(20, timedelta(minutes=15), timedelta(minutes=15)),
}


def _rule(rules: Mapping[str, ThrottleRule], key: str) -> ThrottleRule:
    return rules[key.split(":", 1)[0]]


class InMemoryLoginThrottle:
    def __init__(self, rules: Mapping[str, ThrottleRule] = DEFAULT_RULES) -> None:
        self._rules = rules
        self._lock = threading.Lock()
        self._failures: dict[str, list[datetime]] = {}
        self._locked_until: dict[str, datetime] = {}

    def blocked_for(self, keys: Sequence[str], now: datetime) -> timedelta | None:
        with self._lock:
            waits = [
                until - now
                for key in keys
                if (until := self._locked_until.get(key)) and until > now
            ]
        return max(waits) if waits else None

    def failed(self, keys: Sequence[str], now: datetime) -> None:
        with self._lock:
            for key in keys:
                rule = _rule(self._rules, key)
                recent = [t for t in self._failures.get(key, []) if now - t < rule.window]
                recent.append(now)
                if len(recent) >= rule.max_failures:
                    self._locked_until[key] = now + rule.lockout
                    recent = []
                self._failures[key] = recent

    def succeeded(self, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
                self._locked_until.pop(key, None)


class RedisLoginThrottle:
    """The same rules in Redis, so every gunicorn worker and host sees the same counts.

    A failure is ``INCR`` on a counter that expires with its window (atomic across clients); the
    failure that reaches the limit sets a lock key that expires with the lockout. The wait is
    the lock key's remaining TTL, so Redis's clock decides, not each worker's.
    """

    def __init__(
        self,
        client: Any,
        rules: Mapping[str, ThrottleRule] = DEFAULT_RULES,
        prefix: str = "hellodoctor:throttle:",
    ) -> None:
        self._redis = client
        self._rules = rules
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisLoginThrottle:
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=2), **options)

    def _call(self, action: Any) -> Any:
        import redis

        try:
            return action()
        except redis.RedisError as error:
            raise BackendUnavailable(f"login throttle unavailable: {error}") from error

    def blocked_for(self, keys: Sequence[str], now: datetime) -> timedelta | None:
        def read() -> list[int]:
            pipe = self._redis.pipeline()
            for key in keys:
                pipe.pttl(f"{self._prefix}lock:{key}")
            return list(pipe.execute())

        waits = [ms for ms in self._call(read) if ms and ms > 0]
        return timedelta(milliseconds=max(waits)) if waits else None

    def failed(self, keys: Sequence[str], now: datetime) -> None:
        for key in keys:
            rule = _rule(self._rules, key)
            counter = f"{self._prefix}fail:{key}"

            def count(counter: str = counter, rule: ThrottleRule = rule) -> int:
                pipe = self._redis.pipeline()
                pipe.incr(counter)
                pipe.expire(counter, int(rule.window.total_seconds()), nx=True)
                return int(pipe.execute()[0])

            if self._call(count) >= rule.max_failures:

                def lock(key: str = key, counter: str = counter, rule: ThrottleRule = rule) -> None:
                    pipe = self._redis.pipeline()
                    pipe.set(
                        f"{self._prefix}lock:{key}", 1, px=int(rule.lockout.total_seconds() * 1000)
                    )
                    pipe.delete(counter)
                    pipe.execute()

                self._call(lock)

    def succeeded(self, keys: Sequence[str]) -> None:
        names = [f"{self._prefix}{kind}:{key}" for key in keys for kind in ("fail", "lock")]
        self._call(lambda: self._redis.delete(*names))
