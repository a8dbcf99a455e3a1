"""Test doubles of the outside services: a manual clock, sequential ids, and in-memory blobs,
notifications and event publishing."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.events import DomainEvent
from hellodoctor_domain.model.values import utc
from hellodoctor_domain.ports.blobs import BlobInfo, checked_key
from hellodoctor_domain.ports.notifications import Notification


class ManualClock:
    """A clock that moves only when told to; for tests and simulations."""

    def __init__(self, start: datetime) -> None:
        self._now = utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, by: timedelta) -> datetime:
        with self._lock:
            self._now += by
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = utc(moment)


class SequentialIds:
    """Readable, predictable ids (``apt-1``, ``apt-2``...) for tests and demos."""

    def __init__(self, prefix: str = "id") -> None:
        self._prefix = prefix
        self._next = 0
        self._lock = threading.Lock()

    def new_id(self) -> str:
        with self._lock:
            self._next += 1
            return f"{self._prefix}-{self._next}"


class InMemoryEventPublisher:
    """Delivers committed events to subscribers in the publishing thread, and keeps them."""

    def __init__(self) -> None:
        self.published: list[DomainEvent] = []
        self._handlers: defaultdict[type, list[Callable[[DomainEvent], None]]] = defaultdict(list)
        self._lock = threading.Lock()

    def subscribe(
        self, event_type: type[DomainEvent], handler: Callable[[DomainEvent], None]
    ) -> None:
        with self._lock:
            self._handlers[event_type].append(handler)

    def publish(self, events: Sequence[DomainEvent]) -> None:
        with self._lock:
            self.published.extend(events)
            handlers = {kind: list(found) for kind, found in self._handlers.items()}
        for event in events:
            for kind, subscribed in handlers.items():
                if isinstance(event, kind):
                    for handler in subscribed:
                        handler(event)


class InMemoryBlobStorage:
    """Blobs in a dictionary; ``clock`` stamps them (a test's manual clock ages them)."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._lock = threading.Lock()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._blobs: dict[str, tuple[bytes, str, datetime]] = {}

    def put(self, key: str, data: bytes, content_type: str) -> None:
        with self._lock:
            self._blobs[checked_key(key)] = (bytes(data), content_type, self._clock())

    def put_stream(self, key: str, chunks: Iterable[bytes], content_type: str) -> int:
        data = b"".join(chunks)  # an iterator that raises stores nothing
        self.put(key, data, content_type)
        return len(data)

    def get(self, key: str) -> bytes:
        with self._lock:
            try:
                return self._blobs[checked_key(key)][0]
            except KeyError:
                raise NotFound(f"no blob {key!r}") from None

    def open(self, key: str) -> Iterator[bytes]:
        return iter([self.get(key)])

    def exists(self, key: str) -> bool:
        with self._lock:
            return key in self._blobs

    def delete(self, key: str) -> None:
        with self._lock:
            self._blobs.pop(key, None)

    def listing(self, prefix: str) -> Iterator[BlobInfo]:
        with self._lock:
            found = [
                BlobInfo(key, len(data), at)
                for key, (data, _, at) in sorted(self._blobs.items())
                if key.startswith(prefix)
            ]
        return iter(found)

    def download_url(
        self, key: str, *, filename: str, content_type: str, expires_in: timedelta
    ) -> str | None:
        return None  # served through the API, as the filesystem adapter's are


class InMemoryNotifier:
    """Keeps every notification instead of sending it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        with self._lock:
            self.sent.append(notification)
