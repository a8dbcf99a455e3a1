"""The composition root: everything a process needs, built from ``Settings``.

``bootstrap(settings)`` opens the storage ``HELLODOCTOR_DATABASE_URL`` names and the blob
storage ``HELLODOCTOR_BLOB_URL`` names, through their entry points, and builds the clock, ids,
payment gateway, notifier, password hasher and login throttle, then the use cases over them.
``hellodoctor serve`` (in each gunicorn worker), ``worker``, ``admin create``, ``demo seed``
and the tests all start here;
tests pass their doubles (a manual clock, sequential ids...) as keyword arguments. Nothing is
built at import time, and each use-case call is still its own unit of work.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from datetime import timedelta

from attrs import define, field

from hellodoctor_adapters.blobs import open_blob_storage
from hellodoctor_adapters.mail import EmailMessenger
from hellodoctor_adapters.notify import MaildirNotifier, SmtpNotifier
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.public_cache import RedisPublicCache
from hellodoctor_adapters.registry import open_storage, storage_delivery, storage_retention
from hellodoctor_adapters.runtime import SystemClock, UuidIds
from hellodoctor_adapters.security import BcryptPasswordHasher, PyOtpTotp
from hellodoctor_adapters.sniffing import FiletypeSniffer
from hellodoctor_adapters.throttle import (
    InMemoryLoginThrottle,
    RedisLoginThrottle,
    ThrottleRule,
)
from hellodoctor_adapters.turn import IceServers
from hellodoctor_domain import DoctorId, Scheduling, SchedulingSettings
from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.consultation import RoomPolicy
from hellodoctor_domain.model.record_access import RecordAccess
from hellodoctor_domain.ports.blobs import BlobStorage
from hellodoctor_domain.ports.cache import NoPublicCache, PublicCache
from hellodoctor_domain.ports.gateway import PaymentGateway
from hellodoctor_domain.ports.notifications import SmsSender
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.security import LoginThrottle, PasswordHasher
from hellodoctor_domain.ports.unit_of_work import EventPublisher, UnitOfWorkFactory
from hellodoctor_domain.use_cases.analytics import Analytics
from hellodoctor_domain.use_cases.billing import Billing, BillingSettings
from hellodoctor_domain.use_cases.clinic_day import ClinicDay
from hellodoctor_domain.use_cases.consultations import Consultations
from hellodoctor_domain.use_cases.delivery import RetryPolicy
from hellodoctor_domain.use_cases.documents import Documents, DocumentSettings
from hellodoctor_domain.use_cases.emergency import EmergencyAccess
from hellodoctor_domain.use_cases.emergency_mail import EmergencyMailer
from hellodoctor_domain.use_cases.erasure import Erasure
from hellodoctor_domain.use_cases.export import PatientExport
from hellodoctor_domain.use_cases.front_desk import FrontDesk
from hellodoctor_domain.use_cases.hospitals import Hospitals
from hellodoctor_domain.use_cases.identity import Identity, IdentitySettings
from hellodoctor_domain.use_cases.identity_mail import IdentityMailer
from hellodoctor_domain.use_cases.insurance import Insurance
from hellodoctor_domain.use_cases.preferences import Preferences
from hellodoctor_domain.use_cases.profiles import Profiles
from hellodoctor_domain.use_cases.records import Records
from hellodoctor_domain.use_cases.retention import Retention
from hellodoctor_domain.use_cases.reviews import Reviews
from hellodoctor_domain.use_cases.search import DoctorFinder, FreeSlotsRefresher
from hellodoctor_domain.use_cases.series import SeriesBooking
from hellodoctor_domain.use_cases.time_off import TimeOffBookings
from hellodoctor_domain.use_cases.transfers import Transfers
from hellodoctor_domain.use_cases.waitlist import Waitlist, WaitlistOfferer, WaitlistSettings
from hellodoctor_domain.use_cases.walk_in_claims import WalkInClaims
from hellodoctor_http.auth import TokenCodec
from hellodoctor_http.business_metrics import BusinessMetrics, FanOut
from hellodoctor_http.config import Settings
from hellodoctor_http.delivery import Delivery, build_delivery
from hellodoctor_http.keys import cipher_for
from hellodoctor_http.public_caching import Invalidation


@define(frozen=True)
class Components:
    """Everything built, ready for an entry point to use."""

    settings: Settings
    storage: UnitOfWorkFactory
    clock: Clock
    # Server-side ids: of what the use cases make, and of what the API creates itself.
    ids: IdGenerator
    gateway: PaymentGateway
    hasher: PasswordHasher
    scheduling: Scheduling
    identity: Identity
    billing: Billing
    hospitals: Hospitals
    transfers: Transfers
    insurance: Insurance
    reviews: Reviews
    analytics: Analytics
    # Raises (BackendUnavailable) when the storage does not answer: /readyz.
    readiness: Callable[[], None]
    # Whether card payments (and so top-ups and hybrid) are taken: only with a real gateway.
    cards_accepted: bool
    documents: Documents
    consultations: Consultations
    ice_servers: IceServers
    records: Records
    emergency: EmergencyAccess
    # The outbox relay and the notification consumer (None: the storage offers no delivery).
    delivery: Delivery | None = None
    # Counts calendar feed requests per token and per client address (None: unlimited).
    feed_throttle: LoginThrottle | None = None
    # Notification preferences and calendar feeds.
    preferences: Preferences | None = None
    # The waitlist (issue 17 item 1); None only where a caller built Components by hand.
    waitlist: Waitlist | None = None
    # The doctor search (GET /api/v1/doctors) and its maintained next free slots.
    finder: DoctorFinder | None = None
    # Prometheus counters of committed business events (bookings, revenue...).
    business_metrics: BusinessMetrics | None = None
    # The public doctors' directory's cache (nothing kept unless HELLODOCTOR_CACHE_URL).
    public_cache: PublicCache = field(factory=NoPublicCache)

    @property
    def profiles(self) -> Profiles:
        """Profiles (``/me``): stateless over the storage and clock, so built when asked."""
        return Profiles(self.storage, self.clock)

    @property
    def clinic_day(self) -> ClinicDay:
        """Arrivals, the doctor's day and the waiting room: stateless, built when asked."""
        return ClinicDay(self.storage, self.clock)

    @property
    def walk_in_claims(self) -> WalkInClaims:
        """Claiming a walk-in's profile (issue 17, item 4): stateless, built when asked."""
        return WalkInClaims(self.storage, self.clock)

    @property
    def front_desk(self) -> FrontDesk:
        """The front desk (issue 17, item 4): over ``scheduling``, built when asked."""
        return FrontDesk(
            self.storage,
            self.clock,
            self.ids,
            self.scheduling,
            accept_offline=self.billing.settings.accept_offline,
        )

    @property
    def export(self) -> PatientExport:
        """A patient's data export (GDPR Art. 15/20): stateless, built when asked."""
        return PatientExport(self.storage, self.clock)

    @property
    def erasure(self) -> Erasure:
        """Erasure on request (GDPR Art. 17): stateless, built when asked."""
        return Erasure(self.storage, self.clock)

    @property
    def retention(self) -> Retention | None:
        """The retention policy over the storage's retention store (None: it offers none)."""
        store = storage_retention(self.storage)
        if store is None:
            return None
        return Retention(store, self.clock, self.settings.retention_policy)

    @property
    def time_off(self) -> TimeOffBookings:
        """Time off that may collide with bookings: over ``scheduling``, built when asked."""
        return TimeOffBookings(self.scheduling, self.storage, self.clock)

    @property
    def series(self) -> SeriesBooking:
        """Recurring series (issue 17): over ``scheduling``, built when asked."""
        return SeriesBooking(self.storage, self.clock, self.ids, self.scheduling)

    def token_codec(self) -> TokenCodec:
        return TokenCodec(
            secret=self.settings.jwt_secret,
            issuer=self.settings.jwt_issuer,
            audience=self.settings.jwt_audience,
            clock=self.clock,
            lifetime=timedelta(minutes=self.settings.access_token_minutes),
        )

    def close(self) -> None:
        """Close pooled connections (each server worker opens its own): SQLAlchemy's engines
        are disposed, MongoDB's clients closed."""
        if self.delivery is not None:
            self.delivery.close()
        close = getattr(self.storage, "dispose", None) or getattr(self.storage, "close", None)
        if close is not None:
            close()


