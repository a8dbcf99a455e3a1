"""Analytics over HTTP: the appointments report of a doctor, a hospital or the platform, per
local day of a time zone, as JSON or CSV. Counted by the database (``docs/analytics.md``)."""

from __future__ import annotations

import csv
import io
from typing import Any

import falcon

from hellodoctor_domain.model.analytics import (
    AppointmentReport,
    RevenueReport,
    UtilisationReport,
)
from hellodoctor_domain.model.appointment import AppointmentStatus
from hellodoctor_domain.model.payments import PaymentMethod
from hellodoctor_domain.model.values import DoctorId, HospitalId
from hellodoctor_http.api import Resource
from hellodoctor_http.api.doctors import TIME_ZONE
from hellodoctor_http.api.values import iso
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import wire_values
from hellodoctor_http.openapi import (
    API,
    STRING,
    Operation,
    Route,
    answer,
    date_query,
    id_query,
    query_param,
    ref,
)
from hellodoctor_http.params import QueryReader

STATUSES = [status.value for status in AppointmentStatus]
_PARAMS = (
    date_query("from", "First day of the report (in tz)."),
    date_query("to", "Last day of the report, included (at most 366 days)."),
    query_param("tz", {"type": "string", **TIME_ZONE}, "IANA zone of the days; default UTC."),
    id_query("doctor_id", "One doctor's appointments."),
    id_query("hospital_id", "The appointments of a hospital's doctors."),
)


def report_json(report: AppointmentReport) -> dict[str, Any]:
    return {
        "time_zone": report.zone,
        "days": [
            {
                "date": day.day.isoformat(),
                "starts_at": iso(day.start),
                "by_status": {s.value: n for s, n in sorted(report.on(day.day).items())},
                "total": sum(report.on(day.day).values()),
            }
            for day in report.days
        ],
        "totals": {
            "by_status": {s: report.total({AppointmentStatus(s)}) for s in STATUSES},
            "cancellation_rate": report.cancellation_rate,
            "no_show_rate": report.no_show_rate,
            "mean_lead_minutes": report.mean_lead_minutes,
            "new_patients": report.patients.new,
            "returning_patients": report.patients.returning,
        },
    }


def report_csv(report: AppointmentReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["date", *STATUSES, "total"])
    for day in report.days:
        counts = {s.value: n for s, n in report.on(day.day).items()}
        row = [counts.get(s, 0) for s in STATUSES]
        writer.writerow([day.day.isoformat(), *row, sum(row)])
    return out.getvalue()


def revenue_json(report: RevenueReport) -> dict[str, Any]:
    return {
        "time_zone": report.zone,
        "lines": [
            {
                "date": line.day.isoformat(),
                "method": line.method.value,
                "currency": line.currency,
                "gross": line.gross,
                "refunded": line.refunded,
                "net": line.net,
            }
            for line in report.lines
        ],
        "totals": [
            {"currency": currency, "gross": gross, "refunded": back, "net": gross - back}
            for currency, (gross, back) in report.totals().items()
        ],
    }


def revenue_csv(report: RevenueReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["date", "method", "currency", "gross", "refunded", "net"])
    for line in report.lines:
        writer.writerow(
            [
                line.day.isoformat(),
                line.method.value,
                line.currency,
                line.gross,
                line.refunded,
                line.net,
            ]
        )
    return out.getvalue()


def utilisation_json(report: UtilisationReport) -> dict[str, Any]:
    booked, available = report.total()
    return {
        "time_zone": report.zone,
        "days": [
            {
                "date": day.day.isoformat(),
                "booked_minutes": report.on(day.day)[0],
                "available_minutes": report.on(day.day)[1],
                "utilisation": _share(*report.on(day.day)),
                "doctors": [
                    {
                        "doctor_id": line.doctor_id.value,
                        "booked_minutes": line.booked_minutes,
                        "available_minutes": line.available_minutes,
                        "utilisation": line.utilisation,
                    }
                    for line in report.lines
                    if line.day == day.day
                ],
            }
            for day in report.days
        ],
        "totals": {
            "booked_minutes": booked,
            "available_minutes": available,
            "utilisation": report.utilisation,
        },
    }


def _share(booked: int, available: int) -> float | None:
    return None if available == 0 else round(booked / available, 4)


def utilisation_csv(report: UtilisationReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["date", "doctor_id", "booked_minutes", "available_minutes", "utilisation"])
    for line in report.lines:
        share = line.utilisation
        writer.writerow(
            [
                line.day.isoformat(),
                line.doctor_id.value,
                line.booked_minutes,
                line.available_minutes,
                "" if share is None else share,
            ]
        )
    return out.getvalue()


