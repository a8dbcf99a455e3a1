"""The front desk (issue 17, item 4): a hospital's receptionists (and its administrators, and
platform admins) find patients, register walk-ins, book them with the hospital's doctors to
pay at the clinic, and record the payment as collected.

The hospital comes from the path, the price from the doctor, the collector and the moment
from the token and the clock: never from the body.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import attrs
import falcon
import phonenumbers

from hellodoctor_domain import AppointmentId, DoctorId, PatientId
from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.payments import Collection
from hellodoctor_domain.model.profiles import Patient
from hellodoctor_domain.model.values import AppointmentType, HospitalId, VisitKind
from hellodoctor_domain.ports.scheduling import PatientSearch
from hellodoctor_domain.use_cases.front_desk import MAX_SEARCH, DeskBooking
from hellodoctor_domain.use_cases.scheduling import BookingRequest
from hellodoctor_domain.use_cases.staff import StaffPlace
from hellodoctor_http.api import Resource
from hellodoctor_http.api.accounts import account_json
from hellodoctor_http.api.appointments import (
    APPOINTMENT,
    IDEMPOTENCY_PARAM,
    EmptyBody,
    StaffBookingBody,
    appointment_json,
    idempotency_key,
)
from hellodoctor_http.api.payments import payment_json
from hellodoctor_http.api.staff import StaffInvitationBody
from hellodoctor_http.api.values import money
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import parse_enum, write_json
from hellodoctor_http.json_schema import (
    birth_date,
    choice,
    request_body,
    text,
    wire,
)
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    STRING,
    Operation,
    Route,
    answer,
    date_query,
    integer_query,
    nullable,
    path_param,
    ref,
    text_query,
    to_appointment,
)
from hellodoctor_http.params import QueryReader

MAX_NAME = 200
MAX_PHONE = 32


@request_body
class DeskWalkInBody:
    """A patient who walked in: no account, no password (docs/clinic_day.md)."""

    name: str = text(MAX_NAME, minLength=1)
    phone: str = text(MAX_PHONE, minLength=1, description="With its country code: +44 20...")
    date_of_birth: date = birth_date(default=attrs.NOTHING)


@request_body
class DeskBookingBody(StaffBookingBody):
    """The desk books a named patient with one of the hospital's doctors."""

    pay_at_clinic: bool = wire(
        default=True,
        kw_only=True,
        description="Booked now, paid at the clinic (the doctor's fee is due there).",
    )


@request_body
class DeskCollectionBody:
    via: str = choice(Collection, description="How the clinic took the money.")


def desk_patient_json(patient: Patient) -> dict[str, Any]:
    """Who the patient is, and nothing of their health."""
    return {
        "id": patient.id.value,
        "name": patient.name,
        "date_of_birth": None
        if patient.date_of_birth is None
        else patient.date_of_birth.isoformat(),
        "phone": patient.phone,
        "email": None if patient.email is None else patient.email.value,
    }


def desk_booking_json(booking: DeskBooking) -> dict[str, Any]:
    payment = booking.payment
    due = payment is not None and payment.status.is_open
    return {
        "appointment": appointment_json(booking.appointment),
        "payment": None if payment is None else payment_json(payment),
        "due_at_clinic": money(payment.amount) if due and payment is not None else None,
    }


_NULLABLE_TEXT = {"type": ["string", "null"]}
SCHEMAS: dict[str, Any] = {
    "DeskPatient": answer(
        id=STRING,
        name=STRING,
        date_of_birth={"type": ["string", "null"], "format": "date"},
        phone=_NULLABLE_TEXT,
        email=_NULLABLE_TEXT,
    ),
    "DeskPatientList": answer(items={"type": "array", "items": ref("DeskPatient")}),
    "DeskBooking": answer(
        appointment=ref("Appointment"),
        payment=nullable("Payment"),
        due_at_clinic=nullable("Money"),
    ),
}


def _phone(raw: str) -> str:
    """``raw`` as E.164, or ``invalid-value`` (the shape was met; no country has it)."""
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise InvalidValue("phone: not a phone number with its country code (+44 20 7946 0000)")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


_SEARCH_PARAMS = (
    text_query("name", "Part of the name (two letters at least), any case."),
    text_query("phone", "The whole number with its country code.", MAX_PHONE),
    text_query("email", "The whole address, any case.", 254),
    date_query("date_of_birth", "YYYY-MM-DD."),
    integer_query("limit", 1, MAX_SEARCH, 20),
)


