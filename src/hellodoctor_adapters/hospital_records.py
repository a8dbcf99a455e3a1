"""A hospital as plain JSON-ready data, the one mapping both database adapters store: the
profile is read and written whole, so it is one JSON column (SQL) or sub-document (MongoDB);
only what queries or constraints need (registration number, city) sits beside it."""

from __future__ import annotations

from typing import Any

from hellodoctor_domain.model.hospitals import (
    Address,
    BedType,
    Department,
    Hospital,
    Ward,
    WardBeds,
)
from hellodoctor_domain.model.values import DoctorId, EmailAddress, HospitalId, UserId

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
        version=version,
    )
