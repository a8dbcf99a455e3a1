"""Recurring series of appointments (issue 17): "weekly on Tuesdays at 10:00 for 8 weeks".

A series is not a stored aggregate of its own: it is the set of ordinary appointments that
carry its ``series_id``. Each occurrence is held or booked by the fee rules exactly like a
single booking (held for ``hold_for`` and paid on its own when the doctor charges a fee;
booked at once when free), confirmed, cancelled, rescheduled and expired through
``Scheduling`` like any other.

Booking is all or none. Every occurrence is checked against the doctor's rules and against
what is stored (in the same transaction), so a refusal (``SeriesConflict``) lists *every*
occurrence that cannot be had, not only the first; when none is refused, every occurrence is
added in that one unit of work, and the storage's no-overlap rule (exclusion constraint,
trigger, claim set) is still the final word: if a concurrent writer wins a time between the
check and the commit, the whole transaction fails, nothing is written, and the check runs
again on fresh data to list what was taken.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime, time, timedelta

from attrs import define

from hellodoctor_domain.errors import (
    AccessDenied,
    AlreadyExists,
    BookingRuleViolation,
    IdempotencyKeyReused,
    NotAcceptingBookings,
    NotFound,
    SeriesConflict,
    SlotUnavailable,
)
from hellodoctor_domain.model.appointment import Appointment
from hellodoctor_domain.model.policy import is_party
from hellodoctor_domain.model.recurrence import MAX_OCCURRENCES, Recurrence
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    AppointmentType,
    DoctorId,
    PatientId,
    Role,
    SeriesId,
    TimeRange,
    VisitKind,
)
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.scheduling import AppointmentQuery, IdempotencyRecord
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.scheduling import Scheduling
from hellodoctor_domain.use_cases.staff import DESK_ROLES, desk_hospitals, require_desk_of

TAKEN = "taken"


@define(frozen=True, kw_only=True)
class SeriesRequest:
    doctor_id: DoctorId
    patient_id: PatientId
    # The first local date the rule may match and the local wall-clock start of every visit,
    # both in the doctor's time zone.
    first_day: date
    at: time
    recurrence: Recurrence
    length: timedelta | None = None
    appointment_type: AppointmentType = AppointmentType.IN_PERSON
    visit_kind: VisitKind = VisitKind.REGULAR
    reason: str = ""
    # A client-chosen key (an HTTP Idempotency-Key): retrying with it answers the first series.
    idempotency_key: str | None = None

    def fingerprint(self) -> str:
        """What was asked, so a key reused for a different request is refused (never equal to
        a single booking's: a key sent to both is refused at the second)."""
        rule = self.recurrence
        parts = (
            "series",
            self.doctor_id.value,
            self.patient_id.value,
            self.first_day.isoformat(),
            self.at.isoformat(),
            f"{rule.frequency.value}/{rule.interval}/{sorted(rule.by_day or ())}",
            f"{rule.count}/{rule.until.isoformat() if rule.until else ''}",
            "" if self.length is None else str(self.length.total_seconds()),
            self.appointment_type.value,
            self.visit_kind.value,
            self.reason,
        )
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@define(frozen=True)
class Series:
    """A series as read back: its id and its occurrences, by start (cancelled ones too)."""

    id: SeriesId
    occurrences: tuple[Appointment, ...]

    @property
    def doctor_id(self) -> DoctorId:
        return self.occurrences[0].doctor_id

    @property
    def patient_id(self) -> PatientId:
        return self.occurrences[0].patient_id


# The front desk books series for any patient, with the doctors of its hospitals only.
AT_ANOTHER_HOSPITAL = "at-another-hospital"


def may_book_series(actor: Actor, doctor_id: DoctorId, patient_id: PatientId) -> None:
    """Who books a series: a patient for themself, a doctor into their own calendar, an admin
    or the front desk for anyone (the desk's doctors are checked in the unit of work)."""
    if actor.role is Role.ADMIN or actor.role in DESK_ROLES:
        return
    if actor.role is Role.PATIENT and actor.patient_id == patient_id:
        return
    if actor.role is Role.DOCTOR and actor.doctor_id == doctor_id:
        return
    raise AccessDenied("patients book series for themselves, doctors into their own calendar")


SERIES_RETRIES = 16


class SeriesBooking:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        ids: IdGenerator,
        scheduling: Scheduling,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._scheduling = scheduling

    def book(self, actor: Actor, request: SeriesRequest) -> Series:
        """Take every occurrence, or none: ``SeriesConflict`` lists each refused one."""
        may_book_series(actor, request.doctor_id, request.patient_id)
        if request.idempotency_key is not None:
            earlier = self._replay(actor, request)
            if earlier is not None:
                return earlier
        series_id = SeriesId(self._ids.new_id())
        ids: list[AppointmentId] = []  # kept across retries: one id per occurrence
        # A series meets many more concurrent writers than one booking does (each of its
        # times is someone's), and a loser is owed the list of dates that beat it, which only
        # a check after the winners commit can give: more rounds than a single booking's.
        retries = max(self._scheduling.settings.retries_on_concurrency, SERIES_RETRIES)
        for attempt in range(retries + 1):
            try:
                return self._take(actor, request, series_id, ids)
            except (AlreadyExists, SlotUnavailable, SeriesConflict) as refused:
                # A concurrent request with the same key may have won (its record, or its
                # occurrences, were in our way): then its series is ours.
                earlier = self._replay(actor, request) if request.idempotency_key else None
                if earlier is not None:
                    return earlier
                # Otherwise a concurrent writer won a time between our check and our commit:
                # nothing of ours was written. Check again on fresh data; it now lists it.
                # With a key, the times may also be a same-key winner's whose record is not
                # there yet (MongoDB writes the occurrences first, docs/mongodb.md): check
                # again until its record shows or the rounds run out.
                check_again = isinstance(refused, SlotUnavailable) or (
                    isinstance(refused, SeriesConflict) and request.idempotency_key is not None
                )
                if not check_again or attempt == retries:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _replay(self, actor: Actor, request: SeriesRequest) -> Series | None:
        """The series booked earlier with this key by ``actor``, if any (the record names its
        first occurrence); the key with another request is ``IdempotencyKeyReused``."""
        assert request.idempotency_key is not None
        with self._uow() as uow:
            record = uow.idempotency.get(actor.user_id.value, request.idempotency_key)
            if record is None:
                return None
            if record.fingerprint != request.fingerprint():
                raise IdempotencyKeyReused(
                    "this Idempotency-Key was used for a different booking request"
                )
            first = uow.appointments.get(record.appointment_id)
            assert first.series_id is not None  # only a series' fingerprint matches
            return _series(actor, uow, first.series_id)

    def _take(
        self,
        actor: Actor,
        request: SeriesRequest,
        series_id: SeriesId,
        ids: list[AppointmentId],
    ) -> Series:
        now = self._clock.now()
        hold_for = self._scheduling.settings.hold_for
        with self._uow() as uow:
            desks = (
                require_desk_of(uow, actor, request.doctor_id) if actor.role in DESK_ROLES else []
            )
            doctor = uow.doctors.get(request.doctor_id)
            availability = uow.availability.get(request.doctor_id)
            if availability is None or not doctor.accepting_bookings:
                raise NotAcceptingBookings(f"doctor {doctor.id} is not taking bookings")
            starts = request.recurrence.starts(request.first_day, request.at, doctor.time_zone)
            length = availability.visit_length(request.length)
            ids.extend(AppointmentId(self._ids.new_id()) for _ in range(len(starts) - len(ids)))
            refusals: list[tuple[datetime, str]] = []
            occurrences: list[Appointment] = []
            for appointment_id, start in zip(ids, starts, strict=False):
                visit = TimeRange.starting_at(start, length)
                try:
                    availability.check_bookable(visit, now)
                except BookingRuleViolation as error:
                    refusals.append((start, _reason(error)))
                    continue
                occurrence = Appointment.request(
                    id=appointment_id,
                    doctor_id=doctor.id,
                    patient_id=request.patient_id,
                    time=visit,
                    price=doctor.consultation_fee,
                    buffer=availability.buffer,
                    now=now,
                    hold_for=hold_for,
                    appointment_type=request.appointment_type,
                    visit_kind=request.visit_kind,
                    reason=request.reason,
                    hospital_id=availability.site_of(visit, request.appointment_type),
                )
                occurrence.series_id = series_id
                site = occurrence.hospital_id
                if desks and site is not None and site not in {h.id for h in desks}:
                    refusals.append((start, AT_ANOTHER_HOSPITAL))  # that hospital's desk's
                    continue
                if _taken(uow, occurrence, now):
                    refusals.append((start, TAKEN))
                    continue
                occurrences.append(occurrence)
            if refusals:
                raise SeriesConflict(tuple(refusals))
            # The storage decides, atomically with the writes: all of them commit or none.
            for occurrence in occurrences:
                uow.appointments.add(occurrence)
            if request.idempotency_key is not None:  # with the occurrences, or not at all
                uow.idempotency.add(
                    IdempotencyRecord(
                        scope=actor.user_id.value,
                        key=request.idempotency_key,
                        fingerprint=request.fingerprint(),
                        appointment_id=occurrences[0].id,
                        created_at=now,
                    )
                )
            uow.commit()
        return Series(series_id, tuple(occurrences))

    def series(self, actor: Actor, series_id: SeriesId) -> Series:
        """The series, if ``actor`` is a party to it; otherwise ``NotFound``."""
        with self._uow() as uow:
            return _series(actor, uow, series_id)

    def cancel_from(
        self,
        actor: Actor,
        series_id: SeriesId,
        occurrence_id: AppointmentId | None = None,
        reason: str = "",
    ) -> list[Appointment]:
        """Cancel "this and the following": every active occurrence not yet started whose
        start is at or after ``occurrence_id``'s (every one still to come when ``None``), each
        through ``Scheduling.cancel`` (refund per policy, its own transaction: a retry after a
        failure part-way cancels the rest). An occurrence already under way is left to be
        completed or marked a no-show. Answers the occurrences cancelled."""
        now = self._clock.now()
        with self._uow() as uow:
            series = _series(actor, uow, series_id)
        if occurrence_id is None:
            since = now
        else:
            chosen = [a for a in series.occurrences if a.id == occurrence_id]
            if not chosen:
                raise NotFound(f"no occurrence {occurrence_id} in series {series_id}")
            since = chosen[0].time.start
        cancelled = []
        for occurrence in series.occurrences:
            start = occurrence.time.start
            if occurrence.is_active and start >= since and start > now:
                cancelled.append(self._scheduling.cancel(actor, occurrence.id, reason))
        return cancelled


def _series(actor: Actor, uow: UnitOfWork, series_id: SeriesId) -> Series:
    found = uow.appointments.search(AppointmentQuery(series_id=series_id, limit=MAX_OCCURRENCES))
    if actor.role in DESK_ROLES:
        allowed = bool(found) and bool(desk_hospitals(uow, actor, found[0].doctor_id))
    else:
        allowed = bool(found) and is_party(actor, found[0])
    if not allowed:
        raise NotFound(f"no series {series_id}")
    return Series(series_id, tuple(found))


def _taken(uow: UnitOfWork, occurrence: Appointment, now: datetime) -> bool:
    """Whether an active appointment of the doctor or the patient is in the way. A lapsed hold
    in the way frees its time: it is expired in this transaction (as ``book`` does)."""
    in_the_way = [
        *uow.appointments.for_doctor(occurrence.doctor_id, occurrence.blocked),
        *uow.appointments.for_patient(occurrence.patient_id, occurrence.time, active_only=True),
    ]
    taken = False
    expired: set[AppointmentId] = set()
    for other in in_the_way:
        if other.id in expired:
            continue
        if other.hold_lapsed(now):
            expired.add(other.id)
            other.expire(now)
            uow.appointments.update(other)
        elif other.is_active:
            taken = True
    return taken


def _reason(error: BookingRuleViolation) -> str:
    """``OutsideAvailability`` -> ``outside-availability``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", type(error).__name__).lower()


__all__ = [
    "AT_ANOTHER_HOSPITAL",
    "TAKEN",
    "Series",
    "SeriesBooking",
    "SeriesRequest",
    "may_book_series",
]
