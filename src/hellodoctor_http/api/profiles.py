"""Profiles (issue 17, item 5): ``GET``/``PATCH /me`` (an account and the profile it is linked
to) and an administrator's ``PATCH /doctors/{id}/profile`` (registration number and fee too).

A PATCH body names only what changes: an absent or null field is unchanged; an empty string
clears an optional text (phone, language, time zone); an empty list clears a list. Phone
numbers are read with ``phonenumbers`` and kept in E.164.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import falcon
import phonenumbers

from hellodoctor_domain import DoctorId
from hellodoctor_domain.errors import InvalidValue, NotFound
from hellodoctor_domain.model.profiles import Doctor, EmergencyContact, Patient
from hellodoctor_domain.model.values import time_zone
from hellodoctor_domain.use_cases.profiles import MyProfile
from hellodoctor_http.api import Resource
from hellodoctor_http.api.accounts import SCHEMAS as ACCOUNT_SCHEMAS
from hellodoctor_http.api.accounts import account_json
from hellodoctor_http.api.doctors import ZONE_PATTERN, doctor_json
from hellodoctor_http.api.records import request_context
from hellodoctor_http.api.values import MoneyBody
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import birth_date, items, quote, request_body, text
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    STRING,
    Operation,
    Route,
    answer,
    nullable,
    path_param,
)
from hellodoctor_http.problems import unauthorized

MAX_NAME = 200
MAX_PHONE = 40
MAX_CONTACTS = 5
MAX_ALLERGIES = 50
MAX_LIST_TEXT = 100
# A BCP 47 tag (en, pt-BR), or empty to clear.
LANGUAGE_PATTERN = "^([A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3})?$"
ZONE_OR_EMPTY = f"^({ZONE_PATTERN.strip('^$')})?$"


@request_body
class EmergencyContactBody:
    name: str = text(MAX_NAME, minLength=1)
    phone: str = text(MAX_PHONE, minLength=1, description="With its country code: +44 20...")
    relationship: str = text(MAX_NAME, default="")


@request_body
class ProfileChangesBody:
    """What changes; absent or null is unchanged."""

    name: str | None = text(MAX_NAME, default=None, minLength=1)
    phone: str | None = text(
        MAX_PHONE, default=None, description="With its country code; empty clears. Patients."
    )
    date_of_birth: date | None = birth_date(
        default=None, description="From 1900, not in the future. Patients."
    )
    language: str | None = text(
        35, default=None, pattern=LANGUAGE_PATTERN, description="A language tag. Patients."
    )
    time_zone: str | None = text(
        64, default=None, pattern=ZONE_OR_EMPTY, description="IANA; empty clears (patients)."
    )
    emergency_contacts: tuple[EmergencyContactBody, ...] | None = items(
        MAX_CONTACTS, default=None, description="Replaces the list. Patients."
    )
    allergies: tuple[str, ...] | None = items(
        MAX_ALLERGIES,
        default=None,
        each={"maxLength": MAX_LIST_TEXT, "minLength": 1},
        description="Replaces the list. Patients.",
    )
    specialty: str | None = text(MAX_NAME, default=None, minLength=1, description="Doctors.")
    qualifications: tuple[str, ...] | None = items(
        20, default=None, each={"maxLength": MAX_NAME, "minLength": 1}, description="Doctors."
    )
    languages: tuple[str, ...] | None = items(
        20, default=None, each={"maxLength": 35, "minLength": 1}, description="Doctors."
    )
    registration_number: str | None = text(
        64, default=None, minLength=1, description="An administrator's (403 for a doctor)."
    )
    consultation_fee: MoneyBody | None = None


def _phone(field: str, raw: str) -> str:
    """``raw`` as E.164, or ``InvalidValue`` naming ``field`` (422 ``invalid-value``: the shape
    the schema states was met; no country issues that number)."""
    try:
        parsed = phonenumbers.parse(raw, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise InvalidValue(f"{field}: not a phone number with its country code (+44 20 7946 0000)")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def changes_of(body: ProfileChangesBody) -> dict[str, Any]:
    """The fields the body sets, as the domain's values."""
    changes: dict[str, Any] = {}
    for name in ("name", "date_of_birth", "specialty", "registration_number"):
        value = getattr(body, name)
        if value is not None:
            changes[name] = value
    for name in ("language", "time_zone"):
        value = getattr(body, name)
        if value is not None:
            changes[name] = value or None
    if body.time_zone:
        try:
            time_zone(body.time_zone)
        except InvalidValue:
            message = f"time_zone: {quote(body.time_zone)} is not an IANA time zone"
            raise InvalidValue(message) from None
    if body.phone is not None:
        changes["phone"] = _phone("phone", body.phone) if body.phone.strip() else None
    if body.emergency_contacts is not None:
        changes["emergency_contacts"] = tuple(
            EmergencyContact(
                contact.name,
                _phone(f"emergency_contacts/{i}/phone", contact.phone),
                contact.relationship,
            )
            for i, contact in enumerate(body.emergency_contacts)
        )
    for name in ("allergies", "qualifications", "languages"):
        value = getattr(body, name)
        if value is not None:
            changes[name] = tuple(value)
    if body.consultation_fee is not None:
        changes["consultation_fee"] = body.consultation_fee.to_domain()
    return changes


