"""The Falcon application: ``create_app(components)`` mounts every API area's routes over what
the composition root (``hellodoctor_http.bootstrap``) built, so tests build it over any
storage. Nothing runs at import time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import falcon
from falcon.routing.converters import BaseConverter

from hellodoctor_http import problems
from hellodoctor_http.api import (
    Api,
    accounts,
    analytics,
    appointments,
    availability,
    claim_attachments,
    clinic_day,
    consents,
    consultations,
    doctor_search,
    doctors,
    documents,
    emergency,
    erasure,
    export,
    front_desk,
    hospitals,
    insurance,
    notifications,
    operations,
    payments,
    preferences,
    profiles,
    records,
    reviews,
    series,
    staff,
    transfers,
    values,
    waitlist,
    walk_in_claims,
)
from hellodoctor_http.auth import Authentication
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.json_schema import check
from hellodoctor_http.middleware import Metrics, RequestLifecycle, SecurityHeaders
from hellodoctor_http.openapi import ID, Route, document
from hellodoctor_http.portal import routes as portal
from hellodoctor_http.public_caching import PublicCaching
from hellodoctor_http.transport import HttpsOnly

# Every route, area by area: what create_app mounts and the OpenAPI document describes.
ROUTES: tuple[Route, ...] = (
    *doctors.ROUTES,
    *availability.ROUTES,
    *appointments.ROUTES,
    *consultations.ROUTES,
    *accounts.ROUTES,
    *payments.ROUTES,
    *documents.ROUTES,
    *hospitals.ROUTES,
    *transfers.ROUTES,
    *insurance.ROUTES,
    *operations.ROUTES,
    *notifications.ROUTES,
    *reviews.ROUTES,
    *analytics.ROUTES,
    *staff.ROUTES,
    *claim_attachments.ROUTES,
    *preferences.ROUTES,
    *records.ROUTES,
    *doctor_search.ROUTES,
    *consents.ROUTES,
    *emergency.ROUTES,
    *profiles.ROUTES,
    *clinic_day.ROUTES,
    *series.ROUTES,
    *front_desk.ROUTES,
    *waitlist.ROUTES,
    *export.ROUTES,
    *erasure.ROUTES,
    *walk_in_claims.ROUTES,
)


def openapi_document() -> dict[str, Any]:
    return document(
        ROUTES,
        {
            **values.SCHEMAS,
            **doctors.SCHEMAS,
            **erasure.SCHEMAS,
            **walk_in_claims.SCHEMAS,
            **availability.SCHEMAS,
            **appointments.SCHEMAS,
            **consultations.SCHEMAS,
            **accounts.SCHEMAS,
            **payments.SCHEMAS,
            **documents.SCHEMAS,
            **hospitals.SCHEMAS,
            **transfers.SCHEMAS,
            **insurance.SCHEMAS,
            **operations.SCHEMAS,
            **notifications.SCHEMAS,
            **reviews.SCHEMAS,
            **analytics.SCHEMAS,
            **preferences.SCHEMAS,
            **records.SCHEMAS,
            **consents.SCHEMAS,
            **emergency.SCHEMAS,
            **profiles.SCHEMAS,
            **clinic_day.SCHEMAS,
            **series.SCHEMAS,
            **front_desk.SCHEMAS,
            **waitlist.SCHEMAS,
            **doctor_search.SCHEMAS,
        },
    )


class IdConverter(BaseConverter):
    """``{doctor_id:id}``: a segment of another shape than an id matches no route, so a
    blank, malformed or hostile id is 404 like an unknown one."""

    def convert(self, value: str) -> str | None:
        return value if check(ID, value) is None else None


def create_app(components: Components) -> falcon.App[falcon.Request, falcon.Response]:
    settings = components.settings
    metrics = Metrics()
    if components.business_metrics is not None:
        for counter in components.business_metrics.collectors:
            metrics.registry.register(counter)
    middleware: list[Any] = [
        RequestLifecycle(
            metrics, settings.max_body_bytes, documents.upload_limits(settings.max_upload_bytes)
        ),
        SecurityHeaders(hsts=settings.is_production),
    ]
    if settings.cors_origins:
        middleware.append(
            falcon.CORSMiddleware(
                allow_origins=list(settings.cors_origins),
                expose_headers=["ETag", "Location", "Retry-After", "X-Request-ID"],
            )
        )
    if settings.require_https:  # behind a TLS-terminating proxy (docs/security.md)
        middleware.append(HttpsOnly(settings.trusted_proxies))
    codec = components.token_codec()
    middleware.append(Authentication(codec))
    middleware.append(
        PublicCaching(
            components.public_cache,
            timedelta(seconds=settings.cache_seconds),
            metrics.registry,
        )
    )
    app = falcon.App(middleware=middleware)
    app.router_options.converters["id"] = IdConverter
    app.req_options.strip_url_path_trailing_slash = True
    problems.install(app)

    api = Api(components, metrics, codec, openapi_document())
    resources: dict[type[Any], object] = {}  # one per class: /api-docs and its files share one
    for route in ROUTES:
        if route.resource not in resources:
            resources[route.resource] = route.resource(api)
        if route.suffix:
            app.add_route(route.template, resources[route.resource], suffix=route.suffix)
        else:
            app.add_route(route.template, resources[route.resource])
    # The web portal's pages at / (not API routes: kept out of ROUTES and /openapi.json).
    portal.mount(app, components)
    return app
