"""The encryption contract of every storage that keeps health data at rest (PostgreSQL,
SQLite, MongoDB; the memory store keeps nothing at rest and is not subject to it).

* what the database holds of a patient, a record revision and a document shows none of the
  health data written (the raw rows and documents are searched for the known strings), and
  every protected field is a sealed value;
* a patient is found by health ID, an account by e-mail address, through blind indexes
  (an account an older version wrote is found by its plain key until a rewrap);
* a sealed value moved to another row does not open (``UndecryptableValue``);
* values left in plain text by a version before encryption are read, then sealed by a rewrap;
* rotation: a new current key, a rewrap (resumable: a second run seals nothing), then the old
  key removed, and everything still reads back;
* a property: random writes by processes on the new key and on the old one, interleaved with
  the rewrap's batches (between a batch's read and its writes too), lose nothing; after the
  rewrap is re-run until it seals nothing, the old key can go.

Subclass ``EncryptionContract`` with the fixtures:

* ``storage_with(cipher)`` — a unit-of-work factory over the test's database sealing with
  ``cipher``, offering ``rewrap(batch_size)`` and ``rewrap_steps(batch_size, report)``;
* ``raw_rows(table)`` — the stored rows (documents) of ``patients``, ``medical_records`` or
  ``documents`` as dictionaries keyed by row id (``"<record>/<revision>"`` for revisions),
  read with the database's own tools, bypassing the adapter;
* ``set_raw(table, row_id, field, value)`` — change one stored value the same way (the
  accounts' ``email_key`` is MongoDB's ``_email_key``).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any, Protocol

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hellodoctor_adapters.crypto import PREFIX, FieldCipher, StaticKeyRing, UndecryptableValue
from hellodoctor_adapters.phi import (
    ACCOUNTS,
    ADMISSIONS,
    CLAIMS,
    DOCUMENTS,
    MEDICAL_RECORDS,
    NOTIFICATION_PREFERENCES,
    PATIENTS,
    RECORD_PHI_TABLES,
    TRANSFERS,
)
from hellodoctor_adapters.rewrap import RewrapReport, RewrapStep
from hellodoctor_adapters.testing.contract_hospitals import hospital
from hellodoctor_domain.errors import AlreadyExists
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
from hellodoctor_domain.ports.scheduling import PatientSearch
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


def _store_everything(storage: EncryptedStorage, key: str = "p1") -> None:
    with storage() as uow:
        uow.patients.add(a_patient(key, health_id=f"{SECRETS[0]}-{key}"))
        uow.commit()
    with storage() as uow:
        uow.records.add(a_record(f"rec-{key}", key))
        uow.documents.add(a_document(f"doc-{key}", key))
        uow.commit()


def _store_the_rest(storage: EncryptedStorage, key: str = "p1") -> None:
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


# The tables ``_store_the_rest`` fills, each holding one row per stored key.
THE_REST = (ACCOUNTS, NOTIFICATION_PREFERENCES, CLAIMS, TRANSFERS, ADMISSIONS)


def _sealed_places(table: Any, row: dict[str, Any]) -> dict[str, Any]:
    """Where ``table``'s sealed fields sit in a raw row: the row, or its JSON ``record``."""
    if table not in RECORD_PHI_TABLES:
        return row
    record = row["record"]
    return json.loads(record) if isinstance(record, str) else dict(record)


def _read_everything(storage: EncryptedStorage, key: str = "p1") -> tuple[Any, ...]:
    with storage() as uow:
        found = uow.patients.get(PatientId(key))
        revisions = uow.records.revisions(RecordId(f"rec-{key}"))
        document = uow.documents.get(DocumentId(f"doc-{key}"))
    return found, revisions, document