def patient_profile_json(patient: Patient) -> dict[str, Any]:
    birth = patient.date_of_birth
    return {
        "id": patient.id.value,
        "name": patient.name,
        "phone": patient.phone,
        "date_of_birth": None if birth is None else birth.isoformat(),
        "language": patient.language,
        "time_zone": patient.time_zone,
        "emergency_contacts": [
            {"name": c.name, "phone": c.phone, "relationship": c.relationship}
            for c in patient.emergency_contacts
        ],
        "allergies": list(patient.allergies),
    }


def me_json(mine: MyProfile) -> dict[str, Any]:
    return {
        **account_json(mine.account),
        "patient": None if mine.patient is None else patient_profile_json(mine.patient),
        "doctor": None if mine.doctor is None else doctor_json(mine.doctor),
    }


_NULLABLE_TEXT = {"type": ["string", "null"]}
ACCOUNT_SCHEMA = ACCOUNT_SCHEMAS["Account"]  # GET /me answered the account alone before
SCHEMAS: dict[str, Any] = {
    "PatientProfile": answer(
        id=STRING,
        name=STRING,
        phone={**_NULLABLE_TEXT, "description": "E.164."},
        date_of_birth={"type": ["string", "null"], "format": "date"},
        language=_NULLABLE_TEXT,
        time_zone=_NULLABLE_TEXT,
        emergency_contacts={
            "type": "array",
            "items": answer(name=STRING, phone=STRING, relationship=STRING),
        },
        allergies={"type": "array", "items": STRING},
    ),
    "Me": answer(
        **ACCOUNT_SCHEMA["properties"],
        patient={**nullable("PatientProfile"), "description": "For a patient's account."},
        doctor={**nullable("Doctor"), "description": "For a doctor's account."},
    ),
}


def _gone() -> Exception:
    return unauthorized("the token's account is gone or not active", invalid_token=True)


class Me(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        try:
            mine = self.components.profiles.me(actor, request_context(self, req))
        except NotFound:
            raise _gone() from None
        write_json(resp, me_json(mine))

    def on_patch(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        changes = changes_of(_changes(self, req))
        try:
            mine = self.components.profiles.update_me(actor, changes, request_context(self, req))
        except NotFound:
            raise _gone() from None
        write_json(resp, me_json(mine))


def _changes(resource: Resource, req: falcon.Request) -> ProfileChangesBody:
    """Every field may be left out, so the body may be too (the OpenAPI document says it is
    optional): no body changes nothing."""
    if not req.content_length:
        return ProfileChangesBody()
    return resource.body(req, ProfileChangesBody)


class DoctorProfile(Resource):
    def on_patch(self, req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        actor = require_actor(req)
        changes = changes_of(_changes(self, req))
        doctor: Doctor = self.components.profiles.update_doctor(actor, DoctorId(doctor_id), changes)
        write_json(resp, doctor_json(doctor))


_EDIT_PROBLEMS = ("access-denied", "invalid-value", "concurrent-update", *BODY_PROBLEMS)

ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/me",
        Me,
        {
            "get": Operation(
                "Your account and your profile",
                "bearer",
                "any signed-in account, for itself",
                response="Me",
                tag="identity",
            ),
            "patch": Operation(
                "Edit your profile: patients their details, contacts and allergies; doctors "
                "their public profile (not the registration number or fee: 403)",
                "bearer",
                "a patient or doctor, for itself",
                response="Me",
                body=ProfileChangesBody,
                problems=_EDIT_PROBLEMS,
                tag="identity",
            ),
        },
    ),
    Route(
        f"{API}/doctors/{{doctor_id}}/profile",
        DoctorProfile,
        {
            "patch": Operation(
                "Edit a doctor's profile, registration number and fee included",
                "bearer",
                "admin",
                response="Doctor",
                body=ProfileChangesBody,
                params=(path_param("doctor_id", "A doctor's id."),),
                problems=(*_EDIT_PROBLEMS, "not-found", "already-exists"),
            )
        },
    ),
)
