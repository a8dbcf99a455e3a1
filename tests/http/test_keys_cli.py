"""``hellodoctor keys``: a generated key, and a rewrap of a SQLite database after rotation."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from click.testing import CliRunner

from hellodoctor_adapters.crypto import UndecryptableValue
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.testing import migrated_sqlite_file
from hellodoctor_adapters.testing.contract_encryption_data import (
    INDEX_MOVED,
    NEW_ONLY,
    OLD,
    a_patient,
)
from hellodoctor_domain.model.values import PatientId
from hellodoctor_http.cli import main


def _b64(byte: int) -> str:
    return base64.b64encode(bytes([byte]) * 32).decode()


def test_keys_generate_prints_a_fresh_256_bit_key() -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["keys", "generate"]).output.strip()
    second = runner.invoke(main, ["keys", "generate"]).output.strip()
    assert len(base64.b64decode(first, validate=True)) == 32
    assert first != second


def test_keys_rewrap_seals_everything_under_the_current_key(tmp_path: Path) -> None:
    url = migrated_sqlite_file(tmp_path)
    old = SqlUnitOfWorkFactory(url, cipher=OLD)
    with old() as uow:
        for key in ("p1", "p2", "p3"):
            uow.patients.add(a_patient(key, health_id=f"HID-{key}"))
        uow.commit()
    old.dispose()
    environment = {
        "HELLODOCTOR_DATABASE_URL": url,
        # The contract's test keys: k1 = 32 x 0x01, k2 = 32 x 0x02, index = 32 x 0x07.
        "HELLODOCTOR_PHI_KEYS": f"k1:{_b64(1)},k2:{_b64(2)}",
        "HELLODOCTOR_PHI_CURRENT_KEY": "k2",
        "HELLODOCTOR_PHI_INDEX_KEY": _b64(7),
    }
    runner = CliRunner()
    result = runner.invoke(main, ["keys", "rewrap", "--batch", "2"], env=environment)
    assert result.exit_code == 0, result.output
    assert "patients: 3 rows in 2 batches, 21 values sealed again" in result.output
    again = runner.invoke(main, ["keys", "rewrap"], env=environment)
    assert "every value is under the current key" in again.output
    new = SqlUnitOfWorkFactory(url, cipher=NEW_ONLY)  # k1 removed from the ring
    with new() as uow:
        assert uow.patients.get(PatientId("p2")).health_id == "HID-p2"
        assert uow.emergency_grants.patient_with_health_id("HID-p3") == PatientId("p3")
    new.dispose()
    still_old = SqlUnitOfWorkFactory(url, cipher=OLD)
    with still_old() as uow, pytest.raises(UndecryptableValue):
        uow.patients.get(PatientId("p1"))
    still_old.dispose()


def test_keys_rewrap_moves_the_blind_indexes_to_a_new_index_key(tmp_path: Path) -> None:
    """The index key rotates with a data key: during the move lookups match old and new
    indexes; afterwards the previous index key can go."""
    url = migrated_sqlite_file(tmp_path)
    old = SqlUnitOfWorkFactory(url, cipher=OLD)
    with old() as uow:
        uow.patients.add(a_patient("p1", health_id="HID-p1"))
        uow.commit()
    old.dispose()
    moving = {
        "HELLODOCTOR_DATABASE_URL": url,
        "HELLODOCTOR_PHI_KEYS": f"k1:{_b64(1)},k2:{_b64(2)}",
        "HELLODOCTOR_PHI_CURRENT_KEY": "k2",
        "HELLODOCTOR_PHI_INDEX_KEY": _b64(9),
        "HELLODOCTOR_PHI_PREVIOUS_INDEX_KEYS": _b64(7),
    }
    result = CliRunner().invoke(main, ["keys", "rewrap"], env=moving)
    assert result.exit_code == 0, result.output
    assert "7 values sealed again" in result.output
    assert "blind indexes: rewritten" in result.output
    moved = SqlUnitOfWorkFactory(url, cipher=INDEX_MOVED)  # k2 and the new index key only
    with moved() as uow:
        assert uow.emergency_grants.patient_with_health_id("HID-p1") == PatientId("p1")
    moved.dispose()
    refused = CliRunner().invoke(
        main, ["keys", "rewrap"], env={**moving, "HELLODOCTOR_PHI_PREVIOUS_INDEX_KEYS": "nope"}
    )
    assert refused.exit_code != 0
    assert "a blind-index key must be at least 32 bytes" in refused.output
