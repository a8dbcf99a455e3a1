"""The doctor's day (patient names, reasons, statuses, with check-in / complete / no-show)
and the administrator's invitation of a doctor (who sets a password from the e-mailed link).

Extension points: the front desk (receptionist role), availability and time-off editors and
the hospital dashboards are further resources here, mounted in ``portal/routes.py``; the day
view's actions are the table ``ACTIONS``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import falcon

from hellodoctor_domain import Appointment, AppointmentId, Doctor, DoctorId, Money
from hellodoctor_domain.errors import DomainError, NotFound, PortError
from hellodoctor_domain.model.values import Actor, EmailAddress, Role
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.portal.pages import Page, PageError

# action in the URL -> the use case it calls
ACTIONS: dict[str, Callable[[Components, Actor, AppointmentId], Appointment]] = {
    "check-in": lambda c, actor, key: c.clinic_day.check_in(actor, key),
    "complete": lambda c, actor, key: c.scheduling.complete(actor, key),
    "no-show": lambda c, actor, key: c.scheduling.mark_no_show(actor, key),
}


def _doctor_of(actor: Actor) -> DoctorId:
    if actor.doctor_id is None:
        raise PageError(403, "This page is for doctors.")
    return actor.doctor_id


class DoctorDay(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, Role.DOCTOR)
        day: date | None = None
        if req.get_param("date"):
            try:
                day = date.fromisoformat(req.get_param("date") or "")
            except ValueError:
                raise PageError(422, "Choose a date (YYYY-MM-DD).") from None
        view = self.components.clinic_day.day(actor, _doctor_of(actor), day)
        self.render(req, resp, "doctor_day.html", view=view, notice=req.get_param("notice"))


class DoctorAct(Page):
    def on_post(
        self, req: falcon.Request, resp: falcon.Response, appointment_id: str, action: str
    ) -> None:
        actor = self.require(req, Role.DOCTOR)
        form = self.form(req)
        act = ACTIONS.get(action)
        if act is None:
            raise PageError(404, "There is no such page.")
        try:
            act(self.components, actor, AppointmentId(appointment_id))
        except NotFound:
            raise PageError(404, "There is no such appointment.") from None
        except (DomainError, PortError) as error:
            raise PageError(409, f"That was refused: {error}") from None
        back = form.get("date", "")
        page = "/doctor/week" if form.get("view") == "week" else "/doctor/day"
        target = f"{page}?date={back}" if _is_date(back) else page
        self.redirect(resp, target, action)


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


class InviteDoctor(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.require(req, Role.ADMIN)
        self.render(
            req, resp, "invite_doctor.html", values={}, errors={}, notice=req.get_param("notice")
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, Role.ADMIN)
        form = self.form(req)
        errors: dict[str, str] = {}
        values = {k: form.get(k, "").strip() for k in _FIELDS}
        email: EmailAddress | None = None
        try:
            email = EmailAddress(values["email"])
        except DomainError:
            errors["email"] = "email"
        for required in ("name", "specialty", "registration_number", "time_zone", "currency"):
            if not values[required]:
                errors[required] = "required"
        try:
            fee = round(float(values["fee"] or "0") * 100)
            if not 0 <= fee <= 10**12:
                raise ValueError
        except ValueError:
            errors["fee"] = "fee"
            fee = 0
        if not errors:
            assert email is not None
            try:
                doctor = Doctor(
                    DoctorId(f"dr-{self.components.ids.new_id()}"),
                    values["name"],
                    values["specialty"],
                    values["registration_number"],
                    Money(fee, values["currency"].upper()),
                    values["time_zone"],
                    email=email,
                )
                self.components.identity.invite_doctor(actor, doctor, email)
            except (DomainError, PortError) as error:
                errors["form"] = str(error)
        if errors:
            self.render(req, resp, "invite_doctor.html", status=422, values=values, errors=errors)
            return
        self.redirect(resp, "/admin/doctors/new", "invited")


_FIELDS = ("email", "name", "specialty", "registration_number", "time_zone", "fee", "currency")
