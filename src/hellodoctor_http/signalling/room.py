"""One participant's WebSocket in a consultation room: admission, relaying, limits, heartbeats
and the close code of every way it ends (the protocol is in docs/telemedicine.md).

The socket is accepted first and refused by closing it with an application code, because a
browser sees nothing of a refused handshake. Who may enter is decided by
``Consultations.admit`` (the ticket, redeemed once, and the room's rules); the seat by the
hub. Blocking use-case calls run in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import time
import uuid
from collections.abc import Awaitable
from typing import Any

import falcon
import falcon.asgi
from attrs import define

from hellodoctor_domain import AppointmentId, Role
from hellodoctor_domain.errors import (
    AppointmentCancelledRoom,
    BackendUnavailable,
    DomainError,
    InvalidValue,
    NotTelemedicine,
    RoomClosed,
    RoomNotOpen,
    RoomTicketExpired,
    RoomTicketUnknown,
    RoomTicketUsed,
)
from hellodoctor_domain.model.consultation import Presence
from hellodoctor_domain.ports.runtime import Clock
from hellodoctor_domain.use_cases.consultations import Admission, Consultations
from hellodoctor_http.problems import ERROR_PROBLEMS
from hellodoctor_http.signalling.hub import Hub, Message


class CloseCode(enum.IntEnum):
    """Every way the server ends a connection. 4xxx are this application's codes."""

    NORMAL = 1000  # the other side closed
    MESSAGE_TOO_BIG = 1009  # a message over the size limit
    TRY_AGAIN_LATER = 1013  # the database did not answer
    COMPLETED = 4000  # the doctor completed the consultation
    BAD_MESSAGE = 4400  # not JSON, an unknown type, or fields that do not fit the type
    TICKET_UNKNOWN = 4401  # no ticket, a forged one, or one for another room (strangers)
    TICKET_USED = 4402  # a replayed ticket: tickets are single-use
    TICKET_EXPIRED = 4403  # the ticket's lifetime is over
    NOT_TELEMEDICINE = 4404  # the appointment is an in-person visit
    HEARTBEAT_TIMEOUT = 4408  # nothing (not even a pong) for two heartbeats
    SEAT_TAKEN = 4409  # the seat is held by another connection: at most two participants
    ROOM_CLOSED = 4410  # outside the room's window, or the appointment is not booked
    APPOINTMENT_CANCELLED = 4411  # the appointment was cancelled: its room never opens
    ROOM_NOT_OPEN = 4412  # earlier than the window's start
    TOO_SLOW = 4413  # this client does not read what it is sent
    RATE_LIMITED = 4429  # more messages than the rate limit allows


# Most specific first: the first class the refusal is an instance of names its code.
REFUSALS: tuple[tuple[type[Exception], CloseCode], ...] = (
    (RoomTicketUsed, CloseCode.TICKET_USED),
    (RoomTicketExpired, CloseCode.TICKET_EXPIRED),
    (RoomTicketUnknown, CloseCode.TICKET_UNKNOWN),
    (InvalidValue, CloseCode.TICKET_UNKNOWN),  # a malformed room id in the path
    (NotTelemedicine, CloseCode.NOT_TELEMEDICINE),
    (AppointmentCancelledRoom, CloseCode.APPOINTMENT_CANCELLED),
    (RoomNotOpen, CloseCode.ROOM_NOT_OPEN),
    (RoomClosed, CloseCode.ROOM_CLOSED),
    (BackendUnavailable, CloseCode.TRY_AGAIN_LATER),
)

RELAYED = {"offer": "sdp", "answer": "sdp", "candidate": "candidate"}
SEATS = {Role.DOCTOR: Role.PATIENT, Role.PATIENT: Role.DOCTOR}


def close_code_for(error: Exception) -> CloseCode | None:
    for kind, code in REFUSALS:
        if isinstance(error, kind):
            return code
    return None


