"""What every portal page shares: the Jinja2 environment (autoescaped, gettext catalogues),
the session and CSRF checks, rendering and redirects.

A page resource is built once per app from a ``Portal`` and calls the same use cases as the
API (``Components``); it never reads storage itself.
"""

from __future__ import annotations

import gettext
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import falcon
from attrs import define, field
from jinja2 import Environment, PackageLoader, select_autoescape

from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.accounts import AccountStatus
from hellodoctor_domain.model.values import Actor, Money, Role
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.portal.session import CSRF_FIELD, PortalSession, SessionCodec

_log = logging.getLogger("hellodoctor.portal")

# Languages with a catalogue in locale/<lang>/LC_MESSAGES/portal.mo; English is the source.
DOMAIN = "portal"
DEFAULT_LANGUAGE = "en"
LOCALE_DIR = Path(str(resources.files("hellodoctor_http.portal") / "locale"))
# The longest form value read (the request body limit bounds the whole form too).
MAX_FIELD = 1000


def available_languages() -> tuple[str, ...]:
    found = sorted(p.name for p in LOCALE_DIR.iterdir() if (p / "LC_MESSAGES").is_dir())
    return tuple(dict.fromkeys((DEFAULT_LANGUAGE, *found)))


def money(amount: Money | None) -> str:
    if amount is None:
        return ""
    return f"{amount.minor_units / 100:.2f} {amount.currency}"


def local(moment: datetime | None, zone: str | None) -> str:
    if moment is None:
        return ""
    try:
        where = ZoneInfo(zone) if zone else None
    except (ZoneInfoNotFoundError, ValueError):
        where = None
    shown = moment.astimezone(where) if where else moment
    return shown.strftime("%a %d %b %Y, %H:%M")


def _environment(language: str) -> Environment:
    env = Environment(
        loader=PackageLoader("hellodoctor_http.portal", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    translations = gettext.translation(
        DOMAIN, localedir=str(LOCALE_DIR), languages=[language], fallback=True
    )
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.filters["money"] = money
    env.filters["local"] = local
    return env


@define
class Portal:
    """Built once per app: the components, the session codec and one template environment
    per shipped language."""

    components: Components
    codec: SessionCodec
    environments: dict[str, Environment] = field(factory=dict)

    @classmethod
    def build(cls, components: Components) -> Portal:
        settings = components.settings
        codec = SessionCodec(
            secret=settings.jwt_secret,
            issuer=settings.jwt_issuer,
            clock=components.clock,
            secure=settings.is_production,
        )
        portal = cls(components, codec)
        for language in available_languages():
            portal.environments[language] = _environment(language)
        return portal

    def language(self, req: falcon.Request) -> str:
        header = req.get_header("Accept-Language") or ""
        for part in header.split(","):
            tag = part.split(";")[0].strip().lower().split("-")[0]
            if tag in self.environments:
                return tag
        return DEFAULT_LANGUAGE


class PageError(Exception):
    """Answered as an HTML page (``error.html``) with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Page:
    """Base of every portal resource."""

    def __init__(self, portal: Portal) -> None:
        self.portal = portal
        self.components = portal.components

    # -- who is asking -----------------------------------------------------------------

    def session(self, req: falcon.Request) -> PortalSession | None:
        if hasattr(req.context, "portal_session"):
            found: PortalSession | None = req.context.portal_session
            return found
        codec = self.portal.codec
        values = req.get_cookie_values(codec.session_cookie) or []
        found = codec.read(values[0]) if values else None
        if found is not None:
            try:  # read afresh: a disabled or removed account is signed out at once
                account = self.components.identity.account(found.actor.user_id)
                if account.status is not AccountStatus.ACTIVE:
                    found = None
            except NotFound:
                found = None
        req.context.portal_session = found
        return found

    def require(self, req: falcon.Request, *roles: Role) -> Actor:
        found = self.session(req)
        if found is None:
            raise falcon.HTTPSeeOther(f"/sign-in?next={falcon.uri.encode_value(req.relative_uri)}")
        if roles and found.actor.role not in roles:
            raise PageError(403, "This page is not for your account.")
        return found.actor

    # -- forms -------------------------------------------------------------------------

    def form(self, req: falcon.Request) -> dict[str, str]:
        """The posted form (URL-encoded), after the CSRF check: 403 without a valid token."""
        media: Any = {}
        if (req.content_type or "").startswith("application/x-www-form-urlencoded"):
            media = req.get_media(default_when_empty={})
        values: dict[str, str] = {}
        if isinstance(media, Mapping):
            for key, value in media.items():
                chosen = value[-1] if isinstance(value, list) else value
                if isinstance(chosen, str):
                    values[str(key)] = chosen[:MAX_FIELD]
        found = self.session(req)
        sent = values.pop(CSRF_FIELD, None)
        if not self.portal.codec.csrf_valid(req, found.session_id if found else None, sent):
            raise PageError(403, "The form had expired or did not come from this site.")
        return values

    # -- answers -----------------------------------------------------------------------

    def render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        template: str,
        status: int = 200,
        **context: Any,
    ) -> None:
        found = self.session(req)
        codec = self.portal.codec
        secret = codec.browser_secret(req, resp)
        language = self.portal.language(req)
        env = self.portal.environments[language]
        resp.status = status
        resp.content_type = "text/html; charset=utf-8"
        resp.text = env.get_template(template).render(
            csrf_token=codec.csrf_token(secret, found.session_id if found else None),
            csrf_field=CSRF_FIELD,
            actor=found.actor if found else None,
            language=language,
            path=req.path,
            **context,
        )

    def redirect(self, resp: falcon.Response, location: str, notice: str | None = None) -> None:
        """303 See Other after a successful POST (the browser then GETs ``location``)."""
        if notice:
            separator = "&" if "?" in location else "?"
            location = f"{location}{separator}notice={falcon.uri.encode_value(notice)}"
        resp.status = falcon.HTTP_303
        resp.location = location


def error_handler(portal: Portal) -> Callable[..., None]:
    page = Page(portal)

    def handle(req: falcon.Request, resp: falcon.Response, error: PageError, _params: Any) -> None:
        page.render(req, resp, "error.html", status=error.status, message=error.message)

    return handle


def safe_next(target: str | None, default: str) -> str:
    """Only a local path may be a redirect target (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default
