"""What the encryption contract (``contract_encryption.py``) writes, reads and checks: the
key rings it rotates through, the known secrets it searches the raw rows for, and the builders
of a patient, account, record, document and the other sealed rows."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any, Protocol

from hellodoctor_adapters.crypto import FieldCipher, StaticKeyRing
from hellodoctor_adapters.phi import (
    ACCOUNTS,
    ADMISSIONS,
    CLAIMS,
    NOTIFICATION_PREFERENCES,
    RECORD_PHI_TABLES,
    TRANSFERS,
)
from hellodoctor_adapters.rewrap import RewrapReport, RewrapStep
from hellodoctor_adapters.testing.contract_hospitals import hospital
from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.model.admissions import AdmissionRecord
from hellodoctor_domain.model.documents import Document, DocumentId, DocumentKind, MediaType, Owner
from hellodoctor_domain.model.hospitals import BedType
from hellodoctor_domain.model.insurance import Claim, ClaimItem, Policy, Scheme
from hellodoctor_domain.model.notifications import Channel, NotificationPreferences, PhoneNumber
from hellodoctor_domain.model.profiles import EmergencyContact, Patient
from hellodoctor_domain.model.records import (
    Diagnosis,
    DiagnosisStatus,
    MedicalRecord,
    RecordId,
    RecordKind,
)
from hellodoctor_domain.model.transfers import Transfer
from hellodoctor_domain.model.values import (
    AdmissionId,
    ClaimId,
    DoctorId,
    EmailAddress,
    HospitalId,
    Money,
    PatientId,
    PolicyId,
    Role,
    SchemeId,
    TransferId,
    UserId,
    VisitKind,
)
from hellodoctor_domain.ports.unit_of_work import UnitOfWork

NOW = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
INDEX_KEY = b"\x07" * 32
K1, K2 = b"\x01" * 32, b"\x02" * 32
OLD = FieldCipher(StaticKeyRing({"k1": K1}, "k1", INDEX_KEY))
# A process not yet restarted on the new current key: it holds k2 (step 1 of the runbook).
OLD_WRITER = FieldCipher(StaticKeyRing({"k1": K1, "k2": K2}, "k1", INDEX_KEY))
ROTATING = FieldCipher(StaticKeyRing({"k1": K1, "k2": K2}, "k2", INDEX_KEY))
NEW_ONLY = FieldCipher(StaticKeyRing({"k2": K2}, "k2", INDEX_KEY))
# The index key rotating with the data key (the runbook): new index key, the old one previous.
NEW_INDEX_KEY = b"\x09" * 32
INDEX_MOVING = FieldCipher(StaticKeyRing({"k1": K1, "k2": K2}, "k2", NEW_INDEX_KEY, (INDEX_KEY,)))
INDEX_MOVED = FieldCipher(StaticKeyRing({"k2": K2}, "k2", NEW_INDEX_KEY))
OLD_INDEX_ONLY = FieldCipher(StaticKeyRing({"k2": K2}, "k2", INDEX_KEY))

# Strings that must never appear in what the database holds.
SECRETS = (
    "NHS-943-476-5919",
    "+44 7700 900123",
    "1980-02-03",
    "Ada Contact-Person",
    "peanut-anaphylaxis",
    "Type 2 diabetes mellitus",
    "Reviewed the diet carefully",
    "Metformin",
    "hemoglobin-report.pdf",
    "+447700900555",  # the SMS number of the notification settings
    "Q87.410",  # a claimed diagnosis (ICD-10)
    "Diabetic retinopathy screening",  # a claimed service
    "KRUGS4ZANFZSAYJAORSXG5BA",  # a two-factor (TOTP) secret
    "suspected aortic dissection",  # a transfer's reason
    "patient too unstable to move",  # a transfer step's note
    "oncology-3",  # the ward of an admission
)
SMS_PHONE = SECRETS[9]
CLAIMED = (ClaimItem(SECRETS[11], (SECRETS[10],), Money(12_000, "EUR")),)


class EncryptedStorage(Protocol):
    def __call__(self) -> UnitOfWork: ...

    def rewrap(self, batch_size: int = 500) -> RewrapReport: ...

    def rewrap_steps(self, batch_size: int, report: RewrapReport) -> Iterator[RewrapStep]: ...


StorageWith = Callable[[FieldCipher], EncryptedStorage]
RawRows = Callable[[str], dict[str, dict[str, Any]]]
SetRaw = Callable[[str, str, str, Any], None]


def a_patient(key: str, health_id: str = SECRETS[0], phone: str = SECRETS[1]) -> Patient:
    return Patient(
        PatientId(key),
        name=f"Patient {key}",
        date_of_birth=date(1980, 2, 3),
        phone=phone,
        email=EmailAddress(f"{key}@example.org"),
        health_id=health_id,
        emergency_contacts=(EmergencyContact(SECRETS[3], "+44 7700 900999", "sister"),),
        allergies=(SECRETS[4],),
        blood_group="AB-",
    )


def an_account(key: str, patient: str, email: str) -> Account:
    return Account(
        UserId(key),
        EmailAddress(email),
        Role.PATIENT,
        AccountStatus.ACTIVE,
        NOW,
        patient_id=PatientId(patient),
    )


def a_record(key: str, patient: str) -> MedicalRecord:
    return MedicalRecord(
        RecordId(key),
        PatientId(patient),
        DoctorId("doc-1"),
        RecordKind.CONSULTATION,
        NOW,
        diagnoses=[Diagnosis("E11.9", SECRETS[5], DiagnosisStatus.CHRONIC)],
        symptoms=["thirst"],
        notes=SECRETS[6],
        prescriptions=[],
        allergies=[SECRETS[7]],
    )


def a_document(key: str, patient: str) -> Document:
    return Document(
        id=DocumentId(key),
        owner=Owner(Role.PATIENT, patient),
        kind=DocumentKind.LAB_RESULT,
        original_name=SECRETS[8],
        media_type=MediaType.PDF,
        size=10,
        sha256="0" * 64,
        blob_key=f"blobs/{key}",
        uploaded_by=UserId(f"user-{patient}"),
        created_at=NOW,
    )


def store_everything(storage: EncryptedStorage, key: str = "p1") -> None:
    with storage() as uow:
        uow.patients.add(a_patient(key, health_id=f"{SECRETS[0]}-{key}"))
        uow.commit()
    with storage() as uow:
        uow.records.add(a_record(f"rec-{key}", key))
        uow.documents.add(a_document(f"doc-{key}", key))
        uow.commit()


def store_the_rest(storage: EncryptedStorage, key: str = "p1") -> None:
    """What else holds health data or identifies a person: an account's SMS number, a
    hospital's claim (its items: services and ICD-10 codes)."""
    with storage() as uow:
        account = an_account(f"u-{key}", key, f"{key}@example.org")
        account.totp_secret = SECRETS[12]
        uow.accounts.add(account)
        uow.commit()
    with storage() as uow:
        uow.notification_preferences.save(
            NotificationPreferences(
                UserId(f"u-{key}"),
                frozenset({Channel.EMAIL, Channel.SMS}),
                phone=PhoneNumber(SMS_PHONE),
            )
        )
        uow.schemes.add(
            Scheme(
                SchemeId(f"s-{key}"),
                "Acme Mutual",
                "Plan",
                (VisitKind.REGULAR,),
                20,
                Money(100_000, "EUR"),
            )
        )
        uow.commit()
    with storage() as uow:
        uow.policies.add(
            Policy(
                PolicyId(f"pol-{key}"),
                PatientId(key),
                SchemeId(f"s-{key}"),
                f"ACME-{key}",
                date(2026, 1, 1),
                date(2026, 12, 31),
            )
        )
        uow.commit()
    with storage() as uow:
        uow.hospitals.add(hospital(f"h-{key}"))
        uow.hospitals.add(hospital(f"h2-{key}"))
        uow.commit()
    with storage() as uow:
        moved = Transfer.request(
            TransferId(f"tr-{key}"),
            PatientId(key),
            HospitalId(f"h-{key}"),
            HospitalId(f"h2-{key}"),
            BedType.ICU,
            SECRETS[13],
            by=UserId("ha-1"),
            at=NOW,
        )
        moved.accept("icu", by=UserId("ha-2"), at=NOW)
        moved.cancel(SECRETS[14], by=UserId("ha-2"), at=NOW)
        uow.transfers.add(moved)
        uow.admissions.add(
            AdmissionRecord(
                AdmissionId(f"adm-{key}"),
                HospitalId(f"h-{key}"),
                PatientId(key),
                SECRETS[15],
                BedType.ICU,
                NOW,
                UserId("ha-1"),
            )
        )
        uow.commit()
    with storage() as uow:
        uow.claims.add(
            Claim(
                ClaimId(f"claim-{key}"),
                PolicyId(f"pol-{key}"),
                SchemeId(f"s-{key}"),
                PatientId(key),
                CLAIMED,
                NOW,
                hospital_id=HospitalId("h1"),
            )
        )
        uow.commit()


# The tables ``store_the_rest`` fills, each holding one row per stored key.
THE_REST = (ACCOUNTS, NOTIFICATION_PREFERENCES, CLAIMS, TRANSFERS, ADMISSIONS)


def sealed_places(table: Any, row: dict[str, Any]) -> dict[str, Any]:
    """Where ``table``'s sealed fields sit in a raw row: the row, or its JSON ``record``."""
    if table not in RECORD_PHI_TABLES:
        return row
    record = row["record"]
    return json.loads(record) if isinstance(record, str) else dict(record)


def read_everything(storage: EncryptedStorage, key: str = "p1") -> tuple[Any, ...]:
    with storage() as uow:
        found = uow.patients.get(PatientId(key))
        revisions = uow.records.revisions(RecordId(f"rec-{key}"))
        document = uow.documents.get(DocumentId(f"doc-{key}"))
    return found, revisions, document


RUNS = itertools.count(999_999, -1)


def comparable(found: tuple[Any, ...]) -> tuple[Any, ...]:
    patient, revisions, document = found
    return (
        (patient.phone, patient.health_id, patient.date_of_birth, patient.allergies),
        [(r.notes, r.diagnoses) for r in revisions],
        document.original_name,
    )
