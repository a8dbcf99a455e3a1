"""A doctor's own pages beside the day view (``staff.py``): the week (patient names, reasons,
statuses, in the doctor's zone, with the day view's actions), the weekly hours and booking
rules editor, time off (a collision lists the visits it covers and offers to cancel them,
refunded in full), and the reviews of their visits with a reply to each.

The use cases decide as over the API: ``ClinicDay.day``, ``Scheduling.define_availability``
(with the version read, as an ``If-Match``), ``TimeOffBookings.add_time_off``,
``Reviews.of_doctor`` / ``Reviews.answer``.
"""

from __future__ import annotations

import re
from datetime import date, time, timedelta

import falcon
from attrs import evolve

from hellodoctor_domain import Availability, LocalWindow, TimeOff, Weekday, WorkingDay
from hellodoctor_domain.errors import (
    ConcurrencyError,
    DomainError,
    NotFound,
    PortError,
    TimeOffCollides,
)
from hellodoctor_domain.model.reviews import MAX_REPLY_TEXT
from hellodoctor_domain.model.values import Actor, DoctorId, HospitalId, ReviewId, Role
from hellodoctor_http.portal.pages import Page, PageError

REVIEWS_SHOWN = 50
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
RULES = (
    ("slot_minutes", 1, 24 * 60),
    ("buffer_minutes", 0, 24 * 60),
    ("minimum_notice_minutes", 0, 366 * 24 * 60),
    ("booking_horizon_days", 1, 3 * 366),
    ("max_slots_per_visit", 1, 48),
)


def _doctor_of(actor: Actor) -> DoctorId:
    if actor.doctor_id is None:
        raise PageError(403, "This page is for doctors.")
    return actor.doctor_id


def _date_param(req: falcon.Request) -> date | None:
    if not req.get_param("date"):
        return None
    try:
        return date.fromisoformat(req.get_param("date") or "")
    except ValueError:
        raise PageError(422, "Choose a date (YYYY-MM-DD).") from None


class DoctorWeek(Page):
    """Monday to Sunday of the week holding ``date`` (default: this week), one day view each."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, Role.DOCTOR)
        doctor_id = _doctor_of(actor)
        clinic_day = self.components.clinic_day
        chosen = _date_param(req) or clinic_day.day(actor, doctor_id).day
        monday = chosen - timedelta(days=chosen.weekday())
        days = [clinic_day.day(actor, doctor_id, monday + timedelta(days=n)) for n in range(7)]
        self.render(
            req,
            resp,
            "doctor_week.html",
            days=days,
            monday=monday,
            previous=(monday - timedelta(days=7)).isoformat(),
            following=(monday + timedelta(days=7)).isoformat(),
            notice=req.get_param("notice"),
        )


# -- working hours and rules ------------------------------------------------------------------


def windows_text(windows: tuple[LocalWindow, ...]) -> str:
    return ", ".join(f"{w.start:%H:%M}-{w.end:%H:%M}" for w in windows)


def parse_windows(text: str) -> list[LocalWindow]:
    """``"09:00-12:00, 13:00-17:00"`` as windows; ``InvalidValue``-free: ValueError."""
    found = []
    for part in text.split(","):
        if not part.strip():
            continue
        match = _WINDOW.match(part)
        if match is None:
            raise ValueError(part)
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        found.append(LocalWindow(time(h1, m1), time(h2, m2)))
    return found


def _rows(availability: Availability) -> list[dict[str, str]]:
    """One row per working day, and an empty one for each weekday without any."""
    rows = []
    for weekday in Weekday:
        mine: list[WorkingDay | None] = [d for d in availability.weekly if d.weekday is weekday]
        for day in mine or [None]:
            rows.append(
                {
                    "weekday": weekday.name.lower(),
                    "hours": "" if day is None else windows_text(day.hours),
                    "breaks": "" if day is None else windows_text(day.breaks),
                    "hospital_id": ""
                    if day is None or day.hospital_id is None
                    else day.hospital_id.value,
                }
            )
    return rows


def _rules(availability: Availability) -> dict[str, str]:
    return {
        "slot_minutes": str(int(availability.slot_length.total_seconds() // 60)),
        "buffer_minutes": str(int(availability.buffer.total_seconds() // 60)),
        "minimum_notice_minutes": str(int(availability.minimum_notice.total_seconds() // 60)),
        "booking_horizon_days": str(availability.booking_horizon.days),
        "max_slots_per_visit": str(availability.max_slots_per_visit),
    }


class AvailabilityEditor(Page):
    def current(self, doctor_id: DoctorId) -> Availability:
        scheduling = self.components.scheduling
        try:
            return scheduling.availability(doctor_id)
        except NotFound:
            return Availability(doctor_id, scheduling.doctor(doctor_id).time_zone, [])

    def show(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        availability: Availability,
        *,
        status: int = 200,
        rows: list[dict[str, str]] | None = None,
        rules: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        collisions: list[dict[str, object]] | None = None,
        time_off: dict[str, str] | None = None,
        version: int | None = None,
    ) -> None:
        self.render(
            req,
            resp,
            "availability.html",
            status=status,
            availability=availability,
            rows=rows or _rows(availability),
            rules=rules or _rules(availability),
            errors=errors or {},
            collisions=collisions or [],
            time_off=time_off or {},
            version=availability.version if version is None else version,
            notice=req.get_param("notice"),
        )

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, Role.DOCTOR)
        self.show(req, resp, self.current(_doctor_of(actor)))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Replace the weekly hours and rules (time off and extra hours are kept)."""
        actor = self.require(req, Role.DOCTOR)
        form = self.form(req)
        current = self.current(_doctor_of(actor))
        errors: dict[str, str] = {}
        rows = []
        weekly = []
        for index in range(len(Weekday) * 4):
            prefix = f"day-{index}-"
            if prefix + "weekday" not in form:
                break
            row = {k: form.get(prefix + k, "").strip() for k in ("weekday", "hours", "breaks")}
            row["hospital_id"] = form.get(prefix + "hospital_id", "").strip()
            rows.append(row)
            try:
                weekday = Weekday[row["weekday"].upper()]
                hours = parse_windows(row["hours"])
                breaks = parse_windows(row["breaks"])
            except (KeyError, ValueError, DomainError):
                errors[f"day-{index}"] = "window"
                continue
            if hours:
                hospital = HospitalId(row["hospital_id"]) if row["hospital_id"] else None
                weekly.append(WorkingDay(weekday, hours, breaks=breaks, hospital_id=hospital))
        rules = {name: form.get(name, "").strip() for name, _low, _high in RULES}
        numbers: dict[str, int] = {}
        for name, low, high in RULES:
            try:
                numbers[name] = int(rules[name])
                if not low <= numbers[name] <= high:
                    raise ValueError
            except ValueError:
                errors[name] = "number"
        try:
            version = int(form.get("version", ""))
        except ValueError:
            raise PageError(422, "Open the page again and make the change there.") from None
        if not errors:
            try:
                changed = evolve(
                    current,
                    weekly=weekly,
                    slot_length=timedelta(minutes=numbers["slot_minutes"]),
                    buffer=timedelta(minutes=numbers["buffer_minutes"]),
                    minimum_notice=timedelta(minutes=numbers["minimum_notice_minutes"]),
                    booking_horizon=timedelta(days=numbers["booking_horizon_days"]),
                    max_slots_per_visit=numbers["max_slots_per_visit"],
                )
                self.components.scheduling.define_availability(actor, changed, if_version=version)
            except ConcurrencyError:
                errors["form"] = "changed"
            except (DomainError, PortError) as error:
                errors["form"] = str(error)
        if errors:
            self.show(req, resp, current, status=422, rows=rows, rules=rules, errors=errors)
            return
        self.redirect(resp, "/doctor/availability", "hours-saved")


