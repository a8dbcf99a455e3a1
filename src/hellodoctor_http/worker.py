"""``hellodoctor worker``: the background work of payments and storage, in a loop.

Each pass runs the storage's housekeeping when it offers it (``housekeeping() -> Mapping[str,
int]``, see ``hellodoctor_adapters.registry``: on MongoDB, which writes a unit of work as several
atomic writes, it repairs wallet writes a crash cut short, sweeps stale claims and relays
stranded events), then expires lapsed holds and abandons their open payments (wallet parts
released, intents cancelled at the gateway), resends refunds the gateway has not accepted
yet, relays the outbox (to the broker, or straight to the notification consumer:
``delivery.py``), and deletes uploaded files whose record never committed
(``Documents.sweep_orphans``: only files older than ``HELLODOCTOR_ORPHAN_MINUTES``, so an upload
still committing keeps its file), and last applies the retention policy
(``Retention.run``: delivered events, dead letters, lapsed holds and unverified accounts
past their period, in bounded batches;
docs/retention.md).
Every step is a compare-and-set use case (``Scheduling.expire_holds``,
``Billing.settle_refunds``) or idempotent housekeeping, so any number of workers may run at once
on one database: what another worker changed first is skipped.

Each pass also sweeps lapsed waitlist offers (``Waitlist.sweep_lapsed_offers``: marked
expired, their times offered to the next waiting patient; a compare-and-set use case too).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from attrs import define, field

from hellodoctor_domain.errors import PortError
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.billing import Billing
from hellodoctor_domain.use_cases.delivery import Relay
from hellodoctor_domain.use_cases.documents import Documents
from hellodoctor_domain.use_cases.retention import Retention
from hellodoctor_domain.use_cases.scheduling import Scheduling
from hellodoctor_domain.use_cases.search import DoctorFinder
from hellodoctor_domain.use_cases.waitlist import Waitlist

_log = logging.getLogger("hellodoctor.worker")

Housekeeping = Callable[[], Mapping[str, int]]


@define(frozen=True)
class WorkerPass:
    """What one pass did (``housekeeping``: how many of each thing the storage cleaned up)."""

    expired: int
    refunds_checked: int
    housekeeping: Mapping[str, int] = field(factory=dict)
    orphans_swept: int = 0
    relayed: int = 0  # outbox entries handed on
    free_slots_refreshed: int = 0  # doctors' next free slot summaries recomputed (search)
    retained: int = 0  # items the retention policy deleted (docs/retention.md)
    offers_passed_on: int = 0  # lapsed waitlist offers whose time went to the next patient


def storage_housekeeping(storage: UnitOfWorkFactory) -> Housekeeping | None:
    """The storage's housekeeping, when its factory offers one (``hellodoctor_adapters.registry``
    documents the optional ``housekeeping()`` method)."""
    housekeeping = getattr(storage, "housekeeping", None)
    return housekeeping if callable(housekeeping) else None


def run_once(
    scheduling: Scheduling,
    billing: Billing,
    housekeeping: Housekeeping | None = None,
    *,
    limit: int = 100,
    documents: Documents | None = None,
    relay: Relay | None = None,
    finder: DoctorFinder | None = None,
    retention: Retention | None = None,
    waitlist: Waitlist | None = None,
) -> WorkerPass:
    """One pass."""
    # Housekeeping first: a credit a crash left owing is applied before holds are looked at.
    done = dict(housekeeping()) if housekeeping is not None else {}
    expired = len(scheduling.expire_holds(limit))
    checked = billing.settle_refunds(limit)
    swept = documents.sweep_orphans(limit) if documents is not None else 0
    refreshed = finder.refresh_free_slots(limit) if finder is not None else 0
    passed_on = len(waitlist.sweep_lapsed_offers(limit)) if waitlist is not None else 0
    # Last, so the events of this pass's expiries leave with it.
    relayed = relay.drain(limit) if relay is not None else 0
    retained = retention.run().total if retention is not None else 0
    return WorkerPass(
        expired,
        checked,
        done,
        swept,
        relayed,
        free_slots_refreshed=refreshed,
        retained=retained,
        offers_passed_on=passed_on,
    )


def run_forever(
    scheduling: Scheduling,
    billing: Billing,
    housekeeping: Housekeeping | None,
    *,
    interval: float,
    stop: threading.Event,
    report: Callable[[WorkerPass], None] = lambda _: None,
    documents: Documents | None = None,
    relay: Relay | None = None,
    finder: DoctorFinder | None = None,
    retention: Retention | None = None,
    waitlist: Waitlist | None = None,
) -> None:
    """Pass after pass until ``stop`` is set; a database outage is logged and waited out."""
    while not stop.is_set():
        try:
            report(
                run_once(
                    scheduling,
                    billing,
                    housekeeping,
                    documents=documents,
                    relay=relay,
                    finder=finder,
                    retention=retention,
                    waitlist=waitlist,
                )
            )
        except PortError as error:
            _log.warning("worker pass failed (%s); retrying in %ss", error, interval)
        stop.wait(interval)
