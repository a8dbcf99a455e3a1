"""The public cache contract: what is put is got back until its time is up or the generation
moves; the generation only grows. Subclasses provide ``cache`` (empty, its own keys) and
``expire(cache, key)``: make an entry's time run out (a manual clock in memory, the key's TTL
cut short in Redis), so no test waits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hellodoctor_domain.ports.cache import PublicCache

TTL = timedelta(seconds=30)


class PublicCacheContract:
    @pytest.fixture
    def cache(self) -> PublicCache:
        raise NotImplementedError("override the cache fixture")

    def expire(self, cache: PublicCache, key: str) -> None:
        raise NotImplementedError

    def test_an_answer_put_is_got_back(self, cache: PublicCache) -> None:
        assert cache.get("0:/api/v1/doctors?") is None
        cache.put("0:/api/v1/doctors?", b'{"items":[]}', TTL)
        assert cache.get("0:/api/v1/doctors?") == b'{"items":[]}'
        assert cache.get("0:/api/v1/doctors?specialty=x") is None

    def test_an_answer_is_gone_when_its_time_is_up(self, cache: PublicCache) -> None:
        cache.put("0:/a", b"1", TTL)
        cache.put("0:/b", b"2", TTL)
        self.expire(cache, "0:/a")
        assert cache.get("0:/a") is None
        assert cache.get("0:/b") == b"2"

    def test_the_generation_starts_at_zero_and_every_bump_moves_it(
        self, cache: PublicCache
    ) -> None:
        assert cache.generation() == 0
        cache.bump()
        cache.bump()
        assert cache.generation() == 2
