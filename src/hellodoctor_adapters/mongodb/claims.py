"""Claims: how MongoDB itself refuses overlapping appointments, without multi-document
transactions. ``docs/mongodb.md`` tells the same story with pictures; this is the reference.

Cells
    Time is cut into UTC days. For each (scope, owner, day) -- scope ``doctor`` with the
    appointment's ``blocked`` range, scope ``patient`` with its ``time`` -- one document in the
    ``claims`` collection holds a small array ``c`` of entries ``{k, a, v, t, s, e, u}``: entry
    id, appointment id and the version it will have once written, the unit of work that wrote
    it, the exact range in integer microseconds, and a lease expiry. An appointment's range
    is entered, unclipped, in every day it touches, so two overlapping ranges always meet in
    at least one cell, whatever their bounds.

Taking time
    One atomic, conditional upsert per cell::

        update_one({_id: cell, c: {$not: {$elemMatch: {s < end, e > start, a not in exempt}}}},
                   {$push: {c: entry}}, upsert=True)

    MongoDB evaluates the filter and applies the push as one step on one document, so of two
    writers racing for overlapping time in a cell, exactly one push lands; the other matches
    nothing, and its upsert then collides with the cell's unique ``_id`` (a duplicate key):
    refused. A cell nobody has claimed yet is created by the same statement. No Python check
    decides anything. ``exempt`` holds the appointment itself (moving over its own old time is
    fine) and appointments the same unit of work is ending.

    ``claim_all`` sends every cell an appointment needs (the doctor's, then the patient's, each
    by day; nearly always one each) as one *ordered* bulk command: one round trip when nothing
    is in the way. Each statement is still its own atomic single-document write, and the bulk
    stops at the first refusal, so what landed is a prefix of the fixed order; from the refused
    cell on, cells are claimed one at a time, judging what is in the way. Every writer taking
    cells in one order means two can never each hold what the other waits for.

Which document is the truth
    An entry only *proposes* that time is taken. It is **live** when the appointment document
    it names is active and occupies exactly that range in that scope. The appointment document
    is written after its claims (see ``uow.py``), so an entry whose document does not match
    is one of:

    * **superseded** -- the document's version is already at or past the version the entry was
      made for (``v``): its writer committed and the appointment moved on, or its writer lost
      the compare-and-set for that version and never will. Released at once.
    * **in flight** -- its lease (30 seconds by default) has not run out: its writer may still
      be working, so the time is treated as taken; the contender waits briefly, then answers
      ``SlotUnavailable``.
    * **orphaned** -- its lease ran out and its version was never written.

Orphans, and crash recovery
    A writer that dies between pushing its claims and writing the appointment (or between
    writing it and pruning claims it no longer needs) leaves entries no document matches. They
    are found lazily, by the next writer whose conditional push they block: it reads the
    blocking entry's appointment and, once the entry's lease has run out, releases it in two
    steps:

    1. *fence* the owner so that a writer that is merely slow can never make the entry
       authoritative afterwards: bump the appointment's ``version`` (its pending
       compare-and-set then fails with ``ConcurrencyError``), or, when the appointment was
       never written, insert a revoked tombstone under its id (its pending insert then fails);
    2. ``$pull`` the entry, and try the push again.

    If the fence loses a race (the document changed meanwhile), the entry is judged again.
    Orphans nobody bumps into are harmless (they block nothing anyone wants); ``sweep``, run
    by a housekeeping job, releases them too.
    So a crash never blocks time for longer than the lease, which the factory keeps shorter
    than any hold's expiry, and a slow writer can never make two live entries overlap.
"""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from attrs import define
from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from hellodoctor_adapters.mongodb.documents import Document, floor_ms
from hellodoctor_domain.errors import SlotUnavailable
from hellodoctor_domain.model.appointment import ACTIVE_STATUSES

DAY_US = 86_400 * 1_000_000
_ACTIVE = frozenset(status.value for status in ACTIVE_STATUSES)
# Tries at one cell before giving up: each failed try either released an orphan or waited for
# an in-flight writer, so running out means heavy contention, and "taken" is the safe answer.
_MAX_TRIES = 50


class Scope(enum.StrEnum):
    DOCTOR = "doctor"
    PATIENT = "patient"


@define(frozen=True)
class Claim:
    """One entry this unit of work pushed: enough to pull it again."""

    cell: str
    key: str


@define(frozen=True)
class Wanted:
    """A range an appointment needs in one scope (microseconds, end exclusive)."""

    scope: Scope
    owner: str
    start_us: int
    end_us: int


class _Verdict(enum.Enum):
    LIVE = "live"
    IN_FLIGHT = "in flight"
    RELEASED = "released"
    CHANGED = "changed"


