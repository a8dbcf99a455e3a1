"""Field-level encryption of protected health information (docs/encryption.md).

Encryption at rest is a storage concern, so its ports live with the adapters, not in the
domain (which stays stdlib + attrs and never sees a ciphertext):

* ``KeyRing`` — the small port a key source implements: the id of the current data key, the
  key bytes of any id it still holds, and the key of the blind index. ``StaticKeyRing`` reads
  base64 keys from configuration (``key_ring_from_text``); a KMS or Vault adapter implements
  the same three members (unwrapping data keys on demand).
* ``FieldCipher`` — AES-256-GCM over one value at a time. A sealed value is text::

      phi1.<base64url( version 0x01 | key-id length | key id | 12-byte nonce | ciphertext+tag )>

  The associated data binds the value to its header (version, key id) and to its place:
  table, field and row id. A value copied to another row, field or table fails to open with
  ``UndecryptableValue``; so does a value whose key is no longer in the ring.
* ``blind_index`` — HMAC-SHA-256 under a key of its own (not a data key: rotating data keys
  never changes an index), for equality lookups (a health ID) without the plaintext. While the
  index key rotates, ``blind_indexes`` gives the value's index under the current key and under
  each previous one, and lookups match any (docs/encryption.md, the runbook).

Values stored by versions before encryption (plain text, plain JSON) are still read
(``open`` returns them as they are) and are encrypted by ``hellodoctor keys rewrap``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from attrs import define, field
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "phi1."
VERSION = 1
NONCE_BYTES = 12
KEY_BYTES = 32  # AES-256
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class EncryptionError(Exception):
    """Base of the encryption errors: a storage or configuration fault, never the client's."""


class UndecryptableValue(EncryptionError):
    """A sealed value does not open: tampered, moved to another row/field/table, or sealed
    under a key the ring no longer holds."""


class UnknownKey(UndecryptableValue):
    """The value names a key id the ring does not hold."""


class KeyRingError(EncryptionError, ValueError):
    """A key ring that cannot be used (bad base64, wrong key length, no current key)."""


class KeyRing(Protocol):
    """Where data keys come from. Small on purpose: a KMS or Vault adapter implements it."""

    @property
    def current_key_id(self) -> str:
        """The id of the key every new value is sealed with."""
        ...

    def data_key(self, key_id: str) -> bytes:
        """The 32 key bytes of ``key_id``; ``UnknownKey`` when the ring does not hold it."""
        ...

    def index_key(self) -> bytes:
        """The HMAC key of the blind indexes (kept apart from the data keys)."""
        ...

    def previous_index_keys(self) -> Sequence[bytes]:
        """Blind-index keys being rotated away from (usually none): lookups try them too,
        until ``keys rewrap`` has written every index under ``index_key()`` again."""
        ...


@define(frozen=True)
class StaticKeyRing:
    """Keys held in memory, read from configuration."""

    keys: Mapping[str, bytes] = field(repr=False)
    current: str
    index: bytes = field(repr=False)
    previous_indexes: tuple[bytes, ...] = field(default=(), repr=False)

    def __attrs_post_init__(self) -> None:
        if self.current not in self.keys:
            raise KeyRingError(f"the current key {self.current!r} is not in the key ring")
        for key_id, key in self.keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise KeyRingError(f"a key id is 1-64 of A-Z a-z 0-9 _ -, not {key_id!r}")
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"key {key_id!r} must be {KEY_BYTES} bytes, not {len(key)}")
        for index in (self.index, *self.previous_indexes):
            if len(index) < KEY_BYTES:
                raise KeyRingError(f"a blind-index key must be at least {KEY_BYTES} bytes")

    @property
    def current_key_id(self) -> str:
        return self.current

    def data_key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise UnknownKey(f"key {key_id!r} is not in the key ring") from None

    def index_key(self) -> bytes:
        return self.index

    def previous_index_keys(self) -> Sequence[bytes]:
        return self.previous_indexes


