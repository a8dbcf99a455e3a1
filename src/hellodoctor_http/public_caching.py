"""Caching the public doctors' directory (``GET /api/v1/doctors`` and
``GET /api/v1/doctors/{doctor_id}``) in a ``PublicCache`` (Redis when
``HELLODOCTOR_CACHE_URL`` is set; nothing otherwise).

* Only anonymous requests are cached or answered from the cache: one carrying credentials
  (``Authorization``) may get an answer that depends on who asks, so it bypasses the cache.
  Nothing per patient is ever stored.
* The key is the route, the path and the query string's parameters sorted (names and
  values), under the cache's current generation: whatever filters the resource reads, equal
  requests share an entry and different ones never do.
* Entries live ``ttl`` at most, and every change that can alter an answer moves the
  generation: committed events about bookings, reviews and affiliations (``Invalidation``, an
  event publisher) and any successful write under ``/api/v1/doctors`` (profiles, hours, time
  off: no events of their own), after the use case committed.
* A cache that fails is left out: the answer is computed as if there were none.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import falcon
from prometheus_client import CollectorRegistry, Counter

from hellodoctor_domain.errors import PortError
from hellodoctor_domain.model.events import AppointmentEvent, DomainEvent
from hellodoctor_domain.model.hospitals import DoctorAffiliated
from hellodoctor_domain.model.reviews import ReviewEvent
from hellodoctor_domain.ports.cache import PublicCache

_log = logging.getLogger(__name__)

CACHED_ROUTES = frozenset({"/api/v1/doctors", "/api/v1/doctors/{doctor_id}"})
_WRITES_UNDER = "/api/v1/doctors"
_PROFILE = "/api/v1/me"  # a doctor's own name and languages may change here


class Invalidation:
    """An event publisher: committed events that can change a public answer (a booking moves
    the earliest free slot, a review the rating, an affiliation the hospital filter) move the
    cache's generation."""

    def __init__(self, cache: PublicCache) -> None:
        self._cache = cache

    def publish(self, events: Sequence[DomainEvent]) -> None:
        if any(isinstance(e, AppointmentEvent | ReviewEvent | DoctorAffiliated) for e in events):
            _bump(self._cache)

    def bump(self) -> None:
        """Move the generation for a change no event reports at its commit (a next free
        slot summary refreshed by the outbox consumer, after the booking's own bump)."""
        _bump(self._cache)


def _bump(cache: PublicCache) -> None:
    try:
        cache.bump()
    except PortError as error:  # the TTL still bounds how stale an answer gets
        _log.warning("public cache: could not move the generation (%s)", error)


class PublicCaching:
    """Falcon middleware: answers cached requests from the cache, stores fresh answers."""

    def __init__(self, cache: PublicCache, ttl: timedelta, registry: CollectorRegistry) -> None:
        self._cache = cache
        self._ttl = ttl
        self.lookups = Counter(
            "hellodoctor_public_cache_total",
            "Public directory requests by cache result (hit, miss, bypass, error).",
            ["result"],
            registry=registry,
        )

    def _key(self, req: falcon.Request) -> str | None:
        if req.method != "GET" or _template(req) not in CACHED_ROUTES:
            return None
        if req.get_header("Authorization") is not None:
            self.lookups.labels("bypass").inc()
            return None
        try:
            generation = self._cache.generation()
        except PortError:
            self.lookups.labels("error").inc()
            return None
        query = urlencode(sorted(_pairs(req)))
        return f"{generation}:{req.path}?{query}"

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, _resource: Any, _params: Any
    ) -> None:
        key = self._key(req)
        if key is None:
            return
        try:
            found = self._cache.get(key)
        except PortError:
            self.lookups.labels("error").inc()
            return
        if found is None:
            self.lookups.labels("miss").inc()
            req.context.public_cache_key = key
            return
        self.lookups.labels("hit").inc()
        resp.status = falcon.HTTP_200
        resp.content_type = falcon.MEDIA_JSON
        resp.data = found
        resp.complete = True

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, _resource: Any, succeeded: bool
    ) -> None:
        key = getattr(req.context, "public_cache_key", None)
        if key is not None and succeeded and resp.status_code == 200:
            body = resp.text.encode() if resp.text is not None else resp.data
            if body is not None:
                try:
                    self._cache.put(key, body, self._ttl)
                except PortError:
                    self.lookups.labels("error").inc()
        elif (
            req.method not in ("GET", "HEAD", "OPTIONS")
            and succeeded
            and 200 <= resp.status_code < 300
            and ((req.uri_template or "").startswith(_WRITES_UNDER) or req.uri_template == _PROFILE)
        ):
            _bump(self._cache)


def _template(req: falcon.Request) -> str:
    """The route template without field converters (``{doctor_id:id}`` is ``{doctor_id}``)."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", req.uri_template or "")


def _pairs(req: falcon.Request) -> list[tuple[str, str]]:
    """Every query parameter as (name, value), a repeated name once per value."""
    pairs: list[tuple[str, str]] = []
    for name, value in req.params.items():
        for each in value if isinstance(value, list) else [value]:
            pairs.append((name, str(each)))
    return pairs