def bootstrap(
    settings: Settings,
    *,
    storage: UnitOfWorkFactory | None = None,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    gateway: PaymentGateway | None = None,
    cards_accepted: bool | None = None,
    blobs: BlobStorage | None = None,
    public_cache: PublicCache | None = None,
) -> Components:
    """Build everything from ``settings``; the keyword arguments replace what they name."""
    business_metrics = BusinessMetrics()
    public_cache = public_cache if public_cache is not None else public_cache_for(settings)
    invalidation = Invalidation(public_cache)
    publisher = FanOut(business_metrics, invalidation)
    storage = (
        storage
        if storage is not None
        # Health data sealed under the configured key ring (docs/encryption.md).
        else open_storage(settings.database_url, publisher=publisher, cipher=cipher_for(settings))
    )
    subscribe_unless_published(storage, publisher)
    clock = clock or SystemClock()
    ids = ids or UuidIds()
    gateway = gateway or gateway_for(settings)
    hasher = BcryptPasswordHasher(settings.bcrypt_cost)
    scheduling = Scheduling(
        storage,
        clock,
        ids,
        gateway,
        SchedulingSettings(hold_for=timedelta(minutes=settings.hold_minutes)),
    )
    outlet = notifier_for(settings)
    waitlist = Waitlist(
        storage,
        clock,
        ids,
        WaitlistSettings(offer_for=timedelta(minutes=settings.waitlist_offer_minutes)),
    )
    offered = storage_delivery(storage)
    finder = DoctorFinder(storage, clock, scheduling)
    identity_settings = IdentitySettings(
        two_factor_required_for=settings.require_totp_for,
        password_link=settings.password_link,
    )
    delivery = (
        build_delivery(
            offered,
            EmailMessenger(outlet, settings.mail_from),
            storage,
            clock,
            broker_url=settings.broker_url,
            policy=RetryPolicy(max_attempts=settings.relay_max_attempts),
            reminders=tuple(timedelta(minutes=m) for m in settings.reminder_minutes),
            sms=sms_for(settings),
            identity_mail=lambda inbox: IdentityMailer(
                storage, clock, ids, outlet, inbox, identity_settings
            ),
            emergency_mail=lambda inbox: EmergencyMailer(
                storage, clock, outlet, inbox, settings.security_email
            ),
            waitlist=WaitlistOfferer(waitlist),
            free_slots=FreeSlotsRefresher(finder, lambda _doctor: invalidation.bump()),
        )
        if offered is not None
        else None
    )
    identity = Identity(
        storage,
        clock,
        ids,
        hasher,
        PyOtpTotp(),
        throttle_for(settings),
        identity_settings,
    )
    return Components(
        settings=settings,
        storage=storage,
        clock=clock,
        ids=ids,
        gateway=gateway,
        hasher=hasher,
        scheduling=scheduling,
        identity=identity,
        billing=Billing(
            storage,
            clock,
            ids,
            gateway,
            BillingSettings(
                smallest_top_up=settings.smallest_top_up,
                largest_top_up=settings.largest_top_up,
            ),
        ),
        hospitals=Hospitals(storage, clock, ids),
        transfers=Transfers(storage, clock, ids),
        insurance=Insurance(storage, clock, ids),
        analytics=Analytics(storage),
        reviews=Reviews(storage, clock, ids, timedelta(days=settings.review_window_days)),
        readiness=storage_probe(storage),
        cards_accepted=settings.uses_stripe if cards_accepted is None else cards_accepted,
        documents=Documents(
            storage,
            clock,
            ids,
            blobs if blobs is not None else open_blob_storage(settings.blob_url),
            FiletypeSniffer(),
            DocumentSettings(
                max_bytes=settings.max_upload_bytes,
                link_lifetime=timedelta(seconds=settings.download_link_seconds),
                orphan_age=timedelta(minutes=settings.orphan_minutes),
            ),
        ),
        consultations=Consultations(storage, clock, scheduling, room_policy(settings)),
        ice_servers=IceServers(
            settings.stun_urls,
            settings.turn_urls,
            settings.turn_secret,
            timedelta(seconds=settings.turn_ttl_seconds),
        ),
        records=Records(
            storage, clock, ids, RecordAccess(timedelta(days=settings.care_period_days))
        ),
        emergency=EmergencyAccess(storage, clock, ids),
        delivery=delivery,
        feed_throttle=feed_throttle_for(settings),
        preferences=Preferences(storage, clock),
        waitlist=waitlist,
        finder=finder,
        business_metrics=business_metrics,
        public_cache=public_cache,
    )


