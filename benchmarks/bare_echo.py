"""The baseline for bench_signalling.py: a bare ASGI WebSocket server that sends every text
message straight back, served by uvicorn exactly like the signalling server (same WebSocket
implementation, one process). ``python benchmarks/bare_echo.py PORT`` prints a line once it
listens."""

from __future__ import annotations

import sys
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from hellodoctor_http.signalling import ReadyServer, uvicorn_config


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "websocket":
        return
    while True:
        event = await receive()
        if event["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif event["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": event.get("text")})
        else:
            return


if __name__ == "__main__":
    listening = threading.Event()
    server = ReadyServer(
        uvicorn_config(app, 64 * 1024, host="127.0.0.1", port=int(sys.argv[1]), lifespan="off"),
        listening,
    )
    threading.Thread(
        target=lambda: listening.wait() and print("echo server listening", flush=True),
        daemon=True,
    ).start()
    server.run()
