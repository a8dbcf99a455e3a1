"""bcrypt password hashing and pyotp TOTP codes (hellodoctor_adapters.security)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit
from zoneinfo import ZoneInfo

import bcrypt
import pyotp
import pytest

from hellodoctor_adapters.security import MIN_BCRYPT_COST, BcryptPasswordHasher, PyOtpTotp

PASSWORD = "correct horse battery staple"
FAST = BcryptPasswordHasher(cost=4)


def cost_of(hashed: str) -> int:
    return int(hashed.split("$")[2])


# -- bcrypt --------------------------------------------------------------------------------


def test_the_right_password_verifies_and_a_wrong_one_does_not() -> None:
    hashed = FAST.hash(PASSWORD)
    assert FAST.verify(PASSWORD, hashed)
    assert not FAST.verify(PASSWORD + " ", hashed)
    assert not FAST.verify(PASSWORD.upper(), hashed)
    assert not FAST.verify("", hashed)


def test_hashes_are_salted_and_never_contain_the_password() -> None:
    first, second = FAST.hash(PASSWORD), FAST.hash(PASSWORD)
    assert first != second
    assert FAST.verify(PASSWORD, first)
    assert FAST.verify(PASSWORD, second)
    assert PASSWORD not in first


def test_the_hash_records_the_configured_cost() -> None:
    for cost in (4, 5):
        assert cost_of(BcryptPasswordHasher(cost=cost).hash(PASSWORD)) == cost


def test_the_default_cost_is_at_least_twelve() -> None:
    """The one test that pays for the production cost."""
    hasher = BcryptPasswordHasher()
    assert hasher.cost == MIN_BCRYPT_COST >= 12
    hashed = hasher.hash(PASSWORD)
    assert cost_of(hashed) == MIN_BCRYPT_COST
    assert hasher.verify(PASSWORD, hashed)
    assert not hasher.needs_rehash(hashed)


@pytest.mark.parametrize("cost", [3, 32, -1])
def test_a_cost_out_of_range_is_refused(cost: int) -> None:
    with pytest.raises(ValueError, match="cost"):
        BcryptPasswordHasher(cost=cost)


def test_passphrases_sharing_their_first_72_bytes_hash_differently() -> None:
    """bcrypt alone reads 72 bytes; the SHA-256 pre-hash keeps the rest significant."""
    shared = "a long passphrase " * 5
    first, second = shared + "ending one", shared + "ending two"
    assert first.encode()[:72] == second.encode()[:72]

    hashed = FAST.hash(first)

    assert FAST.verify(first, hashed)
    assert not FAST.verify(second, hashed)
    assert not FAST.verify(shared, hashed)


def test_multibyte_characters_past_72_bytes_still_count() -> None:
    shared = "ü" * 40  # 80 bytes of UTF-8 in 40 characters
    hashed = FAST.hash(shared + "ä")
    assert FAST.verify(shared + "ä", hashed)
    assert not FAST.verify(shared + "ö", hashed)


def test_a_password_with_a_nul_byte_works_and_nothing_after_the_nul_is_ignored() -> None:
    password = "before the nul\x00after the nul"
    hashed = FAST.hash(password)
    assert FAST.verify(password, hashed)
    assert not FAST.verify("before the nul", hashed)
    assert not FAST.verify("before the nul\x00something else", hashed)


@pytest.mark.parametrize(
    "hashed",
    [
        "",
        PASSWORD,
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g",
        "$2b$04$tooshort",
        "$2b$04$" + "!" * 53,
        "pbkdf2_sha256$600000$salt$hash",
    ],
)
def test_something_that_is_not_a_bcrypt_hash_never_verifies(hashed: str) -> None:
    assert FAST.verify(PASSWORD, hashed) is False


def test_a_plain_bcrypt_hash_of_the_password_does_not_verify() -> None:
    """The scheme is bcrypt over a pre-hash: a hash of the raw password (say, imported from
    another system) must not be taken for a match by accident."""
    raw = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    assert FAST.verify(PASSWORD, raw) is False


def test_needs_rehash_follows_the_cost() -> None:
    cheap = BcryptPasswordHasher(cost=4).hash(PASSWORD)
    dearer = BcryptPasswordHasher(cost=5).hash(PASSWORD)

    assert not BcryptPasswordHasher(cost=4).needs_rehash(cheap)
    assert BcryptPasswordHasher(cost=5).needs_rehash(cheap)
    assert not BcryptPasswordHasher(cost=5).needs_rehash(dearer)
    assert not BcryptPasswordHasher(cost=4).needs_rehash(dearer)  # never downgrade


@pytest.mark.parametrize("hashed", ["", "plaintext", "$2b$", "$2b$xx$abc"])
def test_needs_rehash_for_anything_unreadable(hashed: str) -> None:
    assert FAST.needs_rehash(hashed)


# -- TOTP ----------------------------------------------------------------------------------

# A fixed secret and moment: every code below is derived from them, so the test is exact.
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
MOMENT = datetime(2026, 6, 1, 9, 0, 15, tzinfo=UTC)  # mid-way through a 30-second step
STEP = timedelta(seconds=30)
AUTHENTICATOR = pyotp.TOTP(SECRET)


def code_at(offset_steps: int) -> str:
    return AUTHENTICATOR.at(MOMENT + offset_steps * STEP)


def test_the_current_code_verifies() -> None:
    assert PyOtpTotp().verify(SECRET, code_at(0), MOMENT)


@pytest.mark.parametrize("offset", [-1, 1])
def test_one_step_of_drift_either_way_is_accepted(offset: int) -> None:
    assert PyOtpTotp().verify(SECRET, code_at(offset), MOMENT)


@pytest.mark.parametrize("offset", [-2, 2, -3, 3])
def test_two_or_more_steps_of_drift_are_refused(offset: int) -> None:
    code = code_at(offset)
    # A far code that happens to equal a near one would prove nothing.
    assert code not in {code_at(near) for near in (-1, 0, 1)}
    assert not PyOtpTotp().verify(SECRET, code, MOMENT)


def test_an_aware_moment_in_another_zone_is_the_same_instant() -> None:
    elsewhere = MOMENT.astimezone(ZoneInfo("Asia/Kolkata"))
    assert elsewhere.utcoffset() != timedelta(0)
    assert PyOtpTotp().verify(SECRET, code_at(0), elsewhere)


@pytest.mark.parametrize("code", ["", "abcdef", "12345", "1234567"])
def test_malformed_codes_are_refused(code: str) -> None:
    assert not PyOtpTotp().verify(SECRET, code, MOMENT)


def test_a_code_of_another_secret_is_refused() -> None:
    totp = PyOtpTotp()
    other = totp.new_secret()
    code = pyotp.TOTP(other).at(MOMENT)
    assert code not in {code_at(near) for near in (-1, 0, 1)}
    assert not totp.verify(SECRET, code, MOMENT)


def test_new_secrets_are_fresh_base32_of_at_least_160_bits() -> None:
    totp = PyOtpTotp()
    secrets = {totp.new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert len(secret) * 5 >= 160
        assert set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        # A secret it made must work with itself.
        assert totp.verify(secret, pyotp.TOTP(secret).at(MOMENT), MOMENT)


def test_the_provisioning_uri_names_the_secret_account_and_issuer() -> None:
    uri = PyOtpTotp().provisioning_uri(SECRET, "ann@example.com", "HelloDoctor")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    assert unquote(parts.path) == "/HelloDoctor:ann@example.com"
    query = parse_qs(parts.query)
    assert query["secret"] == [SECRET]
    assert query["issuer"] == ["HelloDoctor"]
    assert pyotp.parse_uri(uri).at(MOMENT) == code_at(0)
