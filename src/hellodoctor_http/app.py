"""The Falcon application and the composition root.

``create_app(dependencies)`` only wires HTTP to use cases that already exist, so tests build
it over any storage. ``build(settings)`` is the composition root of a real process: it opens
the storage chosen by ``HELLODOCTOR_DATABASE_URL`` through the registry's entry points, builds
the use cases and returns the app. Nothing runs at import time.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import falcon
from attrs import define

from hellodoctor_adapters.memory import SystemClock, UuidIds
from hellodoctor_adapters.registry import open_storage
from hellodoctor_domain import DoctorId, Scheduling, SchedulingSettings
from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.ports import Clock, UnitOfWorkFactory
from hellodoctor_http import problems
from hellodoctor_http.auth import Authentication, TokenCodec
from hellodoctor_http.config import Settings
from hellodoctor_http.middleware import Metrics, RequestLifecycle, SecurityHeaders
from hellodoctor_http.openapi import document
from hellodoctor_http.operations import (
    Health,
    MetricsResource,
    OpenApiDocument,
    Ready,
    SwaggerUi,
)
from hellodoctor_http.resources import SchedulingApi, scheduling_resources
from hellodoctor_http.routes import ROUTES

_log = logging.getLogger("hellodoctor.http")


def storage_probe(uow_factory: UnitOfWorkFactory) -> Callable[[], None]:
    """A readiness check through the storage port: one primary-key read in a unit of work.
    Raises (``BackendUnavailable``) when the database does not answer."""

    def probe() -> None:
        with uow_factory() as uow, contextlib.suppress(NotFound):
            uow.doctors.get(DoctorId("readiness-probe"))

    return probe


@define(frozen=True)
class Dependencies:
    """Everything the HTTP layer needs, already built."""

    settings: Settings
    scheduling: Scheduling
    clock: Clock
    readiness: Callable[[], None]
    # The identity use cases arrive with the lead's Identity service.
    identity: object | None = None

    def token_codec(self) -> TokenCodec:
        return TokenCodec(
            secret=self.settings.jwt_secret,
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
            clock=self.clock,
            lifetime=timedelta(minutes=self.settings.access_token_minutes),
        )


def create_app(dependencies: Dependencies) -> falcon.App[falcon.Request, falcon.Response]:
    settings = dependencies.settings
    metrics = Metrics()
    middleware: list[Any] = [
        RequestLifecycle(metrics, settings.max_body_bytes),
        SecurityHeaders(hsts=settings.is_production),
    ]
    if settings.cors_origins:
        middleware.append(
            falcon.CORSMiddleware(
                allow_origins=list(settings.cors_origins),
                expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
            )
        )
    middleware.append(Authentication(dependencies.token_codec()))
    app = falcon.App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    problems.install(app)

    api = SchedulingApi(
        scheduling=dependencies.scheduling,
        clock=dependencies.clock,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
    )
    resources: dict[str, object] = {
        **scheduling_resources(api),
        "health": Health(),
        "ready": Ready(dependencies.readiness),
        "metrics": MetricsResource(metrics),
        "openapi": OpenApiDocument(document()),
        "docs": SwaggerUi(),
    }
    for route in ROUTES:
        if route.suffix:
            app.add_route(route.path, resources[route.resource], suffix=route.suffix)
        else:
            app.add_route(route.path, resources[route.resource])
    return app


def build(settings: Settings) -> falcon.App[falcon.Request, falcon.Response]:
    """The composition root: storage by URL (entry points), use cases, app."""
    uow_factory = open_storage(settings.database_url)
    clock = SystemClock()
    scheduling = Scheduling(
        uow_factory,
        clock,
        UuidIds(),
        SchedulingSettings(hold_for=timedelta(minutes=settings.hold_minutes)),
    )
    return create_app(
        Dependencies(
            settings=settings,
            scheduling=scheduling,
            clock=clock,
            readiness=storage_probe(uow_factory),
        )
    )
