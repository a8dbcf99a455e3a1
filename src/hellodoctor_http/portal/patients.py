"""A patient's pages: find a doctor, see free slots in their own time zone, book, pay at the
clinic or from the wallet, see, move and cancel appointments (with the refund the
cancellation policy gives), notification preferences and the calendar feed link.

Extension points for what other areas add (waitlist, series, richer search filters): a page
resource here plus its line in ``portal/routes.py``; ``doctors.html`` reads its filters from
``FILTERS`` below.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

import falcon

from hellodoctor_domain import AppointmentId, AppointmentStatus, BookingRequest, Doctor, DoctorId
from hellodoctor_domain.errors import DomainError, NotFound, PortError
from hellodoctor_domain.model.notifications import Channel
from hellodoctor_domain.model.payments import PaymentMethod
from hellodoctor_domain.model.values import Role, TimeRange
from hellodoctor_domain.ports.scheduling import AppointmentQuery, DoctorQuery
from hellodoctor_http.openapi import API
from hellodoctor_http.portal.cards import card_key
from hellodoctor_http.portal.identity import zone_or_none
from hellodoctor_http.portal.pages import Page, PageError

# The doctor search form: (query parameter, label key); DoctorQuery takes each.
FILTERS = ("text", "specialty", "language")
SLOT_DAYS = 7
MAX_SHOWN = 200


def _zone_of(page: Page, req: falcon.Request) -> str | None:
    """The zone a signed-in person's times are shown in (their profile's), if any."""
    found = page.session(req)
    return None if found is None else found.zone


def _parse_start(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


class Doctors(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        chosen = {name: (req.get_param(name) or "").strip()[:200] for name in FILTERS}
        accepting = req.get_param("accepting") == "on"
        query = DoctorQuery(
            specialty=chosen["specialty"] or None,
            language=chosen["language"] or None,
            text=chosen["text"] or None,
            accepting_bookings=True if accepting else None,
            limit=50,
        )
        found = self.components.scheduling.find_doctors(query)
        self.render(req, resp, "doctors.html", doctors=found, chosen=chosen, accepting=accepting)


class DoctorPage(Page):
    """A doctor's profile and free slots of the next days, in the viewer's zone."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        found = self.session(req)
        actor = found.actor if found else None
        scheduling = self.components.scheduling
        try:
            doctor = scheduling.doctor(DoctorId(doctor_id))
        except NotFound:
            raise PageError(404, "There is no such doctor.") from None
        zone = _zone_of(self, req) or doctor.time_zone
        now = self.components.clock.now()
        slots = scheduling.free_slots(
            doctor.id, TimeRange(now, now + timedelta(days=SLOT_DAYS)), display_zone=zone
        )[:MAX_SHOWN]
        self.render(
            req,
            resp,
            "doctor.html",
            doctor=doctor,
            slots=slots,
            zone=zone,
            can_book=actor is not None and actor.role is Role.PATIENT,
        )


