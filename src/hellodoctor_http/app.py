"""The Falcon application: ``create_app(components)`` wires HTTP to the use cases the
composition root (``hellodoctor_http.bootstrap``) built, so tests build it over any storage.
Nothing runs at import time.
"""

from __future__ import annotations

from typing import Any

import falcon

from hellodoctor_http import problems
from hellodoctor_http.accounts import AccountsApi, account_resources
from hellodoctor_http.auth import Authentication
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.middleware import Metrics, RequestLifecycle, SecurityHeaders
from hellodoctor_http.openapi import document
from hellodoctor_http.operations import (
    Health,
    MetricsResource,
    OpenApiDocument,
    Ready,
    SwaggerUi,
)
from hellodoctor_http.payments import PaymentsApi, payment_resources
from hellodoctor_http.resources import SchedulingApi, scheduling_resources
from hellodoctor_http.routes import ROUTES


def create_app(components: Components) -> falcon.App[falcon.Request, falcon.Response]:
    settings = components.settings
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
    codec = components.token_codec()
    middleware.append(Authentication(codec))
    app = falcon.App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    problems.install(app)

    api = SchedulingApi(
        scheduling=components.scheduling,
        billing=components.billing,
        identity=components.identity,
        ids=components.ids,
        clock=components.clock,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
    )
    accounts = AccountsApi(
        identity=components.identity,
        codec=codec,
        ids=components.ids,
        trusted_proxies=settings.trusted_proxies,
        max_body_bytes=settings.max_body_bytes,
    )
    resources: dict[str, object] = {
        **scheduling_resources(api),
        **account_resources(accounts),
        **payment_resources(
            PaymentsApi(
                billing=components.billing,
                cards_accepted=components.cards_accepted,
                currencies=settings.currencies,
                smallest_top_up=settings.smallest_top_up,
                largest_top_up=settings.largest_top_up,
                max_body_bytes=settings.max_body_bytes,
            )
        ),
        "health": Health(),
        "ready": Ready(components.readiness),
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
