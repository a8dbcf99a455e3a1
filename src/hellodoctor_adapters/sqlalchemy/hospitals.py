"""Hospital storage over SQLAlchemy Core: the hospital repository, the bed ledger and the
transfers.

The database decides every race: a taken registration number is a unique key; a stale update
fails its compare-and-set on ``version``; a bed count leaving ``0 <= occupied <= capacity`` is
refused by ``ck_ward_beds_within_capacity`` in the very statement that moves it
(``NoBedAvailable``, translated by ``engine``). On PostgreSQL a concurrent admission waits for
the row lock and then adds to the committed count; on SQLite writers hold the database's
single write lock. Each count change runs in a savepoint, so a refusal leaves the unit of work
usable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, RowMapping

from hellodoctor_adapters.crypto import FieldCipher
from hellodoctor_adapters.hospital_records import (
    admission_from,
    admission_record,
    hospital_from,
    profile_record,
    transfer_from,
    transfer_record,
)
from hellodoctor_adapters.phi import ADMISSIONS, TRANSFERS, open_fields, seal_fields
from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.rows import compare_and_set, first_row
from hellodoctor_adapters.sqlalchemy.schema import admissions, hospitals, transfers, ward_beds
from hellodoctor_domain.errors import NoBedAvailable, NotFound
from hellodoctor_domain.model.admissions import AdmissionRecord
from hellodoctor_domain.model.hospitals import BedType, Hospital
from hellodoctor_domain.model.transfers import Transfer
from hellodoctor_domain.model.values import AdmissionId, HospitalId, PatientId, TransferId
from hellodoctor_domain.ports.hospitals import (
    AdmissionRepository,
    BedCount,
    BedLedger,
    HospitalRepository,
    TransferRepository,
)


def _row(hospital: Hospital) -> dict[str, object]:
    return {
        "registration_number": hospital.registration_number,
        "city_key": hospital.address.city.casefold(),
        "profile": profile_record(hospital),
    }


def _hospital(row: RowMapping) -> Hospital:
    return hospital_from(row["id"], row["registration_number"], row["version"], row["profile"])


class SqlHospitalRepository(HospitalRepository):
    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self._connection = connection

    def _add(self, hospital: Hospital) -> None:
        with translated_errors():
            self._connection.execute(
                sa.insert(hospitals).values(id=hospital.id.value, **_row(hospital), version=1)
            )

    def _get(self, hospital_id: HospitalId) -> Hospital:
        row = first_row(
            self._connection, sa.select(hospitals).where(hospitals.c.id == hospital_id.value)
        )
        if row is None:
            raise NotFound(f"no hospital {hospital_id}")
        return _hospital(row)

    def _update(self, hospital: Hospital) -> None:
        compare_and_set(
            self._connection,
            hospitals,
            hospitals.c.id == hospital.id.value,
            hospital.version,
            _row(hospital),
            f"hospital {hospital.id}",
        )

    def _list(self, city: str | None) -> Sequence[Hospital]:
        query = sa.select(hospitals).order_by(hospitals.c.id)
        if city is not None:
            query = query.where(hospitals.c.city_key == city.casefold())
        with translated_errors():
            return [_hospital(row) for row in self._connection.execute(query).mappings()]


class SqlBedLedger(BedLedger):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def provide(
        self, hospital_id: HospitalId, ward_code: str, bed_type: BedType, capacity: int
    ) -> None:
        insert = (
            postgresql.insert(ward_beds)
            if self._connection.dialect.name == "postgresql"
            else sqlite.insert(ward_beds)
        )
        statement = insert.values(
            hospital_id=hospital_id.value,
            ward_code=ward_code,
            bed_type=bed_type.value,
            capacity=capacity,
            occupied=0,
        ).on_conflict_do_update(
            index_elements=[ward_beds.c.hospital_id, ward_beds.c.ward_code, ward_beds.c.bed_type],
            set_={"capacity": capacity},  # the CHECK refuses a capacity below the occupied beds
        )
        with translated_errors(), self._connection.begin_nested():
            self._connection.execute(statement)

    def occupy(self, hospital_id: HospitalId, ward_code: str, bed_type: BedType) -> None:
        self._move(hospital_id, ward_code, bed_type, +1)

    def release(self, hospital_id: HospitalId, ward_code: str, bed_type: BedType) -> None:
        self._move(hospital_id, ward_code, bed_type, -1)

    def _move(self, hospital_id: HospitalId, ward_code: str, bed_type: BedType, delta: int) -> None:
        statement = (
            sa.update(ward_beds)
            .where(
                ward_beds.c.hospital_id == hospital_id.value,
                ward_beds.c.ward_code == ward_code,
                ward_beds.c.bed_type == bed_type.value,
            )
            .values(occupied=ward_beds.c.occupied + delta)
        )
        with translated_errors(), self._connection.begin_nested():
            # Atomic in the database: the CHECK refuses a count outside its range right here.
            changed = self._connection.execute(statement).rowcount
        if changed == 0:
            raise NoBedAvailable(f"ward {ward_code} of {hospital_id} has no {bed_type} beds")

    def counts(self, hospital_id: HospitalId) -> list[BedCount]:
        query = (
            sa.select(ward_beds)
            .where(ward_beds.c.hospital_id == hospital_id.value)
            .order_by(ward_beds.c.ward_code, ward_beds.c.bed_type)
        )
        with translated_errors():
            rows = self._connection.execute(query).mappings().all()
        return [
            BedCount(row["ward_code"], BedType(row["bed_type"]), row["capacity"], row["occupied"])
            for row in rows
        ]


def _transfer(row: RowMapping, cipher: FieldCipher) -> Transfer:
    record = open_fields(cipher, TRANSFERS, str(row["id"]), row["record"])
    return transfer_from(
        row["id"], row["from_hospital_id"], row["to_hospital_id"], row["version"], record
    )


class SqlTransferRepository(TransferRepository):
    """A transfer's reason and steps (notes) are sealed in its record (``phi.TRANSFERS``)."""

    def __init__(self, connection: Connection, cipher: FieldCipher) -> None:
        super().__init__()
        self._connection = connection
        self._cipher = cipher

    def _record(self, transfer: Transfer) -> dict[str, Any]:
        return seal_fields(self._cipher, TRANSFERS, transfer.id.value, transfer_record(transfer))

    def _add(self, transfer: Transfer) -> None:
        with translated_errors():
            self._connection.execute(
                sa.insert(transfers).values(
                    id=transfer.id.value,
                    from_hospital_id=transfer.from_hospital_id.value,
                    to_hospital_id=transfer.to_hospital_id.value,
                    requested_at=transfer.history[0].at,
                    record=self._record(transfer),
                    version=1,
                )
            )

    def _get(self, transfer_id: TransferId) -> Transfer:
        query = sa.select(transfers).where(transfers.c.id == transfer_id.value)
        row = first_row(self._connection, query)
        if row is None:
            raise NotFound(f"no transfer {transfer_id}")
        return _transfer(row, self._cipher)

    def _update(self, transfer: Transfer) -> None:
        compare_and_set(
            self._connection,
            transfers,
            transfers.c.id == transfer.id.value,
            transfer.version,
            {"record": self._record(transfer)},
            f"transfer {transfer.id}",
        )

    def _of_hospital(self, hospital_id: HospitalId) -> Sequence[Transfer]:
        query = (
            sa.select(transfers)
            .where(
                sa.or_(
                    transfers.c.from_hospital_id == hospital_id.value,
                    transfers.c.to_hospital_id == hospital_id.value,
                )
            )
            .order_by(transfers.c.requested_at, transfers.c.id)
        )
        with translated_errors():
            found = self._connection.execute(query).mappings()
            return [_transfer(row, self._cipher) for row in found]


