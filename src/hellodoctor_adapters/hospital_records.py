"""A hospital and a transfer as plain JSON-ready data, the one mapping both database adapters
store: each is read and written whole, so it is one JSON column (SQL) or sub-document
(MongoDB); only what queries or constraints need (registration number, city, the hospitals of
a transfer) sits beside it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hellodoctor_domain.model.admissions import AdmissionRecord
from hellodoctor_domain.model.hospitals import (
    Address,
    Affiliation,
    BedType,
    Department,
    Hospital,
    Ward,
    WardBeds,
)
from hellodoctor_domain.model.transfers import Transfer, TransferStatus, TransferStep
from hellodoctor_domain.model.values import (
    AdmissionId,
    DoctorId,
    EmailAddress,
    HospitalId,
    PatientId,
    TransferId,
    UserId,
)

Record = dict[str, Any]


def profile_record(hospital: Hospital) -> Record:
    """Everything but the id, the registration number and the version."""
    address = hospital.address
    return {
        "name": hospital.name,
        "address": {
            "line": address.line,
            "city": address.city,
            "country": address.country,
            "latitude": address.latitude,
            "longitude": address.longitude,
        },
        "phone": hospital.phone,
        "email": None if hospital.email is None else hospital.email.value,
        "facilities": list(hospital.facilities),
        "departments": [
            {
                "code": d.code,
                "name": d.name,
                "head_doctor_id": None if d.head_doctor_id is None else d.head_doctor_id.value,
            }
            for d in hospital.departments
        ],
        "wards": [
            {
                "code": w.code,
                "name": w.name,
                "department_code": w.department_code,
                "beds": [{"bed_type": b.bed_type.value, "capacity": b.capacity} for b in w.beds],
            }
            for w in hospital.wards
        ],
        "administrators": [user.value for user in hospital.administrators],
        "doctors": [
            {"doctor_id": a.doctor_id.value, "department_code": a.department_code}
            for a in hospital.doctors
        ],
        "reminder_minutes": None
        if hospital.reminder_minutes is None
        else list(hospital.reminder_minutes),
        "receptionists": [user.value for user in hospital.receptionists],
    }


def hospital_from(
    hospital_id: str, registration_number: str, version: int, profile: Record
) -> Hospital:
    return Hospital(
        HospitalId(hospital_id),
        name=profile["name"],
        registration_number=registration_number,
        address=Address(**profile["address"]),
        phone=profile["phone"],
        email=None if profile["email"] is None else EmailAddress(profile["email"]),
        facilities=tuple(profile["facilities"]),
        departments=tuple(
            Department(
                d["code"],
                d["name"],
                None if d["head_doctor_id"] is None else DoctorId(d["head_doctor_id"]),
            )
            for d in profile["departments"]
        ),
        wards=tuple(
            Ward(
                w["code"],
                w["name"],
                tuple(WardBeds(BedType(b["bed_type"]), b["capacity"]) for b in w["beds"]),
                w["department_code"],
            )
            for w in profile["wards"]
        ),
        administrators=tuple(UserId(user) for user in profile["administrators"]),
        # Profiles written before affiliations existed have none.
        doctors=tuple(
            Affiliation(DoctorId(a["doctor_id"]), a["department_code"])
            for a in profile.get("doctors", [])
        ),
        # Absent from profiles stored before hospitals could set their own reminders.
        reminder_minutes=None
        if profile.get("reminder_minutes") is None
        else tuple(profile["reminder_minutes"]),
        version=version,
        # Absent from profiles stored before the front desk (issue 17).
        receptionists=tuple(UserId(user) for user in profile.get("receptionists", [])),
    )


def transfer_record(transfer: Transfer) -> Record:
    """Everything but the id, the two hospitals and the version (columns of their own)."""
    return {
        "patient_id": transfer.patient_id.value,
        "bed_type": transfer.bed_type.value,
        "reason": transfer.reason,
        "status": transfer.status.value,
        "ward_code": transfer.ward_code,
        "history": [
            {
                "status": step.status.value,
                # Microseconds since the epoch: exact in JSON and in BSON alike.
                "at_us": to_micros(step.at),
                "by": step.by.value,
                "note": step.note,
            }
            for step in transfer.history
        ],
    }


def transfer_from(
    transfer_id: str, from_hospital: str, to_hospital: str, version: int, record: Record
) -> Transfer:
    return Transfer(
        TransferId(transfer_id),
        PatientId(record["patient_id"]),
        HospitalId(from_hospital),
        HospitalId(to_hospital),
        BedType(record["bed_type"]),
        record["reason"],
        status=TransferStatus(record["status"]),
        ward_code=record["ward_code"],
        history=tuple(
            TransferStep(
                TransferStatus(step["status"]),
                from_micros(step["at_us"]),
                UserId(step["by"]),
                step["note"],
            )
            for step in record["history"]
        ),
        version=version,
    )


def admission_record(admission: AdmissionRecord) -> Record:
    """Everything but the id, the hospital, the patient and the version (stored beside it)."""
    discharged_at, discharged_by = admission.discharged_at, admission.discharged_by
    return {
        "ward_code": admission.ward_code,
        "bed_type": admission.bed_type.value,
        "admitted_at_us": to_micros(admission.admitted_at),
        "admitted_by": admission.admitted_by.value,
        "discharged_at_us": None if discharged_at is None else to_micros(discharged_at),
        "discharged_by": None if discharged_by is None else discharged_by.value,
    }


def admission_from(
    admission_id: str, hospital_id: str, patient_id: str, version: int, record: Record
) -> AdmissionRecord:
    discharged_at, discharged_by = record["discharged_at_us"], record["discharged_by"]
    return AdmissionRecord(
        AdmissionId(admission_id),
        HospitalId(hospital_id),
        PatientId(patient_id),
        record["ward_code"],
        BedType(record["bed_type"]),
        from_micros(record["admitted_at_us"]),
        UserId(record["admitted_by"]),
        discharged_at=None if discharged_at is None else from_micros(discharged_at),
        discharged_by=None if discharged_by is None else UserId(discharged_by),
        version=version,
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)
