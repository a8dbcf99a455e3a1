"""Hospitals: a platform admin registers one and appoints its administrators; anyone reads its
profile and its free beds (numbers only); its administrators admit and discharge patients."""

from __future__ import annotations

from typing import Any

import falcon

from hellodoctor_adapters.hospital_records import profile_record
from hellodoctor_domain.errors import AccessDenied, InvalidValue
from hellodoctor_domain.model.admissions import AdmissionRecord
from hellodoctor_domain.model.hospitals import (
    LATEST_REMINDER_MINUTES,
    MAX_REMINDERS,
    Address,
    BedType,
    Department,
    Hospital,
    Ward,
    WardBeds,
)
from hellodoctor_domain.model.values import DoctorId, EmailAddress, HospitalId, PatientId, UserId
from hellodoctor_domain.ports.hospitals import BedCount
from hellodoctor_domain.use_cases.hospitals import Admission
from hellodoctor_http.api import Resource
from hellodoctor_http.api.records import request_context
from hellodoctor_http.api.values import iso
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import MAX_TEXT, choice, items, request_body, text, wire
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    DATETIME,
    STRING,
    Operation,
    Route,
    answer,
    path_param,
    ref,
    text_query,
)
from hellodoctor_http.params import QueryReader

MAX_CODE = 64

# -- requests -------------------------------------------------------------------------------


@request_body
class AddressBody:
    line: str = text(MAX_TEXT)
    city: str = text(MAX_TEXT)
    country: str = text(MAX_TEXT)
    latitude: float = wire(minimum=-90, maximum=90)
    longitude: float = wire(minimum=-180, maximum=180)


@request_body
class DepartmentBody:
    code: str = text(MAX_CODE)
    name: str = text(MAX_TEXT)
    head_doctor_id: str | None = text(MAX_CODE, default=None)


@request_body
class WardBedsBody:
    bed_type: str = choice(BedType)
    capacity: int = wire(minimum=0, maximum=100_000)


@request_body
class WardBody:
    code: str = text(MAX_CODE)
    name: str = text(MAX_TEXT)
    beds: tuple[WardBedsBody, ...] = items(20)
    department_code: str | None = text(MAX_CODE, default=None)


_REMINDER = {"minimum": 1, "maximum": LATEST_REMINDER_MINUTES}


@request_body
class HospitalBody:
    """A platform admin registers a hospital; the id is made by the server."""

    name: str = text(MAX_TEXT)
    registration_number: str = text(MAX_CODE)
    address: AddressBody
    phone: str = text(MAX_CODE)
    email: EmailAddress | None = None
    facilities: tuple[str, ...] = items(100, default=(), each={"maxLength": MAX_CODE})
    departments: tuple[DepartmentBody, ...] = items(100, default=())
    wards: tuple[WardBody, ...] = items(200, default=())
    reminder_minutes: tuple[int, ...] | None = items(
        MAX_REMINDERS,
        default=None,
        each=_REMINDER,
        description="Minutes before a visit here that reminders go out; none: the platform's.",
    )

    def to_domain(self, key: HospitalId) -> Hospital:
        return Hospital(
            key,
            name=self.name,
            registration_number=self.registration_number,
            address=Address(
                self.address.line,
                self.address.city,
                self.address.country,
                self.address.latitude,
                self.address.longitude,
            ),
            phone=self.phone,
            email=self.email,
            facilities=self.facilities,
            departments=tuple(
                Department(d.code, d.name, DoctorId(d.head_doctor_id) if d.head_doctor_id else None)
                for d in self.departments
            ),
            wards=tuple(
                Ward(
                    w.code,
                    w.name,
                    tuple(WardBeds(parse_bed_type(b.bed_type), b.capacity) for b in w.beds),
                    w.department_code,
                )
                for w in self.wards
            ),
            reminder_minutes=self.reminder_minutes,
        )


@request_body
class RemindersBody:
    minutes: tuple[int, ...] | None = items(
        MAX_REMINDERS,
        each=_REMINDER,
        description="Minutes before a visit; null to follow the platform's setting again.",
    )


@request_body
class AdministratorBody:
    user_id: str = text(MAX_CODE, description="An account whose role is hospital_admin.")


@request_body
class AffiliationBody:
    doctor_id: str = text(MAX_CODE)
    department_code: str | None = text(MAX_CODE, default=None)


@request_body
class AdmissionBody:
    patient_id: str = text(MAX_CODE)
    ward_code: str = text(MAX_CODE)
    bed_type: str = choice(BedType)

    def to_domain(self, hospital_id: str) -> Admission:
        return Admission(
            HospitalId(hospital_id),
            self.ward_code,
            parse_bed_type(self.bed_type),
            PatientId(self.patient_id),
        )


def parse_bed_type(value: str) -> BedType:
    try:
        return BedType(value)
    except ValueError:
        raise InvalidValue(f"{value!r} is not a bed type") from None


# -- answers --------------------------------------------------------------------------------


