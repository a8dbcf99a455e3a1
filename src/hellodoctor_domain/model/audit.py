"""The audit log of protected health information: one entry per read, write or refused attempt
on a patient's records, history, documents or profile, written in the same unit of work as the
access itself (HIPAA §164.312(b)).

The log is append-only in every storage, and each entry is *sealed* into a hash chain: its
``hash`` is SHA-256 over the previous entry's hash and its own canonical content, so changing,
removing or reordering a stored entry breaks the chain at that point (``verify_chain``), on any
backend, even for someone with write access to the database.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable
from datetime import datetime

from attrs import define, field

from hellodoctor_domain.model.values import PatientId, Role, UserId, utc

GENESIS = "0" * 64


class AuditAction(enum.StrEnum):
    READ = "read"
    WRITE = "write"
    GRANT = "grant"
    REVOKE = "revoke"
    EMERGENCY = "emergency"


class AuditOutcome(enum.StrEnum):
    ALLOWED = "allowed"
    DENIED = "denied"


@define(frozen=True)
class RequestContext:
    """Where an access came from: the request id and the client address (HTTP), or nothing
    (a command)."""

    request_id: str | None = None
    client_address: str | None = None


@define(frozen=True)
class AuditEntry:
    at: datetime = field(converter=utc)
    user_id: UserId
    role: Role
    patient_id: PatientId
    subject: str  # what: "records", "record:<id>", "history", "document:<id>", ...
    action: AuditAction
    outcome: AuditOutcome
    purpose: str
    request_id: str | None = None
    client_address: str | None = None

    def canonical(self) -> str:
        """The content the hash covers, as one stable string."""
        return json.dumps(
            [
                self.at.isoformat(),
                self.user_id.value,
                self.role.value,
                self.patient_id.value,
                self.subject,
                self.action.value,
                self.outcome.value,
                self.purpose,
                self.request_id,
                self.client_address,
            ],
            separators=(",", ":"),
            ensure_ascii=False,
        )


def chain_hash(previous_hash: str, entry: AuditEntry, sequence: int) -> str:
    digest = hashlib.sha256()
    digest.update(f"{sequence}|{previous_hash}|".encode())
    digest.update(entry.canonical().encode())
    return digest.hexdigest()


@define(frozen=True)
class SealedEntry:
    """An entry as stored: its place in the chain, the hash before it and its own."""

    sequence: int
    entry: AuditEntry
    previous_hash: str
    hash: str

    @classmethod
    def seal(cls, entry: AuditEntry, sequence: int, previous_hash: str) -> SealedEntry:
        return cls(sequence, entry, previous_hash, chain_hash(previous_hash, entry, sequence))


def verify_chain(entries: Iterable[SealedEntry]) -> int | None:
    """The sequence number of the first entry that does not fit the chain (changed, removed,
    inserted or reordered), or ``None`` when the whole chain holds. ``entries`` in sequence
    order, from the first."""
    previous, expected = GENESIS, 1
    for sealed in entries:
        if (
            sealed.sequence != expected
            or sealed.previous_hash != previous
            or sealed.hash != chain_hash(previous, sealed.entry, sealed.sequence)
        ):
            return sealed.sequence
        previous, expected = sealed.hash, expected + 1
    return None
