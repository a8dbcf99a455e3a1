"""Platform administrators' pages: the dead letters of the outbox (and sending one again), the
audit log search, and the analytics dashboard (appointments and revenue by day, drawn as SVG
on the server, ``portal/charts.py``).

The analytics dashboard is also a doctor's own (``/doctor/analytics``) and a hospital
administrator's for their hospital: ``Analytics`` decides what each may see, as it does for
``/api/v1/analytics``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import falcon

from hellodoctor_domain.errors import DomainError, NotFound, PortError
from hellodoctor_domain.model.analytics import AppointmentReport, RevenueReport
from hellodoctor_domain.model.appointment import AppointmentStatus
from hellodoctor_domain.model.audit import AuditOutcome
from hellodoctor_domain.model.values import Actor, DoctorId, HospitalId, PatientId, Role, UserId
from hellodoctor_domain.ports.records import AuditQuery
from hellodoctor_domain.use_cases.delivery import Relay
from hellodoctor_http.portal.charts import BarChart, bar_chart
from hellodoctor_http.portal.identity import zone_or_none
from hellodoctor_http.portal.pages import Page, PageError

AUDIT_PAGE = 50
DEAD_LETTERS_SHOWN = 500
DEFAULT_DAYS = 30
MAX_ID = 128


def _param(req: falcon.Request, name: str, longest: int = MAX_ID) -> str:
    return (req.get_param(name) or "").strip()[:longest]


def _day(req: falcon.Request, name: str) -> date | None:
    raw = _param(req, name, 10)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise PageError(422, "Choose a date (YYYY-MM-DD).") from None


# -- dead letters ------------------------------------------------------------------------------


def _relay(page: Page) -> Relay:
    delivery = page.components.delivery
    if delivery is None:
        raise PageError(404, "This storage keeps no outbox delivery.")
    return delivery.relay


class DeadLetters(Page):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, Role.ADMIN)
        letters = _relay(self).dead_letters(actor, limit=DEAD_LETTERS_SHOWN)
        self.render(req, resp, "dead_letters.html", letters=letters, notice=req.get_param("notice"))


class DeadLetterRetry(Page):
    def on_post(self, req: falcon.Request, resp: falcon.Response, entry_id: str) -> None:
        actor = self.require(req, Role.ADMIN)
        self.form(req)
        try:
            _relay(self).retry(actor, entry_id)
        except NotFound:
            raise PageError(404, "There is no such dead letter.") from None
        self.redirect(resp, "/admin/dead-letters", "retried")


# -- the audit log -----------------------------------------------------------------------------


def _midnight(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time(0), tzinfo=UTC)


class AuditSearch(Page):
    """The audit log of health data, newest first, filtered; ``before`` pages on."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, Role.ADMIN)
        chosen = {k: _param(req, k) for k in ("patient_id", "user_id", "outcome", "from", "to")}
        outcome = None
        if chosen["outcome"]:
            try:
                outcome = AuditOutcome(chosen["outcome"])
            except ValueError:
                raise PageError(422, "Choose allowed or denied.") from None
        first, last = _day(req, "from"), _day(req, "to")
        before = None
        if _param(req, "before"):
            try:
                before = max(1, int(_param(req, "before", 20)))
            except ValueError:
                raise PageError(422, "That is not a page of the log.") from None
        query = AuditQuery(
            patient_id=PatientId(chosen["patient_id"]) if chosen["patient_id"] else None,
            user_id=UserId(chosen["user_id"]) if chosen["user_id"] else None,
            outcome=outcome,
            since=_midnight(first),
            until=_midnight(last + timedelta(days=1)) if last else None,
            before_sequence=before,
            limit=AUDIT_PAGE,
        )
        try:
            found = self.components.records.search_audit(actor, query)
        except DomainError as error:
            raise PageError(422, f"That was refused: {error}") from None
        older = None
        if len(found) == AUDIT_PAGE:
            kept = {k: v for k, v in chosen.items() if v}
            older = falcon.to_query_str({**kept, "before": str(found[-1].sequence)})
        self.render(
            req,
            resp,
            "audit_log.html",
            entries=found,
            chosen=chosen,
            outcomes=[o.value for o in AuditOutcome],
            older=older,
        )