def hospital_json(hospital: Hospital) -> dict[str, Any]:
    """The stored profile (one mapping, ``hospital_records``) less its administrators and
    receptionists, who are not public."""
    profile = profile_record(hospital)
    del profile["administrators"]
    del profile["receptionists"]
    return {
        "id": hospital.id.value,
        "registration_number": hospital.registration_number,
        **profile,
    }


def beds_json(hospital_id: str, counts: list[BedCount]) -> dict[str, Any]:
    return {
        "hospital_id": hospital_id,
        "beds": [
            {
                "ward_code": c.ward_code,
                "bed_type": c.bed_type.value,
                "capacity": c.capacity,
                "occupied": c.occupied,
                "free": c.free,
            }
            for c in counts
        ],
    }


_INTEGER = {"type": "integer"}
_NULLABLE_STRING = {"type": ["string", "null"]}
SCHEMAS: dict[str, Any] = {
    "Hospital": answer(
        id=STRING,
        name=STRING,
        registration_number=STRING,
        address=ref("AddressInput"),
        phone=STRING,
        email=_NULLABLE_STRING,
        facilities={"type": "array", "items": STRING},
        departments={"type": "array", "items": ref("DepartmentInput")},
        wards={"type": "array", "items": ref("WardInput")},
        doctors={"type": "array", "items": ref("AffiliationInput")},
        reminder_minutes={"type": ["array", "null"], "items": {"type": "integer"}},
    ),
    "HospitalList": answer(items={"type": "array", "items": ref("Hospital")}),
    "BedCount": answer(
        ward_code=STRING, bed_type=STRING, capacity=_INTEGER, occupied=_INTEGER, free=_INTEGER
    ),
    "Beds": answer(hospital_id=STRING, beds={"type": "array", "items": ref("BedCount")}),
    "Admission": answer(
        id=STRING,
        hospital_id=STRING,
        patient_id=STRING,
        ward_code=STRING,
        bed_type={"enum": [t.value for t in BedType]},
        admitted_at=DATETIME,
        discharged_at={"type": ["string", "null"], "format": "date-time"},
    ),
    "AdmissionList": answer(items={"type": "array", "items": ref("Admission")}),
}


def admission_json(stay: AdmissionRecord) -> dict[str, Any]:
    return {
        "id": stay.id.value,
        "hospital_id": stay.hospital_id.value,
        "patient_id": stay.patient_id.value,
        "ward_code": stay.ward_code,
        "bed_type": stay.bed_type.value,
        "admitted_at": iso(stay.admitted_at),
        "discharged_at": iso(stay.discharged_at),
    }


# -- resources ------------------------------------------------------------------------------


_FIND_PARAMS = (text_query("city", "Case-insensitive."),)


