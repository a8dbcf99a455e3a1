"""Use cases of the waitlist (issue 17 item 1): join, leave, see, accept, decline; and the
offering of freed time.

Offering happens in the outbox consumer, not in the request that frees the time: the
cancellation (or expiry, or move) commits alone and stays as fast as before; its event
(``AppointmentCancelled``, ``AppointmentHoldExpired``, ``AppointmentRescheduled``'s previous
time) reaches ``WaitlistOfferer.handle``, which calls ``Waitlist.offer_freed``. That call is
one unit of work: the entry's conditional move ``waiting -> offered`` (compare-and-set on its
version) and the insert of the held appointment under the storages' no-overlap rule. So

* a time is offered to at most one patient (the hold occupies it: a second offer, a
  redelivered event, a booking racing in, all meet ``SlotUnavailable``);
* an entry is offered at most one time (two freed times racing for the same first waiting
  entry: one compare-and-set wins, the other rolls back, its hold never written, and tries
  the next entry);
* a redelivered event offers nothing twice, with no inbox needed.

A declined or lapsed offer releases its hold by cancelling or expiring it, whose event offers
the time to the next waiting patient the same way.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from attrs import define

from hellodoctor_domain.errors import (
    AccessDenied,
    BookingRuleViolation,
    ConcurrencyError,
    HoldExpired,
    IllegalTransition,
    InvalidValue,
    NotFound,
    SlotUnavailable,
)
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus, Cancellation
from hellodoctor_domain.model.events import (
    AppointmentCancelled,
    AppointmentHoldExpired,
    AppointmentRescheduled,
    DomainEvent,
)
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    AppointmentType,
    DoctorId,
    Money,
    PatientId,
    Role,
    TimeRange,
    time_zone,
    utc,
)
from hellodoctor_domain.model.waitlist import (
    AppointmentOffered,
    WaitlistEntry,
    WaitlistEntryId,
    WaitlistStatus,
)
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.retry import retrying


@define(frozen=True)
class WaitlistSettings:
    # How long an offered time is held for the patient (HELLODOCTOR_WAITLIST_OFFER_MINUTES).
    offer_for: timedelta = timedelta(minutes=15)
    retries_on_concurrency: int = 3


@define(frozen=True, kw_only=True)
class JoinRequest:
    patient_id: PatientId
    doctor_id: DoctorId
    first_day: date
    last_day: date
    window_start: int  # minutes from local midnight, the doctor's zone
    window_end: int


class Waitlist:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        settings: WaitlistSettings | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self.settings = settings or WaitlistSettings()

    # -- the patient's side --------------------------------------------------------------

    def join(self, actor: Actor, request: JoinRequest) -> WaitlistEntry:
        """Wait for the doctor's time on those days, in that window of the day."""
        if actor.role is Role.PATIENT and actor.patient_id != request.patient_id:
            raise AccessDenied("patients join waitlists for themselves")
        if actor.role is Role.DOCTOR:
            raise AccessDenied("doctors do not join waitlists")
        now = self._clock.now()
        with self._uow() as uow:
            doctor = uow.doctors.get(request.doctor_id)
            uow.patients.get(request.patient_id)  # NotFound for an unknown patient
            today = now.astimezone(time_zone(doctor.time_zone)).date()
            if request.last_day < today:
                raise InvalidValue("the waitlist range is over already")
            entry = WaitlistEntry(
                id=WaitlistEntryId(self._ids.new_id()),
                patient_id=request.patient_id,
                doctor_id=request.doctor_id,
                first_day=max(request.first_day, today),
                last_day=request.last_day,
                window_start=request.window_start,
                window_end=request.window_end,
                joined_at=now,
            )
            uow.waitlist.add(entry)
            uow.commit()
        return entry

    def entry(self, actor: Actor, entry_id: WaitlistEntryId) -> WaitlistEntry:
        """The entry, to its patient, its doctor or an admin; ``NotFound`` to anyone else."""
        with self._uow() as uow:
            return _visible(actor, uow, entry_id)

    def entries(
        self,
        actor: Actor,
        *,
        doctor_id: DoctorId | None = None,
        patient_id: PatientId | None = None,
        statuses: frozenset[WaitlistStatus] | None = None,
        limit: int = 200,
    ) -> list[WaitlistEntry]:
        """Patients see their own entries; a doctor their own waitlist; admins any."""
        if not 1 <= limit <= 200 + 1:
            raise InvalidValue("a page holds 1 to 200 entries")
        if actor.role is Role.PATIENT:
            if patient_id not in (None, actor.patient_id):
                return []
            patient_id = actor.patient_id
        elif actor.role is Role.DOCTOR:
            if doctor_id not in (None, actor.doctor_id):
                raise AccessDenied("doctors see their own waitlist")
            doctor_id = actor.doctor_id
        elif actor.role is not Role.ADMIN:
            raise AccessDenied("only patients, doctors and admins see waitlists")
        with self._uow() as uow:
            return uow.waitlist.search(
                doctor_id=doctor_id, patient_id=patient_id, statuses=statuses, limit=limit
            )

    def leave(self, actor: Actor, entry_id: WaitlistEntryId) -> WaitlistEntry:
        """Stop waiting; an offer not yet accepted is given up (its hold cancelled, which
        offers the time to the next)."""

        def attempt() -> WaitlistEntry:
            with self._uow() as uow:
                entry = _own(actor, uow, entry_id)
                now = self._clock.now()
                if entry.status is WaitlistStatus.OFFERED:
                    self._release(uow, actor, entry, now, "left the waitlist")
                entry.leave(now)
                uow.waitlist.update(entry)
                uow.commit()
                return entry

        return retrying(attempt, retries=self.settings.retries_on_concurrency)

    def accept(self, actor: Actor, entry_id: WaitlistEntryId) -> Appointment:
        """Take the offered time: booked at once when the visit is free, else still held for
        payment through the usual path (``POST /payments`` before the hold lapses). A lapsed
        or released offer is ``HoldExpired`` (and the entry ``expired``)."""

        def attempt() -> tuple[Appointment | None, str]:
            with self._uow() as uow:
                entry = _own(actor, uow, entry_id)
                if entry.status is not WaitlistStatus.OFFERED:
                    raise IllegalTransition(str(entry.id), entry.status, "accepted")
                now = self._clock.now()
                appointment = _offered_hold(uow, entry)
                # Held and not lapsed, or paid for meanwhile: it is the patient's. Anything
                # else (lapsed, released, or never written after a MongoDB crash) has lapsed.
                usable = appointment is not None and (
                    appointment.status is AppointmentStatus.BOOKED
                    or (
                        appointment.status is AppointmentStatus.HELD
                        and not appointment.hold_lapsed(now)
                    )
                )
                if appointment is None or not usable:
                    entry.lapse(now)
                    uow.waitlist.update(entry)
                    uow.commit()
                    return None, f"the offer {entry.id} lapsed"
                entry.accept(now)
                if appointment.status is AppointmentStatus.HELD and appointment.price.is_zero:
                    appointment.confirm(now)
                    uow.appointments.update(appointment)
                uow.waitlist.update(entry)
                uow.commit()
                return appointment, ""

        appointment, lapsed = retrying(attempt, retries=self.settings.retries_on_concurrency)
        if appointment is None:
            raise HoldExpired(lapsed)
        return appointment

    def decline(self, actor: Actor, entry_id: WaitlistEntryId) -> WaitlistEntry:
        """Refuse the offered time: its hold is cancelled, which offers it to the next."""

        def attempt() -> WaitlistEntry:
            with self._uow() as uow:
                entry = _own(actor, uow, entry_id)
                if entry.status is not WaitlistStatus.OFFERED:
                    raise IllegalTransition(str(entry.id), entry.status, "declined")
                now = self._clock.now()
                self._release(uow, actor, entry, now, "waitlist offer declined")
                entry.decline(now)
                uow.waitlist.update(entry)
                uow.commit()
                return entry

        return retrying(attempt, retries=self.settings.retries_on_concurrency)

    # -- offering ------------------------------------------------------------------------

    def offer_freed(self, doctor_id: DoctorId, time: TimeRange) -> WaitlistEntry | None:
        """Offer ``time`` of the doctor to the first waiting entry it matches whose patient
        is free then, as a hold; the entry offered, or None (the time is not free or not
        bookable any more, or nobody waits for it). Safe to call again and concurrently."""
        skipped: set[WaitlistEntryId] = set()
        conflicts = 0
        while True:
            try:
                offered = self._offer_once(doctor_id, time, skipped)
            except ConcurrencyError:
                conflicts += 1  # the entry moved under us: read again
                if conflicts > self.settings.retries_on_concurrency:
                    raise
                continue
            if isinstance(offered, WaitlistEntryId):
                skipped.add(offered)  # that patient is busy then (or a racer took the time)
                continue
            return offered

    def _offer_once(
        self, doctor_id: DoctorId, time: TimeRange, skipped: set[WaitlistEntryId]
    ) -> WaitlistEntry | WaitlistEntryId | None:
        now = self._clock.now()
        entry: WaitlistEntry | None = None
        try:
            with self._uow() as uow:
                doctor = uow.doctors.get(doctor_id)
                availability = uow.availability.get(doctor_id)
                if availability is None or not doctor.accepting_bookings:
                    return None
                try:
                    availability.check_bookable(time, now)
                except BookingRuleViolation:
                    return None
                blocked = time.extended(after=availability.buffer)
                if any(
                    a.blocks_time_at(now) for a in uow.appointments.for_doctor(doctor_id, blocked)
                ):
                    return None
                entry = next(
                    (
                        each
                        for each in uow.waitlist.waiting_for(doctor_id)
                        if each.id not in skipped and each.matches(time, doctor.time_zone)
                    ),
                    None,
                )
                if entry is None:
                    return None
                expires = now + self.settings.offer_for
                appointment = Appointment(
                    id=AppointmentId(self._ids.new_id()),
                    doctor_id=doctor_id,
                    patient_id=entry.patient_id,
                    time=time,
                    price=doctor.consultation_fee,
                    status=AppointmentStatus.HELD,
                    created_at=now,
                    buffer=availability.buffer,
                    reason="offered from the waitlist",
                    hold_expires_at=expires,
                    hospital_id=availability.site_of(time, AppointmentType.IN_PERSON),
                )
                appointment.record(
                    AppointmentOffered(
                        occurred_at=utc(now),
                        appointment_id=appointment.id,
                        doctor_id=doctor_id,
                        patient_id=entry.patient_id,
                        time=time,
                        hold_expires_at=expires,
                        entry_id=entry.id.value,
                    )
                )
                _expire_lapsed_holds_in_the_way(uow, appointment, now)
                entry.offer(appointment.id, time, expires, now)
                # The entry's compare-and-set first: a lost race ends here, nothing held.
                uow.waitlist.update(entry)
                uow.appointments.add(appointment)
                uow.commit()
                return entry
        except SlotUnavailable:
            return None if entry is None else entry.id

    def lapse_offers(self, limit: int = 100) -> list[WaitlistEntryId]:
        """Mark offers whose time ran out ``expired`` (their holds lapse on their own and are
        expired by ``Scheduling.expire_holds``, whose event offers the time to the next)."""
        return [entry.id for entry in self._lapse(limit)]

    def sweep_lapsed_offers(self, limit: int = 100) -> list[WaitlistEntryId]:
        """The worker's pass: mark lapsed offers ``expired`` and offer each one's time to the
        next matching waiting patient (``offer_freed``, which expires the lapsed hold in its
        way in the same unit of work), without waiting for the hold's expiry event. Answers
        the entries offered a time. Idempotent and safe in several processes: each lapse is a
        compare-and-set that one process wins, and the offer is the atomic one of
        ``offer_freed`` (a time offered already is held, so it is offered to nobody else)."""
        offered: list[WaitlistEntryId] = []
        for lapsed in self._lapse(limit):
            assert lapsed.offered_time is not None  # an offer always has its time
            entry = self.offer_freed(lapsed.doctor_id, lapsed.offered_time)
            if entry is not None:
                offered.append(entry.id)
        return offered

    def _lapse(self, limit: int) -> list[WaitlistEntry]:
        now = self._clock.now()
        with self._uow() as uow:
            lapsed = [entry.id for entry in uow.waitlist.lapsed_offers(now, limit)]
        done: list[WaitlistEntry] = []
        for entry_id in lapsed:
            try:
                with self._uow() as uow:
                    entry = uow.waitlist.get(entry_id)
                    if not entry.offer_lapsed(now):
                        continue
                    entry.lapse(now)
                    uow.waitlist.update(entry)
                    uow.commit()
                    done.append(entry)
            except ConcurrencyError:
                continue  # accepted, declined or left meanwhile
        return done

    # -- internals -----------------------------------------------------------------------

    def _release(
        self, uow: UnitOfWork, actor: Actor, entry: WaitlistEntry, now: datetime, reason: str
    ) -> None:
        """Give back an offer's hold (cancelled: its event offers the time to the next). A
        hold paid for meanwhile is a booking: it is cancelled like any, not here."""
        appointment = _offered_hold(uow, entry)
        if appointment is None:
            return  # never written (a MongoDB crash between the entry and its hold)
        if appointment.status is AppointmentStatus.BOOKED:
            raise IllegalTransition(
                str(entry.id), "booked (paid)", "given up: cancel the appointment instead"
            )
        if appointment.status is not AppointmentStatus.HELD:
            return  # already released
        if uow.payments.for_appointment(appointment.id) is not None:
            raise IllegalTransition(str(entry.id), "being paid", "given up")
        appointment.cancel(
            Cancellation(
                by=actor.role,
                user_id=actor.user_id,
                reason=reason,
                at=now,
                refund=Money.zero(appointment.price.currency),
            )
        )
        uow.appointments.update(appointment)