_COUNTS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}
_RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
_MINOR = {"type": "integer", "description": "Minor units of the currency."}
_MINUTES = {"type": "integer", "minimum": 0}
# Booked over available; may pass 1 when visits were booked outside working hours.
_SHARE = {"type": ["number", "null"], "minimum": 0}
SCHEMAS: dict[str, Any] = {
    "RevenueLine": answer(
        date={"type": "string", "format": "date"},
        method={"enum": wire_values(PaymentMethod)},
        currency=STRING,
        gross=_MINOR,
        refunded=_MINOR,
        net=_MINOR,
    ),
    "RevenueTotal": answer(currency=STRING, gross=_MINOR, refunded=_MINOR, net=_MINOR),
    "RevenueReport": answer(
        time_zone=STRING,
        lines={"type": "array", "items": ref("RevenueLine")},
        totals={"type": "array", "items": ref("RevenueTotal")},
    ),
    "UtilisationDoctor": answer(
        doctor_id=STRING,
        booked_minutes=_MINUTES,
        available_minutes=_MINUTES,
        utilisation=_SHARE,
    ),
    "UtilisationDay": answer(
        date={"type": "string", "format": "date"},
        booked_minutes=_MINUTES,
        available_minutes=_MINUTES,
        utilisation=_SHARE,
        doctors={"type": "array", "items": ref("UtilisationDoctor")},
    ),
    "UtilisationReport": answer(
        time_zone=STRING,
        days={"type": "array", "items": ref("UtilisationDay")},
        totals=answer(booked_minutes=_MINUTES, available_minutes=_MINUTES, utilisation=_SHARE),
    ),
    "ReportDay": answer(
        date={"type": "string", "format": "date"},
        starts_at={"type": "string", "format": "date-time"},
        by_status=_COUNTS,
        total={"type": "integer", "minimum": 0},
    ),
    "AppointmentReport": answer(
        time_zone=STRING,
        days={"type": "array", "items": ref("ReportDay")},
        totals=answer(
            by_status={**_COUNTS, "propertyNames": {"enum": wire_values(AppointmentStatus)}},
            cancellation_rate=_RATE,
            no_show_rate=_RATE,
            mean_lead_minutes={"type": ["number", "null"]},
            new_patients={"type": "integer", "minimum": 0},
            returning_patients={"type": "integer", "minimum": 0},
        ),
    ),
}


class _Report(Resource):
    """Reads the report's query (days, zone, scope) and asks ``build`` for the report."""

    def report(self, req: falcon.Request) -> Any:
        actor = require_actor(req)
        params = QueryReader(req, _PARAMS)
        first, last = params.day("from"), params.day("to")
        zone = params.zone("tz") or "UTC"
        doctor, hospital = params.text("doctor_id"), params.text("hospital_id")
        if first is None:
            params.fail("from", "the first day is required")
        if last is None:
            params.fail("to", "the last day is required")
        if doctor is not None and hospital is not None:
            params.fail("hospital_id", "a report is of one doctor or one hospital, not both")
        params.done()
        assert first is not None
        assert last is not None
        return self.build(
            actor,
            first,
            last,
            zone,
            doctor_id=None if doctor is None else DoctorId(doctor),
            hospital_id=None if hospital is None else HospitalId(hospital),
        )

    def build(self, *args: Any, **kwargs: Any) -> Any:
        return self.components.analytics.appointments(*args, **kwargs)


class AppointmentsReport(_Report):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        write_json(resp, report_json(self.report(req)))


def _write_csv(resp: falcon.Response, name: str, text: str) -> None:
    resp.content_type = "text/csv; charset=utf-8"
    resp.downloadable_as = name
    resp.text = text


class AppointmentsReportCsv(_Report):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _write_csv(resp, "appointments.csv", report_csv(self.report(req)))


class RevenueReportJson(_Report):
    def build(self, *args: Any, **kwargs: Any) -> Any:
        return self.components.analytics.revenue(*args, **kwargs)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        write_json(resp, revenue_json(self.report(req)))


class RevenueReportCsv(RevenueReportJson):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _write_csv(resp, "revenue.csv", revenue_csv(self.report(req)))


class UtilisationReportJson(_Report):
    def build(self, *args: Any, **kwargs: Any) -> Any:
        return self.components.analytics.utilisation(*args, **kwargs)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        write_json(resp, utilisation_json(self.report(req)))


class UtilisationReportCsv(UtilisationReportJson):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _write_csv(resp, "utilisation.csv", utilisation_csv(self.report(req)))


_WHO = "a doctor (own), a hospital's administrators (its doctors), admin (any, or everyone)"
_PROBLEMS = ("not-found", "access-denied", "invalid-value")
ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/analytics/appointments",
        AppointmentsReport,
        {
            "get": Operation(
                "Appointments per local day and status, with rates, lead time and patient mix",
                "bearer",
                _WHO,
                response="AppointmentReport",
                params=_PARAMS,
                problems=_PROBLEMS,
                tag="analytics",
            )
        },
    ),
    Route(
        f"{API}/analytics/appointments.csv",
        AppointmentsReportCsv,
        {
            "get": Operation(
                "The same report as CSV: a row per day, a column per status",
                "bearer",
                _WHO,
                response_type="text/csv",
                params=_PARAMS,
                problems=_PROBLEMS,
                headers=("Content-Disposition",),
                tag="analytics",
            )
        },
    ),
    Route(
        f"{API}/analytics/revenue",
        RevenueReportJson,
        {
            "get": Operation(
                "Visits' money per local day, method and currency: taken, refunded, net",
                "bearer",
                _WHO,
                response="RevenueReport",
                params=_PARAMS,
                problems=_PROBLEMS,
                tag="analytics",
            )
        },
    ),
    Route(
        f"{API}/analytics/revenue.csv",
        RevenueReportCsv,
        {
            "get": Operation(
                "The same revenue as CSV: a row per day, method and currency",
                "bearer",
                _WHO,
                response_type="text/csv",
                params=_PARAMS,
                problems=_PROBLEMS,
                headers=("Content-Disposition",),
                tag="analytics",
            )
        },
    ),
    Route(
        f"{API}/analytics/utilisation",
        UtilisationReportJson,
        {
            "get": Operation(
                "Booked minutes over available minutes per local day and doctor",
                "bearer",
                _WHO,
                response="UtilisationReport",
                params=_PARAMS,
                problems=_PROBLEMS,
                tag="analytics",
            )
        },
    ),
    Route(
        f"{API}/analytics/utilisation.csv",
        UtilisationReportCsv,
        {
            "get": Operation(
                "The same utilisation as CSV: a row per day and doctor",
                "bearer",
                _WHO,
                response_type="text/csv",
                params=_PARAMS,
                problems=_PROBLEMS,
                headers=("Content-Disposition",),
                tag="analytics",
            )
        },
    ),
)
