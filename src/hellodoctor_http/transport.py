"""Plain HTTP refused behind a TLS-terminating proxy (``HELLODOCTOR_REQUIRE_HTTPS``).

TLS ends at the reverse proxy (docs/security.md, "TLS termination"); the proxy tells the
app which scheme the client spoke in ``X-Forwarded-Proto``. The header is believed only
from the addresses of ``HELLODOCTOR_TRUSTED_PROXIES`` (anyone else could send it): a
request is served when the server itself spoke TLS, or when a trusted proxy forwarded it
and says ``https``. Anything else is refused with 403 ``access-denied`` before a token is
read or a body parsed. The probes (``/healthz``, ``/readyz``, ``/metrics``), which a load
balancer or monitor calls on the private network, are exempt.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import falcon

from hellodoctor_http.config import Network
from hellodoctor_http.problems import Problem

PROBES = ("/healthz", "/readyz", "/metrics")


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def spoke_https(req: falcon.Request, trusted: Sequence[Network]) -> bool:
    """Whether the client reached us over TLS, as far as we can know."""
    if req.scheme == "https":
        return True
    if not _trusted(req.remote_addr or "", trusted):
        return False
    # The nearest proxy's word: the last value (a proxy may append to a client's header).
    forwarded = req.get_header("X-Forwarded-Proto") or ""
    values = [value.strip().lower() for value in forwarded.split(",") if value.strip()]
    return bool(values) and values[-1] == "https"


class HttpsOnly:
    def __init__(self, trusted: Sequence[Network]) -> None:
        self._trusted = tuple(trusted)

    def process_request(self, req: falcon.Request, _resp: falcon.Response) -> None:
        if req.path in PROBES or spoke_https(req, self._trusted):
            return
        raise Problem(
            "access-denied", "plain HTTP is refused: use https:// (TLS ends at our proxy)"
        )
