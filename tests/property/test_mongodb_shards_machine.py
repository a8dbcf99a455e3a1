"""The MongoDB claim protocol across shards (docs/scaling.md): a state machine interleaves
several units of work -- each claiming a doctor's and a patient's time, then committing,
rolling back, or crashing (abandoned after its claims, or after the doctor's claim alone) --
while the clock jumps past the claim lease, on a simulated cluster of three shards
(``mongodb/sharded.py``: every collection spread by a hash of ``_id``, so a doctor's claims, a
patient's claims and the appointment usually sit on different shards). The adapter's own
protocol runs unchanged.

After every step, against a model that knows only what was committed and what was claimed
when: no two active appointments of one doctor (blocked ranges) or of one patient overlap on
any shard; every committed appointment is stored and active; a refusal always has a cause (a
committed appointment in the way, or a claim younger than the lease), so nothing half-claimed
blocks time past its lease; a commit fails only when its claims outlived their lease. And the
machine catches a protocol that skips the patient's claim.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from attrs import define
from hypothesis import HealthCheck, Phase, event, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyFailure, InvalidArgument
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb import appointments as mongodb_appointments
from hellodoctor_adapters.mongodb.claims import Scope, Wanted
from hellodoctor_adapters.mongodb.documents import to_micros
from hellodoctor_adapters.mongodb.sharded import ShardedStore, sharded_factory
from hellodoctor_adapters.mongodb.testing import fresh_database_name, server_url
from hellodoctor_adapters.mongodb.uow import MongoUnitOfWork
from hellodoctor_adapters.testing.fixtures import appointment, doctor, patient
from hellodoctor_domain.errors import BackendUnavailable, ConcurrencyError, SlotUnavailable
from hellodoctor_domain.model.appointment import Appointment, Cancellation
from hellodoctor_domain.model.values import Money, Role, UserId

SHARDS = 3
DOCTORS = ("d0", "d1")
PATIENTS = ("p0", "p1")
FIRST = datetime(2031, 3, 3, 23, 0, tzinfo=UTC)  # 15-minute starts: the later ones cross midnight
STARTS = 6
LEASE = timedelta(seconds=30)
COLLECTIONS = ("appointments", "claims", "outbox")
MONGODB_EXAMPLES = 40
_factories: dict[tuple[tuple[str, str], ...], MongoUnitOfWorkFactory] = {}
_clock: list[datetime] = [FIRST - timedelta(days=1)]


def _shared_factory(keys: dict[str, str]) -> MongoUnitOfWorkFactory:
    """One simulated cluster per choice of shard keys for every example (three databases on
    the test server), emptied of bookings between examples; doctors and patients are written
    once."""
    wanted = tuple(sorted(keys.items()))
    if wanted not in _factories:
        name = fresh_database_name("hellodoctor_shards")
        url = server_url()
        made = sharded_factory(
            [(url, f"{name}_{shard}") for shard in range(SHARDS)],
            keys=keys,
            lease=LEASE,
            wait_for_in_flight=timedelta(0),  # no sleeping: in flight is refused at once
            clock=lambda: _clock[0],
        )
        with made() as uow:
            for key in DOCTORS:
                uow.doctors.add(doctor(key))
            for key in PATIENTS:
                uow.patients.add(patient(key))
            uow.commit()
        _factories[wanted] = made
    return _factories[wanted]


def teardown_module() -> None:
    while _factories:
        made = _factories.popitem()[1]
        assert isinstance(made.store, ShardedStore)
        for shard in made.store.shards:
            made.client.drop_database(shard.name)
        made.close()


def _note(what: str) -> None:
    """A Hypothesis event (shown with --hypothesis-show-statistics); nothing outside a run."""
    with contextlib.suppress(InvalidArgument):
        event(what)


@define
class Claimed:
    """What the model knows of a time claimed and not (yet) committed."""

    visit: Appointment
    at: datetime
    uow: MongoUnitOfWork | None  # None: its writer crashed


def _doctor_time(visit: Appointment) -> tuple[str, datetime, datetime]:
    return visit.doctor_id.value, visit.blocked.start, visit.blocked.end


def _patient_time(visit: Appointment) -> tuple[str, datetime, datetime]:
    return visit.patient_id.value, visit.time.start, visit.time.end


def _meet(first: tuple[str, datetime, datetime], second: tuple[str, datetime, datetime]) -> bool:
    return first[0] == second[0] and first[1] < second[2] and second[1] < first[2]


def _in_the_way(wanted: Appointment, other: Appointment, doctor_only: bool = False) -> bool:
    return _meet(_doctor_time(wanted), _doctor_time(other)) or (
        not doctor_only and _meet(_patient_time(wanted), _patient_time(other))
    )


class CrossShardClaims(RuleBasedStateMachine):
    # Every collection sharded by a hash of _id, as docs/scaling.md says it must be.
    shard_keys: ClassVar[dict[str, str]] = {}

    def __init__(self) -> None:
        super().__init__()
        self.factory = _shared_factory(self.shard_keys)
        store = self.factory.store
        assert isinstance(store, ShardedStore)
        self.store = store
        for shard in store.shards:
            for name in COLLECTIONS:
                shard.get_collection(name).delete_many({})
        _clock[0] += timedelta(days=1)  # past every lease of the previous example
        self.committed: dict[str, Appointment] = {}
        self.claimed: dict[str, Claimed] = {}
        self.made = 0

    def _visit(self, doctor_key: str, patient_key: str, start: int) -> Appointment:
        self.made += 1
        return appointment(
            f"a{self.made}-{_clock[0].timestamp():.0f}",
            FIRST + timedelta(minutes=15 * start),
            30,
            doctor_key=doctor_key,
            patient_key=patient_key,
            buffer_minutes=10,
        )

    def _young(self, claimed: Claimed) -> bool:
        return claimed.at + LEASE > _clock[0]

    def _refusal_has_a_cause(self, visit: Appointment, doctor_only: bool = False) -> None:
        causes = [a for a in self.committed.values() if _in_the_way(visit, a, doctor_only)] + [
            c.visit
            for c in self.claimed.values()
            if self._young(c) and _in_the_way(visit, c.visit, doctor_only)
        ]
        assert causes, f"{visit.id} refused with nothing committed or claimed in its way"
        _note("refused")

    def _took_expired_time(self, visit: Appointment) -> None:
        if any(not self._young(c) and _in_the_way(visit, c.visit) for c in self.claimed.values()):
            _note("took time over claims past their lease")

    def _pick(self, data: st.DataObject, alive: bool) -> str:
        keys = sorted(k for k, c in self.claimed.items() if (c.uow is not None) == alive)
        return data.draw(st.sampled_from(keys))

    # -- rules ---------------------------------------------------------------------------

    @rule(
        doctor_key=st.sampled_from(DOCTORS),
        patient_key=st.sampled_from(PATIENTS),
        start=st.integers(0, STARTS - 1),
    )
    def claim(self, doctor_key: str, patient_key: str, start: int) -> None:
        visit = self._visit(doctor_key, patient_key, start)
        uow = self.factory()
        uow.__enter__()
        try:
            uow.appointments.add(visit)
        except SlotUnavailable:
            uow.__exit__(None, None, None)
            self._refusal_has_a_cause(visit)
            return
        self._took_expired_time(visit)
        self.claimed[visit.id.value] = Claimed(visit, _clock[0], uow)

    @rule(
        doctor_key=st.sampled_from(DOCTORS),
        patient_key=st.sampled_from(PATIENTS),
        start=st.integers(0, STARTS - 1),
    )
    def book(self, doctor_key: str, patient_key: str, start: int) -> None:
        """A whole booking in one step (claims, then commit): the common case."""
        visit = self._visit(doctor_key, patient_key, start)
        try:
            with self.factory() as uow:
                uow.appointments.add(visit)
                uow.commit()
        except SlotUnavailable:
            self._refusal_has_a_cause(visit)
            return
        self._took_expired_time(visit)
        self.committed[visit.id.value] = visit

    @rule(doctor_key=st.sampled_from(DOCTORS), start=st.integers(0, STARTS - 1))
    def crash_after_the_doctor_claim(self, doctor_key: str, start: int) -> None:
        """A writer that dies between its doctor's claim and its patient's."""
        visit = self._visit(doctor_key, PATIENTS[0], start)
        try:
            self.store.claims.claim_all(
                [
                    Wanted(
                        Scope.DOCTOR,
                        doctor_key,
                        to_micros(visit.blocked.start),
                        to_micros(visit.blocked.end),
                    )
                ],
                visit.id.value,
                version=1,
                token=f"crashed-{visit.id.value}",
                exempt=(),
            )
        except SlotUnavailable:
            self._refusal_has_a_cause(visit, doctor_only=True)
            return
        # Only the doctor's time is claimed: the model keeps it as a doctor-only visit.
        self.claimed[visit.id.value] = Claimed(
            appointment(
                visit.id.value,
                visit.time.start,
                30,
                doctor_key=doctor_key,
                patient_key="nobody",
                buffer_minutes=10,
            ),
            _clock[0],
            None,
        )

    @precondition(lambda self: any(c.uow is not None for c in self.claimed.values()))
    @rule(data=st.data())
    def commit(self, data: st.DataObject) -> None:
        key = self._pick(data, alive=True)
        claimed = self.claimed.pop(key)
        assert claimed.uow is not None
        try:
            claimed.uow.commit()
        except (BackendUnavailable, ConcurrencyError):
            # Fenced: only a writer whose claims outlived their lease may be.
            assert not self._young(claimed), f"{key} fenced within its lease"
            _note("a slow writer fenced")
            return
        finally:
            claimed.uow.__exit__(None, None, None)
        self.committed[key] = claimed.visit
        _note("committed after interleaving")

    @precondition(lambda self: any(c.uow is not None for c in self.claimed.values()))
    @rule(data=st.data())
    def roll_back(self, data: st.DataObject) -> None:
        uow = self.claimed.pop(self._pick(data, alive=True)).uow
        assert uow is not None
        uow.__exit__(None, None, None)

    @precondition(lambda self: any(c.uow is not None for c in self.claimed.values()))
    @rule(data=st.data())
    def crash(self, data: st.DataObject) -> None:
        """The writer dies after its claims: no commit, no rollback, claims left behind."""
        self.claimed[self._pick(data, alive=True)].uow = None

    @rule()
    def lease_runs_out(self) -> None:
        """Every claim made so far outlives its lease: a crashed writer's claims block nothing
        any more, and a live writer may be fenced by the next one to need the time."""
        _clock[0] += LEASE + timedelta(seconds=1)

    @precondition(lambda self: bool(self.committed))
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        """A booking ends; its claims must stop blocking (pruned, or released as superseded)."""
        key = data.draw(st.sampled_from(sorted(self.committed)))
        with self.factory() as uow:
            stored = uow.appointments.get(self.committed[key].id)
            stored.cancel(_cancellation())
            uow.appointments.update(stored)
            uow.commit()
        del self.committed[key]

    # -- invariants ----------------------------------------------------------------------

    def _stored_active(self) -> Iterator[dict[str, Any]]:
        for shard in self.store.shards:
            yield from shard.appointments.find({"status": {"$in": ["held", "booked"]}})

    @invariant()
    def nobody_is_double_booked(self) -> None:
        active = list(self._stored_active())
        for index, first in enumerate(active):
            for second in active[index + 1 :]:
                both = (first["_id"], second["_id"])
                start = (first["time"]["start_us"], second["time"]["start_us"])
                if first["doctor_id"] == second["doctor_id"]:
                    assert not (
                        start[0] < second["blocked_end_us"] and start[1] < first["blocked_end_us"]
                    ), f"doctor double-booked: {both}"
                if first["patient_id"] == second["patient_id"]:
                    assert not (
                        start[0] < second["time"]["end_us"] and start[1] < first["time"]["end_us"]
                    ), f"patient double-booked: {both}"

    @invariant()
    def every_commit_is_stored(self) -> None:
        stored = {document["_id"] for document in self._stored_active()}
        assert set(self.committed) <= stored


def _cancellation() -> Cancellation:
    return Cancellation(Role.ADMIN, UserId("admin"), "test", _clock[0], Money(0, "EUR"))


def _examples() -> settings:
    # SecantusDB runs on the test's own cores: as many examples as the other MongoDB machines.
    return settings(max_examples=min(MONGODB_EXAMPLES, settings.default.max_examples))


class TestCrossShardClaims(CrossShardClaims.TestCase):  # type: ignore[misc]
    settings = _examples()


def test_the_machine_catches_a_protocol_that_skips_the_patient_claim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    whole = mongodb_appointments._ranges

    def doctor_only(visit: Appointment) -> Any:
        return [item for item in whole(visit) if item[0] is Scope.DOCTOR]

    monkeypatch.setattr(mongodb_appointments, "_ranges", doctor_only)
    with pytest.raises((AssertionError, FlakyFailure)) as caught:
        run_state_machine_as_test(
            CrossShardClaims,
            settings=settings(
                max_examples=200,
                stateful_step_count=20,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            ),
        )
    assert "patient double-booked" in str(caught.value)


def test_a_slow_writer_is_fenced_and_an_orphan_released_across_shards() -> None:
    """The interleavings the machine reaches only now and then, step by step: a writer whose
    claims outlive their lease loses them to the next booking and its commit is refused; a
    crash after the doctor's claim blocks that doctor only until the lease runs out."""
    machine = CrossShardClaims()
    machine.claim("d0", "p0", 0)  # a slow writer: claimed, not committed
    machine.crash_after_the_doctor_claim("d1", 2)  # dies holding d1's time
    machine.book("d1", "p1", 2)  # refused: d1's time is claimed, within the lease
    assert not machine.committed
    machine.lease_runs_out()
    machine.book("d0", "p1", 0)  # fences the slow writer and takes the time
    machine.book("d1", "p1", 3)  # releases the crashed writer's orphan, takes the time
    assert len(machine.committed) == 2
    (slow,) = machine.claimed.keys() - {k for k, c in machine.claimed.items() if c.uow is None}
    uow = machine.claimed.pop(slow).uow
    assert uow is not None
    with pytest.raises(BackendUnavailable):
        uow.commit()
    uow.__exit__(None, None, None)
    machine.nobody_is_double_booked()
    machine.every_commit_is_stored()
    fenced = sum(
        shard.appointments.count_documents({"_revoked": {"$exists": True}})
        for shard in machine.store.shards
    )
    assert fenced == 2  # one tombstone each: the slow writer's id and the crashed one's


def test_appointments_sharded_by_doctor_would_lose_the_fence() -> None:
    """Why docs/scaling.md shards appointments by _id: sharded by doctor, a fence's tombstone
    (which names no doctor) lands on another shard than the slow writer's insert, _id is unique
    per shard only, so the insert succeeds after its claims were released."""

    class ByDoctor(CrossShardClaims):
        shard_keys: ClassVar[dict[str, str]] = {"appointments": "doctor_id"}

    machine = ByDoctor()
    machine.claim("d1", "p0", 0)  # a slow writer
    machine.lease_runs_out()
    machine.book("d1", "p1", 0)  # fences it (the tombstone goes where no doctor_id hashes)
    (slow,) = machine.claimed
    uow = machine.claimed.pop(slow).uow
    assert uow is not None
    uow.commit()  # not refused: its shard holds no tombstone
    uow.__exit__(None, None, None)
    with pytest.raises(AssertionError, match="doctor double-booked"):
        machine.nobody_is_double_booked()
