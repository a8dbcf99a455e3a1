"""Clinical records over HTTP: a patient's records (and their revisions), history and active
prescriptions (consents and the audit log are ``api/consents.py``). Who may do what is the use
case's (``use_cases/records.py``); every access is audited with this request's id and client
address."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import falcon

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.audit import RequestContext
from hellodoctor_domain.model.records import (
    Diagnosis,
    DiagnosisStatus,
    Interpretation,
    LabResult,
    MedicalHistory,
    MedicalRecord,
    Prescription,
    RecordId,
    RecordKind,
    Vital,
    VitalSign,
)
from hellodoctor_domain.model.values import (
    AppointmentId,
    DoctorId,
    HospitalId,
    PatientId,
)
from hellodoctor_http.api import Resource
from hellodoctor_http.api.accounts import client_address
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import (
    MAX_TEXT,
    choice,
    identifier,
    items,
    request_body,
    text,
    wire,
)
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
)

MAX_SHORT = 200
MAX_NOTES = 2500  # within the body limit (HELLODOCTOR_MAX_BODY_BYTES, 4 KiB in tests)

# -- requests -------------------------------------------------------------------------------


def _parse(kind: Any, value: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise InvalidValue(f"{value!r} is not one of {', '.join(kind)}") from None


@request_body
class DiagnosisBody:
    code: str = text(16, description="ICD-10, e.g. E11.9")
    text: str = text(MAX_TEXT)
    status: str = choice(DiagnosisStatus, default=DiagnosisStatus.ACUTE)


@request_body
class VitalBody:
    sign: str = choice(VitalSign)
    value: float = wire(minimum=0, maximum=1000)
    unit: str = text(16, description="Cel, /min, mm[Hg], %, kg or cm, by sign")


@request_body
class PrescriptionBody:
    medication: str = text(MAX_SHORT)
    dose: str = text(MAX_SHORT)
    frequency: str = text(MAX_SHORT)
    start: date
    end: date | None = None


@request_body
class LabResultBody:
    test: str = text(MAX_SHORT)
    value: str = text(MAX_SHORT)
    unit: str = text(32, default="")
    reference_range: str = text(MAX_SHORT, default="")
    interpretation: str = choice(Interpretation, default=Interpretation.NORMAL)


_SHORT_ITEM = {"maxLength": MAX_SHORT}


@request_body
class RecordBody:
    """A doctor's record about the patient of the path. Its id, author, time and revision
    are the server's."""

    kind: str = choice(RecordKind)
    appointment_id: str | None = identifier(default=None)
    hospital_id: str | None = identifier(default=None)
    diagnoses: tuple[DiagnosisBody, ...] = items(50, default=())
    symptoms: tuple[str, ...] = items(50, default=(), each=_SHORT_ITEM)
    vitals: tuple[VitalBody, ...] = items(20, default=())
    prescriptions: tuple[PrescriptionBody, ...] = items(50, default=())
    lab_results: tuple[LabResultBody, ...] = items(100, default=())
    allergies: tuple[str, ...] = items(50, default=(), each=_SHORT_ITEM)
    notes: str = text(MAX_NOTES, default="")
    attachments: tuple[str, ...] = items(20, default=(), each={"maxLength": 100})
    follow_up: date | None = None

    def to_domain(self, patient_id: PatientId, now: datetime) -> MedicalRecord:
        return MedicalRecord(
            RecordId("new"),
            patient_id,
            DoctorId("author"),
            _parse(RecordKind, self.kind),
            now,
            appointment_id=AppointmentId(self.appointment_id) if self.appointment_id else None,
            hospital_id=HospitalId(self.hospital_id) if self.hospital_id else None,
            diagnoses=[
                Diagnosis(d.code, d.text, _parse(DiagnosisStatus, d.status)) for d in self.diagnoses
            ],
            symptoms=self.symptoms,
            vitals=[Vital(_parse(VitalSign, v.sign), v.value, v.unit) for v in self.vitals],
            prescriptions=[
                Prescription(p.medication, p.dose, p.frequency, p.start, p.end)
                for p in self.prescriptions
            ],
            lab_results=[
                LabResult(
                    r.test,
                    r.value,
                    r.unit,
                    r.reference_range,
                    _parse(Interpretation, r.interpretation),
                )
                for r in self.lab_results
            ],
            allergies=self.allergies,
            notes=self.notes,
            attachments=self.attachments,
            follow_up=self.follow_up,
        )


@request_body
class CorrectionBody:
    """A correction: the whole corrected record and why; the old revision is kept."""

    reason: str = text(MAX_TEXT)
    record: RecordBody


