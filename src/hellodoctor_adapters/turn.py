"""ICE servers for WebRTC clients, with TURN credentials that expire: coturn's "TURN REST API"
scheme (``use-auth-secret`` / ``static-auth-secret``; draft-uberti-behave-turn-rest, used with
RFC 8489's long-term credentials). The username is ``"<expiry unix time>:<user id>"`` and the
password ``base64(HMAC-SHA1(secret, username))``; the TURN server recomputes it from the shared
secret and refuses it after the expiry, so nothing is stored and nothing needs revoking."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Any

from attrs import define


def turn_password(secret: str, username: str) -> str:
    mac = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


@define(frozen=True)
class IceServers:
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    turn_lifetime: timedelta = timedelta(hours=1)

    def for_user(self, user_id: str, now: datetime) -> list[dict[str, Any]]:
        """The ``iceServers`` list of an ``RTCPeerConnection`` configuration for ``user_id``."""
        servers: list[dict[str, Any]] = []
        if self.stun_urls:
            servers.append({"urls": list(self.stun_urls)})
        if self.turn_urls and self.turn_secret:
            expiry = int((now + self.turn_lifetime).timestamp())
            username = f"{expiry}:{user_id}"
            servers.append(
                {
                    "urls": list(self.turn_urls),
                    "username": username,
                    "credential": turn_password(self.turn_secret, username),
                }
            )
        return servers