class SqlAdmissionRepository(AdmissionRepository):
    """Where a patient lies (ward, bed type) is sealed in the record (``phi.ADMISSIONS``)."""

    def __init__(self, connection: Connection, cipher: FieldCipher) -> None:
        super().__init__()
        self._connection = connection
        self._cipher = cipher

    def _record(self, admission: AdmissionRecord) -> dict[str, Any]:
        plain = admission_record(admission)
        return seal_fields(self._cipher, ADMISSIONS, admission.id.value, plain)

    def _add(self, admission: AdmissionRecord) -> None:
        with translated_errors():
            self._connection.execute(
                sa.insert(admissions).values(
                    id=admission.id.value,
                    hospital_id=admission.hospital_id.value,
                    patient_id=admission.patient_id.value,
                    admitted_at=admission.admitted_at,
                    record=self._record(admission),
                    version=1,
                )
            )

    def _get(self, admission_id: AdmissionId) -> AdmissionRecord:
        query = sa.select(admissions).where(admissions.c.id == admission_id.value)
        row = first_row(self._connection, query)
        if row is None:
            raise NotFound(f"no admission {admission_id}")
        return _admission(row, self._cipher)

    def _update(self, admission: AdmissionRecord) -> None:
        compare_and_set(
            self._connection,
            admissions,
            admissions.c.id == admission.id.value,
            admission.version,
            {"record": self._record(admission)},
            f"admission {admission.id}",
        )

    def _of_hospital(self, hospital_id: HospitalId) -> Sequence[AdmissionRecord]:
        return self._where(admissions.c.hospital_id == hospital_id.value)

    def _of_patient(self, patient_id: PatientId) -> Sequence[AdmissionRecord]:
        return self._where(admissions.c.patient_id == patient_id.value)

    def _where(self, condition: sa.ColumnElement[bool]) -> list[AdmissionRecord]:
        query = (
            sa.select(admissions)
            .where(condition)
            .order_by(admissions.c.admitted_at, admissions.c.id)
        )
        with translated_errors():
            found = self._connection.execute(query).mappings()
            return [_admission(row, self._cipher) for row in found]


def _admission(row: RowMapping, cipher: FieldCipher) -> AdmissionRecord:
    record = open_fields(cipher, ADMISSIONS, str(row["id"]), row["record"])
    return admission_from(row["id"], row["hospital_id"], row["patient_id"], row["version"], record)
