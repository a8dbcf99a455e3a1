"""A doctor's pages about their patients' health: the records of one patient (latest revision
of each, every revision of one), the prescriptions active today, and writing a record (a
note, with a diagnosis and a prescription when given).

Every read and write goes through ``Records``, the use case ``/api/v1/patients/{id}/records``
calls: it applies the care-relationship rule (or a live consent), audits the access with this
request's id and address, and refuses. A patient the doctor may not see is 404, exactly like
a patient who does not exist.
"""

from __future__ import annotations

from datetime import date, datetime

import falcon
from attrs import evolve

from hellodoctor_domain.errors import DomainError, NotFound, PortError
from hellodoctor_domain.model.records import (
    Diagnosis,
    MedicalRecord,
    Prescription,
    RecordId,
    RecordKind,
)
from hellodoctor_domain.model.values import Actor, DoctorId, PatientId, Role
from hellodoctor_http.portal.health import request_context
from hellodoctor_http.portal.pages import Page, PageError

MAX_ID = 128
# The fields of the "write a record" form.
RECORD_FIELDS = (
    "kind",
    "code",
    "diagnosis",
    "notes",
    "medication",
    "dose",
    "frequency",
    "start",
    "end",
    "follow_up",
)


def _doctor(page: Page, req: falcon.Request) -> Actor:
    actor = page.require(req, Role.DOCTOR)
    if actor.doctor_id is None:
        raise PageError(403, "This page is for doctors.")
    return actor


def _no_right() -> PageError:
    return PageError(404, "There is no such patient, or you are not caring for them.")


class PatientLookup(Page):
    """``GET /doctor/patients``: open a patient's records by id (the day and week views link
    each patient here too)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _doctor(self, req)
        chosen = (req.get_param("patient_id") or "").strip()[:MAX_ID]
        if chosen:
            raise falcon.HTTPSeeOther(f"/doctor/patients/{falcon.uri.encode_value(chosen)}")
        self.render(req, resp, "doctor_patients.html")


class PatientChart(Page):
    """``GET /doctor/patients/{id}``: records and active prescriptions; ``POST``: write one."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, patient_id: str) -> None:
        actor = _doctor(self, req)
        self._show(req, resp, actor, PatientId(patient_id), {}, {}, 200)

    def on_post(self, req: falcon.Request, resp: falcon.Response, patient_id: str) -> None:
        actor = _doctor(self, req)
        form = self.form(req)
        patient = PatientId(patient_id)
        values = {k: form.get(k, "").strip() for k in RECORD_FIELDS}
        errors: dict[str, str] = {}
        record = _record(values, patient, self.components.clock.now(), errors)
        if record is not None:
            try:
                self.components.records.write(actor, record, request_context(self, req))
            except NotFound:
                raise _no_right() from None
            except (DomainError, PortError) as error:
                errors["form"] = str(error)
        if errors:
            self._show(req, resp, actor, patient, values, errors, 422)
            return
        self.redirect(resp, f"/doctor/patients/{patient_id}", "record-written")

    def _show(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        actor: Actor,
        patient: PatientId,
        values: dict[str, str],
        errors: dict[str, str],
        status: int,
    ) -> None:
        context = request_context(self, req)
        records = self.components.records
        try:
            found = records.of_patient(actor, patient, context)
            active = records.prescriptions(actor, patient, context)
        except NotFound:
            raise _no_right() from None
        self.render(
            req,
            resp,
            "doctor_patient.html",
            status=status,
            patient_id=patient.value,
            records=sorted(found, key=lambda r: r.created_at, reverse=True),
            prescriptions=active,
            kinds=[k.value for k in RecordKind],
            values=values,
            errors=errors,
            zone=_zone(self, req),
            notice=req.get_param("notice"),
        )