def cells(scope: Scope, owner: str, start_us: int, end_us: int) -> list[str]:
    """Every cell a range touches, in a fixed order (so racing writers meet in the same order)."""
    return [
        f"{scope}|{owner}|{day}" for day in range(start_us // DAY_US, (end_us - 1) // DAY_US + 1)
    ]


def occupied(scope: Scope, appointment: Document | None) -> tuple[str, int, int] | None:
    """Owner and exact range the stored appointment occupies in ``scope`` (``None``: nothing)."""
    if appointment is None or appointment.get("status") not in _ACTIVE:
        return None
    start = appointment["time"]["start_us"]
    if scope is Scope.DOCTOR:
        return appointment["doctor_id"], start, appointment["blocked_end_us"]
    return appointment["patient_id"], start, appointment["time"]["end_us"]


def _push(cell: str, entry: Document, ignore: list[str]) -> tuple[Document, Document]:
    """Filter and update of the conditional upsert that enters ``entry`` in ``cell`` unless an
    entry of another appointment (not in ``ignore``) overlaps it there."""
    overlapping = {"s": {"$lt": entry["e"]}, "e": {"$gt": entry["s"]}, "a": {"$nin": ignore}}
    return {"_id": cell, "c": {"$not": {"$elemMatch": overlapping}}}, {"$push": {"c": entry}}


class ClaimBook:
    def __init__(
        self,
        claims: Collection[Document],
        appointments: Collection[Document],
        lease: timedelta,
        clock: Callable[[], datetime],
        wait_for_in_flight: timedelta,
    ) -> None:
        self._claims = claims
        self._appointments = appointments
        self._lease = lease
        self._clock = clock
        self._patience = wait_for_in_flight.total_seconds()

    def claim_all(
        self,
        wanted: Sequence[Wanted],
        appointment_id: str,
        *,
        version: int,
        token: str,
        exempt: Iterable[str],
    ) -> list[Claim]:
        """Enter every wanted range in every cell it touches, or raise ``SlotUnavailable``
        having entered none. The cells go in one fixed order (``wanted``'s: the doctor's, then
        the patient's; each by day) as one *ordered* bulk command of conditional upserts: it
        stops at the first refusal, so whatever landed is a prefix of that order. From the
        refused cell on, they are claimed one at a time, judging what is in the way
        (``_claim_cell``). Every writer taking cells in one order means none can hold a cell
        another waits for while waiting for one that other holds."""
        ignore = sorted({appointment_id, *exempt})
        planned = [
            (want, cell, self._entry(appointment_id, want.start_us, want.end_us, version, token))
            for want in wanted
            for cell in cells(want.scope, want.owner, want.start_us, want.end_us)
        ]
        if not planned:
            return []
        try:
            self._claims.bulk_write(
                [UpdateOne(*_push(cell, entry, ignore), upsert=True) for _, cell, entry in planned],
                ordered=True,
            )
            return [Claim(cell, entry["k"]) for _, cell, entry in planned]
        except BulkWriteError as error:
            problems = error.details.get("writeErrors", [])
            if (
                error.details.get("writeConcernErrors")
                or len(problems) != 1
                or problems[0].get("code") != 11000
            ):
                self.release(Claim(cell, entry["k"]) for _, cell, entry in planned)
                raise
            stop = problems[0]["index"]  # refused; the ones before it landed, none after ran
        except BaseException:
            # Which statements landed is unknown: take back every entry this call may have
            # made (pulling one that is not there changes nothing).
            self.release(Claim(cell, entry["k"]) for _, cell, entry in planned)
            raise
        made = [Claim(cell, entry["k"]) for _, cell, entry in planned[:stop]]
        try:
            for index in range(stop, len(planned)):
                want, cell, _ = planned[index]
                made.append(
                    self._claim_cell(
                        want.scope,
                        want.owner,
                        cell,
                        appointment_id,
                        want.start_us,
                        want.end_us,
                        version,
                        token,
                        ignore,
                        refused=index == stop,
                    )
                )
        except BaseException:
            self.release(made)
            raise
        return made

    def _entry(
        self, appointment_id: str, start_us: int, end_us: int, version: int, token: str
    ) -> Document:
        return {
            "k": uuid.uuid4().hex,
            "a": appointment_id,
            "v": version,
            "t": token,
            "s": start_us,
            "e": end_us,
            "u": floor_ms(self._clock() + self._lease),
        }

    def _claim_cell(
        self,
        scope: Scope,
        owner: str,
        cell: str,
        appointment_id: str,
        start_us: int,
        end_us: int,
        version: int,
        token: str,
        ignore: list[str],
        *,
        refused: bool = False,
    ) -> Claim:
        """Enter the range in one cell, judging whatever overlaps it there; ``refused``: the
        conditional upsert was just refused, so start by judging. While a blocker is in flight
        the writer waits by reading the cell again, not by writing."""
        entry = self._entry(appointment_id, start_us, end_us, version, token)
        condition, push = _push(cell, entry, ignore)
        give_up_at = time.monotonic() + self._patience
        pause = 0.002
        for _ in range(_MAX_TRIES):
            if not refused:
                try:
                    self._claims.update_one(condition, push, upsert=True)
                    return Claim(cell, entry["k"])  # pushed, or the cell created with it
                except DuplicateKeyError:
                    pass  # the cell exists and holds an overlapping entry: judge it
            refused = False
            found = self._claims.find_one({"_id": cell})
            if found is None:
                continue  # gone meanwhile (emptied by a test's truncate): push again
            verdicts = {
                self._judge(scope, owner, cell, other, token)
                for other in found["c"]
                if other["s"] < end_us and other["e"] > start_us and other["a"] not in ignore
            }
            if _Verdict.LIVE in verdicts:
                raise SlotUnavailable(f"{scope} {owner} is already booked at that time")
            if _Verdict.IN_FLIGHT in verdicts:
                if time.monotonic() >= give_up_at:
                    raise SlotUnavailable(f"{scope} {owner} is being booked at that time")
                time.sleep(pause)
                pause = min(pause * 2, 0.05)
                refused = True  # nothing released: look again before pushing again
        raise SlotUnavailable(f"{scope} {owner}: too much contention for that time")

    def _judge(self, scope: Scope, owner: str, cell: str, entry: Document, token: str) -> _Verdict:
        if entry.get("t") == token:
            return _Verdict.LIVE  # this unit of work's own earlier claim
        appointment = self._appointments.find_one({"_id": entry["a"]})
        if occupied(scope, appointment) == (owner, entry["s"], entry["e"]):
            return _Verdict.LIVE
        if appointment is not None and (
            "_revoked" in appointment or entry["v"] <= appointment["version"]
        ):
            pass  # superseded: the version it was made for is written, or can never be
        elif entry["u"] > self._clock():
            return _Verdict.IN_FLIGHT
        elif appointment is None:  # orphaned: fence the owner first, then release
            try:
                self._appointments.insert_one(
                    {"_id": entry["a"], "_revoked": floor_ms(self._clock())}
                )
            except DuplicateKeyError:
                return _Verdict.CHANGED
        else:
            fenced = self._appointments.update_one(
                {"_id": entry["a"], "version": appointment["version"]}, {"$inc": {"version": 1}}
            )
            if not fenced.modified_count:
                return _Verdict.CHANGED
        self._claims.update_one({"_id": cell}, {"$pull": {"c": {"k": entry["k"]}}})
        return _Verdict.RELEASED

    def sweep(self, limit: int = 100) -> int:
        """Release orphaned entries nobody has bumped into yet (a housekeeping job; the
        guarantee does not depend on it). Returns how many were released."""
        released = 0
        lapsed = {"c.u": {"$lte": floor_ms(self._clock())}}
        for found in self._claims.find(lapsed).limit(limit):
            scope_name, owner, _day = found["_id"].split("|")
            for entry in found["c"]:
                if entry["u"] <= self._clock():
                    verdict = self._judge(Scope(scope_name), owner, found["_id"], entry, token="")
                    released += verdict is _Verdict.RELEASED
        return released

    def release(self, claims: Iterable[Claim]) -> None:
        by_cell: dict[str, list[str]] = {}
        for claim in claims:
            by_cell.setdefault(claim.cell, []).append(claim.key)
        for cell, keys in by_cell.items():
            self._claims.update_one({"_id": cell}, {"$pull": {"c": {"k": {"$in": keys}}}})

    def prune(
        self,
        cells_to_visit: Iterable[str],
        appointment_id: str,
        version: int,
        keep: tuple[int, int] | None,
    ) -> None:
        """After a commit wrote ``version`` of the appointment: drop its entries that no longer
        match what it occupies (all of them when it occupies nothing). Only entries made for
        this version or earlier ones: a later unit of work may already be claiming new time
        for the next version, and its entries are not ours to judge."""
        condition: Document = {"a": appointment_id, "v": {"$lte": version}}
        if keep is not None:
            condition["$or"] = [{"s": {"$ne": keep[0]}}, {"e": {"$ne": keep[1]}}]
        for cell in sorted(set(cells_to_visit)):
            self._claims.update_one({"_id": cell}, {"$pull": {"c": condition}})
