"""The field cipher and the key ring (hellodoctor_adapters/crypto.py): the format, what the
associated data binds, and a key ring read from configuration."""

from __future__ import annotations

import base64

import pytest

from hellodoctor_adapters.crypto import (
    PREFIX,
    FieldCipher,
    KeyRingError,
    StaticKeyRing,
    UndecryptableValue,
    UnknownKey,
    development_key_ring,
    key_id_of,
    key_ring_from_text,
)

INDEX = b"\x09" * 32
RING = StaticKeyRing({"k1": b"\x01" * 32, "k2": b"\x02" * 32}, "k2", INDEX)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_a_value_opens_only_in_its_place() -> None:
    cipher = FieldCipher(RING)
    sealed = cipher.seal("patients", "phone", "p1", "+44 7700 900123")
    assert sealed.startswith(PREFIX)
    assert "7700" not in sealed
    assert key_id_of(sealed) == "k2"
    assert cipher.open("patients", "phone", "p1", sealed) == "+44 7700 900123"
    assert cipher.seal("patients", "phone", "p1", "+44 7700 900123") != sealed  # fresh nonce
    for place in (
        ("patients", "phone", "p2"),
        ("patients", "health_id", "p1"),
        ("x", "phone", "p1"),
    ):
        with pytest.raises(UndecryptableValue):
            cipher.open(*place, sealed)


def _raw(sealed: str) -> bytearray:
    body = sealed[len(PREFIX) :]
    return bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def _sealed(raw: bytearray) -> str:
    return PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def test_a_changed_byte_or_a_relabelled_key_id_does_not_open() -> None:
    cipher = FieldCipher(RING)
    sealed = cipher.seal("t", "f", "r", "secret")
    assert cipher.open("t", "f", "r", _sealed(_raw(sealed))) == "secret"
    tampered = _raw(sealed)
    tampered[-1] ^= 1
    with pytest.raises(UndecryptableValue):
        cipher.open("t", "f", "r", _sealed(tampered))
    relabelled = _raw(sealed)
    assert relabelled[2:4] == b"k2"
    relabelled[3] = ord("1")  # "k2" -> "k1", a key the ring holds: the header is authenticated
    with pytest.raises(UndecryptableValue):
        cipher.open("t", "f", "r", _sealed(relabelled))
    with pytest.raises(UndecryptableValue):
        cipher.open("t", "f", "r", PREFIX + "not base64 at all!")


def test_a_key_the_ring_no_longer_holds_is_an_unknown_key() -> None:
    sealed = FieldCipher(RING).seal("t", "f", "r", "secret")
    without = FieldCipher(StaticKeyRing({"k1": b"\x01" * 32}, "k1", INDEX))
    with pytest.raises(UnknownKey):
        without.open("t", "f", "r", sealed)


def test_rotation_helpers_and_plain_values_of_older_versions() -> None:
    old = FieldCipher(StaticKeyRing({"k1": b"\x01" * 32}, "k1", INDEX))
    new = FieldCipher(RING)
    sealed = old.seal("t", "f", "r", "v")
    assert old.is_current(sealed)
    assert not new.is_current(sealed)
    resealed = new.reseal("t", "f", "r", sealed)
    assert new.is_current(resealed)
    assert new.open("t", "f", "r", resealed) == "v"
    assert new.open("t", "f", "r", "plain from 0013") == "plain from 0013"
    assert not new.is_current("plain")
    assert new.is_current(None)
    assert new.open_json("t", "f", "r", new.reseal("t", "f", "r", ["a", 1])) == ["a", 1]
    assert new.open_json("t", "f", "r", '{"a": 1}') == {"a": 1}


def test_the_blind_index_is_keyed_and_stable() -> None:
    one = FieldCipher(RING)
    assert one.blind_index("health_id", "HID-1") == FieldCipher(RING).blind_index(
        "health_id", "HID-1"
    )
    assert one.blind_index("health_id", "HID-1") != one.blind_index("health_id", "HID-2")
    assert one.blind_index("health_id", "HID-1") != one.blind_index("email", "HID-1")
    other = FieldCipher(StaticKeyRing(RING.keys, "k2", b"\x0a" * 32))
    assert other.blind_index("health_id", "HID-1") != one.blind_index("health_id", "HID-1")
    assert one.blind_index("health_id", None) is None


def test_a_key_ring_from_configuration() -> None:
    k1, k2, index = _b64(b"\x01" * 32), _b64(b"\x02" * 32), _b64(INDEX)
    ring = key_ring_from_text(f"k1:{k1}, k2:{k2}", None, index)
    assert ring.current_key_id == "k2"
    assert ring.data_key("k1") == b"\x01" * 32
    assert key_ring_from_text(f"k1:{k1},k2:{k2}", "k1", index).current_key_id == "k1"
    secret = _b64(b"\x05" * 16)
    for keys, current, problem in [
        ("", None, "empty"),
        (f"k1{k1}", None, "<id>:<base64"),
        (f"k1:{k1},k1:{k2}", None, "twice"),
        ("k1:%%%", None, "not base64"),
        (f"k1:{secret}", None, "32 bytes"),
        (f"k1:{k1}", "k9", "not in the key ring"),
        (f"bad id:{k1}", None, "key id"),
    ]:
        with pytest.raises(KeyRingError, match=problem) as error:
            key_ring_from_text(keys, current, index)
        assert secret not in str(error.value)
        assert k1 not in str(error.value)
    with pytest.raises(KeyRingError, match="blind-index"):
        key_ring_from_text(f"k1:{k1}", None, _b64(b"short"))
    assert "keys" not in repr(ring).split("current")[0] or k1 not in repr(ring)


def test_the_development_ring_is_fixed_and_labelled() -> None:
    assert development_key_ring() == development_key_ring()
    assert development_key_ring().current_key_id == "dev"


def test_a_lookup_matches_the_index_under_the_current_and_each_previous_index_key() -> None:
    ring = StaticKeyRing({"k1": b"\x01" * 32}, "k1", b"\x09" * 32, (b"\x07" * 32,))
    moving, old, new = (
        FieldCipher(ring),
        FieldCipher(StaticKeyRing({"k1": b"\x01" * 32}, "k1", b"\x07" * 32)),
        FieldCipher(StaticKeyRing({"k1": b"\x01" * 32}, "k1", b"\x09" * 32)),
    )
    assert moving.blind_index("health_id", "H-1") == new.blind_index("health_id", "H-1")
    assert moving.blind_indexes("health_id", "H-1") == [
        new.blind_index("health_id", "H-1"),
        old.blind_index("health_id", "H-1"),
    ]
    assert new.blind_indexes("health_id", "H-1") == [new.blind_index("health_id", "H-1")]
    parsed = key_ring_from_text(
        "k1:" + base64.b64encode(b"\x01" * 32).decode(),
        None,
        base64.b64encode(b"\x09" * 32).decode(),
        base64.b64encode(b"\x07" * 32).decode(),
    )
    assert list(parsed.previous_index_keys()) == [b"\x07" * 32]
    with pytest.raises(KeyRingError, match="previous blind-index key is not base64"):
        key_ring_from_text(
            "k1:" + base64.b64encode(b"\x01" * 32).decode(),
            None,
            base64.b64encode(b"\x09" * 32).decode(),
            "%%%",
        )
