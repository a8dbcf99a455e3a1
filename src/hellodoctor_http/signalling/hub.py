"""Where a room's connections meet: its two seats and its message fan-out.

A connection first **claims its seat** (the doctor's or the patient's): one holder per seat,
decided atomically by the hub (a ``SET NX`` on Redis), so a room never has more than two
participants even when they connect to different processes. A seat is held for a few
heartbeats and refreshed by each; a connection that vanished without closing frees its seat
when the hold lapses. It then **joins** the room to receive what the other participant
**publishes**.

``LocalHub`` keeps all this in the process (one server process). ``RedisHub`` shares it through
Redis: seats are keys, and each process subscribes (once per room it has connections in) to the
room's pub/sub channel, so two peers on two processes reach each other. Messages are JSON
objects; a connection never receives its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from hellodoctor_domain.errors import BackendUnavailable

Message = dict[str, Any]
Deliver = Callable[[Message], None]  # must not block: it queues for the connection's writer


class Hub(Protocol):
    async def claim_seat(self, room: str, seat: str, holder: str, hold_for: float) -> bool:
        """Take the seat for ``holder`` unless someone holds it; whether it was taken."""

    async def refresh_seat(self, room: str, seat: str, holder: str, hold_for: float) -> None:
        """Extend ``holder``'s hold (nothing if the seat is no longer theirs)."""

    async def release_seat(self, room: str, seat: str, holder: str) -> None:
        """Free the seat if ``holder`` still holds it."""

    async def seat_taken(self, room: str, seat: str) -> bool: ...

    async def join(self, room: str, holder: str, deliver: Deliver) -> None:
        """From when this returns, ``deliver`` gets every message others publish to ``room``."""

    async def leave(self, room: str, holder: str) -> None: ...

    async def publish(self, room: str, sender: str, message: Message) -> None: ...

    async def close(self) -> None: ...


class LocalHub:
    """Seats and fan-out inside one process (one event loop)."""

    def __init__(self) -> None:
        self._seats: dict[tuple[str, str], tuple[str, float]] = {}
        self._rooms: dict[str, dict[str, Deliver]] = {}

    def _holder(self, room: str, seat: str) -> str | None:
        held = self._seats.get((room, seat))
        if held is None or held[1] <= time.monotonic():
            return None
        return held[0]

    async def claim_seat(self, room: str, seat: str, holder: str, hold_for: float) -> bool:
        if self._holder(room, seat) is not None:
            return False
        self._seats[(room, seat)] = (holder, time.monotonic() + hold_for)
        return True

    async def refresh_seat(self, room: str, seat: str, holder: str, hold_for: float) -> None:
        if self._holder(room, seat) == holder:
            self._seats[(room, seat)] = (holder, time.monotonic() + hold_for)

    async def release_seat(self, room: str, seat: str, holder: str) -> None:
        if self._holder(room, seat) == holder:
            del self._seats[(room, seat)]

    async def seat_taken(self, room: str, seat: str) -> bool:
        return self._holder(room, seat) is not None

    async def join(self, room: str, holder: str, deliver: Deliver) -> None:
        self._rooms.setdefault(room, {})[holder] = deliver

    async def leave(self, room: str, holder: str) -> None:
        members = self._rooms.get(room, {})
        members.pop(holder, None)
        if not members:
            self._rooms.pop(room, None)

    async def publish(self, room: str, sender: str, message: Message) -> None:
        for holder, deliver in list(self._rooms.get(room, {}).items()):
            if holder != sender:
                deliver(message)

    async def close(self) -> None:
        self._rooms.clear()


# Compare-and-delete / compare-and-extend: only the holder's own hold is touched.
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
_REFRESH = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end"
)


SUBSCRIBE_TIMEOUT_SECONDS = 10


@contextlib.contextmanager
def _redis_errors() -> Iterator[None]:
    """Redis unreachable or failing is ``BackendUnavailable`` (the socket closes with 1013)."""
    from redis.exceptions import RedisError

    try:
        yield
    except (RedisError, OSError, TimeoutError) as error:
        raise BackendUnavailable(f"Redis: {error}") from error


