"""Finding a doctor (issue 16): one call answers a whole search page, so a cache may wrap it.

Hospital, city and distance filters become the set of doctors the matching hospitals name
(hospitals are few: their coordinates are compared here, great-circle distance); everything
else is the storage's ``DoctorDirectory.search``. Each doctor's next free slot and free days
are a maintained summary (``FreeSlots``) computed from the same rule as the slot listing
(``Scheduling.free_slots``) and refreshed by ``refresh_free_slots``: the worker refreshes the
summaries whose next slot has passed or that are older than ``SearchSettings.refresh_after``,
and ``FreeSlotsRefresher`` (an outbox consumer) refreshes the doctor's summary after each
committed booking, hold, cancellation, expiry, move or availability change (docs/search.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from attrs import define, evolve

from hellodoctor_domain.errors import InvalidValue, NotFound
from hellodoctor_domain.model.availability import AvailabilityChanged
from hellodoctor_domain.model.events import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentHeld,
    AppointmentHoldExpired,
    AppointmentRescheduled,
    DomainEvent,
)
from hellodoctor_domain.model.hospitals import Hospital
from hellodoctor_domain.model.values import Actor, DoctorId, HospitalId, Role, SchemeId, TimeRange
from hellodoctor_domain.ports.runtime import Clock
from hellodoctor_domain.ports.search import DoctorSearch, FreeSlots, SearchHit
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.scheduling import Scheduling

EARTH_RADIUS_KM = 6371.0088
MAX_PAGE = 100


@define(frozen=True)
class SearchSettings:
    # How far ahead the summary looks for free slots (and so the largest "within N days").
    horizon: timedelta = timedelta(days=30)
    # A summary older than this is recomputed by the worker even if nothing was signalled.
    refresh_after: timedelta = timedelta(minutes=5)


@define(frozen=True, kw_only=True)
class Place:
    """Where the doctors must work: a hospital, a city's hospitals, hospitals within
    ``radius_km`` of a point; several given means all of them hold."""

    hospital_id: HospitalId | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    radius_km: float | None = None

    def __attrs_post_init__(self) -> None:
        near = (self.latitude, self.longitude, self.radius_km)
        if any(v is not None for v in near) and any(v is None for v in near):
            raise InvalidValue("a distance filter needs latitude, longitude and radius_km")

    @property
    def given(self) -> bool:
        return any(
            v is not None for v in (self.hospital_id, self.city, self.latitude, self.radius_km)
        )


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


@define(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    # The sort key and id of the last hit when another page follows.
    next_after: tuple[float | int | str, str] | None


class DoctorFinder:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        scheduling: Scheduling,
        settings: SearchSettings | None = None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._scheduling = scheduling
        self.settings = settings or SearchSettings()

    def search(self, query: DoctorSearch, place: Place | None = None) -> SearchPage:
        """One page of doctors: the single call the API makes (and a cache may wrap)."""
        if not 1 <= query.limit <= MAX_PAGE:
            raise InvalidValue(f"a page holds 1 to {MAX_PAGE} doctors")
        now = self._clock.now()
        if query.free_within_days is not None:
            within = timedelta(days=query.free_within_days)
            if not timedelta(days=1) <= within <= self.settings.horizon:
                raise InvalidValue(f"within 1 to {self.settings.horizon.days} days")
            before = now + within
            if query.free_before is not None:
                before = min(before, query.free_before)
            query = evolve(query, free_before=before, free_within_days=None)
        with self._uow() as uow:
            if place is not None and place.given:
                hospitals = (
                    [uow.hospitals.get(place.hospital_id)]  # NotFound: 404
                    if place.hospital_id is not None
                    else uow.hospitals.list(place.city)
                )
                among = self._doctors_at(hospitals, place)
                if query.among is not None:
                    among &= query.among
                query = evolve(query, among=among)
            asked = evolve(query, limit=query.limit + 1)  # one more: is there a next page?
            hits = uow.directory.search(asked, now)
        shown = hits[: query.limit]
        more = len(hits) > query.limit
        last = shown[-1] if shown else None
        return SearchPage(
            shown,
            (last.key(query.sort), last.doctor.id.value) if more and last else None,
        )

    @staticmethod
    def _doctors_at(hospitals: Iterable[Hospital], place: Place) -> frozenset[DoctorId]:
        found: set[DoctorId] = set()
        for hospital in hospitals:
            if place.hospital_id is not None and hospital.id != place.hospital_id:
                continue
            address = hospital.address
            if place.city is not None and address.city.casefold() != place.city.casefold():
                continue
            if place.radius_km is not None:
                assert place.latitude is not None
                assert place.longitude is not None
                away = distance_km(
                    place.latitude, place.longitude, address.latitude, address.longitude
                )
                if away > place.radius_km:
                    continue
            found.update(a.doctor_id for a in hospital.doctors)
        return frozenset(found)

    # -- insurance ------------------------------------------------------------------------

    def accept_schemes(
        self, actor: Actor, doctor_id: DoctorId, schemes: Iterable[SchemeId]
    ) -> frozenset[SchemeId]:
        """The doctor (or an admin) names the insurance schemes they accept."""
        chosen = frozenset(schemes)
        if actor.role is not Role.ADMIN and actor.doctor_id != doctor_id:
            raise NotFound(f"no doctor {doctor_id} you may change")
        with self._uow() as uow:
            uow.doctors.get(doctor_id)
            for scheme in sorted(chosen, key=lambda s: s.value):
                uow.schemes.get(scheme)  # NotFound for an unknown scheme
            uow.directory.accept_schemes(doctor_id, chosen)
            uow.commit()
        return chosen

    def schemes(self, doctor_id: DoctorId) -> frozenset[SchemeId]:
        with self._uow() as uow:
            uow.doctors.get(doctor_id)
            return uow.directory.schemes(doctor_id)

    # -- the maintained next free slot ----------------------------------------------------

    def free_slots_of(self, doctor_id: DoctorId, now: datetime) -> FreeSlots:
        """The summary, from the slot listing itself (31 days at a time up to the horizon)."""
        step = self._scheduling.settings.longest_slot_listing
        start, end = now, now + self.settings.horizon
        first: datetime | None = None
        days: set[date] = set()
        while start < end:
            chunk = TimeRange(start, min(end, start + step))
            # Shown in the doctor's own zone (no display zone given): local_start's date is
            # the doctor's day, and an unknown doctor is NotFound from the listing itself.
            for slot in self._scheduling.free_slots(doctor_id, chunk):
                first = slot.time.start if first is None else first
                days.add(slot.local_start.date())
            start = chunk.end
        return FreeSlots(doctor_id, now, first, frozenset(days))

    def refresh_doctor(self, doctor_id: DoctorId) -> FreeSlots:
        summary = self.free_slots_of(doctor_id, self._clock.now())
        with self._uow() as uow:
            uow.directory.record_free_slots(summary)
            uow.commit()
        return summary

    def refresh_free_slots(self, limit: int = 100) -> int:
        """Recompute up to ``limit`` stale summaries (the worker's step); how many."""
        now = self._clock.now()
        with self._uow() as uow:
            stale = list(uow.directory.stale(now - self.settings.refresh_after, now, limit))
        for doctor_id in stale:
            try:
                self.refresh_doctor(doctor_id)
            except NotFound:
                continue
        return len(stale)


# The events after which a doctor's free time may have moved.
MOVES_FREE_TIME = (
    AppointmentHeld,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentHoldExpired,
    AppointmentRescheduled,
    AvailabilityChanged,
)


class FreeSlotsRefresher:
    """The outbox consumer side of the summary: each committed event that can move a doctor's
    free time recomputes that doctor's summary from the storage as it is now.

    Idempotent and safe concurrently with no inbox: a redelivered event recomputes the same
    state again, and ``record_free_slots`` keeps the newest computation (compared under the
    storage's lock or conditional write). Two refreshes racing may store the older reading
    last only if its computation started later; the refresh caused by the last change starts
    after that change committed, so it reads it and, starting last, wins."""

    def __init__(
        self, finder: DoctorFinder, refreshed: Callable[[DoctorId], None] | None = None
    ) -> None:
        self._finder = finder
        self._refreshed = refreshed  # e.g. move the public cache's generation

    def handle(self, entry_id: str, event: DomainEvent) -> FreeSlots | None:
        del entry_id
        if not isinstance(event, MOVES_FREE_TIME):
            return None
        try:
            summary = self._finder.refresh_doctor(event.doctor_id)
        except NotFound:  # the doctor is gone: nothing to summarise
            return None
        if self._refreshed is not None:
            self._refreshed(event.doctor_id)
        return summary
