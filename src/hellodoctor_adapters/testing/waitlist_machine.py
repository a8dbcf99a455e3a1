"""The waitlist's rules of the booking state machine (issue 17 item 1), mixed into
``machine.BookingMachine``: patients join doctors' waitlists; freed times (cancelled or
expired visits, the old times of moved ones) are offered; offers are accepted, declined,
left or lapse. The model predicts which entry each offer goes to (the first in join order
whose window matches and whose patient is free), and the machine's no-overlap invariant still
runs after every step; this one adds "each entry in exactly the state the model says, and at
most one live offer per freed time".
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from attrs import define
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule

from hellodoctor_adapters.memory import SequentialIds
from hellodoctor_adapters.testing.fixtures import MONDAY
from hellodoctor_domain import Actor, AppointmentStatus, DoctorId, PatientId, TimeRange
from hellodoctor_domain.errors import HoldExpired, IllegalTransition, InvalidValue
from hellodoctor_domain.model.waitlist import DayPart, WaitlistEntryId, WaitlistStatus
from hellodoctor_domain.use_cases.waitlist import JoinRequest, Waitlist, WaitlistSettings

if TYPE_CHECKING:
    from hellodoctor_adapters.memory import ManualClock
    from hellodoctor_adapters.testing.machine import AppointmentModel, DoctorModel, Model
    from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory

_DAY = timedelta(days=1)


@define
class EntryModel:
    key: str
    patient: str
    doctor: DoctorModel
    first_day: int  # days after MONDAY, the doctor's local calendar
    last_day: int
    window: tuple[int, int]
    joined_at: datetime
    status: WaitlistStatus = WaitlistStatus.WAITING
    offer: str | None = None  # the held appointment's key
    expires: datetime | None = None

    def matches(self, time: TimeRange) -> bool:
        local = time.start + self.doctor.utc_offset
        day = (local - MONDAY) // _DAY
        start = (local - MONDAY - day * _DAY) // timedelta(minutes=1)
        end = start + time.duration // timedelta(minutes=1)
        return self.first_day <= day <= self.last_day and (
            self.window[0] <= start and end <= self.window[1]
        )


class WaitlistRules:
    """Rules over ``self.model`` (``machine.Model``), ``self.clock``, ``self.uow_factory``."""

    model: Model
    clock: ManualClock
    uow_factory: UnitOfWorkFactory

    @property
    def waitlist(self) -> Waitlist:
        made: Waitlist | None = self.__dict__.get("_waitlist")
        if made is None:
            made = Waitlist(
                self.uow_factory,
                self.clock,
                SequentialIds("wl"),
                WaitlistSettings(offer_for=_hold()),
            )
            self.__dict__["_waitlist"] = made
            self.__dict__["_entries"] = []
            self.__dict__["_freed_times"] = []
        return made

    @property
    def entries(self) -> list[EntryModel]:
        self.waitlist  # noqa: B018 - made together
        found: list[EntryModel] = self.__dict__["_entries"]
        return found

    def note_freed(self, doctor: DoctorModel, time: TimeRange) -> None:
        """A moved visit's old time (the booking machine's reschedule rule calls this)."""
        self.waitlist  # noqa: B018
        self.__dict__["_freed_times"].append((doctor, time))

    # -- rules ---------------------------------------------------------------------------

    @rule(
        data=st.data(),
        first=st.integers(0, 3),
        span=st.integers(0, 2),
        part=st.sampled_from([DayPart.MORNING, DayPart.AFTERNOON, DayPart.ANY]),
    )
    def join_waitlist(self, data: st.DataObject, first: int, span: int, part: DayPart) -> None:
        from hellodoctor_adapters.testing.machine import DOCTORS, PATIENTS, _agree, _outcome

        doctor = data.draw(st.sampled_from(DOCTORS), label="doctor")
        patient = data.draw(st.sampled_from(PATIENTS), label="patient")
        now = self.model.now
        today = (now + doctor.utc_offset - MONDAY) // _DAY
        expected = InvalidValue if first + span < today else None
        outcome = _outcome(
            lambda: self.waitlist.join(
                Actor.patient(PatientId(patient)),
                JoinRequest(
                    patient_id=PatientId(patient),
                    doctor_id=DoctorId(doctor.key),
                    first_day=(MONDAY + first * _DAY).date(),
                    last_day=(MONDAY + (first + span) * _DAY).date(),
                    window_start=part.minutes[0],
                    window_end=part.minutes[1],
                ),
            )
        )
        _agree(f"join {doctor.key} {patient}", expected, outcome)
        if expected is None:
            self.entries.append(
                EntryModel(
                    outcome.id.value,
                    patient,
                    doctor,
                    max(first, today),
                    first + span,
                    part.minutes,
                    now,
                )
            )

    def _freed(self) -> list[tuple[DoctorModel, TimeRange]]:
        from hellodoctor_adapters.testing.machine import NOTICE

        freed = [
            (a.doctor, a.time)
            for a in sorted(self.model.appointments.values(), key=lambda a: a.key)
            if a.status in (AppointmentStatus.CANCELLED, AppointmentStatus.EXPIRED)
        ] + list(self.__dict__.get("_freed_times", []))
        # Mostly times still bookable (the interesting case); the rest are refused.
        ahead = [(d, t) for d, t in freed if t.start >= self.model.now + NOTICE]
        waited_for = {e.doctor.key for e in self.entries if e.status is WaitlistStatus.WAITING}
        wanted = [(d, t) for d, t in ahead if d.key in waited_for]
        return wanted or ahead or freed

    @precondition(lambda self: self.entries and self._freed())
    @rule(data=st.data())
    def offer_freed_time(self, data: st.DataObject) -> None:
        freed = self._freed()
        doctor, time = data.draw(st.sampled_from(freed), label="freed time")
        expected = self._first_to_offer(doctor, time)
        offered = self.waitlist.offer_freed(DoctorId(doctor.key), time)
        got = None if offered is None else offered.id.value
        event(f"offer: {'made' if offered else 'none'}")
        assert got == (expected.key if expected else None), (
            f"offer {doctor.key} {time}: the model expected {expected}, got {offered}"
        )
        if expected is None or offered is None:
            return
        from hellodoctor_adapters.testing.machine import AppointmentModel

        assert offered.offered_appointment_id is not None
        key = offered.offered_appointment_id.value
        expected.status, expected.offer = WaitlistStatus.OFFERED, key
        expected.expires = self.model.now + _hold()
        held = AppointmentModel(
            key, doctor, expected.patient, time, AppointmentStatus.HELD, expected.expires
        )
        self.model.appointments[key] = held

    def _first_to_offer(self, doctor: DoctorModel, time: TimeRange) -> EntryModel | None:
        now = self.model.now
        if self.model.rule_violation(doctor, time) is not None:
            return None
        blocked = time.extended(after=doctor.buffer)
        if any(
            a.doctor.key == doctor.key and a.blocks(now) and a.blocked.overlaps(blocked)
            for a in self.model.appointments.values()
        ):
            return None
        waiting = sorted(
            (
                e
                for e in self.entries
                if e.doctor.key == doctor.key and e.status is WaitlistStatus.WAITING
            ),
            key=lambda e: (e.joined_at, e.key),
        )
        for entry in waiting:
            if entry.matches(time) and self.model.take(doctor, entry.patient, time) is None:
                return entry  # take() expired the lapsed holds in the way, as the system
        return None

    def _pick_entry(self, data: st.DataObject) -> EntryModel:
        every = sorted(self.entries, key=lambda e: e.key)
        offered = [e for e in every if e.status is WaitlistStatus.OFFERED]
        if offered and data.draw(st.integers(0, 3), label="prefer offered") > 0:
            every = offered
        return data.draw(st.sampled_from(every), label="entry")

    @precondition(lambda self: self.entries)
    @rule(data=st.data())
    def accept_offer(self, data: st.DataObject) -> None:
        from hellodoctor_adapters.testing.machine import _agree, _outcome

        entry = self._pick_entry(data)
        expected: type[Exception] | None = None
        if entry.status is not WaitlistStatus.OFFERED:
            expected = IllegalTransition
        else:
            hold = self._hold_of(entry)
            if hold.status is AppointmentStatus.BOOKED or (
                hold.status is AppointmentStatus.HELD and not hold.lapsed(self.model.now)
            ):
                entry.status = WaitlistStatus.BOOKED
                if hold.status is AppointmentStatus.HELD and hold.doctor.fee.is_zero:
                    hold.status = AppointmentStatus.BOOKED
            else:
                expected = HoldExpired
                entry.status = WaitlistStatus.EXPIRED
        outcome = _outcome(
            lambda: self.waitlist.accept(
                Actor.patient(PatientId(entry.patient)), WaitlistEntryId(entry.key)
            )
        )
        _agree(f"accept {entry.key}", expected, outcome)

    @precondition(lambda self: self.entries)
    @rule(data=st.data(), leave=st.booleans())
    def decline_or_leave(self, data: st.DataObject, leave: bool) -> None:
        from hellodoctor_adapters.testing.machine import _agree, _outcome

        entry = self._pick_entry(data)
        allowed = (
            (WaitlistStatus.WAITING, WaitlistStatus.OFFERED) if leave else (WaitlistStatus.OFFERED,)
        )
        expected: type[Exception] | None = None
        release: AppointmentModel | None = None
        if entry.status not in allowed:
            expected = IllegalTransition
        elif entry.status is WaitlistStatus.OFFERED:
            hold = self._hold_of(entry)
            if hold.status is AppointmentStatus.BOOKED:
                expected = IllegalTransition  # paid for: a booking, cancelled like any
            elif hold.status is AppointmentStatus.HELD:
                release = hold
        actor = Actor.patient(PatientId(entry.patient))
        key = WaitlistEntryId(entry.key)
        act = self.waitlist.leave if leave else self.waitlist.decline
        outcome = _outcome(lambda: act(actor, key))
        _agree(f"{'leave' if leave else 'decline'} {entry.key}", expected, outcome)
        if expected is None:
            entry.status = WaitlistStatus.LEFT if leave else WaitlistStatus.DECLINED
            if release is not None:
                release.status = AppointmentStatus.CANCELLED

    @rule()
    def lapse_offers(self) -> None:
        now = self.model.now
        lapsed = {
            e.key
            for e in self.entries
            if e.status is WaitlistStatus.OFFERED and e.expires is not None and now >= e.expires
        }
        done = {entry_id.value for entry_id in self.waitlist.lapse_offers(limit=1000)}
        assert done == lapsed, (done, lapsed)
        for entry in self.entries:
            if entry.key in lapsed:
                entry.status = WaitlistStatus.EXPIRED

    def _hold_of(self, entry: EntryModel) -> AppointmentModel:
        assert entry.offer is not None
        found: AppointmentModel = self.model.appointments[entry.offer]
        return found

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def each_entry_in_one_state_and_one_live_offer_per_time(self) -> None:
        if "_waitlist" not in self.__dict__:
            return
        with self.uow_factory() as uow:
            stored = uow.waitlist.search(limit=10_000)
            holds = {
                e.id.value: uow.appointments.get(e.offered_appointment_id)
                for e in stored
                if e.status is WaitlistStatus.OFFERED and e.offered_appointment_id is not None
            }
        assert {e.id.value: e.status for e in stored} == {e.key: e.status for e in self.entries}
        offers = [e.offered_appointment_id for e in stored if e.offered_appointment_id]
        assert len(offers) == len(set(offers)), "one hold offered to two entries"
        now = self.model.now
        live = [h for h in holds.values() if h.blocks_time_at(now)]
        for index, first in enumerate(live):
            for second in live[index + 1 :]:
                assert first.doctor_id != second.doctor_id or not first.blocked.overlaps(
                    second.blocked
                ), f"two live offers of one time: {first} and {second}"


def _hold() -> timedelta:
    from hellodoctor_adapters.testing.machine import HOLD

    return HOLD