class WaitlistOfferer:
    """The outbox consumer side: each event that frees a doctor's time offers it on."""

    def __init__(self, waitlist: Waitlist) -> None:
        self._waitlist = waitlist

    def handle(self, entry_id: str, event: DomainEvent) -> WaitlistEntry | None:
        """Offer the time ``event`` freed, if it freed one. Idempotent: a redelivered entry
        finds the time held already (or taken) and offers nothing."""
        del entry_id  # no inbox needed: the hold itself makes a second offer impossible
        if isinstance(event, AppointmentHoldExpired):
            self._waitlist.lapse_offers()
        if isinstance(event, AppointmentCancelled | AppointmentHoldExpired):
            return self._waitlist.offer_freed(event.doctor_id, event.time)
        if isinstance(event, AppointmentRescheduled):
            return self._waitlist.offer_freed(event.doctor_id, event.previous_time)
        return None


def _expire_lapsed_holds_in_the_way(
    uow: UnitOfWork, appointment: Appointment, now: datetime
) -> None:
    """As ``Scheduling`` does for a booking: lapsed holds in the way expire in this unit of
    work (a hold that lapsed before the sweep no longer blocks anyone)."""
    in_the_way = [
        *uow.appointments.for_doctor(appointment.doctor_id, appointment.blocked),
        *uow.appointments.for_patient(appointment.patient_id, appointment.time, active_only=True),
    ]
    done: set[AppointmentId] = set()
    for other in in_the_way:
        if other.id in done or not other.hold_lapsed(now):
            continue
        done.add(other.id)
        other.expire(now)
        uow.appointments.update(other)


