"""The outbox relay: claims stored events, hands them to a transport (RabbitMQ, or the
consumer directly), marks them sent, and retries a failure with backoff until it gives up and
dead-letters it. Admins list dead letters and send one back (``retry``).

Safe as any number of processes on one database: claims are leased atomically
(``ports/outbox.py``). A relay that dies between handing an entry on and marking it leaves the
lease to lapse and the entry is handed on again: delivery is at least once, and the consumer's
inbox makes it one effect.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from attrs import define

from hellodoctor_domain.errors import AccessDenied, NotFound, PortError
from hellodoctor_domain.model.values import Actor, Role
from hellodoctor_domain.ports.outbox import DeadLetter, OutboxDelivery, Transport
from hellodoctor_domain.ports.runtime import Clock

_log = logging.getLogger(__name__)


@define(frozen=True)
class RetryPolicy:
    """Exponential backoff: ``first_delay`` after the first failure, doubled each time up to
    ``longest_delay``; dead after ``max_attempts`` failures."""

    first_delay: timedelta = timedelta(seconds=10)
    longest_delay: timedelta = timedelta(hours=1)
    max_attempts: int = 10

    def next_try(self, failures: int, now: datetime) -> datetime | None:
        """When to try again after ``failures`` failed attempts, or None: give up."""
        if failures >= self.max_attempts:
            return None
        delay: timedelta = self.first_delay * 2 ** (failures - 1)
        return now + min(delay, self.longest_delay)


@define(frozen=True)
class RelayPass:
    claimed: int
    sent: int
    failed: int  # to be retried
    dead: int


class Relay:
    def __init__(
        self,
        delivery: OutboxDelivery,
        transport: Transport,
        clock: Clock,
        *,
        policy: RetryPolicy | None = None,
        lease: timedelta = timedelta(minutes=2),
    ) -> None:
        self._delivery = delivery
        self._transport = transport
        self._clock = clock
        self.policy = policy or RetryPolicy()
        # Longer than a batch takes to hand on, or another relay would take it over midway.
        self._lease = lease

    def run_once(self, limit: int = 100) -> RelayPass:
        """One batch: claim up to ``limit`` due entries, hand them on, record the outcome."""
        entries = self._delivery.claim(self._clock.now(), self._lease, limit)
        if not entries:
            return RelayPass(0, 0, 0, 0)
        try:
            failures = dict(self._transport.send(entries))
        except PortError as error:
            _log.warning("relay: the transport is unavailable (%s)", error)
            failures = {entry.id: str(error) for entry in entries}
        now = self._clock.now()
        sent = [entry.id for entry in entries if entry.id not in failures]
        self._delivery.mark_sent(sent, now)
        dead = 0
        for entry in entries:
            if entry.id in failures:
                retry_at = self.policy.next_try(entry.attempts + 1, now)
                dead += retry_at is None
                self._delivery.mark_failed(entry.id, now, failures[entry.id], retry_at)
        return RelayPass(len(entries), len(sent), len(failures) - dead, dead)

    def drain(self, limit: int = 100) -> int:
        """Pass after pass until nothing is due; how many entries were sent."""
        total = 0
        while (done := self.run_once(limit)).claimed:
            total += done.sent
        return total

    def dead_letters(self, actor: Actor, limit: int = 100) -> Sequence[DeadLetter]:
        _require_admin(actor)
        return self._delivery.dead_letters(limit)

    def retry(self, actor: Actor, entry_id: str) -> None:
        """Send a dead letter again (after its cause was fixed): it is due at once."""
        _require_admin(actor)
        if not self._delivery.retry(entry_id, self._clock.now()):
            raise NotFound(f"no dead letter {entry_id}")


def _require_admin(actor: Actor) -> None:
    if actor.role is not Role.ADMIN:
        raise AccessDenied("only an admin may see or retry dead letters")