# -- analytics ---------------------------------------------------------------------------------


def _scope(page: Page, actor: Actor, req: falcon.Request) -> dict[str, Any]:
    """Whose report: a doctor's own; a hospital administrator's hospital (the first they
    administer unless one is chosen); an admin's platform, or a chosen doctor or hospital."""
    if actor.role is Role.DOCTOR:
        if actor.doctor_id is None:
            raise PageError(403, "This page is for doctors.")
        return {"doctor_id": actor.doctor_id}
    hospital = _param(req, "hospital_id")
    if actor.role is Role.HOSPITAL_ADMIN:
        if not hospital:
            mine = [h for h in page.components.hospitals.in_city() if h.administered_by(actor)]
            if not mine:
                raise PageError(404, "No hospital names you as its administrator.")
            hospital = mine[0].id.value
        return {"hospital_id": HospitalId(hospital)}
    doctor = _param(req, "doctor_id")
    if doctor and hospital:
        raise PageError(422, "Choose a doctor or a hospital, not both.")
    if doctor:
        return {"doctor_id": DoctorId(doctor)}
    if hospital:
        return {"hospital_id": HospitalId(hospital)}
    return {}


def appointments_chart(report: AppointmentReport) -> BarChart:
    return bar_chart(
        "Appointments by day",
        [(day.day, float(sum(report.on(day.day).values()))) for day in report.days],
        whole=True,
    )


def revenue_charts(report: RevenueReport) -> list[tuple[str, BarChart]]:
    """One chart per currency: the net taken each day, in major units."""
    charts = []
    for currency in report.totals():
        per_day = {day.day: 0 for day in report.days}
        for line in report.lines:
            if line.currency == currency and line.day in per_day:
                per_day[line.day] += line.net
        charts.append(
            (
                currency,
                bar_chart(
                    f"Revenue by day ({currency})",
                    [(day, amount / 100) for day, amount in per_day.items()],
                    "{:.2f}",
                ),
            )
        )
    return charts


class AnalyticsDashboard(Page):
    ROLES: tuple[Role, ...] = (Role.ADMIN, Role.HOSPITAL_ADMIN, Role.DOCTOR)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = self.require(req, *self.ROLES)
        scope = _scope(self, actor, req)
        raw_zone = _param(req, "tz", 64)
        zone = zone_or_none(raw_zone) if raw_zone else (self.session_zone(req) or "UTC")
        if zone is None:
            raise PageError(422, "That is not a time zone (e.g. Europe/London).")
        today = self.components.clock.now().astimezone(UTC).date()
        last = _day(req, "to") or today
        first = _day(req, "from") or last - timedelta(days=DEFAULT_DAYS - 1)
        analytics = self.components.analytics
        try:
            visits = analytics.appointments(actor, first, last, zone, **scope)
            revenue = analytics.revenue(actor, first, last, zone, **scope)
        except NotFound:
            raise PageError(404, "There is no such report.") from None
        except (DomainError, PortError) as error:
            raise PageError(422, f"That was refused: {error}") from None
        self.render(
            req,
            resp,
            "analytics.html",
            visits=visits,
            revenue=revenue,
            visits_chart=appointments_chart(visits),
            revenue_charts=revenue_charts(revenue),
            statuses=list(AppointmentStatus),
            first=first,
            last=last,
            zone=zone,
            scope={k: v.value for k, v in scope.items()},
            can_choose=actor.role is Role.ADMIN,
            action=req.path,
        )

    def session_zone(self, req: falcon.Request) -> str | None:
        found = self.session(req)
        return None if found is None else found.zone


class AdminAnalytics(AnalyticsDashboard):
    """``/admin/analytics``: platform and hospital administrators."""

    ROLES = (Role.ADMIN, Role.HOSPITAL_ADMIN)


class DoctorAnalytics(AnalyticsDashboard):
    """``/doctor/analytics``: a doctor's own report."""

    ROLES = (Role.DOCTOR,)
