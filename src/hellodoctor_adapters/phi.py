"""Which stored fields are protected health information, and how each is sealed: the one
catalogue both databases use (docs/encryption.md lists it for people).

A field is sealed as text (``FieldCipher.seal``) or, when it is not text (a list, a JSON
body), as JSON (``seal_json``). The row id in the associated data is the patient's id, the
document's id, the account's id (an account, its notification settings), or
``"<record id>/<revision>"`` for a record revision (MongoDB's ``_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attrs import frozen

from hellodoctor_adapters.crypto import FieldCipher
from hellodoctor_domain.model.values import EmailAddress


@frozen
class PhiField:
    name: str
    json: bool = False


@frozen
class PhiTable:
    """A table (SQL) or collection (MongoDB) and its sealed fields."""

    name: str
    fields: tuple[PhiField, ...]
    # The MongoDB collection, when its name is not the table's (the associated data always
    # names the table, so a value means the same place in both families).
    collection: str | None = None

    @property
    def collection_name(self) -> str:
        return self.collection or self.name


PATIENTS = PhiTable(
    "patients",
    (
        PhiField("date_of_birth"),
        PhiField("phone"),
        PhiField("email"),
        PhiField("health_id"),
        PhiField("blood_group"),
        PhiField("emergency_contacts", json=True),
        PhiField("allergies", json=True),
    ),
)
# A record revision is read and written whole: its body (diagnoses, symptoms, vitals,
# prescriptions, lab results, allergies, notes, attachments) is one sealed value.
MEDICAL_RECORDS = PhiTable("medical_records", (PhiField("body", json=True),))
DOCUMENTS = PhiTable("documents", (PhiField("original_name"),))
# An account's e-mail address: sealed, and found at sign-in by its blind index (``email_key``).
# Its two-factor (TOTP) secret: sealed too (not health data, but a second factor a dump must
# not hand out; the server opens it to check a code).
ACCOUNTS = PhiTable("accounts", (PhiField("email"), PhiField("totp_secret")))

# The number SMS go to (notification settings): the same kind of datum as the patient's phone.
NOTIFICATION_PREFERENCES = PhiTable("notification_preferences", (PhiField("phone"),))

PHI_TABLES = (PATIENTS, MEDICAL_RECORDS, DOCUMENTS, ACCOUNTS, NOTIFICATION_PREFERENCES)

# Fields sealed *inside* an aggregate's JSON ``record`` column (MongoDB: ``record.<field>``).
# The rewrap walks these tables apart (``RECORD_PHI_TABLES``), writing ``record`` whole,
# conditionally on the row's version (MongoDB: on the value read).
# An insurance claim's items (services and their ICD-10 diagnosis codes), one JSON value: no
# query reads them.
CLAIMS = PhiTable("claims", (PhiField("items", json=True),), collection="insurance_claims")
# A transfer's reason and its steps (each with its note), inside ``transfers.record``: no
# query reads them (lists filter on the hospitals, order on the request time).
TRANSFERS = PhiTable("transfers", (PhiField("reason"), PhiField("history", json=True)))
# Where an admitted patient lies (ward, bed type: an ICU bed says much), inside
# ``admissions.record``: lists filter on the hospital or the patient, never on the ward.
ADMISSIONS = PhiTable("admissions", (PhiField("ward_code"), PhiField("bed_type")))
RECORD_PHI_TABLES = (CLAIMS, TRANSFERS, ADMISSIONS)

# The blind index of a patient's health ID (break-glass looks a patient up by it).
HEALTH_ID_INDEX = "health_id_index"
HEALTH_ID_KIND = "health_id"
# The blind index of an account's e-mail address (its case-folded lookup key).
EMAIL_INDEX = "email_key"
EMAIL_KIND = "email"
# The front desk finds a patient by phone, e-mail or birth date (issue 17): all three are
# sealed, so each has its blind index beside it (PatientSearch's equality criteria).
PHONE_INDEX = "phone_index"
PATIENT_EMAIL_INDEX = "email_index"
BIRTH_INDEX = "birth_index"
_DESK_KINDS = {
    "phone": (PHONE_INDEX, "patient_phone"),
    "email": (PATIENT_EMAIL_INDEX, "patient_email"),
    "date_of_birth": (BIRTH_INDEX, "patient_birth"),
}


def seal_fields(
    cipher: FieldCipher, table: PhiTable, row_id: str, values: Mapping[str, Any]
) -> dict[str, Any]:
    """``values`` with each of ``table``'s fields sealed (``None`` stays ``None``)."""
    sealed = dict(values)
    for each in table.fields:
        value = sealed.get(each.name)
        if value is None:
            continue
        if each.json:
            sealed[each.name] = cipher.seal_json(table.name, each.name, row_id, value)
        else:
            sealed[each.name] = cipher.seal(table.name, each.name, row_id, value)
    return sealed