@define(frozen=True)
class Limits:
    max_message_bytes: int = 64 * 1024
    messages_per_second: float = 20
    burst: int = 60
    heartbeat_seconds: float = 20
    outgoing_queue: int = 256

    @property
    def silence_timeout(self) -> float:
        return 2 * self.heartbeat_seconds

    @property
    def seat_hold(self) -> float:
        return 3 * self.heartbeat_seconds


class TokenBucket:
    """``burst`` messages at once, then ``rate`` per second."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate, self._burst = rate, float(burst)
        self._tokens, self._at = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


def _valid_relay(message: dict[str, Any]) -> bool:
    kind = message["type"]
    field = RELAYED[kind]
    if set(message) != {"type", field}:
        return False
    value = message[field]
    if field == "sdp":
        return isinstance(value, str) and bool(value)
    return value is None or isinstance(value, dict)  # null: end of candidates


class RoomSocket:
    """``/ws/rooms/{appointment_id}?ticket=...``"""

    def __init__(
        self, consultations: Consultations, hub: Hub, clock: Clock, limits: Limits
    ) -> None:
        self.consultations = consultations
        self.hub = hub
        self.clock = clock
        self.limits = limits

    async def on_websocket(
        self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket, appointment_id: str
    ) -> None:
        await ws.accept()
        ticket = req.get_param("ticket") or ""
        try:
            admission = await asyncio.to_thread(
                self.consultations.admit, ticket, AppointmentId(appointment_id)
            )
        except Exception as error:
            code = close_code_for(error)
            if code is None:
                raise
            await ws.close(code)
            return
        await Participant(self, ws, admission).run()


class Participant:
    def __init__(self, socket: RoomSocket, ws: falcon.asgi.WebSocket, admission: Admission) -> None:
        self._socket = socket
        self._hub = socket.hub
        self._limits = socket.limits
        self._ws = ws
        self._admission = admission
        self._room = admission.appointment_id.value
        self._seat = admission.seat
        self._id = uuid.uuid4().hex
        self._outgoing: asyncio.Queue[Message] = asyncio.Queue(self._limits.outgoing_queue)
        self._ended: asyncio.Future[CloseCode] = asyncio.get_running_loop().create_future()

    def _end(self, code: CloseCode) -> None:
        if not self._ended.done():
            self._ended.set_result(code)

    def _deliver(self, message: Message) -> None:
        try:
            self._outgoing.put_nowait(message)
        except asyncio.QueueFull:
            self._end(CloseCode.TOO_SLOW)

    async def _record(self, presence: Presence) -> None:
        await asyncio.to_thread(self._socket.consultations.record, self._admission, presence)

    async def run(self) -> None:
        hub, room, seat = self._hub, self._room, self._seat.value
        try:
            seated = await hub.claim_seat(room, seat, self._id, self._limits.seat_hold)
        except BackendUnavailable:
            await self._ws.close(CloseCode.TRY_AGAIN_LATER)
            return
        if not seated:
            await self._ws.close(CloseCode.SEAT_TAKEN)
            return
        tasks: list[asyncio.Task[None]] = []
        code = CloseCode.TRY_AGAIN_LATER  # unless the room gets going
        try:
            await hub.join(room, self._id, self._deliver)
            await self._record(Presence.JOINED)
            peer_present = await hub.seat_taken(room, SEATS[self._seat].value)
            await self._ws.send_text(
                _dump(
                    {
                        "type": "welcome",
                        "seat": seat,
                        "peer_present": peer_present,
                        "closes_at": self._admission.closes_at.isoformat(),
                        "heartbeat_seconds": self._limits.heartbeat_seconds,
                        "max_message_bytes": self._limits.max_message_bytes,
                    }
                )
            )
            await hub.publish(room, self._id, {"type": "peer-joined", "seat": seat})
            tasks = [
                asyncio.create_task(self._guard(self._read())),
                asyncio.create_task(self._guard(self._write())),
                asyncio.create_task(self._guard(self._heartbeat())),
                asyncio.create_task(self._guard(self._close_with_the_room())),
            ]
            code = await self._ended
        except BackendUnavailable:
            pass
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._leave()
        if not self._ws.closed:
            with contextlib.suppress(Exception):
                await self._ws.close(code)

    async def _leave(self) -> None:
        hub, room, seat = self._hub, self._room, self._seat.value
        with contextlib.suppress(Exception):
            await hub.leave(room, self._id)
            await hub.release_seat(room, seat, self._id)
            await hub.publish(room, self._id, {"type": "peer-left", "seat": seat})
        with contextlib.suppress(Exception):
            await self._record(Presence.LEFT)

    async def _guard(self, work: Awaitable[CloseCode | None]) -> None:
        """Run one of the connection's tasks; whichever ends first ends the connection."""
        try:
            code = await work
        except (falcon.WebSocketDisconnected, ConnectionError):
            code = CloseCode.NORMAL
        except BackendUnavailable:
            code = CloseCode.TRY_AGAIN_LATER
        self._end(code if code is not None else CloseCode.NORMAL)

    async def _read(self) -> CloseCode:
        bucket = TokenBucket(self._limits.messages_per_second, self._limits.burst)
        while True:
            try:
                text = await asyncio.wait_for(
                    self._ws.receive_text(), timeout=self._limits.silence_timeout
                )
            except TimeoutError:
                return CloseCode.HEARTBEAT_TIMEOUT
            except falcon.WebSocketDisconnected:
                return CloseCode.NORMAL
            except falcon.PayloadTypeError:  # a binary frame
                return CloseCode.BAD_MESSAGE
            if len(text.encode()) > self._limits.max_message_bytes:
                return CloseCode.MESSAGE_TOO_BIG
            if not bucket.take():
                return CloseCode.RATE_LIMITED
            try:
                message = json.loads(text)
            except ValueError:
                return CloseCode.BAD_MESSAGE
            if not isinstance(message, dict) or not isinstance(message.get("type"), str):
                return CloseCode.BAD_MESSAGE
            kind = message["type"]
            if kind == "pong":
                continue
            if kind in RELAYED:
                if not _valid_relay(message):
                    return CloseCode.BAD_MESSAGE
                await self._hub.publish(self._room, self._id, {**message, "from": self._seat.value})
            elif kind == "complete" and set(message) == {"type"}:
                if await self._complete():
                    return CloseCode.COMPLETED
            else:
                return CloseCode.BAD_MESSAGE

    async def _complete(self) -> bool:
        try:
            await asyncio.to_thread(self._socket.consultations.complete, self._admission)
        except DomainError as error:  # the patient asked, or the visit has not started
            slug = next(
                (ERROR_PROBLEMS[k] for k in type(error).__mro__ if k in ERROR_PROBLEMS),
                "bad-request",
            )
            self._deliver({"type": "error", "problem": slug, "detail": str(error)})
            return False
        await self._hub.publish(self._room, self._id, {"type": "completed"})
        await self._ws.send_text(_dump({"type": "completed"}))
        return True

    async def _write(self) -> CloseCode:
        while True:
            message = await self._outgoing.get()
            await self._ws.send_text(_dump(message))
            if message.get("type") == "completed":
                return CloseCode.COMPLETED

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._limits.heartbeat_seconds)
            self._deliver({"type": "ping"})
            await self._hub.refresh_seat(
                self._room, self._seat.value, self._id, self._limits.seat_hold
            )

    async def _close_with_the_room(self) -> CloseCode:
        left = (self._admission.closes_at - self._socket.clock.now()).total_seconds()
        await asyncio.sleep(max(left, 0))
        return CloseCode.ROOM_CLOSED


def _dump(message: Message) -> str:
    return json.dumps(message, separators=(",", ":"))
