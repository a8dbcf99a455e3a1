"""A patient's waitlist: join a doctor's waitlist for a range of days and a part of the day
(the doctor's wall clock), see their entries, leave one, accept or decline an offered time.
The decisions are ``Waitlist`` 's (the use case the API calls); an entry not the patient's is
404, like an unknown one."""

from __future__ import annotations

import contextlib
from datetime import date

import falcon

from hellodoctor_domain import Doctor, DoctorId
from hellodoctor_domain.errors import DomainError, NotFound, PortError
from hellodoctor_domain.model.values import Role
from hellodoctor_domain.model.waitlist import DayPart, WaitlistEntryId, WaitlistStatus
from hellodoctor_domain.use_cases.waitlist import JoinRequest, Waitlist
from hellodoctor_http.portal.pages import Page, PageError

ACTIONS = ("leave", "accept", "decline")
MAX_SHOWN = 200


def _waitlist(page: Page) -> Waitlist:
    found = page.components.waitlist
    if found is None:
        raise PageError(404, "This clinic has no waitlist.")
    return found


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _doctor(page: Page, key: str) -> Doctor | None:
    if not key:
        return None
    with contextlib.suppress(NotFound, DomainError):
        return page.components.scheduling.doctor(DoctorId(key))
    return None


class WaitlistPage(Page):
    """``GET /waitlist``: my entries (and, with ``?doctor_id=``, the form to join that
    doctor's); ``POST /waitlist``: join."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, Role.PATIENT)
        entries = _waitlist(self).entries(actor, limit=MAX_SHOWN)
        doctors: dict[DoctorId, Doctor] = {}
        for key in {e.doctor_id for e in entries}:
            found = _doctor(self, key.value)
            if found is not None:
                doctors[key] = found
        joining = _doctor(self, (req.get_param("doctor_id") or "")[:100])
        today = self.components.clock.now().date()
        session = self.session(req)
        self.render(
            req,
            resp,
            "waitlist.html",
            entries=sorted(entries, key=lambda e: e.joined_at, reverse=True),
            doctors=doctors,
            joining=joining,
            parts=list(DayPart),
            today=today.isoformat(),
            zone=session.zone if session else None,
            offered=WaitlistStatus.OFFERED,
            done=req.get_param("notice"),
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, Role.PATIENT)
        form = self.form(req)
        assert actor.patient_id is not None
        first, last = _day(form.get("first_day", "")), _day(form.get("last_day", ""))
        if first is None or last is None:
            raise PageError(422, "Give the first and the last day (YYYY-MM-DD).")
        try:
            part = DayPart(form.get("part_of_day", DayPart.ANY.value))
        except ValueError:
            raise PageError(422, "Choose a part of the day.") from None
        start, end = part.minutes
        try:
            _waitlist(self).join(
                actor,
                JoinRequest(
                    patient_id=actor.patient_id,
                    doctor_id=DoctorId(form.get("doctor_id", "")),
                    first_day=first,
                    last_day=last,
                    window_start=start,
                    window_end=end,
                ),
            )
        except NotFound:
            raise PageError(404, "There is no such doctor.") from None
        except (DomainError, PortError) as error:
            raise PageError(422, f"That was refused: {error}") from None
        self.redirect(resp, "/waitlist", "joined")


class WaitlistAct(Page):
    """``POST /waitlist/{id}/{leave|accept|decline}``."""

    def on_post(
        self, req: falcon.Request, resp: falcon.Response, entry_id: str, action: str
    ) -> None:
        actor = self.require(req, Role.PATIENT)
        self.form(req)
        if action not in ACTIONS:
            raise PageError(404, "There is no such page.")
        waitlist = _waitlist(self)
        key = WaitlistEntryId(entry_id)
        try:
            if action == "accept":
                appointment = waitlist.accept(actor, key)
                self.redirect(resp, f"/appointments/{appointment.id.value}", "booked")
                return
            if action == "decline":
                waitlist.decline(actor, key)
            else:
                waitlist.leave(actor, key)
        except NotFound:
            raise PageError(404, "There is no such waitlist entry.") from None
        except (DomainError, PortError) as error:
            raise PageError(409, f"That was refused: {error}") from None
        self.redirect(resp, "/waitlist", "declined" if action == "decline" else "left")
