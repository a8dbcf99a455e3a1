"""Scheduling resources: plain classes given the use cases, one use-case call per request (each
call is its own unit of work). Authorisation (role and ownership) is the use cases' job; a
resource only needs to know who is calling."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import falcon
from attrs import define

from hellodoctor_domain import (
    Actor,
    Appointment,
    AppointmentId,
    AppointmentStatus,
    AppointmentType,
    BookingRequest,
    DoctorId,
    PatientId,
    Role,
    Scheduling,
    TimeRange,
    VisitKind,
)
from hellodoctor_domain.errors import ConcurrencyError, DomainError, PortError
from hellodoctor_domain.model.values import utc
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.scheduling import AppointmentQuery, DoctorQuery
from hellodoctor_domain.use_cases.billing import Billing
from hellodoctor_domain.use_cases.identity import Identity
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import read_body, write_json
from hellodoctor_http.json_schema import may_be_omitted
from hellodoctor_http.middleware import Metrics
from hellodoctor_http.params import QueryReader, encode_cursor
from hellodoctor_http.problems import ERROR_PROBLEMS, FieldError, Problem, validation_problem
from hellodoctor_http.schemas import (
    AvailabilityBody,
    BookingBody,
    CancelBody,
    DoctorInviteBody,
    EmptyBody,
    RescheduleBody,
    StaffBookingBody,
    appointment_json,
    availability_json,
    doctor_json,
    iso,
    parse_enum,
    slot_json,
)

API = "/api/v1"
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


@define(frozen=True)
class SchedulingApi:
    """What the scheduling resources share."""

    scheduling: Scheduling
    identity: Identity
    ids: IdGenerator
    clock: Clock
    metrics: Metrics
    max_body_bytes: int
    # Cancelling refunds by the policy through Billing.
    billing: Billing


def _etag(version: int) -> str:
    return f'"{version}"'


class Doctors:
    def __init__(self, api: SchedulingApi) -> None:
        self._api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = QueryReader(req, {"specialty", "language", "text", "accepting", "cursor", "limit"})
        specialty, language, text = (
            params.text("specialty"),
            params.text("language"),
            params.text("text"),
        )
        accepting = params.boolean("accepting")
        limit = params.integer("limit", 20, 1, 100)
        cursor = params.cursor()
        after = None
        if cursor is not None:
            if isinstance(cursor, dict) and isinstance(cursor.get("after"), str):
                after = DoctorId(cursor["after"])
            else:
                params.fail("cursor", "not a cursor this API gave out")
        params.done()
        query = DoctorQuery(
            specialty=specialty,
            language=language,
            text=text,
            accepting_bookings=accepting,
            after=after,
            limit=limit + 1,  # one more than asked: whether there is a next page
        )
        found = self._api.scheduling.find_doctors(query)
        page = found[:limit]
        write_json(
            resp,
            {
                "items": [doctor_json(doctor) for doctor in page],
                "next_cursor": encode_cursor({"after": page[-1].id.value})
                if len(found) > limit
                else None,
            },
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """An admin adds a doctor; the doctor gets an e-mailed link to set a password."""
        actor = require_actor(req)
        if actor.role is not Role.ADMIN:  # before reading the body: no hints to others
            raise Problem("access-denied", "only an admin may add doctors")
        body = read_body(req, DoctorInviteBody, self._api.max_body_bytes)
        doctor = body.to_domain(DoctorId(f"dr-{self._api.ids.new_id()}"))
        created = self._api.identity.invite_doctor(actor, doctor, body.email)
        resp.location = f"{API}/doctors/{created.id.value}"
        write_json(resp, doctor_json(created), status=201)


class DoctorItem:
    def __init__(self, api: SchedulingApi) -> None:
        self._api = api

    def on_get(self, _req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        write_json(resp, doctor_json(self._api.scheduling.doctor(DoctorId(doctor_id))))


class DoctorAvailability:
    def __init__(self, api: SchedulingApi) -> None:
        self._api = api

    def on_get(self, _req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        availability = self._api.scheduling.availability(DoctorId(doctor_id))
        resp.etag = _etag(availability.version)
        write_json(resp, availability_json(availability))

    def on_put(self, req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        actor = require_actor(req)
        if_version = _if_match(req)
        body = read_body(req, AvailabilityBody, self._api.max_body_bytes)
        scheduling = self._api.scheduling
        doctor = scheduling.doctor(DoctorId(doctor_id))
        availability = body.to_domain(doctor)
        try:
            stored = scheduling.define_availability(actor, availability, if_version=if_version)
        except ConcurrencyError:
            if if_version is None:
                raise
            raise Problem(
                "precondition-failed", f"the availability is no longer at version {if_version}"
            ) from None
        resp.etag = _etag(stored.version)
        write_json(resp, availability_json(stored))


def _if_match(req: falcon.Request) -> int | None:
    header = req.get_header("If-Match")
    if header is None or header.strip() == "*":
        return None
    match = re.fullmatch(r'\s*"(\d{1,9})"\s*', header)
    if match is None:
        raise validation_problem([FieldError("If-Match", 'the ETag this API gave out, e.g. "3"')])
    return int(match.group(1))


class DoctorSlots:
    def __init__(self, api: SchedulingApi) -> None:
        self._api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        params = QueryReader(req, {"from", "to", "tz", "length_minutes"})
        start = params.moment("from") or self._api.clock.now()
        end = params.moment("to") or start + timedelta(days=7)
        zone = params.zone("tz")
        length = params.integer("length_minutes", 0, 1, 24 * 60)
        longest = self._api.scheduling.settings.longest_slot_listing
        if end <= start:
            params.fail("to", "must be after from")
        elif end - start > longest:
            params.fail("to", f"at most {longest.days} days after from")
        params.done()
        slots = self._api.scheduling.free_slots(
            DoctorId(doctor_id),
            TimeRange(start, end),
            display_zone=zone,
            length=timedelta(minutes=length) if length else None,
        )
        write_json(
            resp,
            {
                "doctor_id": doctor_id,
                "from": _iso(start),
                "to": _iso(end),
                "time_zone": zone,
                "slots": [slot_json(slot) for slot in slots],
            },
        )


def _iso(moment: datetime) -> str:
    return iso(utc(moment)) or ""


class Appointments:
    def __init__(self, api: SchedulingApi) -> None:
        self._api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        params = QueryReader(
            req, {"status", "from", "to", "doctor_id", "patient_id", "cursor", "limit"}
        )
        statuses: frozenset[AppointmentStatus] | None = None
        raw_status = params.text("status")
        if raw_status is not None:
            try:
                statuses = frozenset(
                    parse_enum(AppointmentStatus, part.strip(), "status")
                    for part in raw_status.split(",")
                )
            except DomainError as error:
                params.fail("status", str(error))
        starts_from, starts_before = params.moment("from"), params.moment("to")
        doctor, patient = params.text("doctor_id"), params.text("patient_id")
        limit = params.integer("limit", 50, 1, 200)
        cursor = params.cursor()
        after = None
        if cursor is not None:
            try:
                moment, key = cursor["after"]
                after = (datetime.fromisoformat(moment), AppointmentId(key))
            except (TypeError, KeyError, ValueError, DomainError):
                params.fail("cursor", "not a cursor this API gave out")
        params.done()
        query = AppointmentQuery(
            patient_id=PatientId(patient) if patient else None,
            doctor_id=DoctorId(doctor) if doctor else None,
            statuses=statuses,
            starts_from=starts_from,
            starts_before=starts_before,
            after=after,
            limit=limit + 1,
        )
        found = self._api.scheduling.list_appointments(actor, query)
        page = found[:limit]
        last = page[-1] if page else None
        write_json(
            resp,
            {
                "items": [appointment_json(a) for a in page],
                "next_cursor": encode_cursor(
                    {"after": [last.time.start.isoformat(), last.id.value]}
                )
                if last is not None and len(found) > limit
                else None,
            },
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        key = req.get_header("Idempotency-Key")
        if key is not None and not _IDEMPOTENCY_KEY.match(key):
            raise validation_problem(
                [FieldError("Idempotency-Key", "1 to 200 visible ASCII characters")]
            )
        request = self._booking_request(req, actor, key)
        try:
            appointment = self._api.scheduling.book(actor, request)
        except (DomainError, PortError) as error:
            outcome = next(
                (ERROR_PROBLEMS[k] for k in type(error).__mro__ if k in ERROR_PROBLEMS), "error"
            )
            self._api.metrics.bookings.labels(outcome).inc()
            raise
        self._api.metrics.bookings.labels(appointment.status.value).inc()
        resp.location = f"{API}/appointments/{appointment.id.value}"
        write_json(resp, appointment_json(appointment), status=201)

    def _booking_request(
        self, req: falcon.Request, actor: Actor, key: str | None
    ) -> BookingRequest:
        limit = self._api.max_body_bytes
        body: BookingBody | StaffBookingBody
        if actor.role is Role.PATIENT:
            # For themself: the patient comes from the token, and the body cannot name one.
            body = read_body(req, BookingBody, limit)
            assert actor.patient_id is not None
            patient_id = actor.patient_id
        else:
            body = read_body(req, StaffBookingBody, limit)
            patient_id = PatientId(body.patient_id)
        return BookingRequest(
            doctor_id=DoctorId(body.doctor_id),
            patient_id=patient_id,
            start=body.start,
            length=timedelta(minutes=body.length_minutes) if body.length_minutes else None,
            appointment_type=parse_enum(AppointmentType, body.type, "type"),
            visit_kind=parse_enum(VisitKind, body.visit_kind, "visit_kind"),
            reason=body.reason,
            idempotency_key=key,
        )


class AppointmentItem:
    def __init__(self, api: SchedulingApi) -> None:
        self._api = api

    def on_get(self, req: falcon.Request, resp: falcon.Response, appointment_id: str) -> None:
        actor = require_actor(req)
        appointment = self._api.scheduling.appointment(actor, AppointmentId(appointment_id))
        write_json(resp, appointment_json(appointment))


Action = Callable[[SchedulingApi, Actor, AppointmentId, Any], Appointment]


class AppointmentAction:
    """``POST /appointments/{id}/<action>``: cancel, reschedule, complete, no-show."""

    def __init__(self, api: SchedulingApi, body: type[Any], action: Action) -> None:
        self._api = api
        self._body = body
        self._action = action

    def on_post(self, req: falcon.Request, resp: falcon.Response, appointment_id: str) -> None:
        actor = require_actor(req)
        # An action whose input is all optional may come without a body at all.
        if may_be_omitted(self._body) and not req.content_length:
            body: Any = self._body()
        else:
            body = read_body(req, self._body, self._api.max_body_bytes)
        appointment = self._action(self._api, actor, AppointmentId(appointment_id), body)
        write_json(resp, appointment_json(appointment))


def cancel(api: SchedulingApi, actor: Actor, key: AppointmentId, body: CancelBody) -> Appointment:
    # Refunds follow the cancellation policy, to where the money came from, once.
    return api.billing.cancel(actor, key, body.reason)


def reschedule(
    api: SchedulingApi, actor: Actor, key: AppointmentId, body: RescheduleBody
) -> Appointment:
    return api.scheduling.reschedule(actor, key, body.start)


def complete(api: SchedulingApi, actor: Actor, key: AppointmentId, _body: EmptyBody) -> Appointment:
    return api.scheduling.complete(actor, key)


def no_show(api: SchedulingApi, actor: Actor, key: AppointmentId, _body: EmptyBody) -> Appointment:
    return api.scheduling.mark_no_show(actor, key)


def scheduling_resources(api: SchedulingApi) -> dict[str, object]:
    """Resources by the names the route table uses."""
    return {
        "doctors": Doctors(api),
        "doctor": DoctorItem(api),
        "availability": DoctorAvailability(api),
        "slots": DoctorSlots(api),
        "appointments": Appointments(api),
        "appointment": AppointmentItem(api),
        "cancel": AppointmentAction(api, CancelBody, cancel),
        "reschedule": AppointmentAction(api, RescheduleBody, reschedule),
        "complete": AppointmentAction(api, EmptyBody, complete),
        "no_show": AppointmentAction(api, EmptyBody, no_show),
    }
