"""Test support for the signalling server (needs the server extra): uvicorn serving an ASGI
app on a free port in a background thread, ready when ``__enter__`` returns, and a WebSocket
client helper that waits for the close code without sleeping."""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from hellodoctor_http.signalling import ReadyServer, uvicorn_config


class ServerThread:
    """``with ServerThread(app) as server:`` -- ``server.url`` is ``ws://127.0.0.1:<port>``."""

    def __init__(self, app: Any, max_message_bytes: int = 64 * 1024) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._ready = threading.Event()
        self._server = ReadyServer(uvicorn_config(app, max_message_bytes), self._ready)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._listener]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("the signalling server did not start within 30 s")
        return self

    def stop(self) -> None:
        """Shut down: uvicorn lets every connection's handler finish first (so what a handler
        does after its socket closed is done when this returns)."""
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._listener.close()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


async def close_code(ws: ClientConnection, timeout: float = 10) -> int | None:
    """Read (and drop) messages until the server closes; its close code."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                await ws.recv()
    except ConnectionClosed as closed:
        return None if closed.rcvd is None else closed.rcvd.code


# Fixed WebRTC session descriptions and ICE candidates, as a browser writes them (aiortc is not
# a dependency: the tests relay these recorded ones byte for byte).
_OFFER_FINGERPRINT = (
    "DA:7B:57:DC:28:CE:04:4F:31:79:85:C4:31:67:EB:27:"
    "58:29:ED:77:2A:0D:24:AE:ED:D3:8E:5B:A8:D8:04:1F"
)
_ANSWER_FINGERPRINT = (
    "5C:8E:2B:91:7D:0A:F3:66:10:4B:C9:3E:1A:77:D2:08:"
    "9F:45:B1:6C:E0:33:8A:52:7F:C4:19:D6:0E:A8:24:B3"
)

OFFER = """v=0\r
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r
s=-\r
t=0 0\r
a=group:BUNDLE 0 1\r
a=extmap-allow-mixed\r
a=msid-semantic: WMS stream\r
m=audio 9 UDP/TLS/RTP/SAVPF 111 63\r
c=IN IP4 0.0.0.0\r
a=rtcp:9 IN IP4 0.0.0.0\r
a=ice-ufrag:EsAw\r
a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r
a=ice-options:trickle\r
a=fingerprint:sha-256 FINGERPRINT\r
a=setup:actpass\r
a=mid:0\r
a=sendrecv\r
a=msid:stream audio0\r
a=rtcp-mux\r
a=rtpmap:111 opus/48000/2\r
a=fmtp:111 minptime=10;useinbandfec=1\r
a=rtpmap:63 red/48000/2\r
m=video 9 UDP/TLS/RTP/SAVPF 96 97\r
c=IN IP4 0.0.0.0\r
a=rtcp:9 IN IP4 0.0.0.0\r
a=ice-ufrag:EsAw\r
a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r
a=ice-options:trickle\r
a=fingerprint:sha-256 FINGERPRINT\r
a=setup:actpass\r
a=mid:1\r
a=sendrecv\r
a=msid:stream video0\r
a=rtcp-mux\r
a=rtcp-rsize\r
a=rtpmap:96 VP8/90000\r
a=rtcp-fb:96 nack\r
a=rtcp-fb:96 nack pli\r
a=rtpmap:97 rtx/90000\r
a=fmtp:97 apt=96\r
""".replace("FINGERPRINT", _OFFER_FINGERPRINT)

ANSWER = """v=0\r
o=- 8233451095811404721 2 IN IP4 127.0.0.1\r
s=-\r
t=0 0\r
a=group:BUNDLE 0 1\r
a=msid-semantic: WMS stream\r
m=audio 9 UDP/TLS/RTP/SAVPF 111\r
c=IN IP4 0.0.0.0\r
a=rtcp:9 IN IP4 0.0.0.0\r
a=ice-ufrag:9rLq\r
a=ice-pwd:Wc2y7ZlJkqS8yG0vNvKJ1b2m\r
a=ice-options:trickle\r
a=fingerprint:sha-256 FINGERPRINT\r
a=setup:active\r
a=mid:0\r
a=sendrecv\r
a=msid:stream audio0\r
a=rtcp-mux\r
a=rtpmap:111 opus/48000/2\r
a=fmtp:111 minptime=10;useinbandfec=1\r
m=video 9 UDP/TLS/RTP/SAVPF 96\r
c=IN IP4 0.0.0.0\r
a=rtcp:9 IN IP4 0.0.0.0\r
a=ice-ufrag:9rLq\r
a=ice-pwd:Wc2y7ZlJkqS8yG0vNvKJ1b2m\r
a=ice-options:trickle\r
a=fingerprint:sha-256 FINGERPRINT\r
a=setup:active\r
a=mid:1\r
a=sendrecv\r
a=msid:stream video0\r
a=rtcp-mux\r
a=rtcp-rsize\r
a=rtpmap:96 VP8/90000\r
a=rtcp-fb:96 nack\r
a=rtcp-fb:96 nack pli\r
""".replace("FINGERPRINT", _ANSWER_FINGERPRINT)

CANDIDATES = [
    {
        "candidate": "candidate:1467250027 1 udp 2122260223 192.168.1.20 53011 typ host "
        "generation 0 ufrag EsAw network-id 1",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "usernameFragment": "EsAw",
    },
    {
        "candidate": "candidate:842163049 1 udp 1677729535 203.0.113.7 53011 typ srflx "
        "raddr 192.168.1.20 rport 53011 generation 0 ufrag EsAw network-id 1",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
        "usernameFragment": "EsAw",
    },
    {
        "candidate": "candidate:3092546271 1 udp 41885439 198.51.100.9 49170 typ relay "
        "raddr 203.0.113.7 rport 53011 generation 0 ufrag EsAw network-id 1",
        "sdpMid": "1",
        "sdpMLineIndex": 1,
        "usernameFragment": "EsAw",
    },
]
