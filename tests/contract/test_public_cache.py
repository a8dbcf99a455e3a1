"""The public cache adapters against the contract: in memory (a manual clock) and in a real
Redis (``HELLODOCTOR_TEST_REDIS_URL``, default redis://127.0.0.1:6379/0; keys under a prefix of
the test's own, deleted afterwards). Without Redis its tests skip, unless
HELLODOCTOR_REQUIRE_SERVICES=1, where they fail."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from hellodoctor_adapters.public_cache import InMemoryPublicCache, RedisPublicCache
from hellodoctor_adapters.testing.contract_cache import PublicCacheContract
from hellodoctor_adapters.testing.services import unavailable
from hellodoctor_domain.errors import BackendUnavailable
from hellodoctor_domain.ports.cache import PublicCache


class TestInMemoryPublicCache(PublicCacheContract):
    now = 1000.0

    @pytest.fixture
    def cache(self) -> PublicCache:
        self.now = 1000.0
        return InMemoryPublicCache(lambda: self.now)

    def expire(self, cache: PublicCache, key: str) -> None:
        # Only the entry put earlier: put the other again after the clock moved.
        assert isinstance(cache, InMemoryPublicCache)
        kept = cache.get("0:/b")
        self.now += 31
        if kept is not None:
            cache.put("0:/b", kept, timedelta(seconds=30))


@pytest.fixture(scope="module")
def redis_client() -> Iterator[Any]:
    try:
        import redis
    except ImportError:
        unavailable("the Redis cache tests need the redis package (the redis extra)")
    url = os.environ.get("HELLODOCTOR_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        unavailable(f"Redis at {url} is not reachable: {error}")
    yield client
    client.close()


class TestRedisPublicCache(PublicCacheContract):
    @pytest.fixture
    def cache(self, redis_client: Any) -> Iterator[PublicCache]:
        prefix = f"hellodoctor-test:{uuid.uuid4().hex}:"
        self.client, self.prefix = redis_client, prefix
        yield RedisPublicCache(redis_client, prefix=prefix)
        keys = list(redis_client.scan_iter(match=f"{prefix}*"))
        if keys:
            redis_client.delete(*keys)

    def expire(self, cache: PublicCache, key: str) -> None:
        assert 0 < self.client.pttl(f"{self.prefix}entry:{key}") <= 30_000  # the TTL was set
        self.client.pexpire(f"{self.prefix}entry:{key}", 1)
        while self.client.exists(f"{self.prefix}entry:{key}"):  # Redis expires it within ms
            pass

    def test_an_unreachable_redis_is_backend_unavailable(self) -> None:
        import redis

        down = RedisPublicCache(redis.Redis(port=1, socket_connect_timeout=0.2))
        with pytest.raises(BackendUnavailable):
            down.get("0:/x")