# -- answers --------------------------------------------------------------------------------


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def prescription_json(p: Prescription) -> dict[str, Any]:
    return {
        "medication": p.medication,
        "dose": p.dose,
        "frequency": p.frequency,
        "start": p.start.isoformat(),
        "end": _day(p.end),
        "duration_days": p.duration_days,
    }


def diagnosis_json(d: Diagnosis) -> dict[str, Any]:
    return {"code": d.code, "text": d.text, "status": d.status.value}


def record_json(record: MedicalRecord) -> dict[str, Any]:
    return {
        "id": record.id.value,
        "revision": record.revision,
        "patient_id": record.patient_id.value,
        "author_id": record.author_id.value,
        "kind": record.kind.value,
        "created_at": record.created_at.isoformat(),
        "appointment_id": None if record.appointment_id is None else record.appointment_id.value,
        "hospital_id": None if record.hospital_id is None else record.hospital_id.value,
        "diagnoses": [diagnosis_json(d) for d in record.diagnoses],
        "symptoms": list(record.symptoms),
        "vitals": [{"sign": v.sign.value, "value": v.value, "unit": v.unit} for v in record.vitals],
        "prescriptions": [prescription_json(p) for p in record.prescriptions],
        "lab_results": [
            {
                "test": r.test,
                "value": r.value,
                "unit": r.unit,
                "reference_range": r.reference_range,
                "interpretation": r.interpretation.value,
            }
            for r in record.lab_results
        ],
        "allergies": list(record.allergies),
        "notes": record.notes,
        "attachments": list(record.attachments),
        "follow_up": _day(record.follow_up),
        "correction_reason": record.correction_reason,
    }


def history_json(patient_id: PatientId, history: MedicalHistory) -> dict[str, Any]:
    return {
        "patient_id": patient_id.value,
        "allergies": list(history.allergies),
        "chronic_conditions": [diagnosis_json(d) for d in history.chronic_conditions],
        "current_medications": [prescription_json(p) for p in history.current_medications],
        "surgeries": [record_json(r) for r in history.surgeries],
    }


_N = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_NULL_INT = {"type": ["integer", "null"]}
_DAY = {"type": "string", "format": "date"}
_NULL_DAY = {"type": ["string", "null"], "format": "date"}
_STRINGS = {"type": "array", "items": STRING}


def _array(name: str) -> dict[str, Any]:
    return {"type": "array", "items": ref(name)}


SCHEMAS: dict[str, Any] = {
    "Diagnosis": answer(code=STRING, text=STRING, status=STRING),
    "Vital": answer(sign=STRING, value={"type": "number"}, unit=STRING),
    "PrescriptionItem": answer(
        medication=STRING,
        dose=STRING,
        frequency=STRING,
        start=_DAY,
        end=_NULL_DAY,
        duration_days=_NULL_INT,
    ),
    "LabResult": answer(
        test=STRING, value=STRING, unit=STRING, reference_range=STRING, interpretation=STRING
    ),
    "MedicalRecord": answer(
        id=STRING,
        revision=_INT,
        patient_id=STRING,
        author_id=STRING,
        kind=STRING,
        created_at=DATETIME,
        appointment_id=_N,
        hospital_id=_N,
        diagnoses=_array("Diagnosis"),
        symptoms=_STRINGS,
        vitals=_array("Vital"),
        prescriptions=_array("PrescriptionItem"),
        lab_results=_array("LabResult"),
        allergies=_STRINGS,
        notes=STRING,
        attachments=_STRINGS,
        follow_up=_NULL_DAY,
        correction_reason=_N,
    ),
    "MedicalRecordList": answer(items=_array("MedicalRecord")),
    "MedicalHistory": answer(
        patient_id=STRING,
        allergies=_STRINGS,
        chronic_conditions=_array("Diagnosis"),
        current_medications=_array("PrescriptionItem"),
        surgeries=_array("MedicalRecord"),
    ),
    "PrescriptionList": answer(items=_array("PrescriptionItem")),
}

# -- resources ------------------------------------------------------------------------------


def request_context(resource: Resource, req: falcon.Request) -> RequestContext:
    return RequestContext(
        getattr(req.context, "request_id", None),
        client_address(req, resource.settings.trusted_proxies) or None,
    )


class PatientRecords(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, patient_id: str) -> None:
        actor = require_actor(req)
        found = self.components.records.of_patient(
            actor, PatientId(patient_id), request_context(self, req)
        )
        write_json(resp, {"items": [record_json(r) for r in found]})

    def on_post(self, req: falcon.Request, resp: falcon.Response, patient_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, RecordBody)
        record = body.to_domain(PatientId(patient_id), self.components.clock.now())
        written = self.components.records.write(actor, record, request_context(self, req))
        resp.location = f"{API}/patients/{patient_id}/records/{written.id.value}"
        write_json(resp, record_json(written), status=201)


