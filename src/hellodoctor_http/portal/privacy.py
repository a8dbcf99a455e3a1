"""Who may see a patient's record: their consents (grant one to a doctor, revoke it) and the
access log (who read or changed their records, and who was refused), through ``Records`` as
the API does. A consent not the patient's is 404."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, time, timedelta

import falcon

from hellodoctor_domain import Doctor, DoctorId
from hellodoctor_domain.errors import DomainError, NotFound, PortError
from hellodoctor_domain.model.consent import ConsentId, ConsentScope
from hellodoctor_domain.model.values import Actor, Role
from hellodoctor_domain.ports.scheduling import DoctorQuery
from hellodoctor_domain.use_cases.records import ConsentGrant
from hellodoctor_http.portal.health import request_context
from hellodoctor_http.portal.pages import Page, PageError

LOG_PAGE = 50
MAX_DOCTORS = 100


def _patient(page: Page, req: falcon.Request) -> Actor:
    actor = page.require(req, Role.PATIENT)
    assert actor.patient_id is not None
    return actor


class Consents(Page):
    """``GET /consents``: my consents and the form to grant one; ``POST``: grant."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = _patient(self, req)
        assert actor.patient_id is not None
        consents = self.components.records.consents(actor, actor.patient_id)
        scheduling = self.components.scheduling
        doctors = scheduling.find_doctors(DoctorQuery(limit=MAX_DOCTORS))
        names = {d.id: d.name for d in doctors}
        for consent in consents:  # a doctor past the first page still shows by name
            if consent.doctor_id is not None and consent.doctor_id not in names:
                with contextlib.suppress(NotFound):
                    names[consent.doctor_id] = scheduling.doctor(consent.doctor_id).name
        now = self.components.clock.now()
        found = self.session(req)
        self.render(
            req,
            resp,
            "consents.html",
            consents=sorted(consents, key=lambda c: c.granted_at, reverse=True),
            doctors=sorted(doctors, key=_by_name),
            names=names,
            now=now,
            scopes=list(ConsentScope),
            default_until=(now.date() + timedelta(days=90)).isoformat(),
            zone=found.zone if found else None,
            done=req.get_param("notice"),
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = _patient(self, req)
        form = self.form(req)
        assert actor.patient_id is not None
        try:
            last_day = date.fromisoformat(form.get("until", "").strip())
            scope = ConsentScope(form.get("scope", ""))
        except ValueError:
            raise PageError(422, "Choose what the doctor may do, and until which day.") from None
        # Through the whole last day (UTC): the consent ends at the next midnight.
        until = datetime.combine(last_day + timedelta(days=1), time(0), UTC)
        try:
            self.components.records.grant(
                actor,
                actor.patient_id,
                ConsentGrant(
                    scope,
                    until,
                    form.get("purpose", "").strip(),
                    DoctorId(form.get("doctor_id", "")),
                ),
                request_context(self, req),
            )
        except NotFound:
            raise PageError(404, "There is no such doctor.") from None
        except (DomainError, PortError) as error:
            raise PageError(422, f"That was refused: {error}") from None
        self.redirect(resp, "/consents", "granted")


def _by_name(doctor: Doctor) -> str:
    return doctor.name.lower()


class ConsentRevoke(Page):
    """``POST /consents/{id}/revoke``."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, consent_id: str) -> None:
        actor = _patient(self, req)
        self.form(req)
        assert actor.patient_id is not None
        try:
            self.components.records.revoke(
                actor, actor.patient_id, ConsentId(consent_id), request_context(self, req)
            )
        except NotFound:
            raise PageError(404, "There is no such consent.") from None
        except (DomainError, PortError) as error:
            raise PageError(409, f"That was refused: {error}") from None
        self.redirect(resp, "/consents", "revoked")


class AccessLog(Page):
    """``GET /access-log``: who accessed my records (newest first), a page at a time."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = _patient(self, req)
        raw = (req.get_param("before") or "")[:18]
        before = int(raw) if raw.isdigit() and int(raw) > 0 else None
        entries = self.components.records.access_log(actor, before, LOG_PAGE)
        found = self.session(req)
        self.render(
            req,
            resp,
            "access_log.html",
            entries=entries,
            next_before=entries[-1].sequence if len(entries) == LOG_PAGE else None,
            zone=found.zone if found else None,
        )