class RedisHub:
    """Seats as Redis keys (``SET NX PX``), fan-out through one pub/sub channel per room.

    Each process keeps one pub/sub connection, subscribed to a channel of its own (so it is
    always listening) and to the channel of every room it has connections in; one reader task
    hands each message to the local connections of its room. ``join`` waits for Redis to
    confirm the subscription, so nothing published after it returns is missed.
    """

    def __init__(self, url: str, prefix: str = "hellodoctor") -> None:
        import redis.asyncio as redis  # the redis extra; only when configured

        self._redis = redis.Redis.from_url(url)
        self._pubsub = self._redis.pubsub()
        self._prefix = prefix
        self._rooms: dict[str, dict[str, Deliver]] = {}
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def _channel(self, room: str) -> str:
        return f"{self._prefix}:room:{room}"

    def _seat_key(self, room: str, seat: str) -> str:
        return f"{self._prefix}:seat:{room}:{seat}"

    async def claim_seat(self, room: str, seat: str, holder: str, hold_for: float) -> bool:
        with _redis_errors():
            taken = await self._redis.set(
                self._seat_key(room, seat), holder, nx=True, px=int(hold_for * 1000)
            )
        return bool(taken)

    async def refresh_seat(self, room: str, seat: str, holder: str, hold_for: float) -> None:
        with _redis_errors():
            await self._redis.eval(
                _REFRESH, 1, self._seat_key(room, seat), holder, int(hold_for * 1000)
            )

    async def release_seat(self, room: str, seat: str, holder: str) -> None:
        with _redis_errors():
            await self._redis.eval(_RELEASE, 1, self._seat_key(room, seat), holder)

    async def seat_taken(self, room: str, seat: str) -> bool:
        with _redis_errors():
            return bool(await self._redis.exists(self._seat_key(room, seat)))

    async def _subscribe(self, channel: str) -> None:
        confirmed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirmations[channel] = confirmed
        with _redis_errors():
            await self._pubsub.subscribe(channel)
            await asyncio.wait_for(confirmed, SUBSCRIBE_TIMEOUT_SECONDS)

    async def _start(self) -> None:
        if self._reader is None:
            own = f"{self._prefix}:process:{uuid.uuid4().hex}"
            with _redis_errors():
                await self._pubsub.subscribe(own)
            self._reader = asyncio.create_task(self._read())

    async def join(self, room: str, holder: str, deliver: Deliver) -> None:
        async with self._lock:  # one subscribe or unsubscribe at a time, in order
            await self._start()
            members = self._rooms.setdefault(room, {})
            first = not members
            members[holder] = deliver
            if first:
                await self._subscribe(self._channel(room))

    async def leave(self, room: str, holder: str) -> None:
        async with self._lock:
            members = self._rooms.get(room, {})
            members.pop(holder, None)
            if not members and room in self._rooms:
                del self._rooms[room]
                with _redis_errors():
                    await self._pubsub.unsubscribe(self._channel(room))

    async def publish(self, room: str, sender: str, message: Message) -> None:
        envelope = json.dumps({"from": sender, "message": message}, separators=(",", ":"))
        with _redis_errors():
            await self._redis.publish(self._channel(room), envelope)

    async def _read(self) -> None:
        room_prefix = f"{self._prefix}:room:"
        async for item in self._pubsub.listen():
            channel = item["channel"].decode()
            if item["type"] == "subscribe":
                confirmed = self._confirmations.pop(channel, None)
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
                continue
            if item["type"] != "message" or not channel.startswith(room_prefix):
                continue
            envelope = json.loads(item["data"])
            members = self._rooms.get(channel[len(room_prefix) :], {})
            for holder, deliver in list(members.items()):
                if holder != envelope["from"]:
                    deliver(envelope["message"])

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._redis.aclose()
