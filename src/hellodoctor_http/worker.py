"""``hellodoctor worker``: the background work of payments, in a loop.

Each pass expires lapsed holds and abandons their open payments (wallet parts released,
intents cancelled at the gateway), resends refunds the gateway has not accepted yet, and
relays the storage's outbox and repairs its wallets when the storage has those (MongoDB,
which writes a unit of work as several atomic writes). Every step is a compare-and-set use case
(``Scheduling.expire_holds``, ``Billing.settle_refunds``) or an idempotent relay, so any number
of workers may run at once on one database: what another worker changed first is skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from attrs import define

from hellodoctor_domain.errors import PortError
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.billing import Billing
from hellodoctor_domain.use_cases.scheduling import Scheduling

_log = logging.getLogger("hellodoctor.worker")

Relay = Callable[[], int]


@define(frozen=True)
class WorkerPass:
    """What one pass did."""

    expired: int
    refunds_checked: int
    relayed: int
    repaired: int = 0


def outbox_relay(storage: UnitOfWorkFactory) -> Relay | None:
    """The storage's outbox relay, when it has one (``relay_outbox() -> int``)."""
    relay = getattr(storage, "relay_outbox", None)
    return relay if callable(relay) else None


def wallet_repair(storage: UnitOfWorkFactory) -> Relay | None:
    """The storage's crash repair of wallets, when it has one (``repair_wallets() -> int``)."""
    repair = getattr(storage, "repair_wallets", None)
    return repair if callable(repair) else None


def run_once(
    scheduling: Scheduling,
    billing: Billing,
    relay: Relay | None = None,
    *,
    repair: Relay | None = None,
    limit: int = 100,
) -> WorkerPass:
    """One pass."""
    # Repairs first: a credit a crash left owing is applied before holds are looked at.
    repaired = repair() if repair is not None else 0
    expired = len(scheduling.expire_holds(limit))
    checked = billing.settle_refunds(limit)
    relayed = relay() if relay is not None else 0
    return WorkerPass(expired, checked, relayed, repaired)


def run_forever(
    scheduling: Scheduling,
    billing: Billing,
    relay: Relay | None,
    *,
    repair: Relay | None = None,
    interval: float,
    stop: threading.Event,
    report: Callable[[WorkerPass], None] = lambda _: None,
) -> None:
    """Pass after pass until ``stop`` is set; a database outage is logged and waited out."""
    while not stop.is_set():
        try:
            report(run_once(scheduling, billing, relay, repair=repair))
        except PortError as error:
            _log.warning("worker pass failed (%s); retrying in %ss", error, interval)
        stop.wait(interval)
