"""Use cases of scheduling: profiles, availability and the appointment's whole lifecycle --
book, reschedule, confirm, cancel (refunding per policy), expire lapsed holds (abandoning
their payments), complete, no-show.

``Scheduling`` is built once per process with its ports and called per request; every call
opens its own unit of work. The overlap guarantee is never checked here: it is the
repository's (that is, the database's) job, so it also holds between processes. What is
taken in money is ``Billing``'s; the steps where an appointment and its payment move together
are shared with it through ``settlement``.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from attrs import define, evolve, field

from hellodoctor_domain.errors import (
    AccessDenied,
    AlreadyExists,
    ConcurrencyError,
    HoldExpired,
    IdempotencyKeyReused,
    InvalidValue,
    NotAcceptingBookings,
    NotFound,
    SlotUnavailable,
)
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus, Cancellation
from hellodoctor_domain.model.availability import Availability, AvailabilityChanged
from hellodoctor_domain.model.payments import OPEN_STATUSES, Payment, PaymentPurpose
from hellodoctor_domain.model.policy import CancellationPolicy, is_party, require_clinician
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    DoctorId,
    Money,
    PatientId,
    Role,
    TimeRange,
    merged,
    time_zone,
    utc,
)
from hellodoctor_domain.ports.gateway import PaymentGateway
from hellodoctor_domain.ports.payments import PaymentQuery
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.scheduling import AppointmentQuery, DoctorQuery, IdempotencyRecord
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.booking_request import BookingRequest
from hellodoctor_domain.use_cases.hospitals import require_affiliated
from hellodoctor_domain.use_cases.retry import retrying
from hellodoctor_domain.use_cases.settlement import (
    GatewayFollowUp,
    abandon,
    book_paid_hold,
    refund_for_cancellation,
)
from hellodoctor_domain.use_cases.staff import (
    DESK_ROLES,
    desk_hospitals,
    party_or_desk,
    require_desk_of,
    require_desk_site,
)

T = TypeVar("T")

# Staff who book for any patient, only with the doctors of their own hospitals.


@define(frozen=True)
class SchedulingSettings:
    """What a deployment may tune; the defaults are a sensible clinic."""

    hold_for: timedelta = timedelta(minutes=15)
    cancellation_policy: CancellationPolicy = field(factory=CancellationPolicy)
    retries_on_concurrency: int = 3
    longest_slot_listing: timedelta = timedelta(days=31)


@define(frozen=True)
class FreeSlot:
    """A bookable time, with its start and end also shown in the asker's time zone."""

    time: TimeRange
    local_start: datetime
    local_end: datetime


