"""The Redis login throttle against a real Redis (``HELLODOCTOR_TEST_REDIS_URL``, by default
redis://127.0.0.1:6379/0). Every test writes under a key prefix of its own and deletes its keys
afterwards. Without a reachable server the tests skip, unless HELLODOCTOR_REQUIRE_SERVICES=1,
where they fail.

Redis decides time here (a lock is a key with a TTL), so these tests check the TTLs rather than
wait for them; waiting out a lock-out is covered with a manual clock by the in-memory throttle.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hellodoctor_adapters.memory import (
    InMemoryStore,
    InMemoryUnitOfWorkFactory,
    ManualClock,
    SequentialIds,
)
from hellodoctor_adapters.security import BcryptPasswordHasher, PyOtpTotp
from hellodoctor_adapters.testing.services import unavailable
from hellodoctor_adapters.throttle import DEFAULT_RULES, RedisLoginThrottle, ThrottleRule
from hellodoctor_domain.errors import AuthenticationFailed, BackendUnavailable, TooManyAttempts
from hellodoctor_domain.model.values import EmailAddress
from hellodoctor_domain.use_cases.identity import Identity

URL_VARIABLE = "HELLODOCTOR_TEST_REDIS_URL"
DEFAULT_URL = "redis://127.0.0.1:6379/0"
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ACCOUNT = "account:ann@example.com"
OTHER_ACCOUNT = "account:ben@example.com"
ADDRESS = "address:203.0.113.7"
ACCOUNT_RULE = DEFAULT_RULES["account"]
ADDRESS_RULE = DEFAULT_RULES["address"]


def _url() -> str:
    return os.environ.get(URL_VARIABLE) or DEFAULT_URL


def _connect() -> Any:
    try:
        import redis
    except ImportError:
        unavailable("the Redis throttle tests need the redis package (the redis extra)")
    return redis.Redis.from_url(_url(), socket_timeout=2)


@pytest.fixture(scope="module")
def redis_client() -> Iterator[Any]:
    import redis

    client = _connect()
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        unavailable(f"Redis at {_url()} (set {URL_VARIABLE}) is not reachable: {error}")
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: Any) -> Iterator[str]:
    prefix = f"hellodoctor-test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(redis_client.scan_iter(match=f"{prefix}*"))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def throttle(redis_client: Any, prefix: str) -> RedisLoginThrottle:
    return RedisLoginThrottle(redis_client, prefix=prefix)


WorkerFactory = Callable[..., tuple[RedisLoginThrottle, RedisLoginThrottle]]


@pytest.fixture
def make_workers(prefix: str) -> Iterator[WorkerFactory]:
    """Two throttles with connections of their own, as two gunicorn workers would have."""
    clients: list[Any] = []

    def make(
        rules: Mapping[str, ThrottleRule] = DEFAULT_RULES,
    ) -> tuple[RedisLoginThrottle, RedisLoginThrottle]:
        first, second = _connect(), _connect()
        clients.extend((first, second))
        return (
            RedisLoginThrottle(first, rules, prefix=prefix),
            RedisLoginThrottle(second, rules, prefix=prefix),
        )

    yield make
    for client in clients:
        client.close()


def fail(throttle: RedisLoginThrottle, times: int, *keys: str) -> None:
    for _ in range(times):
        throttle.failed(list(keys), NOW)


def test_a_key_with_no_failures_is_open(throttle: RedisLoginThrottle) -> None:
    assert throttle.blocked_for([ACCOUNT], NOW) is None
    assert throttle.blocked_for([], NOW) is None


def test_failures_below_the_limit_do_not_lock(throttle: RedisLoginThrottle) -> None:
    fail(throttle, ACCOUNT_RULE.max_failures - 1, ACCOUNT)
    assert throttle.blocked_for([ACCOUNT], NOW) is None


def test_the_limit_locks_the_key_for_the_lockout(throttle: RedisLoginThrottle) -> None:
    fail(throttle, ACCOUNT_RULE.max_failures, ACCOUNT)
    wait = throttle.blocked_for([ACCOUNT], NOW)
    assert wait is not None
    assert timedelta(0) < wait <= ACCOUNT_RULE.lockout


def test_each_kind_of_key_has_its_own_rule(throttle: RedisLoginThrottle) -> None:
    fail(throttle, ACCOUNT_RULE.max_failures, ACCOUNT, ADDRESS)
    assert throttle.blocked_for([ACCOUNT], NOW) is not None
    assert throttle.blocked_for([ADDRESS], NOW) is None

    fail(throttle, ADDRESS_RULE.max_failures - ACCOUNT_RULE.max_failures - 1, ADDRESS)
    assert throttle.blocked_for([ADDRESS], NOW) is None
    fail(throttle, 1, ADDRESS)
    assert throttle.blocked_for([ADDRESS], NOW) is not None


def test_keys_are_counted_separately(throttle: RedisLoginThrottle) -> None:
    fail(throttle, ACCOUNT_RULE.max_failures - 1, ACCOUNT)
    fail(throttle, ACCOUNT_RULE.max_failures - 1, OTHER_ACCOUNT)
    assert throttle.blocked_for([ACCOUNT, OTHER_ACCOUNT], NOW) is None


def test_the_longest_wait_among_the_keys_is_reported(redis_client: Any, prefix: str) -> None:
    short, long = timedelta(minutes=1), timedelta(hours=1)
    throttle = RedisLoginThrottle(
        redis_client,
        {
            "account": ThrottleRule(1, timedelta(minutes=5), short),
            "address": ThrottleRule(1, timedelta(minutes=5), long),
        },
        prefix=prefix,
    )
    fail(throttle, 1, ACCOUNT, ADDRESS)

    account_wait = throttle.blocked_for([ACCOUNT], NOW)
    both_wait = throttle.blocked_for([ACCOUNT, ADDRESS], NOW)
    assert account_wait is not None
    assert both_wait is not None
    assert account_wait <= short < both_wait <= long


def test_a_success_forgets_the_failures_and_lock_of_the_given_keys_only(
    throttle: RedisLoginThrottle,
) -> None:
    fail(throttle, ACCOUNT_RULE.max_failures, ACCOUNT)
    fail(throttle, ACCOUNT_RULE.max_failures, OTHER_ACCOUNT)
    fail(throttle, ADDRESS_RULE.max_failures - 1, ADDRESS)

    throttle.succeeded([ACCOUNT])

    assert throttle.blocked_for([ACCOUNT], NOW) is None
    assert throttle.blocked_for([OTHER_ACCOUNT], NOW) is not None
    fail(throttle, 1, ADDRESS)  # the address's count was kept
    assert throttle.blocked_for([ADDRESS], NOW) is not None


def test_a_success_resets_the_count(throttle: RedisLoginThrottle) -> None:
    fail(throttle, ACCOUNT_RULE.max_failures - 1, ACCOUNT)
    throttle.succeeded([ACCOUNT])
    fail(throttle, ACCOUNT_RULE.max_failures - 1, ACCOUNT)
    assert throttle.blocked_for([ACCOUNT], NOW) is None


def test_nothing_it_writes_lives_forever(
    throttle: RedisLoginThrottle, redis_client: Any, prefix: str
) -> None:
    fail(throttle, ACCOUNT_RULE.max_failures, ACCOUNT)  # a lock
    fail(throttle, ACCOUNT_RULE.max_failures - 1, OTHER_ACCOUNT)  # a counter
    fail(throttle, 1, ADDRESS)

    keys = list(redis_client.scan_iter(match=f"{prefix}*"))
    assert len(keys) >= 3
    longest = max(ACCOUNT_RULE.window, ACCOUNT_RULE.lockout, ADDRESS_RULE.window)
    for key in keys:
        ttl = redis_client.pttl(key)
        assert 0 < ttl <= longest.total_seconds() * 1000, key


def test_another_prefix_sees_nothing(
    throttle: RedisLoginThrottle, redis_client: Any, prefix: str
) -> None:
    fail(throttle, ACCOUNT_RULE.max_failures, ACCOUNT)
    neighbour_prefix = f"{prefix}neighbour:"
    neighbour = RedisLoginThrottle(redis_client, prefix=neighbour_prefix)
    assert neighbour.blocked_for([ACCOUNT], NOW) is None


def test_two_workers_share_counts_and_locks(make_workers: WorkerFactory) -> None:
    first, second = make_workers()
    for attempt in range(ACCOUNT_RULE.max_failures - 1):
        (first if attempt % 2 else second).failed([ACCOUNT], NOW)
    assert first.blocked_for([ACCOUNT], NOW) is None
    assert second.blocked_for([ACCOUNT], NOW) is None

    first.failed([ACCOUNT], NOW)

    assert second.blocked_for([ACCOUNT], NOW) is not None
    second.succeeded([ACCOUNT])
    assert first.blocked_for([ACCOUNT], NOW) is None


@pytest.mark.parametrize("extra", [0, 1])
def test_concurrent_failures_in_two_workers_are_all_counted(
    make_workers: WorkerFactory, extra: int
) -> None:
    per_worker = 8
    limit = 2 * per_worker + extra
    workers = make_workers(
        {"account": ThrottleRule(limit, timedelta(minutes=5), timedelta(minutes=5))}
    )
    start = threading.Barrier(2 * per_worker)

    def one_failure(index: int) -> None:
        start.wait()
        workers[index % 2].failed([ACCOUNT], NOW)

    with ThreadPoolExecutor(2 * per_worker) as pool:
        list(pool.map(one_failure, range(2 * per_worker)))

    locked = workers[0].blocked_for([ACCOUNT], NOW) is not None
    assert locked is (extra == 0)


def test_two_workers_signing_in_share_the_account_lock(make_workers: WorkerFactory) -> None:
    """Two Identity services (two worker processes) over one store and one Redis."""
    store = InMemoryStore()
    ann, password = EmailAddress("ann@example.com"), "correct horse battery staple"
    services = [
        Identity(
            InMemoryUnitOfWorkFactory(store),
            ManualClock(NOW),
            SequentialIds(f"w{n}"),
            BcryptPasswordHasher(cost=4),
            PyOtpTotp(),
            worker,
        )
        for n, worker in enumerate(make_workers())
    ]
    services[0].create_admin(ann, password)

    for attempt in range(ACCOUNT_RULE.max_failures):
        with pytest.raises(AuthenticationFailed):
            services[attempt % 2].login(ann, "not the password at all")

    for service in services:
        with pytest.raises(TooManyAttempts) as locked:
            service.login(ann, password)
        assert 0 < locked.value.retry_after_seconds <= ACCOUNT_RULE.lockout.total_seconds()


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_redis_is_a_backend_error_not_a_driver_error() -> None:
    throttle = RedisLoginThrottle.from_url(f"redis://127.0.0.1:{_refused_port()}/0")
    with pytest.raises(BackendUnavailable):
        throttle.blocked_for([ACCOUNT], NOW)
    with pytest.raises(BackendUnavailable):
        throttle.failed([ACCOUNT], NOW)
    with pytest.raises(BackendUnavailable):
        throttle.succeeded([ACCOUNT])