def _decode_key(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyRingError(f"{what} is not base64") from None


def key_ring_from_text(
    keys: str, current: str | None, index_key: str, previous_index_keys: str | None = None
) -> StaticKeyRing:
    """``"k1:<base64>,k2:<base64>"``, the current id (default: the last listed), the base64
    blind-index key and the comma-separated previous ones, as ``HELLODOCTOR_PHI_KEYS``,
    ``..._CURRENT_KEY``, ``..._INDEX_KEY`` and ``..._PREVIOUS_INDEX_KEYS`` give them. Error
    messages never quote a key."""
    ring: dict[str, bytes] = {}
    for entry in keys.split(","):
        if not entry.strip():
            continue
        key_id, separator, material = entry.strip().partition(":")
        if not separator:
            raise KeyRingError("each key ring entry is <id>:<base64 key>")
        if key_id in ring:
            raise KeyRingError(f"key {key_id!r} is listed twice")
        ring[key_id] = _decode_key(material, f"key {key_id!r}")
    if not ring:
        raise KeyRingError("the key ring is empty")
    chosen = current or list(ring)[-1]
    previous = tuple(
        _decode_key(each, "a previous blind-index key")
        for each in (previous_index_keys or "").split(",")
        if each.strip()
    )
    return StaticKeyRing(ring, chosen, _decode_key(index_key, "the blind-index key"), previous)


def new_key_text() -> str:
    """A fresh random key, base64 (``hellodoctor keys generate``)."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode()


def development_key_ring() -> StaticKeyRing:
    """A FIXED, PUBLIC key ring for development, the demo and the tests: derived from a
    label anyone can read here, so it protects nothing. Production refuses to start on it
    (``config.py`` demands ``HELLODOCTOR_PHI_KEYS``)."""

    def derived(label: str) -> bytes:
        return hashlib.sha256(
            f"hellodoctor DEVELOPMENT ONLY, NOT A SECRET: {label}".encode()
        ).digest()

    return StaticKeyRing({"dev": derived("data key dev")}, "dev", derived("blind index"))


def _header(key_id: str) -> bytes:
    encoded = key_id.encode("ascii")
    return bytes((VERSION, len(encoded))) + encoded


def _place(table: str, field_name: str, row_id: str) -> bytes:
    return "\x1f".join((table, field_name, row_id)).encode()


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def key_id_of(token: str) -> str:
    """The key id a sealed value names (``UndecryptableValue`` when it is not one)."""
    raw = _unpack(token)
    length = raw[1]
    return raw[2 : 2 + length].decode("ascii")


def _unpack(token: str) -> bytes:
    if not is_sealed(token):
        raise UndecryptableValue("not a sealed value")
    body = token[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise UndecryptableValue("a sealed value that is not base64") from None
    if len(raw) < 2 or raw[0] != VERSION or len(raw) < 2 + raw[1] + NONCE_BYTES + 16:
        raise UndecryptableValue("a sealed value of an unknown version or shape")
    return raw


class FieldCipher:
    """Seals and opens one field's value at a time under the ring's keys."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._ciphers: dict[str, AESGCM] = {}

    def _aead(self, key_id: str) -> AESGCM:
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            cipher = self._ciphers[key_id] = AESGCM(self.ring.data_key(key_id))
        return cipher

    def seal(self, table: str, field_name: str, row_id: str, plaintext: str) -> str:
        key_id = self.ring.current_key_id
        header = _header(key_id)
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead(key_id).encrypt(
            nonce, plaintext.encode(), header + _place(table, field_name, row_id)
        )
        return PREFIX + base64.urlsafe_b64encode(header + nonce + sealed).decode().rstrip("=")

    def open(self, table: str, field_name: str, row_id: str, token: str) -> str:
        """The plaintext of ``token``; a value that is not sealed (written before
        encryption) is returned as it is."""
        if not is_sealed(token):
            return token
        raw = _unpack(token)
        length = raw[1]
        header = raw[: 2 + length]
        key_id = header[2:].decode("ascii", errors="replace")
        nonce = raw[2 + length : 2 + length + NONCE_BYTES]
        try:
            plain = self._aead(key_id).decrypt(
                nonce, raw[2 + length + NONCE_BYTES :], header + _place(table, field_name, row_id)
            )
        except InvalidTag:
            raise UndecryptableValue(
                f"{table}.{field_name} of {row_id!r} does not open under key {key_id!r} "
                "(tampered, or copied from another row)"
            ) from None
        return plain.decode()

    # Values that are not text (a date, a list, a JSON body) travel as JSON.

    def seal_json(self, table: str, field_name: str, row_id: str, value: Any) -> str:
        return self.seal(table, field_name, row_id, json.dumps(value, separators=(",", ":")))

    def open_json(self, table: str, field_name: str, row_id: str, stored: Any) -> Any:
        """The value of ``stored``: sealed JSON, or (written before encryption) the JSON
        value itself or its text."""
        if is_sealed(stored):
            return json.loads(self.open(table, field_name, row_id, stored))
        if isinstance(stored, str):
            try:
                return json.loads(stored)
            except ValueError:
                return stored
        return stored

    def seal_optional(
        self, table: str, field_name: str, row_id: str, value: str | None
    ) -> str | None:
        return None if value is None else self.seal(table, field_name, row_id, value)

    def open_optional(
        self, table: str, field_name: str, row_id: str, value: str | None
    ) -> str | None:
        return None if value is None else self.open(table, field_name, row_id, value)

    def is_current(self, stored: Any) -> bool:
        """Whether ``stored`` is sealed under the current key (rewrap skips it)."""
        if stored is None:
            return True
        if not is_sealed(stored):
            return False
        try:
            return key_id_of(stored) == self.ring.current_key_id
        except UndecryptableValue:
            return False

    def reseal(self, table: str, field_name: str, row_id: str, stored: Any) -> str:
        """``stored`` (sealed under any key of the ring, or plain from an older version)
        sealed under the current key. A plain value that is not text is sealed as JSON."""
        if is_sealed(stored):
            return self.seal(
                table, field_name, row_id, self.open(table, field_name, row_id, stored)
            )
        if isinstance(stored, str):
            return self.seal(table, field_name, row_id, stored)
        return self.seal_json(table, field_name, row_id, stored)

    def blind_index(self, kind: str, value: str | None) -> str | None:
        """The keyed HMAC of ``value`` for equality lookups (hex, 64 characters)."""
        if value is None:
            return None
        message = f"{kind}\x1f{value}".encode()
        return hmac.new(self.ring.index_key(), message, hashlib.sha256).hexdigest()

    def blind_indexes(self, kind: str, value: str) -> list[str]:
        """What a lookup of ``value`` matches: its index under the current key, then under
        each previous key (rows the rewrap has not reached yet during an index rotation)."""
        message = f"{kind}\x1f{value}".encode()
        keys = [self.ring.index_key(), *self.ring.previous_index_keys()]
        found = [hmac.new(key, message, hashlib.sha256).hexdigest() for key in keys]
        return list(dict.fromkeys(found))


_DEVELOPMENT: FieldCipher | None = None


def development_cipher() -> FieldCipher:
    """The cipher over ``development_key_ring`` (one per process), the default of the
    storage adapters when nobody wired one: tests and local runs. Production wires its own
    (``bootstrap.py``) and refuses to start without a key ring (``config.py``)."""
    global _DEVELOPMENT
    if _DEVELOPMENT is None:
        _DEVELOPMENT = FieldCipher(development_key_ring())
    return _DEVELOPMENT