def _offered_hold(uow: UnitOfWork, entry: WaitlistEntry) -> Appointment | None:
    assert entry.offered_appointment_id is not None
    try:
        return uow.appointments.get(entry.offered_appointment_id)
    except NotFound:
        return None


def _visible(actor: Actor, uow: UnitOfWork, entry_id: WaitlistEntryId) -> WaitlistEntry:
    entry = uow.waitlist.get(entry_id)
    if actor.role is Role.ADMIN:
        return entry
    if actor.role is Role.PATIENT and actor.patient_id == entry.patient_id:
        return entry
    if actor.role is Role.DOCTOR and actor.doctor_id == entry.doctor_id:
        return entry
    raise NotFound(f"no waitlist entry {entry_id}")


def _own(actor: Actor, uow: UnitOfWork, entry_id: WaitlistEntryId) -> WaitlistEntry:
    """The entry, for its patient (an admin may act for them); ``NotFound`` to anyone else."""
    entry = uow.waitlist.get(entry_id)
    if actor.role is Role.ADMIN or (
        actor.role is Role.PATIENT and actor.patient_id == entry.patient_id
    ):
        return entry
    raise NotFound(f"no waitlist entry {entry_id}")


__all__ = ["JoinRequest", "Waitlist", "WaitlistOfferer", "WaitlistSettings"]
