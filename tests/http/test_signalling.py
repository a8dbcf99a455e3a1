"""Video consultation rooms end to end: tickets from the REST API, the signalling server under
uvicorn on a free port, real WebSocket clients (``websockets``). Every wait is on a message or
a close, with a timeout; nothing sleeps."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory, ManualClock, SequentialIds
from hellodoctor_adapters.notify import MaildirNotifier
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_domain import (
    Actor,
    AppointmentStatus,
    AppointmentType,
    BookingRequest,
    DoctorId,
    PatientId,
    UserId,
)
from hellodoctor_http.app import create_app
from hellodoctor_http.bootstrap import Components, bootstrap
from hellodoctor_http.config import Settings
from hellodoctor_http.signalling import CloseCode, Limits, create_signalling_app
from hellodoctor_http.signalling.testing import (
    ANSWER,
    CANDIDATES,
    OFFER,
    ServerThread,
    close_code,
)
from hellodoctor_http.testing import FREE_DOCTOR, NOW, SECRET, Headers, ValidatingClient, seed

# dr-free works 09:00-17:00 New York: 14:00 UTC on the Monday is its first slot.
VISIT = NOW.replace(hour=14)
TURN_SECRET = "coturn-static-auth-secret"
TIMEOUT = 10


@pytest.fixture
def components(tmp_path: Any, clock: ManualClock) -> Components:
    settings = Settings(
        jwt_secret=SECRET,
        bcrypt_cost=4,
        mail_folder=MaildirNotifier(tmp_path / "mail").folder,
        stun_urls=("stun:stun.example.org:3478",),
        turn_urls=("turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"),
        turn_secret=TURN_SECRET,
        turn_ttl_seconds=600,
        signalling_url="wss://rooms.example.org",
        signalling_max_message_bytes=16 * 1024,
        signalling_messages_per_second=10,
        signalling_burst=30,
    )
    built = bootstrap(
        settings,
        storage=InMemoryUnitOfWorkFactory(),
        clock=clock,
        ids=SequentialIds("id"),
        gateway=OfflinePaymentGateway(webhook_secret="unused"),
    )
    seed(built.scheduling)
    return built


def book(components: Components, patient: str, start_minutes: int = 0) -> str:
    actor = Actor.patient(PatientId(patient), UserId(f"acct-{patient}"))
    booked = components.scheduling.book(
        actor,
        BookingRequest(
            doctor_id=DoctorId(FREE_DOCTOR),
            patient_id=PatientId(patient),
            start=VISIT + timedelta(minutes=start_minutes),
            appointment_type=AppointmentType.TELEMEDICINE,
        ),
    )
    return booked.id.value


@pytest.fixture
def rooms(components: Components, clock: ManualClock) -> tuple[str, str]:
    """Telemedicine appointments with dr-free: pat-1's at 14:00 UTC, pat-2's at 14:30; the
    clock at 13:50, when the first room opens."""
    keys = book(components, "pat-1"), book(components, "pat-2", start_minutes=30)
    clock.set(VISIT - timedelta(minutes=10))
    return keys


@pytest.fixture
def room(rooms: tuple[str, str]) -> str:
    return rooms[0]


@pytest.fixture
def other_room(rooms: tuple[str, str]) -> str:
    return rooms[1]


@pytest.fixture
def server(components: Components) -> Iterator[ServerThread]:
    app = create_signalling_app(components, limits=Limits(16 * 1024, 10, 30, 5))
    with ServerThread(app, max_message_bytes=16 * 1024) as running:
        yield running


class Tickets:
    def __init__(self, client: ValidatingClient, server: ServerThread) -> None:
        self.client = client
        self.server = server

    def issue(self, headers: dict[str, str], room: str) -> dict[str, Any]:
        result = self.client.simulate_post(
            f"/api/v1/appointments/{room}/room-ticket", headers=headers
        )
        assert result.status_code == 201, result.text
        return dict(result.json)

    def url(self, headers: dict[str, str], room: str) -> str:
        """Where the ticket says to connect, on the test's server."""
        link = urlsplit(self.issue(headers, room)["url"])
        return f"{self.server.url}{link.path}?{link.query}"


@pytest.fixture
def tickets(components: Components, server: ServerThread) -> Tickets:
    return Tickets(ValidatingClient(create_app(components)), server)