def subscribe_unless_published(storage: UnitOfWorkFactory, publisher: EventPublisher) -> None:
    """A storage handed in (tests, the demo) without a publisher of its own gets ``publisher``
    (a factory's ``publisher`` is read by each unit of work it makes)."""
    if getattr(storage, "publisher", False) is None:
        storage.publisher = publisher  # type: ignore[attr-defined]


def public_cache_for(settings: Settings) -> PublicCache:
    if settings.cache_url:
        return RedisPublicCache.from_url(settings.cache_url)
    return NoPublicCache()


def room_policy(settings: Settings) -> RoomPolicy:
    return RoomPolicy(
        opens_before=timedelta(minutes=settings.room_opens_minutes),
        grace_after=timedelta(minutes=settings.room_grace_minutes),
        ticket_lifetime=timedelta(seconds=settings.room_ticket_seconds),
    )


def storage_probe(uow_factory: UnitOfWorkFactory) -> Callable[[], None]:
    """A readiness check through the storage port: one primary-key read in a unit of work.
    Raises (``BackendUnavailable``) when the database does not answer."""

    def probe() -> None:
        with uow_factory() as uow, contextlib.suppress(NotFound):
            uow.doctors.get(DoctorId("readiness-probe"))

    return probe


def notifier_for(settings: Settings) -> SmtpNotifier | MaildirNotifier:
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