class PatientRecord(Resource):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, patient_id: str, record_id: str
    ) -> None:
        actor = require_actor(req)
        found = self.components.records.versions(
            actor, PatientId(patient_id), RecordId(record_id), request_context(self, req)
        )
        write_json(resp, record_json(found[-1]))


class PatientRecordVersions(Resource):
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, patient_id: str, record_id: str
    ) -> None:
        actor = require_actor(req)
        found = self.components.records.versions(
            actor, PatientId(patient_id), RecordId(record_id), request_context(self, req)
        )
        write_json(resp, {"items": [record_json(r) for r in found]})

    def on_post(
        self, req: falcon.Request, resp: falcon.Response, patient_id: str, record_id: str
    ) -> None:
        actor = require_actor(req)
        body = self.body(req, CorrectionBody)
        patient = PatientId(patient_id)
        corrected = body.record.to_domain(patient, self.components.clock.now())
        revision = self.components.records.correct(
            actor, patient, RecordId(record_id), corrected, body.reason, request_context(self, req)
        )
        write_json(resp, record_json(revision), status=201)


class PatientHistory(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, patient_id: str) -> None:
        actor = require_actor(req)
        patient = PatientId(patient_id)
        found = self.components.records.history(actor, patient, request_context(self, req))
        write_json(resp, history_json(patient, found))


class PatientPrescriptions(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, patient_id: str) -> None:
        actor = require_actor(req)
        found = self.components.records.prescriptions(
            actor, PatientId(patient_id), request_context(self, req)
        )
        write_json(resp, {"items": [prescription_json(p) for p in found]})


# -- routes ---------------------------------------------------------------------------------

_PATIENT = path_param("patient_id", "A patient's id.")
_RECORD = path_param("record_id", "A clinical record's id.")
_READERS = "the patient; a doctor in a care relationship or with a live consent"
_WRITERS = "a doctor in a care relationship or with a read-write consent"
_READ_PROBLEMS = ("not-found",)
_WRITE_PROBLEMS = ("not-found", "invalid-value", "already-exists", *BODY_PROBLEMS)
_PATIENTS = f"{API}/patients/{{patient_id}}"


def _op(summary: str, who: str, **options: Any) -> Operation:
    return Operation(summary, "bearer", who, tag="records", **options)


ROUTES: tuple[Route, ...] = (
    Route(
        f"{_PATIENTS}/records",
        PatientRecords,
        {
            "get": _op(
                "The patient's records (latest revision of each), audited",
                _READERS,
                response="MedicalRecordList",
                params=(_PATIENT,),
                problems=_READ_PROBLEMS,
            ),
            "post": _op(
                "Write a record about the patient",
                _WRITERS,
                ok=201,
                response="MedicalRecord",
                body=RecordBody,
                params=(_PATIENT,),
                problems=_WRITE_PROBLEMS,
                headers=("Location",),
            ),
        },
    ),
    Route(
        f"{_PATIENTS}/records/{{record_id}}",
        PatientRecord,
        {
            "get": _op(
                "One record, its latest revision",
                _READERS,
                response="MedicalRecord",
                params=(_PATIENT, _RECORD),
                problems=_READ_PROBLEMS,
            )
        },
    ),
    Route(
        f"{_PATIENTS}/records/{{record_id}}/versions",
        PatientRecordVersions,
        {
            "get": _op(
                "Every revision of one record, first to latest",
                _READERS,
                response="MedicalRecordList",
                params=(_PATIENT, _RECORD),
                problems=_READ_PROBLEMS,
            ),
            "post": _op(
                "Correct a record: a new revision supersedes the latest (both kept)",
                _WRITERS,
                ok=201,
                response="MedicalRecord",
                body=CorrectionBody,
                params=(_PATIENT, _RECORD),
                problems=_WRITE_PROBLEMS,
            ),
        },
    ),
    Route(
        f"{_PATIENTS}/history",
        PatientHistory,
        {
            "get": _op(
                "Medical history: allergies, chronic conditions, current medications, surgeries",
                _READERS,
                response="MedicalHistory",
                params=(_PATIENT,),
                problems=_READ_PROBLEMS,
            )
        },
    ),
    Route(
        f"{_PATIENTS}/prescriptions",
        PatientPrescriptions,
        {
            "get": _op(
                "Prescriptions active today",
                _READERS,
                response="PrescriptionList",
                params=(_PATIENT,),
                problems=_READ_PROBLEMS,
            )
        },
    ),
)