class ReceptionistInvitations(Resource):
    """A new ``receptionist`` account at this hospital's desk: the role follows from the
    route (as an administrator's invitation), never from the body."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, StaffInvitationBody)
        place = StaffPlace(hospital_id=HospitalId(hospital_id), desk=True)
        account = self.components.identity.invite_staff(actor, body.email, place)
        write_json(resp, account_json(account), status=201)


class DeskPatients(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = require_actor(req)
        params = QueryReader(req, _SEARCH_PARAMS)
        name, raw_phone, email = params.text("name"), params.text("phone"), params.text("email")
        born = params.day("date_of_birth")
        limit = params.count("limit")
        params.done()
        phone = None
        if raw_phone is not None:
            try:
                phone = _phone(raw_phone)
            except InvalidValue:
                phone = raw_phone  # matches nobody: numbers are kept in E.164
        query = PatientSearch(name=name, phone=phone, email=email, date_of_birth=born, limit=limit)
        found = self.components.front_desk.search_patients(actor, HospitalId(hospital_id), query)
        write_json(resp, {"items": [desk_patient_json(p) for p in found]})


class DeskWalkIns(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, DeskWalkInBody)
        patient = self.components.front_desk.register_walk_in(
            actor, HospitalId(hospital_id), body.name, _phone(body.phone), body.date_of_birth
        )
        write_json(resp, desk_patient_json(patient), status=201)


class DeskAppointments(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, DeskBookingBody)
        request = BookingRequest(
            doctor_id=DoctorId(body.doctor_id),
            patient_id=PatientId(body.patient_id),
            start=body.start,
            length=timedelta(minutes=body.length_minutes) if body.length_minutes else None,
            appointment_type=parse_enum(AppointmentType, body.type, "type"),
            visit_kind=parse_enum(VisitKind, body.visit_kind, "visit_kind"),
            reason=body.reason,
            idempotency_key=idempotency_key(req),
        )
        booking = self.components.front_desk.book(
            actor, HospitalId(hospital_id), request, pay_at_clinic=body.pay_at_clinic
        )
        resp.location = f"{API}/appointments/{booking.appointment.id.value}"
        write_json(resp, desk_booking_json(booking), status=201)


class PaymentAtClinic(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, appointment_id: str) -> None:
        actor = require_actor(req)
        if req.content_length:
            self.body(req, EmptyBody)
        payment, appointment = self.components.front_desk.pay_at_clinic(
            actor, AppointmentId(appointment_id)
        )
        write_json(resp, desk_booking_json(DeskBooking(appointment, payment)))


class CollectedPayment(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, appointment_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, DeskCollectionBody)
        payment = self.components.front_desk.record_collection(
            actor, AppointmentId(appointment_id), parse_enum(Collection, body.via, "via")
        )
        write_json(resp, payment_json(payment), status=201)


_HOSPITAL = path_param("hospital_id", "A hospital's id.")
_WHO = "that hospital's receptionists and administrators, admin"
_DESK_PROBLEMS = ("access-denied", "not-found", "invalid-value")

ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/hospitals/{{hospital_id}}/receptionist-invitations",
        ReceptionistInvitations,
        {
            "post": Operation(
                "Add a receptionist: a new account at this hospital's front desk, sent a link "
                "to set its password",
                "bearer",
                "that hospital's administrators, admin",
                ok=201,
                response="Account",
                body=StaffInvitationBody,
                params=(_HOSPITAL,),
                problems=("access-denied", "not-found", "already-exists", *BODY_PROBLEMS),
                tag="hospitals",
            )
        },
    ),
    Route(
        f"{API}/hospitals/{{hospital_id}}/patients",
        DeskPatients,
        {
            "get": Operation(
                "Find patients to book (identifying fields only): every given criterion "
                "matches, at least one is given",
                "bearer",
                _WHO,
                response="DeskPatientList",
                params=(_HOSPITAL, *_SEARCH_PARAMS),
                problems=(*_DESK_PROBLEMS, "validation-error"),
                tag="hospitals",
            )
        },
    ),
    Route(
        f"{API}/hospitals/{{hospital_id}}/walk-ins",
        DeskWalkIns,
        {
            "post": Operation(
                "Register a patient who walked in (a profile without an account)",
                "bearer",
                _WHO,
                ok=201,
                response="DeskPatient",
                body=DeskWalkInBody,
                params=(_HOSPITAL,),
                problems=(*_DESK_PROBLEMS, *BODY_PROBLEMS),
                tag="hospitals",
            )
        },
    ),
    Route(
        f"{API}/hospitals/{{hospital_id}}/appointments",
        DeskAppointments,
        {
            "post": Operation(
                "Book a patient with one of the hospital's doctors, to pay at the clinic",
                "bearer",
                _WHO,
                ok=201,
                response="DeskBooking",
                body=DeskBookingBody,
                params=(_HOSPITAL, IDEMPOTENCY_PARAM),
                headers=("Location",),
                problems=(
                    *_DESK_PROBLEMS,
                    "slot-unavailable",
                    "outside-availability",
                    "off-grid",
                    "too-short-notice",
                    "beyond-horizon",
                    "in-the-past",
                    "not-accepting-bookings",
                    "invalid-duration",
                    "payment-not-allowed",
                    "concurrent-update",
                    "idempotency-key-reused",
                    *BODY_PROBLEMS,
                ),
                tag="hospitals",
                links=to_appointment("get_appointment_item", key="$response.body#/appointment/id"),
            )
        },
    ),
    Route(
        f"{API}/appointments/{{appointment_id}}/payment-at-clinic",
        PaymentAtClinic,
        {
            "post": Operation(
                "The patient pays at the clinic: a held appointment is booked, its fee due "
                "at the desk",
                "bearer",
                "the front desk of its doctor's hospitals, admin",
                response="DeskBooking",
                body=EmptyBody,
                params=(APPOINTMENT,),
                problems=(
                    *_DESK_PROBLEMS,
                    "payment-not-allowed",
                    "payment-already-started",
                    "concurrent-update",
                    *BODY_PROBLEMS,
                ),
                tag="hospitals",
            )
        },
    ),
    Route(
        f"{API}/appointments/{{appointment_id}}/collected-payment",
        CollectedPayment,
        {
            "post": Operation(
                "Record the payment due at the clinic as collected (cash, card terminal): "
                "once; a second time is 409",
                "bearer",
                "the front desk of its doctor's hospitals, admin",
                ok=201,
                response="Payment",
                body=DeskCollectionBody,
                params=(APPOINTMENT,),
                problems=(
                    *_DESK_PROBLEMS,
                    "payment-not-allowed",
                    "illegal-transition",
                    "concurrent-update",
                    *BODY_PROBLEMS,
                ),
                tag="hospitals",
            )
        },
    ),
)
