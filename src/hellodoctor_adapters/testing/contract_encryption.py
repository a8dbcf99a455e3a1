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

Their types (``StorageWith``, ``RawRows``, ``SetRaw``), the key rings and the rows the contract
writes are in ``contract_encryption_data.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hellodoctor_adapters.crypto import PREFIX, FieldCipher, StaticKeyRing, UndecryptableValue
from hellodoctor_adapters.phi import (
    CLAIMS,
    DOCUMENTS,
    MEDICAL_RECORDS,
    PATIENTS,
)
from hellodoctor_adapters.rewrap import RewrapReport, RewrapStep
from hellodoctor_adapters.testing.contract_encryption_data import (
    CLAIMED,
    INDEX_MOVED,
    INDEX_MOVING,
    K2,
    NEW_ONLY,
    NOW,
    OLD,
    OLD_INDEX_ONLY,
    OLD_WRITER,
    ROTATING,
    RUNS,
    SECRETS,
    SMS_PHONE,
    THE_REST,
    RawRows,
    SetRaw,
    StorageWith,
    a_patient,
    a_record,
    an_account,
    comparable,
    read_everything,
    sealed_places,
    store_everything,
    store_the_rest,
)
from hellodoctor_domain.errors import AlreadyExists
from hellodoctor_domain.model.documents import DocumentId
from hellodoctor_domain.model.hospitals import BedType
from hellodoctor_domain.model.notifications import PhoneNumber
from hellodoctor_domain.model.records import (
    RecordId,
)
from hellodoctor_domain.model.values import (
    AdmissionId,
    ClaimId,
    EmailAddress,
    PatientId,
    PolicyId,
    TransferId,
    UserId,
)
from hellodoctor_domain.ports.scheduling import PatientSearch


class EncryptionContract:
    def test_health_data_is_sealed_at_rest(
        self, storage_with: StorageWith, raw_rows: RawRows
    ) -> None:
        storage = storage_with(ROTATING)
        store_everything(storage)
        store_the_rest(storage)
        for table in (PATIENTS, MEDICAL_RECORDS, DOCUMENTS, *THE_REST):
            rows = raw_rows(table.name)
            assert rows, table.name
            dump = json.dumps(rows, default=str)
            for secret in SECRETS:
                assert secret not in dump, f"{secret!r} readable in {table.name}"
            for row in rows.values():
                for each in table.fields:
                    stored = sealed_places(table, row)[each.name]
                    assert isinstance(stored, str), each.name
                    assert stored.startswith(PREFIX), each.name
        found, (revision,), document = read_everything(storage)
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
        store_everything(storage_with(OLD), "p1")
        store_the_rest(storage_with(OLD), "p1")
        store_everything(storage_with(OLD), "p2")
        store_the_rest(storage_with(OLD), "p2")
        set_raw("notification_preferences", "u-p2", "phone", "+447700900777")
        set_raw("accounts", "u-p2", "totp_secret", "LEGACYPLAINTOTPSECRET")
        legacy_claim = sealed_places(CLAIMS, raw_rows("claims")["claim-p2"])
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
        store_everything(storage, "p1")
        store_everything(storage, "p2")
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
        store_everything(storage_with(OLD), "p1")
        store_everything(storage_with(OLD), "p2")
        before = read_everything(storage_with(OLD), "p2")
        with storage_with(NEW_ONLY)() as uow, pytest.raises(UndecryptableValue):
            uow.patients.get(PatientId("p1"))
        report = storage_with(ROTATING).rewrap(batch_size=1)
        assert report.rewrapped == 2 * (len(PATIENTS.fields) + 2)
        assert report.table("patients").batches == 2
        assert storage_with(ROTATING).rewrap(batch_size=1).rewrapped == 0  # resumable
        after = read_everything(storage_with(NEW_ONLY), "p2")
        assert comparable(after) == comparable(before)
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
        store_everything(storage_with(OLD), "p1")
        store_the_rest(storage_with(OLD), "p1")
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
        run = f"{next(RUNS):06d}"
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