class Scheduling:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        gateway: PaymentGateway,
        settings: SchedulingSettings | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self.settings = settings or SchedulingSettings()
        self._follow_up = GatewayFollowUp(uow, clock, gateway, self.settings.retries_on_concurrency)

    # -- profiles ------------------------------------------------------------------------

    def register_doctor(self, actor: Actor, doctor: Doctor) -> Doctor:
        _require_admin(actor)
        with self._uow() as uow:
            uow.doctors.add(doctor)
            uow.commit()
        return doctor

    def register_patient(self, patient: Patient) -> Patient:
        with self._uow() as uow:
            uow.patients.add(patient)
            uow.commit()
        return patient

    def doctor(self, doctor_id: DoctorId) -> Doctor:
        with self._uow() as uow:
            return uow.doctors.get(doctor_id)

    def set_accepting_bookings(self, actor: Actor, doctor_id: DoctorId, accepting: bool) -> Doctor:
        _require_doctor_or_admin(actor, doctor_id)

        def attempt() -> Doctor:
            with self._uow() as uow:
                doctor = uow.doctors.get(doctor_id)
                changed = evolve(doctor, accepting_bookings=accepting)
                uow.doctors.update(changed)
                uow.commit()
                return changed

        return retrying(attempt, retries=self.settings.retries_on_concurrency)

    # -- availability --------------------------------------------------------------------

    def define_availability(
        self, actor: Actor, availability: Availability, *, if_version: int | None = None
    ) -> Availability:
        """Set (or replace) the doctor's hours and rules. Appointments already made stay as
        they are, even if the new hours no longer cover them.

        ``if_version`` (an HTTP ``If-Match``) refuses the change with ``ConcurrencyError``
        unless the stored availability is still at that version (0: none defined yet). Without
        it the latest definition wins; the storage's compare-and-set still stops two writers
        from interleaving inside one replacement."""
        _require_doctor_or_admin(actor, availability.doctor_id)
        now = self._clock.now()
        with self._uow() as uow:
            doctor = uow.doctors.get(availability.doctor_id)
            if availability.time_zone != doctor.time_zone:
                raise InvalidValue(
                    f"availability is in {availability.time_zone} but the doctor works in "
                    f"{doctor.time_zone}"
                )
            require_affiliated(uow, availability)
            if if_version is None:
                current = uow.availability.get(availability.doctor_id)
                if_version = current.version if current else 0
            replacing = evolve(availability, version=if_version)
            # The free time may have moved: the search's summary is refreshed from this event.
            replacing.record(AvailabilityChanged(occurred_at=now, doctor_id=doctor.id))
            stored = uow.availability.save(replacing)
            uow.commit()
        return stored

    def availability(self, doctor_id: DoctorId) -> Availability:
        with self._uow() as uow:
            found = uow.availability.get(doctor_id)
        if found is None:
            raise NotFound(f"doctor {doctor_id} has no availability")
        return found

    def free_slots(
        self,
        doctor_id: DoctorId,
        period: TimeRange,
        display_zone: str | None = None,
        length: timedelta | None = None,
    ) -> list[FreeSlot]:
        """Bookable visits starting within ``period``: on the grid, inside working hours,
        within notice and horizon, and clear (buffers included) of every active appointment."""
        if period.duration > self.settings.longest_slot_listing:
            raise InvalidValue(f"list at most {self.settings.longest_slot_listing} at a time")
        now = self._clock.now()
        with self._uow() as uow:
            doctor = uow.doctors.get(doctor_id)
            availability = uow.availability.get(doctor_id)
            if availability is None or not doctor.accepting_bookings:
                return []
            # Strictly after now, like check_bookable, even with no minimum notice.
            window_start = max(period.start, now + max(availability.minimum_notice, _TICK))
            window_end = min(period.end, now + availability.booking_horizon + _TICK)
            if window_end <= window_start:
                return []
            bookable = TimeRange(window_start, window_end)
            length = availability.visit_length(length)
            starts = list(availability.grid_starts(bookable, length))
            if not starts:
                return []
            reach = TimeRange(starts[0], starts[-1] + length + availability.buffer)
            # Only the busy ranges: no appointment is built for a listing.
            taken = merged(uow.appointments.busy_times(doctor_id, reach, now))
        zone = time_zone(display_zone or doctor.time_zone)
        # taken is sorted and disjoint: only the first range ending after a visit starts can
        # overlap it (buffer included).
        taken_starts = [busy.start for busy in taken]
        taken_ends = [busy.end for busy in taken]
        blocks = length + availability.buffer
        free = []
        for start in starts:
            index = bisect.bisect_right(taken_ends, start)
            if index == len(taken_ends) or taken_starts[index] >= start + blocks:
                free.append(_free_slot(start, start + length, zone))
        return free

    # -- booking -------------------------------------------------------------------------

    def book(self, actor: Actor, request: BookingRequest) -> Appointment:
        """Take the time: held until paid when the doctor charges a fee, booked when free.

        Raises a ``BookingRuleViolation`` for a time the doctor's rules refuse, and
        ``SlotUnavailable`` (from the storage) when the time is taken.
        """
        if actor.role is Role.PATIENT and actor.patient_id != request.patient_id:
            raise AccessDenied("patients book for themselves")
        if actor.role is Role.DOCTOR and actor.doctor_id != request.doctor_id:
            raise AccessDenied("doctors book into their own calendar")
        if actor.role is Role.INSURER:
            raise AccessDenied("insurers review claims; they do not book visits")
        now = self._clock.now()
        if request.idempotency_key is not None:
            earlier = self._replay(actor, request)
            if earlier is not None:
                return earlier
        appointment_id = AppointmentId(self._ids.new_id())
        try:
            try:
                return self._take(actor, request, appointment_id, now, clear_lapsed_holds=False)
            except SlotUnavailable:
                # Rarely, what is in the way is only holds that lapsed before the expiry
                # sweep. Look for them only now, in a fresh transaction (the refused one may be
                # unusable), so the common path stays a few statements.
                return self._take(actor, request, appointment_id, now, clear_lapsed_holds=True)
        except (SlotUnavailable, AlreadyExists):
            # A concurrent retry with the same key may have won: then its result is ours.
            earlier = self._replay(actor, request) if request.idempotency_key else None
            if earlier is None:
                raise
            return earlier

    def _replay(self, actor: Actor, request: BookingRequest) -> Appointment | None:
        assert request.idempotency_key is not None
        with self._uow() as uow:
            record = uow.idempotency.get(actor.user_id.value, request.idempotency_key)
            if record is None:
                return None
            if record.fingerprint != request.fingerprint():
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used for a different booking request"
                )
            return uow.appointments.get(record.appointment_id)

    def _take(
        self,
        actor: Actor,
        request: BookingRequest,
        appointment_id: AppointmentId,
        now: datetime,
        *,
        clear_lapsed_holds: bool,
    ) -> Appointment:
        with self._uow() as uow:
            desks = (
                require_desk_of(uow, actor, request.doctor_id) if actor.role in DESK_ROLES else []
            )
            # One read for everything the rules need (one query on SQL storage).
            doctor, availability = uow.doctor_and_availability(request.doctor_id)
            if availability is None or not doctor.accepting_bookings:
                raise NotAcceptingBookings(f"doctor {doctor.id} is not taking bookings")
            visit = TimeRange.starting_at(
                utc(request.start), availability.visit_length(request.length)
            )
            availability.check_bookable(visit, now)
            appointment = Appointment.request(
                id=appointment_id,
                doctor_id=doctor.id,
                patient_id=request.patient_id,
                time=visit,
                price=doctor.consultation_fee,
                buffer=availability.buffer,
                now=now,
                hold_for=self.settings.hold_for,
                appointment_type=request.appointment_type,
                visit_kind=request.visit_kind,
                reason=request.reason,
                hospital_id=availability.site_of(visit, request.appointment_type),
            )
            if actor.role in DESK_ROLES:
                require_desk_site(desks, appointment.hospital_id)
            if clear_lapsed_holds and not _expire_lapsed_holds_in_the_way(uow, appointment, now):
                # Only live appointments are in the way: the insert would be refused again.
                raise SlotUnavailable("the time is taken by another active appointment")
            # An unknown patient is refused by the storage (NotFound), like the overlap.
            uow.appointments.add(appointment)
            if request.idempotency_key is not None:
                uow.idempotency.add(
                    IdempotencyRecord(
                        scope=actor.user_id.value,
                        key=request.idempotency_key,
                        fingerprint=request.fingerprint(),
                        appointment_id=appointment.id,
                        created_at=now,
                    )
                )
            uow.commit()
        return appointment

    def confirm(self, appointment_id: AppointmentId) -> Appointment:
        """Payment succeeded: held -> booked. On a lapsed hold, expires it and raises
        ``HoldExpired`` so the caller refunds instead of capturing."""

        def attempt() -> Appointment:
            with self._uow() as uow:
                appointment = uow.appointments.get(appointment_id)
                booked = book_paid_hold(uow, appointment, self._clock.now())
                uow.commit()
                if not booked:
                    raise HoldExpired(f"the hold on {appointment_id} lapsed before payment")
                return appointment

        return retrying(attempt, retries=self.settings.retries_on_concurrency)

    def cancel(self, actor: Actor, appointment_id: AppointmentId, reason: str = "") -> Appointment:
        """Cancel an appointment and give back what the cancellation policy says, capped by what
        was taken, to where it came from (the card first, then the wallet). An open payment is
        abandoned instead (its wallet part released, its intent cancelled). Cancelling again is
        ``IllegalTransition`` and records nothing."""

        def attempt() -> tuple[Appointment, Payment | None]:
            with self._uow() as uow:
                appointment, desk = party_or_desk(actor, uow, appointment_id)
                now = self._clock.now()
                owed = self.settings.cancellation_policy.refund_for(
                    appointment, actor, now, for_the_clinic=desk
                )
                refunded = Money.zero(appointment.price.currency)
                payment = uow.payments.for_appointment(appointment_id)
                if payment is not None:
                    refunded = refund_for_cancellation(uow, payment, owed, now)
                appointment.cancel(
                    Cancellation(
                        by=actor.role, user_id=actor.user_id, reason=reason, at=now, refund=refunded
                    )
                )
                uow.appointments.update(appointment)
                uow.commit()
                return appointment, payment

        appointment, payment = retrying(attempt, retries=self.settings.retries_on_concurrency)
        if payment is not None:
            self._follow_up.after_commit(payment)
        return appointment

    def reschedule(
        self, actor: Actor, appointment_id: AppointmentId, new_start: datetime
    ) -> Appointment:
        """Move an active appointment to ``new_start`` (same length) in one transaction: the
        new time is claimed before the old one is released, and on any refusal nothing
        changes."""

        def attempt() -> Appointment:
            with self._uow() as uow:
                appointment, desk = party_or_desk(actor, uow, appointment_id)
                now = self._clock.now()
                availability = uow.availability.get(appointment.doctor_id)
                doctor = uow.doctors.get(appointment.doctor_id)
                if availability is None or not doctor.accepting_bookings:
                    raise NotAcceptingBookings(f"doctor {doctor.id} is not taking bookings")
                new_time = appointment.time.shifted_to(utc(new_start))
                # State first (cancelled, lapsed, started), then the doctor's rules; a refusal
                # rolls the unit of work back, so the mutated object is simply dropped.
                appointment.reschedule(new_time, now)
                availability.check_bookable(new_time, now)
                appointment.buffer = availability.buffer
                appointment.hospital_id = availability.site_of(
                    new_time, appointment.appointment_type
                )
                if desk:  # the desk moves a visit within its own hospitals' hours
                    require_desk_site(
                        desk_hospitals(uow, actor, appointment.doctor_id), appointment.hospital_id
                    )
                _expire_lapsed_holds_in_the_way(uow, appointment, now)
                uow.appointments.update(appointment)
                uow.commit()
                return appointment

        return retrying(attempt, retries=self.settings.retries_on_concurrency)

    def expire_holds(self, limit: int = 100) -> list[AppointmentId]:
        """Expire lapsed holds and abandon their open payments (wallet part released, intent
        cancelled); also abandon open payments whose appointment was expired or cancelled
        elsewhere (``book`` expires lapsed holds in its way). Safe to run in several workers at
        once: whatever another worker changed first is skipped."""
        now = self._clock.now()
        with self._uow() as uow:
            lapsed = [a.id for a in uow.appointments.lapsed_holds(now, limit)]
            open_payments = [
                p.id
                for p in uow.payments.search(
                    PaymentQuery(
                        statuses=OPEN_STATUSES, purpose=PaymentPurpose.APPOINTMENT, limit=limit
                    )
                )
            ]
        expired: list[AppointmentId] = []
        abandoned: list[Payment] = []
        for appointment_id in lapsed:
            try:
                with self._uow() as uow:
                    appointment = uow.appointments.get(appointment_id)
                    if not appointment.hold_lapsed(now):
                        continue
                    appointment.expire(now)
                    uow.appointments.update(appointment)
                    payment = uow.payments.for_appointment(appointment_id)
                    if payment is not None and payment.status.is_open:
                        abandon(uow, payment, now)
                        uow.payments.update(payment)
                        abandoned.append(payment)
                    uow.commit()
                    expired.append(appointment_id)
            except ConcurrencyError:
                continue
        for payment_id in open_payments:
            try:
                with self._uow() as uow:
                    payment = uow.payments.get(payment_id)
                    assert payment.appointment_id is not None
                    appointment = uow.appointments.get(payment.appointment_id)
                    if not payment.status.is_open or appointment.status not in (
                        AppointmentStatus.CANCELLED,
                        AppointmentStatus.EXPIRED,
                    ):
                        continue
                    abandon(uow, payment, now)
                    uow.payments.update(payment)
                    uow.commit()
                    abandoned.append(payment)
            except ConcurrencyError:
                continue
        for payment in abandoned:
            self._follow_up.after_commit(payment)
        return expired

    def complete(self, actor: Actor, appointment_id: AppointmentId) -> Appointment:
        return self._record_outcome(actor, appointment_id, Appointment.complete)

    def mark_no_show(self, actor: Actor, appointment_id: AppointmentId) -> Appointment:
        return self._record_outcome(actor, appointment_id, Appointment.mark_no_show)

    # -- reading -------------------------------------------------------------------------

    def appointment(self, actor: Actor, appointment_id: AppointmentId) -> Appointment:
        """The appointment, if ``actor`` is a party to it; otherwise ``NotFound``."""
        with self._uow() as uow:
            return _party_to(actor, uow, appointment_id)

    def find_doctors(self, query: DoctorQuery) -> list[Doctor]:
        """Public doctor directory, filtered, one page at a time."""
        # A page of up to 100, and one more to tell whether another page follows.
        if not 1 <= query.limit <= 100 + 1:
            raise InvalidValue("a page holds 1 to 100 doctors")
        with self._uow() as uow:
            return list(uow.doctors.search(query))

    def list_appointments(self, actor: Actor, query: AppointmentQuery) -> list[Appointment]:
        """One page of appointments: patients see their own, doctors their calendar, admins
        everything. A filter naming someone else's profile simply finds nothing."""
        # A page of up to 200, and one more to tell whether another page follows.
        if not 1 <= query.limit <= 200 + 1:
            raise InvalidValue("a page holds 1 to 200 appointments")
        if actor.role is Role.PATIENT:
            if query.patient_id not in (None, actor.patient_id):
                return []
            query = evolve(query, patient_id=actor.patient_id)
        elif actor.role is Role.DOCTOR:
            if query.doctor_id not in (None, actor.doctor_id):
                return []
            query = evolve(query, doctor_id=actor.doctor_id)
        with self._uow() as uow:
            return uow.appointments.search(query)

    def patient_appointments(
        self, actor: Actor, patient_id: PatientId, period: TimeRange | None = None
    ) -> list[Appointment]:
        if actor.role is Role.PATIENT and actor.patient_id != patient_id:
            raise NotFound(f"no patient {patient_id}")
        if actor.role is Role.DOCTOR:
            raise AccessDenied("doctors see appointments through their own calendar")
        with self._uow() as uow:
            return uow.appointments.for_patient(patient_id, period)

    def doctor_appointments(
        self, actor: Actor, doctor_id: DoctorId, period: TimeRange
    ) -> list[Appointment]:
        _require_doctor_or_admin(actor, doctor_id)
        with self._uow() as uow:
            return uow.appointments.for_doctor(doctor_id, period, active_only=False)

    # -- internals -----------------------------------------------------------------------

    def _record_outcome(
        self,
        actor: Actor,
        appointment_id: AppointmentId,
        transition: Callable[[Appointment, datetime], None],
    ) -> Appointment:
        def attempt() -> Appointment:
            with self._uow() as uow:
                appointment = _party_to(actor, uow, appointment_id)
                require_clinician(actor, appointment)
                transition(appointment, self._clock.now())
                uow.appointments.update(appointment)
                uow.commit()
                return appointment

        return retrying(attempt, retries=self.settings.retries_on_concurrency)