def _record(
    values: dict[str, str], patient: PatientId, now: datetime, errors: dict[str, str]
) -> MedicalRecord | None:
    """The record the form describes (``errors`` says which field is wrong otherwise). A
    diagnosis needs its code and words; a prescription its medication, dose, frequency and
    start; the author, id and time are the use case's."""
    try:
        kind = RecordKind(values["kind"] or RecordKind.CONSULTATION.value)
    except ValueError:
        errors["kind"] = "kind"
        kind = RecordKind.CONSULTATION
    diagnoses: list[Diagnosis] = []
    if values["code"] or values["diagnosis"]:
        try:
            diagnoses.append(Diagnosis(values["code"].upper(), values["diagnosis"]))
        except DomainError:
            errors["code"] = "code"
    prescriptions: list[Prescription] = []
    wanted = ("medication", "dose", "frequency", "start")
    if any(values[k] for k in (*wanted, "end")):
        start, end = _date(values["start"]), _date(values["end"])
        if start is None:
            errors["start"] = "date"
        if values["end"] and end is None:
            errors["end"] = "date"
        for name in wanted[:3]:
            if not values[name]:
                errors[name] = "required"
        if not errors and start is not None:
            try:
                prescriptions.append(
                    Prescription(
                        values["medication"], values["dose"], values["frequency"], start, end
                    )
                )
            except DomainError:
                errors["end"] = "date"
    follow_up = _date(values["follow_up"])
    if values["follow_up"] and follow_up is None:
        errors["follow_up"] = "date"
    if not (diagnoses or prescriptions or values["notes"]) and not errors:
        errors["notes"] = "required"
    if errors:
        return None
    try:
        return MedicalRecord(
            RecordId("new"),
            patient,
            DoctorId("author"),
            kind,
            now,
            diagnoses=diagnoses,
            prescriptions=prescriptions,
            notes=values["notes"],
            follow_up=follow_up,
        )
    except DomainError as error:
        errors["form"] = str(error)
        return None


def _date(raw: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


class PatientRecordPage(Page):
    """``GET /doctor/patients/{id}/records/{record_id}``: every revision, the latest first;
    ``POST``: correct the note (``Records.correct``: a new revision with the reason, every
    earlier one kept; the rest of the record as the latest revision has it)."""

    def on_get(
        self, req: falcon.Request, resp: falcon.Response, patient_id: str, record_id: str
    ) -> None:
        actor = _doctor(self, req)
        self._show(req, resp, actor, patient_id, record_id, {}, {}, 200)

    def on_post(
        self, req: falcon.Request, resp: falcon.Response, patient_id: str, record_id: str
    ) -> None:
        actor = _doctor(self, req)
        form = self.form(req)
        values = {k: form.get(k, "").strip() for k in ("notes", "reason")}
        errors = {k: "required" for k, v in values.items() if not v}
        if not errors:
            records, context = self.components.records, request_context(self, req)
            patient, key = PatientId(patient_id), RecordId(record_id)
            try:
                latest = records.versions(actor, patient, key, context)[-1]
                corrected = evolve(latest, notes=values["notes"])
                records.correct(actor, patient, key, corrected, values["reason"], context)
            except NotFound:
                raise PageError(404, "There is no such record.") from None
            except (DomainError, PortError) as error:
                errors["form"] = str(error)
        if errors:
            self._show(req, resp, actor, patient_id, record_id, values, errors, 422)
            return
        self.redirect(
            resp, f"/doctor/patients/{patient_id}/records/{record_id}", "record-corrected"
        )

    def _show(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        actor: Actor,
        patient_id: str,
        record_id: str,
        values: dict[str, str],
        errors: dict[str, str],
        status: int,
    ) -> None:
        try:
            versions = self.components.records.versions(
                actor, PatientId(patient_id), RecordId(record_id), request_context(self, req)
            )
        except (NotFound, DomainError):
            raise PageError(404, "There is no such record.") from None
        self.render(
            req,
            resp,
            "doctor_record.html",
            status=status,
            patient_id=patient_id,
            record=versions[-1],
            versions=list(reversed(versions)),
            values=values,
            errors=errors,
            zone=_zone(self, req),
            notice=req.get_param("notice"),
        )


def _zone(page: Page, req: falcon.Request) -> str | None:
    found = page.session(req)
    return None if found is None else found.zone
