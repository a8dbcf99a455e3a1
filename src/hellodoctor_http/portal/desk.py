"""The front desk's pages (receptionists, hospital administrators, platform admins): find a
patient or register a walk-in, book them with one of the hospital's doctors to pay at the
clinic, a doctor's day at the desk (check in, call in, record the money collected: cash or
the card terminal) and the hospital's waiting room.

Every decision is the use cases' (``FrontDesk``, ``ClinicDay``): a hospital whose desk the
account does not staff is 404, a patient or doctor account 403, as over the API.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import falcon
import phonenumbers

from hellodoctor_domain import AppointmentId, BookingRequest, DoctorId, PatientId
from hellodoctor_domain.errors import AccessDenied, DomainError, NotFound, PortError
from hellodoctor_domain.model.hospitals import Hospital
from hellodoctor_domain.model.payments import Collection
from hellodoctor_domain.model.values import Actor, HospitalId, Role, TimeRange, time_zone
from hellodoctor_domain.ports.scheduling import PatientSearch
from hellodoctor_domain.use_cases.clinic_day import DayView
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.portal.pages import Page, PageError, safe_next

DESK_ROLES = (Role.RECEPTIONIST, Role.HOSPITAL_ADMIN, Role.ADMIN)
SEARCH_FIELDS = ("name", "phone", "email", "date_of_birth")
SLOT_DAYS = 7
MAX_SLOTS = 200
MAX_ID = 128


def _refused(error: Exception) -> PageError:
    if isinstance(error, NotFound):
        return PageError(404, "There is no such page.")
    if isinstance(error, AccessDenied):
        return PageError(403, "This page is not for your account.")
    return PageError(409, f"That was refused: {error}")


def _hospital(page: Page, actor: Actor, hospital_id: str) -> Hospital:
    """The hospital, when ``actor`` staffs its desk (``Hospital.staffs_desk``, the rule the
    front desk's use cases apply); 404 for anyone else's, as over the API."""
    try:
        hospital = page.components.hospitals.get(HospitalId(hospital_id))
    except NotFound:
        raise PageError(404, "There is no such hospital.") from None
    if not hospital.staffs_desk(actor):
        raise PageError(404, "There is no such hospital.")
    return hospital


def _doctors_of(page: Page, hospital: Hospital) -> list[tuple[str, str]]:
    """(id, name) of the hospital's doctors, by name."""
    found = []
    for affiliation in hospital.doctors:
        try:
            doctor = page.components.scheduling.doctor(affiliation.doctor_id)
        except NotFound:
            continue
        found.append((doctor.id.value, doctor.name))
    return sorted(found, key=lambda pair: pair[1])


def _e164(raw: str) -> str | None:
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


class DeskHome(Page):
    """The hospitals whose desk the account staffs; one goes straight to its desk."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, *DESK_ROLES)
        hospitals = [h for h in self.components.hospitals.in_city() if h.staffs_desk(actor)]
        if len(hospitals) == 1 and actor.role is not Role.ADMIN:
            raise falcon.HTTPSeeOther(f"/desk/{hospitals[0].id.value}")
        self.render(req, resp, "desk_home.html", hospitals=hospitals)


class DeskPage(Page):
    """Find a patient (every given field must match), register a walk-in, the doctors."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = self.require(req, *DESK_ROLES)
        hospital = _hospital(self, actor, hospital_id)
        chosen = {k: (req.get_param(k) or "").strip()[:200] for k in SEARCH_FIELDS}
        found = None
        problem = None
        if any(chosen.values()):
            born = None
            try:
                if chosen["date_of_birth"]:
                    born = date.fromisoformat(chosen["date_of_birth"])
            except ValueError:
                problem = "Choose a date (YYYY-MM-DD)."
            phone = _e164(chosen["phone"]) or chosen["phone"] if chosen["phone"] else None
            query = PatientSearch(
                name=chosen["name"] or None,
                phone=phone,
                email=chosen["email"] or None,
                date_of_birth=born,
            )
            if problem is None:
                try:
                    found = self.components.front_desk.search_patients(actor, hospital.id, query)
                except (DomainError, PortError) as error:
                    problem = str(error)
        self.render(
            req,
            resp,
            "desk.html",
            hospital=hospital,
            doctors=_doctors_of(self, hospital),
            chosen=chosen,
            patients=found,
            problem=problem,
            values={},
            errors={},
            notice=req.get_param("notice"),
        )


class WalkIns(Page):
    def on_post(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = self.require(req, *DESK_ROLES)
        form = self.form(req)
        hospital = _hospital(self, actor, hospital_id)
        values = {k: form.get(k, "").strip() for k in ("name", "phone", "date_of_birth")}
        errors: dict[str, str] = {}
        if not values["name"]:
            errors["name"] = "required"
        phone = _e164(values["phone"])
        if phone is None:
            errors["phone"] = "phone"
        born = None
        try:
            born = date.fromisoformat(values["date_of_birth"])
        except ValueError:
            errors["date_of_birth"] = "date"
        if not errors:
            assert phone is not None
            assert born is not None
            try:
                patient = self.components.front_desk.register_walk_in(
                    actor, hospital.id, values["name"][:200], phone, born
                )
            except (DomainError, PortError) as error:
                errors["form"] = str(error)
        if errors:
            self.render(
                req,
                resp,
                "desk.html",
                status=422,
                hospital=hospital,
                doctors=_doctors_of(self, hospital),
                chosen={},
                patients=None,
                problem=None,
                values=values,
                errors=errors,
            )
            return
        query = falcon.to_query_str(
            {"patient_id": patient.id.value, "name": patient.name, "notice": "walk-in"}
        )
        self.redirect(resp, f"/desk/{hospital.id.value}/book{query}")


class DeskBook(Page):
    """Book a chosen patient with one of the hospital's doctors (GET: choose the doctor, then
    the time; POST: book, paid at the clinic unless the box is unticked)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = self.require(req, *DESK_ROLES)
        hospital = _hospital(self, actor, hospital_id)
        patient_id = (req.get_param("patient_id") or "").strip()[:MAX_ID]
        if not patient_id:
            raise PageError(422, "Find the patient first.")
        doctors = _doctors_of(self, hospital)
        doctor_id = (req.get_param("doctor_id") or "").strip()[:MAX_ID]
        doctor = None
        slots: list[object] = []
        if doctor_id:
            if doctor_id not in {key for key, _name in doctors}:
                raise PageError(404, "There is no such doctor at this hospital.")
            scheduling = self.components.scheduling
            doctor = scheduling.doctor(DoctorId(doctor_id))
            now = self.components.clock.now()
            slots = list(
                scheduling.free_slots(
                    doctor.id, TimeRange(now, now + timedelta(days=SLOT_DAYS)), doctor.time_zone
                )[:MAX_SLOTS]
            )
        self.render(
            req,
            resp,
            "desk_book.html",
            hospital=hospital,
            patient_id=patient_id,
            # Shown as the desk found it; the booking names the patient by id only.
            patient_name=(req.get_param("name") or "").strip()[:200],
            doctors=doctors,
            doctor=doctor,
            slots=slots,
            zone=None if doctor is None else doctor.time_zone,
            notice=req.get_param("notice"),
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = self.require(req, *DESK_ROLES)
        form = self.form(req)
        try:
            start = datetime.fromisoformat(form.get("start", ""))
        except ValueError:
            raise PageError(422, "Choose one of the free times.") from None
        if start.tzinfo is None or not form.get("doctor_id") or not form.get("patient_id"):
            raise PageError(422, "Choose one of the free times.")
        request = BookingRequest(
            doctor_id=DoctorId(form["doctor_id"][:MAX_ID]),
            patient_id=PatientId(form["patient_id"][:MAX_ID]),
            start=start,
            reason=form.get("reason", "").strip(),
        )
        try:
            booking = self.components.front_desk.book(
                actor, HospitalId(hospital_id), request, pay_at_clinic=bool(form.get("pay"))
            )
        except (DomainError, PortError) as error:
            raise _refused(error) from None
        appointment = booking.appointment
        day = appointment.time.start.astimezone(
            time_zone(self.components.scheduling.doctor(appointment.doctor_id).time_zone)
        ).date()
        query = falcon.to_query_str(
            {"doctor_id": appointment.doctor_id.value, "date": day.isoformat()}
        )
        self.redirect(resp, f"/desk/{hospital_id}/day{query}", "desk-booked")


class DeskDay(Page):
    """One of the hospital's doctors' day at the desk: move visits along, take the money."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = self.require(req, *DESK_ROLES)
        hospital = _hospital(self, actor, hospital_id)
        doctor_id = (req.get_param("doctor_id") or "").strip()[:MAX_ID]
        if not doctor_id or not hospital.employs(DoctorId(doctor_id)):
            raise PageError(404, "There is no such doctor at this hospital.")
        day = None
        if req.get_param("date"):
            try:
                day = date.fromisoformat(req.get_param("date") or "")
            except ValueError:
                raise PageError(422, "Choose a date (YYYY-MM-DD).") from None
        try:
            view = self.components.clinic_day.day(actor, DoctorId(doctor_id), day)
        except (DomainError, PortError) as error:
            raise _refused(error) from None
        self.render(
            req,
            resp,
            "desk_day.html",
            hospital=hospital,
            view=view,
            collections=[c.value for c in Collection],
            back=req.relative_uri,
            notice=req.get_param("notice"),
        )


class WaitingRoom(Page):
    """Who is in today, for every doctor of the hospital, in order of arrival."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = self.require(req, *DESK_ROLES)
        hospital = _hospital(self, actor, hospital_id)
        rooms: list[DayView] = []
        for key, _name in _doctors_of(self, hospital):
            try:
                rooms.append(self.components.clinic_day.waiting_room(actor, DoctorId(key)))
            except (DomainError, PortError) as error:
                raise _refused(error) from None
        self.render(
            req,
            resp,
            "waiting_room.html",
            hospital=hospital,
            rooms=rooms,
            back=req.relative_uri,
            notice=req.get_param("notice"),
        )


def _collect(c: Components, actor: Actor, key: AppointmentId, form: dict[str, str]) -> object:
    try:
        via = Collection(form.get("via", ""))
    except ValueError:
        raise PageError(422, "Choose cash or the card terminal.") from None
    return c.front_desk.record_collection(actor, key, via)


# action in the URL -> the use case it calls
ACTIONS: dict[str, Callable[[Components, Actor, AppointmentId, dict[str, str]], object]] = {
    "check-in": lambda c, actor, key, _form: c.clinic_day.check_in(actor, key),
    "call-in": lambda c, actor, key, _form: c.clinic_day.start_consultation(actor, key),
    "pay-at-clinic": lambda c, actor, key, _form: c.front_desk.pay_at_clinic(actor, key),
    "collect": _collect,
}


class DeskAct(Page):
    """``POST /desk/appointments/{id}/{action}``, back to the page the form was on."""

    def on_post(
        self, req: falcon.Request, resp: falcon.Response, appointment_id: str, action: str
    ) -> None:
        actor = self.require(req, *DESK_ROLES)
        form = self.form(req)
        act = ACTIONS.get(action)
        if act is None:
            raise PageError(404, "There is no such page.")
        try:
            act(self.components, actor, AppointmentId(appointment_id), form)
        except (DomainError, PortError) as error:
            raise _refused(error) from None
        back = safe_next(form.get("back"), "/desk")
        back = back.split("notice=")[0].rstrip("?&")
        self.redirect(resp, back, action)