async def receive(ws: ClientConnection, kind: str) -> dict[str, Any]:
    """The next message of type ``kind`` (pings are answered and skipped)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif message["type"] == kind:
                return dict(message)
            elif message["type"] not in ("peer-joined", "peer-left"):
                raise AssertionError(f"expected {kind}, got {message}")


async def refused(url: str) -> int | None:
    async with connect(url) as ws:
        return await close_code(ws, TIMEOUT)


def run(scenario: Any) -> Any:
    return asyncio.run(scenario)


# -- the REST side -------------------------------------------------------------------------


def test_a_ticket_comes_with_the_socket_and_time_limited_turn_credentials(
    tickets: Tickets, room: str, as_patient: Headers, clock: ManualClock
) -> None:
    answer = tickets.issue(as_patient(), room)
    assert answer["url"].startswith(f"wss://rooms.example.org/ws/rooms/{room}?ticket=")
    assert answer["url"].endswith(answer["ticket"])
    assert answer["seat"] == "patient"
    assert answer["room_opens_at"] == "2030-01-07T13:50:00Z"
    assert answer["room_closes_at"] == "2030-01-07T14:45:00Z"
    assert answer["expires_at"] == "2030-01-07T13:51:00Z"
    stun, turn = answer["ice_servers"]
    assert stun == {"urls": ["stun:stun.example.org:3478"]}
    expiry, user = turn["username"].split(":")
    assert (int(expiry), user) == (
        int((clock.now() + timedelta(seconds=600)).timestamp()),
        "acct-pat-1",
    )
    mac = hmac.new(TURN_SECRET.encode(), turn["username"].encode(), hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(mac).decode()


def test_strangers_in_person_visits_and_closed_rooms_get_no_ticket(
    tickets: Tickets,
    components: Components,
    room: str,
    as_patient: Headers,
    as_doctor: Headers,
    clock: ManualClock,
) -> None:
    path = f"/api/v1/appointments/{room}/room-ticket"
    post = tickets.client.simulate_post
    assert post(path, headers=as_patient("pat-2")).json["type"].endswith("/not-found")
    assert post(path, headers=as_doctor()).json["type"].endswith("/not-found")  # dr-fee
    clock.set(VISIT - timedelta(minutes=11))
    assert post(path, headers=as_patient()).json["type"].endswith("/room-not-open")
    clock.set(VISIT + timedelta(minutes=45))
    assert post(path, headers=as_patient()).json["type"].endswith("/room-closed")
    visit = components.scheduling.book(
        Actor.patient(PatientId("pat-2"), UserId("acct-pat-2")),
        BookingRequest(
            doctor_id=DoctorId(FREE_DOCTOR),
            patient_id=PatientId("pat-2"),
            start=VISIT + timedelta(hours=2),
        ),
    )
    clock.set(VISIT + timedelta(hours=2))
    answer = post(f"/api/v1/appointments/{visit.id.value}/room-ticket", headers=as_patient("pat-2"))
    assert (answer.status_code, answer.json["type"].rsplit("/", 1)[1]) == (409, "not-telemedicine")


# -- relaying ------------------------------------------------------------------------------


def test_two_peers_exchange_offer_answer_and_candidates_and_their_attendance_is_kept(
    tickets: Tickets, room: str, as_patient: Headers, as_doctor: Headers
) -> None:
    doctor_url = tickets.url(as_doctor(FREE_DOCTOR), room)
    patient_url = tickets.url(as_patient(), room)

    async def scenario() -> None:
        async with connect(doctor_url) as doctor:
            welcome = await receive(doctor, "welcome")
            assert (welcome["seat"], welcome["peer_present"]) == ("doctor", False)
            async with connect(patient_url) as patient:
                welcome = await receive(patient, "welcome")
                assert (welcome["seat"], welcome["peer_present"]) == ("patient", True)
                assert json.loads(await doctor.recv()) == {"type": "peer-joined", "seat": "patient"}
                await doctor.send(json.dumps({"type": "offer", "sdp": OFFER}))
                assert await receive(patient, "offer") == {
                    "type": "offer",
                    "sdp": OFFER,
                    "from": "doctor",
                }
                await patient.send(json.dumps({"type": "answer", "sdp": ANSWER}))
                assert (await receive(doctor, "answer"))["sdp"] == ANSWER
                for candidate in [*CANDIDATES, None]:
                    await patient.send(json.dumps({"type": "candidate", "candidate": candidate}))
                for candidate in [*CANDIDATES, None]:
                    relayed = await receive(doctor, "candidate")
                    assert relayed == {
                        "type": "candidate",
                        "candidate": candidate,
                        "from": "patient",
                    }
            assert json.loads(await doctor.recv()) == {"type": "peer-left", "seat": "patient"}

    run(scenario())
    tickets.server.stop()  # every handler done, the last "left" recorded
    lines = tickets.client.simulate_get(
        f"/api/v1/appointments/{room}/attendance", headers=as_patient()
    ).json["items"]
    assert [(line["seat"], line["presence"]) for line in lines] == [
        ("doctor", "joined"),
        ("patient", "joined"),
        ("patient", "left"),
        ("doctor", "left"),
    ]


def test_the_doctor_completes_the_consultation_from_the_room(
    tickets: Tickets,
    components: Components,
    room: str,
    as_patient: Headers,
    as_doctor: Headers,
    clock: ManualClock,
) -> None:
    clock.set(VISIT + timedelta(minutes=20))
    doctor_url = tickets.url(as_doctor(FREE_DOCTOR), room)
    patient_url = tickets.url(as_patient(), room)

    async def scenario() -> tuple[int | None, int | None]:
        async with connect(doctor_url) as doctor, connect(patient_url) as patient:
            await receive(doctor, "welcome")
            await receive(patient, "welcome")
            await patient.send(json.dumps({"type": "complete"}))
            error = await receive(patient, "error")
            assert error["problem"] == "access-denied"
            await doctor.send(json.dumps({"type": "complete"}))
            await receive(patient, "completed")
            await receive(doctor, "completed")
            return await close_code(doctor, TIMEOUT), await close_code(patient, TIMEOUT)

    assert run(scenario()) == (CloseCode.COMPLETED, CloseCode.COMPLETED)
    stored = components.scheduling.appointment(Actor.doctor(DoctorId(FREE_DOCTOR)), room_id(room))
    assert stored.status is AppointmentStatus.COMPLETED


def room_id(key: str) -> Any:
    from hellodoctor_domain import AppointmentId

    return AppointmentId(key)


# -- refusals, each with its close code ----------------------------------------------------


def test_a_stranger_without_a_ticket_of_this_room_is_refused(
    tickets: Tickets, room: str, other_room: str, as_patient: Headers, clock: ManualClock
) -> None:
    other = other_room
    clock.set(VISIT + timedelta(minutes=20))
    elsewhere = urlsplit(tickets.issue(as_patient("pat-2"), other)["url"]).query
    base = f"{tickets.server.url}/ws/rooms/{room}"

    async def scenario() -> list[int | None]:
        return [
            await refused(base),
            await refused(f"{base}?ticket=forged-{'x' * 40}"),
            await refused(f"{base}?{elsewhere}"),
        ]

    assert run(scenario()) == [CloseCode.TICKET_UNKNOWN] * 3


def test_a_replayed_ticket_is_refused(tickets: Tickets, room: str, as_patient: Headers) -> None:
    url = tickets.url(as_patient(), room)

    async def scenario() -> int | None:
        async with connect(url) as first:
            await receive(first, "welcome")
        return await refused(url)

    assert run(scenario()) == CloseCode.TICKET_USED


def test_an_expired_ticket_is_refused(
    tickets: Tickets, room: str, as_patient: Headers, clock: ManualClock
) -> None:
    url = tickets.url(as_patient(), room)
    clock.advance(timedelta(seconds=60))
    assert run(refused(url)) == CloseCode.TICKET_EXPIRED


def test_a_third_participant_is_refused(
    tickets: Tickets, room: str, as_patient: Headers, as_doctor: Headers
) -> None:
    urls = [
        tickets.url(as_doctor(FREE_DOCTOR), room),
        tickets.url(as_patient(), room),
        tickets.url(as_patient(), room),  # the patient's second device, or a copied login
    ]

    async def scenario() -> int | None:
        async with connect(urls[0]) as doctor, connect(urls[1]) as patient:
            await receive(doctor, "welcome")
            await receive(patient, "welcome")
            return await refused(urls[2])

    assert run(scenario()) == CloseCode.SEAT_TAKEN


def test_a_cancelled_appointments_room_is_refused(
    tickets: Tickets, components: Components, room: str, as_patient: Headers
) -> None:
    url = tickets.url(as_patient(), room)
    components.scheduling.cancel(Actor.doctor(DoctorId(FREE_DOCTOR)), room_id(room), "unwell")
    assert run(refused(url)) == CloseCode.APPOINTMENT_CANCELLED


def test_a_room_outside_its_window_is_refused(
    tickets: Tickets, room: str, as_patient: Headers, clock: ManualClock
) -> None:
    clock.set(VISIT + timedelta(minutes=44, seconds=30))
    url = tickets.url(as_patient(), room)  # valid for a minute; the room closes in 30 s
    clock.advance(timedelta(seconds=30))
    assert run(refused(url)) == CloseCode.ROOM_CLOSED


def test_oversized_and_malformed_messages_close_the_connection(
    tickets: Tickets, room: str, as_patient: Headers, as_doctor: Headers
) -> None:
    messages: list[str | bytes] = [
        json.dumps({"type": "offer", "sdp": "x" * 17 * 1024}),
        "{not json",
        json.dumps({"type": "offer", "sdp": OFFER, "extra": 1}),
        json.dumps({"type": "shout"}),
        b"\x00binary",
    ]
    # Each message on a fresh connection, alternating seats (a ticket admits once).
    urls = [
        tickets.url(as_patient() if index % 2 else as_doctor(FREE_DOCTOR), room)
        for index in range(len(messages))
    ]

    async def scenario() -> list[int | None]:
        codes = []
        for url, message in zip(urls, messages, strict=True):
            async with connect(url, max_size=None) as ws:
                await receive(ws, "welcome")
                await ws.send(message)
                codes.append(await close_code(ws, TIMEOUT))
        return codes

    assert run(scenario()) == [CloseCode.MESSAGE_TOO_BIG] + [CloseCode.BAD_MESSAGE] * 4


def test_a_flood_is_throttled_without_affecting_another_room(
    tickets: Tickets,
    room: str,
    other_room: str,
    as_patient: Headers,
    as_doctor: Headers,
    clock: ManualClock,
) -> None:
    other = other_room
    clock.set(VISIT + timedelta(minutes=25))  # both rooms open
    flooder = tickets.url(as_patient(), room)
    calm = [tickets.url(as_doctor(FREE_DOCTOR), other), tickets.url(as_patient("pat-2"), other)]

    async def flood() -> int | None:
        async with connect(flooder) as ws:
            await receive(ws, "welcome")
            candidate = json.dumps({"type": "candidate", "candidate": CANDIDATES[0]})
            try:
                for _ in range(500):
                    await ws.send(candidate)
            except ConnectionClosed:
                pass
            return await close_code(ws, TIMEOUT)

    async def conversation() -> list[str]:
        async with connect(calm[0]) as doctor, connect(calm[1]) as patient:
            await receive(doctor, "welcome")
            await receive(patient, "welcome")
            relayed = []
            for candidate in CANDIDATES * 3:
                await doctor.send(json.dumps({"type": "candidate", "candidate": candidate}))
                relayed.append((await receive(patient, "candidate"))["candidate"]["candidate"])
            return relayed

    async def scenario() -> tuple[int | None, list[str]]:
        return await asyncio.gather(flood(), conversation())

    code, relayed = run(scenario())
    assert code == CloseCode.RATE_LIMITED
    assert relayed == [c["candidate"] for c in CANDIDATES * 3]


def test_heartbeats_keep_a_peer_in_and_silence_closes_it(
    components: Components, room: str, as_patient: Headers, as_doctor: Headers
) -> None:
    quick = create_signalling_app(components, limits=Limits(16 * 1024, 10, 30, 0.2))
    with ServerThread(quick) as server:
        tickets = Tickets(ValidatingClient(create_app(components)), server)
        lively, silent = tickets.url(as_patient(), room), tickets.url(as_doctor(FREE_DOCTOR), room)

        async def scenario() -> tuple[int, int | None]:
            async with connect(lively) as ws:
                await receive(ws, "welcome")
                pings = 0
                async with asyncio.timeout(TIMEOUT):
                    while pings < 4:  # four heartbeats answered: still in (two unanswered end it)
                        if json.loads(await ws.recv())["type"] == "ping":
                            pings += 1
                            await ws.send(json.dumps({"type": "pong"}))
                async with connect(silent) as quiet:
                    return pings, await close_code(quiet, TIMEOUT)

        assert run(scenario()) == (4, CloseCode.HEARTBEAT_TIMEOUT)
