"""Cross-cutting request handling: request ids, JSON access logs, metrics, security headers,
and the body-size limit enforced before anything reads a body."""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

import falcon
from prometheus_client import CollectorRegistry, Counter, Histogram

from hellodoctor_http.config import MULTIPROCESS_VARIABLE
from hellodoctor_http.jsoncodec import dump_json
from hellodoctor_http.portal.paths import is_portal_path
from hellodoctor_http.problems import Problem

access_log = logging.getLogger("hellodoctor.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Path parameters that carry a secret (the emergency card's and the calendar feed's tokens):
# the access log shows the route template in their place, never the value.
SECRET_PARAMS = frozenset({"token"})
# A segment of an unmatched path this long could be a mistyped secret URL: not logged.
_LONG_SEGMENT = re.compile(r"[^/]{20,}")


def logged_path(req: falcon.Request) -> str:
    """The path as the access log shows it: with no secret a URL carries.

    A route whose template has a secret parameter is logged as its template; an unmatched
    path has its long segments (a token would be one) replaced by ``{redacted}``."""
    template = req.uri_template
    if template is None:
        return _LONG_SEGMENT.sub("{redacted}", req.path)
    if any(f"{{{name}" in template for name in SECRET_PARAMS):
        return template
    return req.path


class Metrics:
    """Prometheus metrics of one app. Under gunicorn, ``hellodoctor serve`` points
    ``PROMETHEUS_MULTIPROC_DIR`` at a shared folder so /metrics sums every worker."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "hellodoctor_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hellodoctor_http_request_duration_seconds",
            "Time from request to response, by route template and method.",
            ["route", "method"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.bookings = Counter(
            "hellodoctor_bookings_total",
            "Booking attempts through the API, by outcome (held, booked, or the problem type).",
            ["outcome"],
            registry=self.registry,
        )
        # Each label set's child, found once: ``labels()`` checks and joins the values and
        # takes a lock on every call (a dict lookup is a fraction of that).
        self._answered: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._outcomes: dict[str, Any] = {}

    def answered(self, route: str, method: str, status: int, seconds: float) -> None:
        """Counts an answer and observes its latency."""
        key = (route, method, status)
        children = self._answered.get(key)
        if children is None:
            children = self._answered.setdefault(
                key,
                (
                    self.requests.labels(route, method, str(status)),
                    self.latency.labels(route, method),
                ),
            )
        children[0].inc()
        children[1].observe(seconds)

    def booked(self, outcome: str) -> None:
        """Counts a booking attempt by its outcome."""
        child = self._outcomes.get(outcome)
        if child is None:
            child = self._outcomes.setdefault(outcome, self.bookings.labels(outcome))
        child.inc()

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        if os.environ.get(MULTIPROCESS_VARIABLE):
            from prometheus_client import multiprocess

            collected = CollectorRegistry()
            multiprocess.MultiProcessCollector(collected)  # type: ignore[no-untyped-call]
            return generate_latest(collected)
        return generate_latest(self.registry)


class RequestLifecycle:
    """First in, last out: gives every request an id (an incoming ``X-Request-ID`` is kept
    when it looks like one), times it, counts it, and writes one JSON access-log line."""

    def __init__(
        self, metrics: Metrics, max_body_bytes: int, upload_limits: Mapping[str, int] | None = None
    ) -> None:
        self._metrics = metrics
        self._max_body_bytes = max_body_bytes
        # Paths that take files (POST) and their own, larger, limit.
        self._upload_limits = dict(upload_limits or {})

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = time.perf_counter()
        incoming = req.get_header("X-Request-ID")
        req.context.request_id = (
            incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        )
        resp.set_header("X-Request-ID", req.context.request_id)
        # Refuse an announced oversized body before a byte of it is read.
        limit = self._max_body_bytes
        if req.method == "POST":
            limit = self._upload_limits.get(req.path.rstrip("/"), limit)
        if req.content_length is not None and req.content_length > limit:
            raise Problem("payload-too-large", f"the body may be at most {limit} bytes")

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, _resource: Any, _succeeded: bool
    ) -> None:
        started = getattr(req.context, "started", None)
        elapsed = time.perf_counter() - started if started is not None else 0.0
        route = req.uri_template or "unmatched"
        status = resp.status_code
        self._metrics.answered(route, req.method, status, elapsed)
        request_id = getattr(req.context, "request_id", None)
        resp.set_header("X-Request-ID", request_id or "")
        if not access_log.isEnabledFor(logging.INFO):
            return
        actor = getattr(req.context, "actor", None)
        access_log.info(
            dump_json(
                {
                    "event": "request",
                    "request_id": request_id,
                    "method": req.method,
                    "route": route,
                    "path": logged_path(req),
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "problem": getattr(resp.context, "problem", None),
                    "role": actor.role.value if actor else None,
                }
            ).decode()
        )


_API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI: its own scripts and styles from this origin only (no CDN, no inline script);
# React sets style attributes, and the UI shows data: images.
_DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)
DOCS_PREFIX = "/api-docs"
# The web portal (hellodoctor_http/portal): its own scripts, styles and images only, forms
# posting to this origin only, never framed.
_PORTAL_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# Public, immutable answers a resource marks cacheable itself (profile photos).
CACHEABLE_PREFIXES = ("/api/v1/photos/",)


class SecurityHeaders:
    def __init__(self, *, hsts: bool) -> None:
        self._hsts = hsts

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, _resource: Any, _succeeded: bool
    ) -> None:
        docs = req.path == DOCS_PREFIX or req.path.startswith(DOCS_PREFIX + "/")
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.set_header("X-Frame-Options", "DENY")
        resp.set_header("Referrer-Policy", "no-referrer")
        resp.set_header("Cross-Origin-Opener-Policy", "same-origin")
        resp.set_header("Content-Security-Policy", _DOCS_CSP if docs else _API_CSP)
        if is_portal_path(req.path):
            # A page may widen it for itself (the card page admits Stripe.js: portal/cards.py).
            csp = getattr(resp.context, "portal_csp", None) or _PORTAL_CSP
            resp.set_header("Content-Security-Policy", csp)
        if self._hsts:
            resp.set_header("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        cacheable = docs or req.path.startswith(CACHEABLE_PREFIXES)
        if not cacheable or resp.get_header("Cache-Control") is None:
            resp.set_header("Cache-Control", "no-store")