class Appointments(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, Role.PATIENT)
        listed = self.components.scheduling.list_appointments(
            actor, AppointmentQuery(patient_id=actor.patient_id, limit=MAX_SHOWN)
        )
        doctors = _doctors(self, {a.doctor_id for a in listed})
        self.render(
            req,
            resp,
            "appointments.html",
            appointments=[
                a
                for a in sorted(listed, key=lambda a: a.time.start, reverse=True)
                if a.doctor_id in doctors
            ],
            doctors=doctors,
            zone=_zone_of(self, req),
            notice=req.get_param("notice"),
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Book the chosen slot (held until paid when the doctor charges a fee)."""
        actor = self.require(req, Role.PATIENT)
        form = self.form(req)
        start = _parse_start(form.get("start", ""))
        doctor_id = form.get("doctor_id", "")
        if start is None or not doctor_id:
            raise PageError(422, "Choose one of the free times.")
        assert actor.patient_id is not None
        try:
            appointment = self.components.scheduling.book(
                actor,
                BookingRequest(
                    doctor_id=DoctorId(doctor_id),
                    patient_id=actor.patient_id,
                    start=start,
                    reason=form.get("reason", "").strip(),
                ),
            )
        except (DomainError, PortError) as error:
            raise PageError(409, _refusal(error)) from None
        self.redirect(resp, f"/appointments/{appointment.id.value}", "booked")


def _doctors(page: Page, keys: set[DoctorId]) -> dict[DoctorId, Doctor]:
    found: dict[DoctorId, Doctor] = {}
    for key in keys:
        with contextlib.suppress(NotFound):
            found[key] = page.components.scheduling.doctor(key)
    return found


def _refusal(error: Exception) -> str:
    """A sentence for a refused booking, payment or change (the domain's own words)."""
    from hellodoctor_domain.errors import InsufficientFunds, SlotUnavailable

    if isinstance(error, SlotUnavailable):
        return "That time was just taken. Please choose another."
    if isinstance(error, InsufficientFunds):
        return "Your wallet does not hold enough for this visit."
    return f"That was refused: {error}"


class AppointmentPage(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response, appointment_id: str) -> None:
        actor = self.require(req, Role.PATIENT)
        scheduling = self.components.scheduling
        try:
            appointment = scheduling.appointment(actor, AppointmentId(appointment_id))
            doctor = scheduling.doctor(appointment.doctor_id)
        except (NotFound, DomainError):
            raise PageError(404, "There is no such appointment.") from None
        zone = _zone_of(self, req) or doctor.time_zone
        now = self.components.clock.now()
        active = appointment.status in (AppointmentStatus.HELD, AppointmentStatus.BOOKED)
        refund = (
            scheduling.settings.cancellation_policy.refund_for(appointment, actor, now)
            if active
            else None
        )
        slots = (
            scheduling.free_slots(
                doctor.id, TimeRange(now, now + timedelta(days=SLOT_DAYS)), display_zone=zone
            )[:MAX_SHOWN]
            if active
            else []
        )
        self.render(
            req,
            resp,
            "appointment.html",
            appointment=appointment,
            doctor=doctor,
            zone=zone,
            refund=refund,
            slots=slots,
            active=active,
            held=appointment.status is AppointmentStatus.HELD,
            card_key=card_key(self.components),
            notice=req.get_param("notice"),
        )


class AppointmentAct(Page):
    """``POST /appointments/{id}/{action}``: pay (offline or wallet), reschedule, cancel."""

    def on_post(
        self, req: falcon.Request, resp: falcon.Response, appointment_id: str, action: str
    ) -> None:
        actor = self.require(req, Role.PATIENT)
        form = self.form(req)
        key = AppointmentId(appointment_id)
        scheduling = self.components.scheduling
        try:
            if action == "pay":
                methods = {"offline": PaymentMethod.OFFLINE, "wallet": PaymentMethod.WALLET}
                method = methods.get(form.get("method", ""))
                if method is None:
                    raise PageError(422, "Choose how to pay.")
                self.components.billing.start_payment(actor, key, method)
                notice = "paid-offline" if method is PaymentMethod.OFFLINE else "paid"
            elif action == "reschedule":
                start = _parse_start(form.get("start", ""))
                if start is None:
                    raise PageError(422, "Choose one of the free times.")
                scheduling.reschedule(actor, key, start)
                notice = "moved"
            elif action == "cancel":
                scheduling.cancel(actor, key, form.get("reason", "").strip())
                notice = "cancelled"
            else:
                raise PageError(404, "There is no such page.")
        except NotFound:
            raise PageError(404, "There is no such appointment.") from None
        except (DomainError, PortError) as error:
            raise PageError(409, _refusal(error)) from None
        self.redirect(resp, f"/appointments/{appointment_id}", notice)


class NotificationSettings(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req)
        preferences = self.components.preferences
        assert preferences is not None
        self.render(
            req,
            resp,
            "settings.html",
            preferences=preferences.preferences(actor),
            feed_url=None,
            has_feed=actor.role in (Role.PATIENT, Role.DOCTOR),
            zone=_zone_of(self, req) or "",
            notice=req.get_param("notice"),
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req)
        form = self.form(req)
        preferences = self.components.preferences
        assert preferences is not None
        current = preferences.preferences(actor)
        channels = {Channel.EMAIL} if form.get("email") else set()
        if form.get("sms"):
            channels.add(Channel.SMS)
        try:
            preferences.set_preferences(
                actor,
                channels=frozenset(channels),
                reminders=bool(form.get("reminders")),
                language=current.language,
                time_zone=current.time_zone,
                phone=current.phone,
            )
            zone = form.get("time_zone", "").strip()
            found = self.session(req)
            if found is not None and actor.role in (Role.PATIENT, Role.DOCTOR) and zone:
                if zone_or_none(zone) is None:
                    raise PageError(422, "That is not a time zone (e.g. Europe/London).")
                if zone != found.zone:
                    self.components.profiles.update_me(actor, {"time_zone": zone})
                    codec = self.portal.codec  # the session shows times in the new zone
                    codec.set_session(
                        resp, codec.issue(actor, found.refresh_token, zone, found.session_id)
                    )
        except DomainError as error:
            raise PageError(422, f"That was refused: {error}") from None
        self.redirect(resp, "/settings", "saved")


class CalendarFeed(Page):
    """A new private feed URL, shown once (asking again replaces it)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, Role.PATIENT, Role.DOCTOR)
        self.form(req)
        preferences = self.components.preferences
        assert preferences is not None
        token = preferences.create_feed(actor)
        url = f"{self.components.settings.public_url}{API}/calendar/{token}.ics"
        self.render(
            req,
            resp,
            "settings.html",
            preferences=preferences.preferences(actor),
            feed_url=url,
            has_feed=True,
            zone=_zone_of(self, req) or "",
        )