_TICK = timedelta(microseconds=1)


def _free_slot(start: datetime, end: datetime, zone: ZoneInfo) -> FreeSlot:
    return FreeSlot(TimeRange(start, end), start.astimezone(zone), end.astimezone(zone))


def _expire_lapsed_holds_in_the_way(
    uow: UnitOfWork, appointment: Appointment, now: datetime
) -> bool:
    """A lapsed hold frees its time even before the expiry worker runs: move every lapsed hold
    that would collide with ``appointment`` to ``expired`` in the same transaction. False when
    a live appointment is in the way (writing ``appointment`` would be refused)."""
    in_the_way = [
        *uow.appointments.for_doctor(appointment.doctor_id, appointment.blocked),
        *uow.appointments.for_patient(appointment.patient_id, appointment.time, active_only=True),
    ]
    done: set[AppointmentId] = set()
    clear = True
    for other in in_the_way:
        if other.id == appointment.id or other.id in done:
            continue
        if not other.hold_lapsed(now):
            clear = False
            continue
        done.add(other.id)
        other.expire(now)
        uow.appointments.update(other)
    return clear


def _party_to(actor: Actor, uow: UnitOfWork, appointment_id: AppointmentId) -> Appointment:
    """Load an appointment for one of its parties. To anyone else it does not exist: the
    answer is the same ``NotFound`` as for an unknown id, so ids leak nothing."""
    appointment = uow.appointments.get(appointment_id)
    if not is_party(actor, appointment):
        raise NotFound(f"no appointment {appointment_id}")
    return appointment


def _require_admin(actor: Actor) -> None:
    if actor.role is not Role.ADMIN:
        raise AccessDenied("only an admin may do this")


def _require_doctor_or_admin(actor: Actor, doctor_id: DoctorId) -> None:
    if actor.role is Role.ADMIN:
        return
    if actor.role is Role.DOCTOR and actor.doctor_id == doctor_id:
        return
    raise AccessDenied("only the doctor themself or an admin may do this")


__all__ = ["BookingRequest", "FreeSlot", "Scheduling", "SchedulingSettings"]
