"""The signalling server: a Falcon ASGI app (``falcon.asgi``) beside the WSGI API, built from
the same composition root, that relays WebRTC offers, answers and ICE candidates between the
two participants of a consultation room. ``hellodoctor signal`` serves it with uvicorn (or run
``gunicorn -k uvicorn.workers.UvicornWorker 'hellodoctor_http.signalling:asgi_app()'``).

Peers on different processes reach each other through Redis (``HELLODOCTOR_REDIS_URL``);
without it, through the process (run one). docs/telemedicine.md has the protocol.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

import falcon.asgi
import uvicorn

from hellodoctor_http.bootstrap import Components, bootstrap
from hellodoctor_http.config import Settings
from hellodoctor_http.signalling.hub import Hub, LocalHub, RedisHub
from hellodoctor_http.signalling.room import CloseCode, Limits, RoomSocket

__all__ = ["CloseCode", "Limits", "asgi_app", "create_signalling_app", "hub_for", "serve"]


def limits_for(settings: Settings) -> Limits:
    return Limits(
        max_message_bytes=settings.signalling_max_message_bytes,
        messages_per_second=settings.signalling_messages_per_second,
        burst=settings.signalling_burst,
        heartbeat_seconds=settings.signalling_heartbeat_seconds,
    )


def hub_for(settings: Settings) -> Hub:
    """Redis when configured (several processes), else this process alone."""
    if settings.redis_url:
        return RedisHub(settings.redis_url, settings.signalling_channel_prefix)
    return LocalHub()


class _Lifespan:
    def __init__(self, hub: Hub, components: Components) -> None:
        self._hub = hub
        self._components = components

    async def process_shutdown(self, _scope: Any, _event: Any) -> None:
        await self._hub.close()
        self._components.close()


def create_signalling_app(
    components: Components, hub: Hub | None = None, limits: Limits | None = None
) -> falcon.asgi.App[Any, Any]:
    settings = components.settings
    hub = hub if hub is not None else hub_for(settings)
    app = falcon.asgi.App(middleware=[_Lifespan(hub, components)])
    # A server-side failure closes with 1011 (internal error), not Falcon's 3011.
    app.ws_options.error_close_code = 1011
    socket = RoomSocket(components.consultations, hub, components.clock, limits_for(settings))
    if limits is not None:
        socket.limits = limits
    app.add_route("/ws/rooms/{appointment_id}", socket)
    return app


def asgi_app() -> falcon.asgi.App[Any, Any]:
    """The app over the environment's settings (for gunicorn's uvicorn worker)."""
    return create_signalling_app(bootstrap(Settings.from_environ(os.environ)))


# The sans-I/O implementation: the legacy one warns on import with websockets >= 14.
WS_IMPLEMENTATION = "websockets-sansio"


class ReadyServer(uvicorn.Server):
    """A uvicorn server that says when it listens."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._ready.set()


def uvicorn_config(app: Any, max_message_bytes: int, **options: Any) -> uvicorn.Config:
    chosen: dict[str, Any] = {"lifespan": "on", "log_level": "warning", **options}
    return uvicorn.Config(app, ws=WS_IMPLEMENTATION, ws_max_size=max_message_bytes, **chosen)


def serve(settings: Settings, *, bind: str | None = None) -> None:
    """Run the signalling server with uvicorn until interrupted; prints a line once it
    listens (what supervisors and tests wait for)."""
    host, _, port = (bind or settings.signalling_bind).rpartition(":")
    app = create_signalling_app(bootstrap(settings))
    listening = threading.Event()
    server = ReadyServer(
        uvicorn_config(
            app,
            settings.signalling_max_message_bytes,
            host=host.strip("[]") or "127.0.0.1",
            port=int(port),
        ),
        listening,
    )
    threading.Thread(
        target=lambda: listening.wait() and print("signalling server listening", flush=True),
        daemon=True,
    ).start()
    server.run()
