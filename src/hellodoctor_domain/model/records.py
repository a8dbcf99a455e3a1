"""Clinical records: what a doctor wrote about a patient (a consultation, a prescription, a
lab result, imaging, a surgery), append-only.

A ``MedicalRecord`` is one *revision* of a record: a correction is a new revision with the same
``id`` and ``revision + 1`` that names who corrected it and why; the old revision is kept and
still readable (``versions``). Storage refuses a second revision with the same number, so two
doctors correcting the same revision at once cannot both succeed. The patient's medical history
(allergies, chronic conditions, current medications, surgeries) and their active prescriptions
are *derived* from the latest revision of each record, never stored apart.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime

from attrs import define, evolve, field

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.values import (
    AppointmentId,
    DoctorId,
    HospitalId,
    PatientId,
    _Identifier,
    utc,
)

MAX_TEXT = 2000


class RecordId(_Identifier):
    """Identity of a clinical record (all its revisions share it)."""


class RecordKind(enum.StrEnum):
    CONSULTATION = "consultation"
    PRESCRIPTION = "prescription"
    LAB_RESULT = "lab_result"
    IMAGING = "imaging"
    SURGERY = "surgery"


def _text(_instance: object, attribute: object, value: str) -> None:
    name = getattr(attribute, "name", "value")
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(f"{name} must be a non-blank string")
    if len(value) > MAX_TEXT:
        raise InvalidValue(f"{name} must be at most {MAX_TEXT} characters")


# ICD-10: a letter, two digits, optionally a dot and one to four alphanumerics (A09, E11.9,
# S72.001A in ICD-10-CM).
_ICD10 = re.compile(r"[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?")


def _icd10(_instance: object, _attribute: object, value: str) -> None:
    if not isinstance(value, str) or not _ICD10.fullmatch(value):
        raise InvalidValue(f"diagnosis code {value!r} is not an ICD-10 code (e.g. E11.9)")


class DiagnosisStatus(enum.StrEnum):
    ACUTE = "acute"
    CHRONIC = "chronic"
    RESOLVED = "resolved"


@define(frozen=True)
class Diagnosis:
    code: str = field(validator=_icd10)
    text: str = field(validator=_text)
    status: DiagnosisStatus = DiagnosisStatus.ACUTE


class VitalSign(enum.StrEnum):
    """Each sign has one unit and a range outside which a value is a typing error, not a
    patient (a plausible range, far wider than the normal one)."""

    TEMPERATURE = "temperature"
    HEART_RATE = "heart_rate"
    RESPIRATORY_RATE = "respiratory_rate"
    SYSTOLIC = "systolic_pressure"
    DIASTOLIC = "diastolic_pressure"
    OXYGEN_SATURATION = "oxygen_saturation"
    WEIGHT = "weight"
    HEIGHT = "height"


VITAL_UNITS: dict[VitalSign, tuple[str, float, float]] = {
    VitalSign.TEMPERATURE: ("Cel", 25.0, 45.0),
    VitalSign.HEART_RATE: ("/min", 10.0, 300.0),
    VitalSign.RESPIRATORY_RATE: ("/min", 2.0, 80.0),
    VitalSign.SYSTOLIC: ("mm[Hg]", 40.0, 300.0),
    VitalSign.DIASTOLIC: ("mm[Hg]", 10.0, 200.0),
    VitalSign.OXYGEN_SATURATION: ("%", 30.0, 100.0),
    VitalSign.WEIGHT: ("kg", 0.2, 500.0),
    VitalSign.HEIGHT: ("cm", 20.0, 280.0),
}


@define(frozen=True)
class Vital:
    sign: VitalSign
    value: float
    unit: str

    def __attrs_post_init__(self) -> None:
        unit, low, high = VITAL_UNITS[self.sign]
        if self.unit != unit:
            raise InvalidValue(f"{self.sign} is measured in {unit}, not {self.unit}")
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise InvalidValue(f"{self.sign} must be a number")
        if not low <= self.value <= high:
            raise InvalidValue(f"{self.sign} of {self.value} {unit} is not plausible")


@define(frozen=True)
class Prescription:
    medication: str = field(validator=_text)
    dose: str = field(validator=_text)
    frequency: str = field(validator=_text)
    start: date
    end: date | None = None  # None: until stopped (a long-term medication)

    def __attrs_post_init__(self) -> None:
        if self.end is not None and self.end < self.start:
            raise InvalidValue(f"{self.medication}: the end comes before the start")

    @property
    def duration_days(self) -> int | None:
        return None if self.end is None else (self.end - self.start).days + 1

    def active_on(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


class Interpretation(enum.StrEnum):
    NORMAL = "normal"
    LOW = "low"
    HIGH = "high"
    CRITICAL = "critical"
    ABNORMAL = "abnormal"


@define(frozen=True)
class LabResult:
    test: str = field(validator=_text)
    value: str = field(validator=_text)  # numeric or not ("positive")
    unit: str = ""
    reference_range: str = ""
    interpretation: Interpretation = Interpretation.NORMAL


def _tuple(values: Iterable[object]) -> tuple[object, ...]:
    return tuple(values)


@define(eq=False)
class MedicalRecord:
    """One revision of a clinical record. Immutable once stored (``correct`` returns the next
    revision instead of changing this one)."""

    id: RecordId
    patient_id: PatientId
    author_id: DoctorId
    kind: RecordKind
    created_at: datetime = field(converter=utc)
    revision: int = 1
    appointment_id: AppointmentId | None = None
    hospital_id: HospitalId | None = None
    diagnoses: tuple[Diagnosis, ...] = field(default=(), converter=_tuple)
    symptoms: tuple[str, ...] = field(default=(), converter=_tuple)
    vitals: tuple[Vital, ...] = field(default=(), converter=_tuple)
    prescriptions: tuple[Prescription, ...] = field(default=(), converter=_tuple)
    lab_results: tuple[LabResult, ...] = field(default=(), converter=_tuple)
    allergies: tuple[str, ...] = field(default=(), converter=_tuple)
    notes: str = ""
    attachments: tuple[str, ...] = field(default=(), converter=_tuple)  # document ids
    follow_up: date | None = None
    correction_reason: str | None = None  # set on every revision after the first

    def __attrs_post_init__(self) -> None:
        if self.revision < 1:
            raise InvalidValue("a record's revision starts at 1")
        if self.revision > 1 and not (self.correction_reason or "").strip():
            raise InvalidValue("a correction must say why")
        if len(self.notes) > 20 * MAX_TEXT:
            raise InvalidValue("notes are too long")
        for text in (*self.symptoms, *self.allergies):
            _text(None, None, text)

    def correct(
        self, corrected: MedicalRecord, author_id: DoctorId, reason: str, now: datetime
    ) -> MedicalRecord:
        """The next revision: ``corrected`` 's content, this record's identity and patient."""
        return evolve(
            corrected,
            id=self.id,
            patient_id=self.patient_id,
            kind=self.kind,
            revision=self.revision + 1,
            author_id=author_id,
            created_at=now,
            correction_reason=reason,
        )


@define(frozen=True)
class MedicalHistory:
    """Derived from the latest revision of every record of a patient."""

    allergies: tuple[str, ...]
    chronic_conditions: tuple[Diagnosis, ...]
    current_medications: tuple[Prescription, ...]
    surgeries: tuple[MedicalRecord, ...]


def latest_revisions(records: Iterable[MedicalRecord]) -> list[MedicalRecord]:
    """The newest revision of each record, oldest record first."""
    latest: dict[RecordId, MedicalRecord] = {}
    for record in records:
        known = latest.get(record.id)
        if known is None or record.revision > known.revision:
            latest[record.id] = record
    return sorted(latest.values(), key=lambda r: (_first_seen(records, r.id), r.id.value))


def _first_seen(records: Iterable[MedicalRecord], record_id: RecordId) -> datetime:
    return min(r.created_at for r in records if r.id == record_id)


def active_prescriptions(records: Sequence[MedicalRecord], today: date) -> list[Prescription]:
    return [
        p
        for record in latest_revisions(records)
        for p in record.prescriptions
        if p.active_on(today)
    ]


def medical_history(
    records: Sequence[MedicalRecord], today: date, known_allergies: Iterable[str] = ()
) -> MedicalHistory:
    current = latest_revisions(records)
    allergies: dict[str, str] = {}
    for allergy in (*known_allergies, *(a for r in current for a in r.allergies)):
        allergies.setdefault(allergy.casefold(), allergy)
    chronic: dict[str, Diagnosis] = {}
    for record in current:
        for diagnosis in record.diagnoses:
            if diagnosis.status is DiagnosisStatus.CHRONIC:
                chronic[diagnosis.code] = diagnosis
            elif diagnosis.status is DiagnosisStatus.RESOLVED:
                chronic.pop(diagnosis.code, None)
    return MedicalHistory(
        allergies=tuple(allergies.values()),
        chronic_conditions=tuple(chronic.values()),
        current_medications=tuple(active_prescriptions(records, today)),
        surgeries=tuple(r for r in current if r.kind is RecordKind.SURGERY),
    )