class Hospitals(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        params = QueryReader(req, _FIND_PARAMS)
        city = params.text("city")
        params.done()
        found = self.components.hospitals.in_city(city)
        write_json(resp, {"items": [hospital_json(h) for h in found]})

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        body = self.body(req, HospitalBody)
        hospital = body.to_domain(HospitalId(f"hosp-{self.components.ids.new_id()}"))
        created = self.components.hospitals.register(actor, hospital)
        resp.location = f"{API}/hospitals/{created.id.value}"
        write_json(resp, hospital_json(created), status=201)


class HospitalItem(Resource):
    def on_get(self, _req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        write_json(resp, hospital_json(self.components.hospitals.get(HospitalId(hospital_id))))


class HospitalReminders(Resource):
    def on_put(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, RemindersBody)
        hospital = self.components.hospitals.set_reminders(
            actor, HospitalId(hospital_id), body.minutes
        )
        write_json(resp, hospital_json(hospital))


class HospitalAdministrators(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, AdministratorBody)
        self.components.hospitals.appoint_administrator(
            actor, HospitalId(hospital_id), UserId(body.user_id)
        )
        resp.status = falcon.HTTP_204


class HospitalDoctors(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, AffiliationBody)
        hospital = self.components.hospitals.affiliate(
            actor, HospitalId(hospital_id), DoctorId(body.doctor_id), body.department_code
        )
        write_json(resp, hospital_json(hospital))


class HospitalBeds(Resource):
    def on_get(self, _req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        counts = self.components.hospitals.beds(HospitalId(hospital_id))
        write_json(resp, beds_json(hospital_id, counts))


class HospitalAdmissions(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        found = self.components.hospitals.admissions(
            require_actor(req), HospitalId(hospital_id), request_context(self, req)
        )
        write_json(resp, {"items": [admission_json(stay) for stay in found]})

    def on_post(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = require_actor(req)
        admission = self.body(req, AdmissionBody).to_domain(hospital_id)
        self.components.hospitals.admit(actor, admission, request_context(self, req))
        write_json(
            resp,
            beds_json(hospital_id, self.components.hospitals.beds(admission.hospital_id)),
            status=201,
        )


class MyAdmissions(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        if actor.patient_id is None:
            raise AccessDenied("only a patient has stays of their own")
        found = self.components.hospitals.admissions_of(
            actor, actor.patient_id, request_context(self, req)
        )
        write_json(resp, {"items": [admission_json(stay) for stay in found]})


class HospitalDischarges(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response, hospital_id: str) -> None:
        actor = require_actor(req)
        admission = self.body(req, AdmissionBody).to_domain(hospital_id)
        self.components.hospitals.discharge(actor, admission, request_context(self, req))
        write_json(
            resp, beds_json(hospital_id, self.components.hospitals.beds(admission.hospital_id))
        )


# -- routes ---------------------------------------------------------------------------------

_HOSPITAL = path_param("hospital_id", "A hospital's id.")
_MANAGED = ("not-found", "no-bed-available", "invalid-value", *BODY_PROBLEMS)

ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/hospitals",
        Hospitals,
        {
            "get": Operation(
                "Hospitals (all, or in one city)",
                "public",
                "anyone",
                response="HospitalList",
                params=_FIND_PARAMS,
                problems=("validation-error",),
                tag="hospitals",
            ),
            "post": Operation(
                "Register a hospital (every ward's beds start free)",
                "bearer",
                "admin",
                ok=201,
                response="Hospital",
                body=HospitalBody,
                problems=("access-denied", "already-exists", "invalid-value", *BODY_PROBLEMS),
                headers=("Location",),
                tag="hospitals",
            ),
        },
    ),
    Route(
        f"{API}/hospitals/{{hospital_id}}",
        HospitalItem,
        {
            "get": Operation(
                "A hospital's profile",
                "public",
                "anyone",
                response="Hospital",
                params=(_HOSPITAL,),
                problems=("not-found",),
                tag="hospitals",
            )
        },
    ),
    Route(
        f"{API}/hospitals/{{hospital_id}}/reminders",
        HospitalReminders,
        {
            "put": Operation(
                "When reminders of visits at the hospital go out (null: the platform's setting)",
                "bearer",
                "that hospital's administrators, admin; anyone else gets 404",
                response="Hospital",
                body=RemindersBody,
                params=(_HOSPITAL,),
                problems=("not-found", "invalid-value", "concurrent-update", *BODY_PROBLEMS),
                tag="hospitals",
            )
        },
    ),
    Route(
        f"{API}/hospitals/{{hospital_id}}/administrators",
        HospitalAdministrators,
        {
            "post": Operation(
                "Appoint an administrator (an account with the hospital_admin role)",
                "bearer",
                "admin",
                ok=204,
                body=AdministratorBody,
                params=(_HOSPITAL,),
                problems=("access-denied", "not-found", "invalid-value", *BODY_PROBLEMS),
                tag="hospitals",
            )
        },
    ),
    Route(
        f"{API}/hospitals/{{hospital_id}}/doctors",
        HospitalDoctors,
        {
            "post": Operation(
                "Name a doctor who works here (in a department, or none)",
                "bearer",
                "that hospital's administrators, admin",
                response="Hospital",
                body=AffiliationBody,
                params=(_HOSPITAL,),
                problems=("not-found", "invalid-value", "concurrent-update", *BODY_PROBLEMS),
                tag="hospitals",
            )
        },
    ),
    Route(
        f"{API}/hospitals/{{hospital_id}}/beds",
        HospitalBeds,
        {
            "get": Operation(
                "Beds per ward and type: capacity, occupied, free (numbers only)",
                "public",
                "anyone",
                response="Beds",
                params=(_HOSPITAL,),
                problems=("not-found",),
                tag="hospitals",
            )
        },
    ),
    Route(
        f"{API}/hospitals/{{hospital_id}}/admissions",
        HospitalAdmissions,
        {
            "get": Operation(
                "The hospital's stays, open and closed, oldest first",
                "bearer",
                "that hospital's administrators, admin",
                response="AdmissionList",
                params=(_HOSPITAL,),
                problems=("not-found",),
                tag="hospitals",
            ),
            "post": Operation(
                "Admit a patient: occupy a free bed (409 when none is free)",
                "bearer",
                "that hospital's administrators, admin",
                ok=201,
                response="Beds",
                body=AdmissionBody,
                params=(_HOSPITAL,),
                problems=_MANAGED,
                tag="hospitals",
            ),
        },
    ),
    Route(
        f"{API}/hospitals/{{hospital_id}}/discharges",
        HospitalDischarges,
        {
            "post": Operation(
                "Discharge a patient: free their bed",
                "bearer",
                "that hospital's administrators, admin",
                response="Beds",
                body=AdmissionBody,
                params=(_HOSPITAL,),
                problems=_MANAGED,
                tag="hospitals",
            )
        },
    ),
    Route(
        f"{API}/me/admissions",
        MyAdmissions,
        {
            "get": Operation(
                "Your stays in hospital, oldest first",
                "bearer",
                "patient (own)",
                response="AdmissionList",
                problems=("access-denied",),
                tag="hospitals",
            )
        },
    ),
)