def feed_throttle_for(settings: Settings) -> LoginThrottle:
    """Calendar feed requests: at most ``feed_requests_per_minute`` per token and four times
    that per client address (guessing tokens from one place is slowed too); in Redis when
    configured, so every worker counts together."""
    per_minute = settings.feed_requests_per_minute
    minute = timedelta(minutes=1)
    rules = {
        "feed": ThrottleRule(per_minute, minute, minute),
        "feed-address": ThrottleRule(4 * per_minute, minute, minute),
    }
    if settings.redis_url:
        return RedisLoginThrottle.from_url(settings.redis_url, rules=rules)
    return InMemoryLoginThrottle(rules)


def throttle_for(settings: Settings) -> LoginThrottle:
    """Redis when configured (shared by every worker and host); otherwise each worker counts
    on its own, so N workers allow up to N times the failures before locking."""
    if settings.redis_url:
        return RedisLoginThrottle.from_url(settings.redis_url)
    return InMemoryLoginThrottle()


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


def sms_for(settings: Settings) -> SmsSender | None:
    """Twilio when its account, token and sender are configured; otherwise no SMS (people
    who chose SMS get their e-mail only)."""
    if not settings.sends_sms:
        return None
    # Imported lazily: the twilio SDK is the optional ``sms`` extra.
    from hellodoctor_adapters.sms import TwilioSms

    assert settings.twilio_account_sid is not None
    assert settings.twilio_auth_token is not None
    assert settings.twilio_from is not None
    return TwilioSms(settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_from)