class EncryptionContract:
    def test_health_data_is_sealed_at_rest(
        self, storage_with: StorageWith, raw_rows: RawRows
    ) -> None:
        storage = storage_with(ROTATING)
        _store_everything(storage)
        _store_the_rest(storage)
        for table in (PATIENTS, MEDICAL_RECORDS, DOCUMENTS, *THE_REST):
            rows = raw_rows(table.name)
            assert rows, table.name
            dump = json.dumps(rows, default=str)
            for secret in SECRETS:
                assert secret not in dump, f"{secret!r} readable in {table.name}"
            for row in rows.values():
                for each in table.fields:
                    stored = _sealed_places(table, row)[each.name]
                    assert isinstance(stored, str), each.name
                    assert stored.startswith(PREFIX), each.name
        found, (revision,), document = _read_everything(storage)
        expected = a_patient("p1", health_id=f"{SECRETS[0]}-p1")
        assert (found.phone, found.health_id, found.date_of_birth) == (
            expected.phone,
            expected.health_id,
            expected.date_of_birth,
        )
        assert found.emergency_contacts == expected.emergency_contacts
        assert (found.allergies, found.blood_group) == (expected.allergies, "AB-")
        assert revision.notes == SECRETS[6]
        assert revision.diagnoses == a_record("rec-p1", "p1").diagnoses
        assert document.original_name == SECRETS[8]
        with storage() as uow:
            settings = uow.notification_preferences.get(UserId("u-p1"))
        assert settings is not None
        assert settings.phone == PhoneNumber(SMS_PHONE)
        with storage() as uow:
            assert uow.claims.get(ClaimId("claim-p1")).items == CLAIMED
            assert [c.items for c in uow.claims.of_policy(PolicyId("pol-p1"))] == [CLAIMED]
            moved = uow.transfers.get(TransferId("tr-p1"))
            assert moved.reason == SECRETS[13]
            assert [step.status.value for step in moved.history] == [
                "requested",
                "accepted",
                "cancelled",
            ]
            assert moved.history[-1].note == SECRETS[14]
            (stay,) = uow.admissions.of_patient(PatientId("p1"))
            assert (stay.ward_code, stay.bed_type) == (SECRETS[15], BedType.ICU)

    def test_the_rest_is_rewrapped_and_plain_values_sealed(
        self, storage_with: StorageWith, raw_rows: RawRows, set_raw: SetRaw
    ) -> None:
        """The tables sealed after the first release of encryption: written under the old
        key or in plain text by an older version, sealed by a rewrap, read with the new key
        only."""
        _store_everything(storage_with(OLD), "p1")
        _store_the_rest(storage_with(OLD), "p1")
        _store_everything(storage_with(OLD), "p2")
        _store_the_rest(storage_with(OLD), "p2")
        set_raw("notification_preferences", "u-p2", "phone", "+447700900777")
        set_raw("accounts", "u-p2", "totp_secret", "LEGACYPLAINTOTPSECRET")
        legacy_claim = _sealed_places(CLAIMS, raw_rows("claims")["claim-p2"])
        legacy_claim["items"] = [
            {
                "service": "Legacy screening",
                "diagnosis_codes": ["Z13.1"],
                "claimed": {"minor_units": 500, "currency": "EUR"},
                "approved": None,
                "reason": "",
            }
        ]
        set_raw("claims", "claim-p2", "record", legacy_claim)
        report = storage_with(ROTATING).rewrap(batch_size=1)
        assert report.table("notification_preferences").rewrapped == 2
        assert report.table("claims").rewrapped == 2
        assert report.table("transfers").rewrapped == 4
        assert report.table("admissions").rewrapped == 4
        for table in THE_REST:
            dump = json.dumps(raw_rows(table.name), default=str)
            assert "+447700900777" not in dump
            assert "Z13.1" not in dump
            assert "LEGACYPLAINTOTPSECRET" not in dump
            assert all(secret not in dump for secret in SECRETS), table.name
        with storage_with(NEW_ONLY)() as uow:
            first = uow.notification_preferences.get(UserId("u-p1"))
            legacy = uow.notification_preferences.get(UserId("u-p2"))
        assert first is not None
        assert legacy is not None
        assert (first.phone, legacy.phone) == (
            PhoneNumber(SMS_PHONE),
            PhoneNumber("+447700900777"),
        )
        with storage_with(NEW_ONLY)() as uow:
            assert uow.claims.get(ClaimId("claim-p1")).items == CLAIMED
            (old_item,) = uow.claims.get(ClaimId("claim-p2")).items
        assert old_item.diagnosis_codes == ("Z13.1",)
        with storage_with(NEW_ONLY)() as uow:
            assert uow.accounts.get(UserId("u-p1")).totp_secret == SECRETS[12]
            assert uow.accounts.get(UserId("u-p2")).totp_secret == "LEGACYPLAINTOTPSECRET"
            assert uow.transfers.get(TransferId("tr-p2")).reason == SECRETS[13]
            assert uow.admissions.get(AdmissionId("adm-p2")).ward_code == SECRETS[15]

    def test_a_patient_is_found_by_health_id_through_its_blind_index(
        self, storage_with: StorageWith, raw_rows: RawRows
    ) -> None:
        storage = storage_with(ROTATING)
        with storage() as uow:
            uow.patients.add(a_patient("p1", health_id="HID-111"))
            uow.patients.add(a_patient("p2", health_id="HID-222"))
            uow.commit()
        with storage() as uow:
            assert uow.emergency_grants.patient_with_health_id("HID-222") == PatientId("p2")
            assert uow.emergency_grants.patient_with_health_id("HID-333") is None
        # The index is a keyed HMAC: another index key finds nobody.
        other = FieldCipher(StaticKeyRing({"k2": K2}, "k2", b"\x08" * 32))
        with storage_with(other)() as uow:
            assert uow.emergency_grants.patient_with_health_id("HID-222") is None

    def test_an_account_is_found_by_its_address_through_its_blind_index(
        self, storage_with: StorageWith, raw_rows: RawRows, set_raw: SetRaw
    ) -> None:
        storage = storage_with(ROTATING)
        with storage() as uow:
            uow.patients.add(a_patient("p1"))
            uow.patients.add(a_patient("p2"))
            uow.commit()
        with storage() as uow:
            uow.accounts.add(an_account("u1", "p1", "Ada.Secret@Example.org"))
            uow.commit()
        dump = json.dumps(raw_rows("accounts"), default=str).casefold()
        assert "ada.secret" not in dump
        with storage() as uow:
            found = uow.accounts.by_email(EmailAddress("ADA.SECRET@example.org"))
            assert found is not None
            assert found.email == EmailAddress("Ada.Secret@Example.org")
            with pytest.raises(AlreadyExists):
                uow.accounts.add(an_account("u2", "p2", "ada.secret@example.org"))
                uow.commit()
        # A row an older version wrote (plain address, plain lookup key) is still found,
        # and a rewrap seals it and moves its key to the blind index.
        with storage() as uow:
            uow.accounts.add(an_account("u3", "p2", "bob@example.org"))
            uow.commit()
        set_raw("accounts", "u3", "email", "Bob.Legacy@Example.org")
        set_raw("accounts", "u3", "email_key", "bob.legacy@example.org")
        with storage() as uow:
            assert uow.accounts.by_email(EmailAddress("bob.legacy@example.org")) is not None
        assert storage.rewrap().table("accounts").rewrapped == 1
        assert "bob.legacy" not in json.dumps(raw_rows("accounts"), default=str).casefold()
        with storage_with(NEW_ONLY)() as uow:
            legacy = uow.accounts.by_email(EmailAddress("BOB.legacy@example.org"))
            assert legacy is not None
            assert legacy.id == UserId("u3")

    def test_a_sealed_value_moved_to_another_row_does_not_open(
        self, storage_with: StorageWith, raw_rows: RawRows, set_raw: SetRaw
    ) -> None:
        storage = storage_with(ROTATING)
        _store_everything(storage, "p1")
        _store_everything(storage, "p2")
        patients = raw_rows("patients")
        set_raw("patients", "p2", "phone", patients["p1"]["phone"])
        with storage() as uow, pytest.raises(UndecryptableValue):
            uow.patients.get(PatientId("p2"))
        records = raw_rows("medical_records")
        set_raw("medical_records", "rec-p1/1", "body", records["rec-p2/1"]["body"])
        with storage() as uow, pytest.raises(UndecryptableValue):
            uow.records.revisions(RecordId("rec-p1"))
        # Another field of the same row: bound to its field name too.
        set_raw("documents", "doc-p1", "original_name", patients["p1"]["phone"])
        with storage() as uow, pytest.raises(UndecryptableValue):
            uow.documents.get(DocumentId("doc-p1"))

    def test_rotation_rewraps_everything_and_the_old_key_can_go(
        self, storage_with: StorageWith, raw_rows: RawRows
    ) -> None:
        _store_everything(storage_with(OLD), "p1")
        _store_everything(storage_with(OLD), "p2")
        before = _read_everything(storage_with(OLD), "p2")
        with storage_with(NEW_ONLY)() as uow, pytest.raises(UndecryptableValue):
            uow.patients.get(PatientId("p1"))
        report = storage_with(ROTATING).rewrap(batch_size=1)
        assert report.rewrapped == 2 * (len(PATIENTS.fields) + 2)
        assert report.table("patients").batches == 2
        assert storage_with(ROTATING).rewrap(batch_size=1).rewrapped == 0  # resumable
        after = _read_everything(storage_with(NEW_ONLY), "p2")
        assert _comparable(after) == _comparable(before)
        with storage_with(NEW_ONLY)() as uow:
            found = uow.emergency_grants.patient_with_health_id(f"{SECRETS[0]}-p2")
        assert found == PatientId("p2")
        for table in ("patients", "medical_records", "documents"):
            dump = json.dumps(raw_rows(table), default=str)
            assert all(secret not in dump for secret in SECRETS)

    def test_the_index_key_rotates_and_lookups_work_throughout(
        self, storage_with: StorageWith
    ) -> None:
        """Break-glass by health ID, sign-in by address and the desk's search by phone find
        the patient before, during and after the index key's rotation; after the rewrap no
        index is left under the old key."""
        with storage_with(OLD)() as uow:
            uow.patients.add(a_patient("p1", health_id="HID-1"))
            uow.commit()
        with storage_with(OLD)() as uow:
            uow.accounts.add(an_account("u1", "p1", "Ada@Example.org"))
            uow.commit()

        def found(cipher: FieldCipher, health_id: str = "HID-1") -> tuple[Any, ...]:
            with storage_with(cipher)() as uow:
                by_phone = uow.patients.search(PatientSearch(phone=SECRETS[1]))
                return (
                    uow.emergency_grants.patient_with_health_id(health_id),
                    uow.accounts.by_email(EmailAddress("ada@example.org")) is not None,
                    sorted(patient.id.value for patient in by_phone),
                )

        assert found(INDEX_MOVED) == (None, False, [])  # the indexes really change
        assert found(INDEX_MOVING) == (PatientId("p1"), True, ["p1"])  # during the move
        with storage_with(INDEX_MOVING)() as uow:  # a write during the move: the new index
            uow.patients.add(a_patient("p2", health_id="HID-2"))
            uow.commit()
        storage = storage_with(INDEX_MOVING)
        assert storage.rewrap(batch_size=1).rewrapped > 0
        assert storage.rewrap(batch_size=1).rewrapped == 0
        assert found(INDEX_MOVED) == (PatientId("p1"), True, ["p1", "p2"])
        assert found(INDEX_MOVED, "HID-2")[0] == PatientId("p2")
        assert found(OLD_INDEX_ONLY) == (None, False, [])  # nothing left under the old key

    def test_plain_values_of_an_older_version_are_read_then_sealed_by_rewrap(
        self, storage_with: StorageWith, raw_rows: RawRows, set_raw: SetRaw
    ) -> None:
        storage = storage_with(ROTATING)
        with storage() as uow:
            uow.patients.add(a_patient("p1", health_id="HID-OLD"))
            uow.commit()
        set_raw("patients", "p1", "phone", "+44 20 7946 0000")
        set_raw("patients", "p1", "health_id", "HID-OLD")
        set_raw("patients", "p1", "allergies", ["latex"])
        with storage() as uow:
            found = uow.patients.get(PatientId("p1"))
        assert (found.phone, found.allergies) == ("+44 20 7946 0000", ("latex",))
        assert storage.rewrap().rewrapped == 3
        row = raw_rows("patients")["p1"]
        assert "+44 20 7946 0000" not in json.dumps(row, default=str)
        with storage_with(NEW_ONLY)() as uow:
            assert uow.patients.get(PatientId("p1")).allergies == ("latex",)
            assert uow.emergency_grants.patient_with_health_id("HID-OLD") == PatientId("p1")

    def test_rewrap_of_a_record_never_overwrites_a_newer_write(
        self, storage_with: StorageWith
    ) -> None:
        """Fields sealed inside a JSON record (a claim's items): an API write between the
        batch's read and its write wins, and the rewrap counts it as replaced meanwhile."""
        _store_everything(storage_with(OLD), "p1")
        _store_the_rest(storage_with(OLD), "p1")
        report = RewrapReport()
        steps = storage_with(ROTATING).rewrap_steps(10, report)
        for step in steps:
            if step == RewrapStep("read", "claims", ("claim-p1",)):
                break
        with storage_with(ROTATING)() as uow:
            claim = uow.claims.get(ClaimId("claim-p1"))
            claim.review(by=UserId("ins-1"), at=NOW)
            uow.claims.update(claim)
            uow.commit()
        for _ in steps:
            pass
        assert report.table("claims").superseded == 1
        assert report.table("claims").rewrapped == 0
        with storage_with(NEW_ONLY)() as uow:
            read = uow.claims.get(ClaimId("claim-p1"))
        assert (read.status.value, read.items) == ("under_review", CLAIMED)

    def test_rewrap_never_overwrites_a_newer_write(self, storage_with: StorageWith) -> None:
        with storage_with(OLD)() as uow:
            uow.patients.add(a_patient("p1", phone="+1 555 0100"))
            uow.commit()
        report = RewrapReport()
        steps = storage_with(ROTATING).rewrap_steps(10, report)
        assert next(steps) == RewrapStep("read", "patients", ("p1",))
        writer = storage_with(ROTATING)
        with writer() as uow:  # the API writes between the batch's read and its writes
            patient = uow.patients.get(PatientId("p1"))
            patient.phone = "+1 555 0199"
            uow.patients.update(patient)
            uow.commit()
        for _ in steps:
            pass
        assert report.table("patients").superseded == len(PATIENTS.fields)
        with storage_with(NEW_ONLY)() as uow:
            assert uow.patients.get(PatientId("p1")).phone == "+1 555 0199"

    @settings(
        max_examples=8,
        deadline=None,
        # Each storage's subclass runs it: the fixtures, not the examples, differ.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        operations=st.lists(
            st.one_of(
                # which: a patient by number, or -1 for one of the batch the rewrap just read
                st.tuples(st.just("write"), st.integers(-1, 3), st.sampled_from(["new", "old"])),
                st.tuples(st.just("step"), st.just(0), st.just("")),
            ),
            max_size=25,
        )
    )
    def test_rotation_under_concurrent_writes_loses_nothing(
        self, storage_with: StorageWith, operations: list[tuple[str, int, str]]
    ) -> None:
        # Examples share the database: each takes fresh ids that sort before the earlier
        # examples' (already rewrapped), so the rewrap meets them first.
        run = f"{next(_RUNS):06d}"
        keys = [f"{run}-{n}" for n in range(4)]
        writers = {"old": storage_with(OLD_WRITER), "new": storage_with(ROTATING)}
        expected: dict[str, str] = {}
        with storage_with(OLD)() as uow:
            for key in keys:
                uow.patients.add(a_patient(key, health_id=f"HID-{key}", phone="+1 555 0100"))
                expected[key] = "+1 555 0100"
            uow.commit()
        rewrapper = storage_with(ROTATING)
        steps = rewrapper.rewrap_steps(1, RewrapReport())
        just_read: tuple[str, ...] = ()
        for number, (operation, which, ring) in enumerate(operations):
            if operation == "step":
                step = next(steps, None)
                just_read = step.rows if step is not None and step.stage == "read" else ()
                continue
            mine = [key for key in just_read if key in expected]
            key = mine[0] if which < 0 and mine else keys[max(which, 0)]
            phone = f"+1 555 {number:04d}"
            with writers[ring]() as uow:
                patient = uow.patients.get(PatientId(key))
                patient.phone = phone
                uow.patients.update(patient)
                uow.commit()
            expected[key] = phone
        for _ in steps:
            pass
        # Writers still on the old key may have written after the pass: run again until
        # nothing is left to seal (the runbook's loop), then remove the old key.
        for _ in range(3):
            if rewrapper.rewrap(batch_size=2).rewrapped == 0:
                break
        with storage_with(NEW_ONLY)() as uow:
            for key in keys:
                found = uow.patients.get(PatientId(key))
                assert found.phone == expected[key]
                assert found.health_id == f"HID-{key}"
                assert uow.emergency_grants.patient_with_health_id(f"HID-{key}") == found.id


_RUNS = itertools.count(999_999, -1)


def _comparable(found: tuple[Any, ...]) -> tuple[Any, ...]:
    patient, revisions, document = found
    return (
        (patient.phone, patient.health_id, patient.date_of_birth, patient.allergies),
        [(r.notes, r.diagnoses) for r in revisions],
        document.original_name,
    )
