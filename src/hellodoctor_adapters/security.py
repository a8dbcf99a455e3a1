"""Password hashing (bcrypt) and time-based one-time passwords (pyotp)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

import bcrypt
import pyotp

MIN_BCRYPT_COST = 12


class BcryptPasswordHasher:
    """bcrypt over the base64 of the password's SHA-256.

    bcrypt reads only 72 bytes and stops at a NUL byte; pre-hashing keeps every character of a
    long passphrase significant, and base64 keeps NULs out (the scheme Dropbox described).
    The domain already caps length before anything is hashed.
    """

    def __init__(self, cost: int = MIN_BCRYPT_COST) -> None:
        if not 4 <= cost <= 31:
            raise ValueError("bcrypt cost must be between 4 and 31")
        self.cost = cost

    @staticmethod
    def _prepared(password: str) -> bytes:
        return base64.b64encode(hashlib.sha256(password.encode()).digest())

    def hash(self, password: str) -> str:
        return bcrypt.hashpw(self._prepared(password), bcrypt.gensalt(self.cost)).decode()

    def verify(self, password: str, hashed: str) -> bool:
        try:
            return bcrypt.checkpw(self._prepared(password), hashed.encode())
        except ValueError:  # not a bcrypt hash at all
            return False

    def needs_rehash(self, hashed: str) -> bool:
        try:
            return int(hashed.split("$")[2]) < self.cost
        except (IndexError, ValueError):
            return True


class PyOtpTotp:
    """RFC 6238 codes: 6 digits, 30-second steps, one step of clock drift either way."""

    def new_secret(self) -> str:
        return pyotp.random_base32()

    def verify(self, secret: str, code: str, at: datetime) -> bool:
        return pyotp.TOTP(secret).verify(code, for_time=at, valid_window=1)

    def provisioning_uri(self, secret: str, account_name: str, issuer: str) -> str:
        return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=issuer)