def open_fields(
    cipher: FieldCipher, table: PhiTable, row_id: str, stored: Mapping[Any, Any]
) -> dict[str, Any]:
    """``stored`` with each of ``table``'s fields opened (values stored before encryption
    are read as they are)."""
    opened = dict(stored)
    for each in table.fields:
        value = opened.get(each.name)
        if value is None:
            continue
        if each.json:
            opened[each.name] = cipher.open_json(table.name, each.name, row_id, value)
        else:
            opened[each.name] = cipher.open(table.name, each.name, row_id, value)
    return opened


def health_id_index(cipher: FieldCipher, health_id: str | None) -> str | None:
    return cipher.blind_index(HEALTH_ID_KIND, health_id)


def email_index(cipher: FieldCipher, lookup_key: str) -> str:
    """The blind index of an e-mail address's lookup key (``EmailAddress.lookup_key``)."""
    index = cipher.blind_index(EMAIL_KIND, lookup_key)
    assert index is not None
    return index


def desk_index(cipher: FieldCipher, field_name: str, plain: str | None) -> str | None:
    """The blind index of a patient's ``phone`` (E.164), ``email`` (case-folded) or
    ``date_of_birth`` (ISO date), as the desk's search asks for it."""
    if plain is None:
        return None
    _, kind = _DESK_KINDS[field_name]
    return cipher.blind_index(kind, plain.casefold() if field_name == "email" else plain)


def health_id_lookups(cipher: FieldCipher, health_id: str) -> list[str]:
    """The index values a lookup by health ID matches (more than one while the index key
    rotates)."""
    return cipher.blind_indexes(HEALTH_ID_KIND, health_id)


def email_lookups(cipher: FieldCipher, lookup_key: str) -> list[str]:
    """The ``email_key`` values a sign-in matches: the address's index under each index key,
    and the plain lookup key rows older than encryption hold."""
    return [*cipher.blind_indexes(EMAIL_KIND, lookup_key), lookup_key]


def desk_lookups(cipher: FieldCipher, field_name: str, plain: str) -> list[str]:
    """The index values a desk search of ``field_name`` matches."""
    _, kind = _DESK_KINDS[field_name]
    return cipher.blind_indexes(kind, plain.casefold() if field_name == "email" else plain)


def desk_indexes(cipher: FieldCipher, plain: Mapping[str, Any]) -> dict[str, str | None]:
    """The three desk indexes of a patient's plain row or document."""
    return {
        column: desk_index(cipher, name, plain.get(name))
        for name, (column, _) in _DESK_KINDS.items()
    }


def derived_indexes(
    cipher: FieldCipher, table: PhiTable, field_name: str, plain: str
) -> dict[str, str | None]:
    """The blind indexes computed from ``plain`` (a rewrap writes them with the field)."""
    if table is PATIENTS and field_name == "health_id":
        return {HEALTH_ID_INDEX: health_id_index(cipher, plain)}
    if table is PATIENTS and field_name in _DESK_KINDS:
        return {_DESK_KINDS[field_name][0]: desk_index(cipher, field_name, plain)}
    if table is ACCOUNTS and field_name == "email":
        return {EMAIL_INDEX: email_index(cipher, EmailAddress(plain).lookup_key)}
    return {}