class TimeOffPage(AvailabilityEditor):
    """Add time off; while it covers visits, the page lists them and asks whether to cancel
    them (``cancel_bookings``), as the API's 409 ``time-off-collides`` does."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, Role.DOCTOR)
        form = self.form(req)
        doctor_id = _doctor_of(actor)
        values = {k: form.get(k, "").strip() for k in ("first_day", "last_day", "window", "reason")}
        current = self.current(doctor_id)
        errors: dict[str, str] = {}
        try:
            first = date.fromisoformat(values["first_day"])
            last = date.fromisoformat(values["last_day"] or values["first_day"])
        except ValueError:
            errors["first_day"] = "date"
        window = None
        try:
            windows = parse_windows(values["window"])
            if len(windows) > 1:
                raise ValueError
            window = windows[0] if windows else None
        except (ValueError, DomainError):
            errors["window"] = "window"
        collisions: list[dict[str, object]] = []
        if not errors:
            try:
                off = TimeOff(first, last, window, values["reason"][:500])
                added = self.components.time_off.add_time_off(
                    actor, doctor_id, off, cancel_bookings=form.get("cancel_bookings") == "yes"
                )
            except TimeOffCollides as error:
                collisions = [{"id": key, "start": start} for key, start in error.collisions]
                errors["collides"] = "collides"
            except (DomainError, PortError) as error:
                errors["form"] = str(error)
        if errors:
            self.show(
                req,
                resp,
                current,
                status=409 if collisions else 422,
                errors=errors,
                collisions=collisions,
                time_off=values,
            )
            return
        notice = "time-off-cancelled" if added.cancelled else "time-off-added"
        self.redirect(resp, "/doctor/availability", notice)


class DoctorReviews(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, Role.DOCTOR)
        reviews, rating = self.components.reviews.of_doctor(actor, _doctor_of(actor), REVIEWS_SHOWN)
        self.render(
            req,
            resp,
            "doctor_reviews.html",
            reviews=reviews,
            rating=rating,
            longest=MAX_REPLY_TEXT,
            notice=req.get_param("notice"),
        )


class ReviewReply(Page):
    def on_post(self, req: falcon.Request, resp: falcon.Response, review_id: str) -> None:
        actor = self.require(req, Role.DOCTOR)
        form = self.form(req)
        text = form.get("text", "").strip()
        if not text:
            raise PageError(422, "Write the reply first.")
        try:
            self.components.reviews.answer(actor, ReviewId(review_id), text[:MAX_REPLY_TEXT])
        except NotFound:
            raise PageError(404, "There is no such review.") from None
        except (DomainError, PortError) as error:
            raise PageError(409, f"That was refused: {error}") from None
        self.redirect(resp, "/doctor/reviews", "replied")
