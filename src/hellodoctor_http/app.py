"""The Falcon application and the composition root.

``create_app(dependencies)`` only wires HTTP to use cases that already exist, so tests build
it over any storage. ``build(settings)`` is the composition root of a real process: it opens
the storage chosen by ``HELLODOCTOR_DATABASE_URL`` through the registry's entry points, builds
the use cases and returns the app. Nothing runs at import time.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import falcon
from attrs import define

from hellodoctor_adapters.memory import OfflinePaymentGateway, SystemClock, UuidIds
from hellodoctor_adapters.notify import MaildirNotifier, SmtpNotifier
from hellodoctor_adapters.registry import open_storage
from hellodoctor_adapters.security import BcryptPasswordHasher, PyOtpTotp
from hellodoctor_adapters.throttle import InMemoryLoginThrottle, RedisLoginThrottle
from hellodoctor_domain import DoctorId, Scheduling, SchedulingSettings
from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.ports.gateway import PaymentGateway
from hellodoctor_domain.ports.notifications import Notifier
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.security import LoginThrottle
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.billing import Billing, BillingSettings
from hellodoctor_domain.use_cases.identity import Identity, IdentitySettings
from hellodoctor_http import problems
from hellodoctor_http.accounts import AccountsApi, account_resources
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
from hellodoctor_http.payments import PaymentsApi, payment_resources
from hellodoctor_http.resources import SchedulingApi, scheduling_resources
from hellodoctor_http.routes import ROUTES


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
    identity: Identity
    clock: Clock
    # Server-side ids of what the API creates itself (doctors' profiles).
    ids: IdGenerator
    readiness: Callable[[], None]
    billing: Billing
    # Whether card payments (and so top-ups and hybrid) are taken: only with a real gateway.
    cards_accepted: bool = False

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
    codec = dependencies.token_codec()
    middleware.append(Authentication(codec))
    app = falcon.App(middleware=middleware)
    app.req_options.strip_url_path_trailing_slash = True
    problems.install(app)

    api = SchedulingApi(
        scheduling=dependencies.scheduling,
        billing=dependencies.billing,
        identity=dependencies.identity,
        ids=dependencies.ids,
        clock=dependencies.clock,
        metrics=metrics,
        max_body_bytes=settings.max_body_bytes,
    )
    accounts = AccountsApi(
        identity=dependencies.identity,
        codec=codec,
        ids=dependencies.ids,
        trusted_proxies=settings.trusted_proxies,
        max_body_bytes=settings.max_body_bytes,
    )
    resources: dict[str, object] = {
        **scheduling_resources(api),
        **account_resources(accounts),
        **payment_resources(
            PaymentsApi(
                billing=dependencies.billing,
                cards_accepted=dependencies.cards_accepted,
                currencies=settings.currencies,
                smallest_top_up=settings.smallest_top_up,
                largest_top_up=settings.largest_top_up,
                max_body_bytes=settings.max_body_bytes,
            )
        ),
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


def notifier_for(settings: Settings) -> Notifier:
    """SMTP when a host is configured, else a Maildir folder anyone can read (development)."""
    if settings.smtp_host:
        return SmtpNotifier(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_from,
            username=settings.smtp_username,
            password=settings.smtp_password,
            security=settings.smtp_security,
        )
    return MaildirNotifier(settings.mail_folder, settings.mail_from)


def throttle_for(settings: Settings) -> LoginThrottle:
    """Redis when configured (shared by every worker and host); otherwise each worker counts
    on its own, so N workers allow up to N times the failures before locking."""
    if settings.redis_url:
        return RedisLoginThrottle.from_url(settings.redis_url)
    return InMemoryLoginThrottle()


def build_identity(
    settings: Settings, uow_factory: UnitOfWorkFactory, clock: Clock, ids: IdGenerator
) -> Identity:
    return Identity(
        uow_factory,
        clock,
        ids,
        BcryptPasswordHasher(settings.bcrypt_cost),
        PyOtpTotp(),
        throttle_for(settings),
        notifier_for(settings),
        IdentitySettings(
            two_factor_required_for=settings.require_totp_for,
            password_link=settings.password_link,
        ),
    )


def gateway_for(settings: Settings) -> PaymentGateway:
    """Stripe when its keys are configured, else the offline gateway (pay at the clinic).

    The offline gateway's webhook key is random per process: nobody outside can sign an event
    for it, so its webhooks are all refused (and card payments are not offered without Stripe).
    """
    if not settings.uses_stripe:
        return OfflinePaymentGateway(webhook_secret=secrets.token_urlsafe(32))
    # Imported lazily: the stripe SDK is an optional extra (Settings.from_environ already
    # refused Stripe keys when it is not installed).
    from hellodoctor_adapters.stripe import StripeGateway

    key, webhook_secret = settings.stripe_secret_key, settings.stripe_webhook_secret
    assert key is not None  # uses_stripe: both are set
    assert webhook_secret is not None
    gateway: PaymentGateway = StripeGateway(key, webhook_secret, api_base=settings.stripe_api_base)
    return gateway


def build_billing(
    settings: Settings,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    ids: IdGenerator,
    gateway: PaymentGateway,
) -> Billing:
    return Billing(
        uow_factory,
        clock,
        ids,
        gateway,
        # The cancellation policy is the default one, as Scheduling's (both decide refunds).
        BillingSettings(
            smallest_top_up=settings.smallest_top_up,
            largest_top_up=settings.largest_top_up,
        ),
    )


def build_scheduling(
    settings: Settings, uow_factory: UnitOfWorkFactory, clock: Clock, ids: IdGenerator
) -> Scheduling:
    return Scheduling(
        uow_factory,
        clock,
        ids,
        SchedulingSettings(hold_for=timedelta(minutes=settings.hold_minutes)),
    )


def build(settings: Settings) -> falcon.App[falcon.Request, falcon.Response]:
    """The composition root: storage by URL (entry points), use cases, app."""
    uow_factory = open_storage(settings.database_url)
    clock = SystemClock()
    ids = UuidIds()
    scheduling = build_scheduling(settings, uow_factory, clock, ids)
    billing = build_billing(settings, uow_factory, clock, ids, gateway_for(settings))
    return create_app(
        Dependencies(
            settings=settings,
            scheduling=scheduling,
            identity=build_identity(settings, uow_factory, clock, ids),
            clock=clock,
            ids=ids,
            readiness=storage_probe(uow_factory),
            billing=billing,
            cards_accepted=settings.uses_stripe,
        )
    )
