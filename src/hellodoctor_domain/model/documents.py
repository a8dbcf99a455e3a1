"""Documents: files a patient or a doctor keeps with us (reports, lab results, imaging,
prescription scans, claim attachments, a doctor's profile photo).

A ``Document`` is the record of one stored file: who owns it, what kind it is, the name it was
uploaded under (sanitised: never a path), the media type *sniffed from its content* (one of
``MediaType``; what the client declared is never trusted), its size and SHA-256, who uploaded it
and when, the blob key its bytes are stored under, and what it is linked to (an appointment, a
clinical record). Its bytes live in blob storage, its record in the database: the record is
written only after the bytes are, so a record always has its bytes; bytes whose record never
committed are swept (``use_cases.documents``).

Profile photos are a doctor's, images only, and public; every other document is private to its
owner (and admins; doctors with a care relationship once clinical records define one).
"""

from __future__ import annotations

import enum
import re
import unicodedata
from datetime import datetime
from typing import ClassVar, Self

from attrs import define, field

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.events import Aggregate, DomainEvent
from hellodoctor_domain.model.values import (
    Actor,
    AppointmentId,
    DoctorId,
    PatientId,
    Role,
    UserId,
    _Identifier,
    utc,
)

MAX_NAME_LENGTH = 200


class DocumentId(_Identifier):
    """Identity of a document."""


class DocumentKind(enum.StrEnum):
    REPORT = "report"
    LAB_RESULT = "lab_result"
    IMAGING = "imaging"
    PRESCRIPTION_SCAN = "prescription_scan"
    PROFILE_PHOTO = "profile_photo"
    CLAIM_ATTACHMENT = "claim_attachment"


class MediaType(enum.StrEnum):
    """The types we accept, by what the content is, never by name or declared type."""

    PDF = "application/pdf"
    PNG = "image/png"
    JPEG = "image/jpeg"
    WEBP = "image/webp"
    DICOM = "application/dicom"

    @property
    def is_image(self) -> bool:
        return self in (MediaType.PNG, MediaType.JPEG, MediaType.WEBP)


_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')


def sanitised_name(name: str) -> str:
    """A file name safe to show and to send back in ``Content-Disposition``: the last path
    part only, NFC, no control or shell-special characters, no leading dots, at most
    ``MAX_NAME_LENGTH`` characters (keeping the extension); ``document`` when nothing is left."""
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", str(name)))[-1]
    cleaned = _UNSAFE.sub("_", base).strip().lstrip(".").strip()
    if len(cleaned) > MAX_NAME_LENGTH:
        stem, dot, extension = cleaned.rpartition(".")
        keep = extension[:16] if dot and stem else ""
        cleaned = cleaned[: MAX_NAME_LENGTH - len(keep) - 1].rstrip() + ("." + keep if keep else "")
    return cleaned or "document"


@define(frozen=True)
class Owner:
    """Whose document it is: a patient's or a doctor's profile."""

    role: Role
    profile_id: str = field()

    @profile_id.validator
    def _check(self, _attribute: object, value: str) -> None:
        if self.role not in (Role.PATIENT, Role.DOCTOR):
            raise InvalidValue("a document belongs to a patient or a doctor")
        if not isinstance(value, str) or not value.strip():
            raise InvalidValue("a document's owner needs a profile id")

    @classmethod
    def patient(cls, patient_id: PatientId) -> Self:
        return cls(Role.PATIENT, patient_id.value)

    @classmethod
    def doctor(cls, doctor_id: DoctorId) -> Self:
        return cls(Role.DOCTOR, doctor_id.value)

    @classmethod
    def of(cls, actor: Actor) -> Self:
        """The actor's own profile (``InvalidValue`` for an admin, who has none)."""
        if actor.patient_id is not None:
            return cls.patient(actor.patient_id)
        if actor.doctor_id is not None:
            return cls.doctor(actor.doctor_id)
        raise InvalidValue("an admin has no documents of their own; name the owner")

    def is_actor(self, actor: Actor) -> bool:
        return (self.role is Role.PATIENT and actor.patient_id == PatientId(self.profile_id)) or (
            self.role is Role.DOCTOR and actor.doctor_id == DoctorId(self.profile_id)
        )


@define(frozen=True, kw_only=True)
class DocumentEvent(DomainEvent):
    aggregate_type: ClassVar[str] = "document"

    document_id: DocumentId
    owner: Owner

    @property
    def aggregate_id(self) -> str:
        return self.document_id.value


@define(frozen=True, kw_only=True)
class DocumentUploaded(DocumentEvent):
    kind: DocumentKind
    media_type: MediaType
    size: int
    uploaded_by: UserId


@define(frozen=True, kw_only=True)
class DocumentLinked(DocumentEvent):
    appointment_id: AppointmentId | None
    record_id: str | None


@define(frozen=True, kw_only=True)
class DocumentDeleted(DocumentEvent):
    deleted_by: UserId


def _non_negative(_instance: object, _attribute: object, value: int) -> None:
    if not isinstance(value, int) or value < 0:
        raise InvalidValue("a size is a whole number of bytes, at least zero")


def _sha256_hex(_instance: object, _attribute: object, value: str) -> None:
    if not re.fullmatch(r"[0-9a-f]{64}", value or ""):
        raise InvalidValue("a SHA-256 is 64 lower-case hex digits")


@define(eq=False, kw_only=True)
class Document(Aggregate):
    id: DocumentId
    owner: Owner
    kind: DocumentKind
    original_name: str = field(converter=sanitised_name)
    media_type: MediaType
    size: int = field(validator=_non_negative)
    sha256: str = field(validator=_sha256_hex)
    blob_key: str
    uploaded_by: UserId
    created_at: datetime = field(converter=utc)
    appointment_id: AppointmentId | None = None
    record_id: str | None = None
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if self.kind is DocumentKind.PROFILE_PHOTO and (
            self.owner.role is not Role.DOCTOR or not self.media_type.is_image
        ):
            raise InvalidValue("a profile photo is a doctor's, and an image (PNG, JPEG, WebP)")

    @classmethod
    def uploaded(cls, **values: object) -> Self:
        """A new document (``version`` 0 until stored), recording ``DocumentUploaded``."""
        document = cls(**values)  # type: ignore[arg-type]
        document.record(
            DocumentUploaded(
                occurred_at=document.created_at,
                document_id=document.id,
                owner=document.owner,
                kind=document.kind,
                media_type=document.media_type,
                size=document.size,
                uploaded_by=document.uploaded_by,
            )
        )
        return document

    @property
    def is_public(self) -> bool:
        """Profile photos are shown to anyone looking at the doctor."""
        return self.kind is DocumentKind.PROFILE_PHOTO

    def link(
        self, now: datetime, *, appointment_id: AppointmentId | None, record_id: str | None
    ) -> None:
        self.appointment_id = appointment_id
        self.record_id = record_id
        self.record(
            DocumentLinked(
                occurred_at=utc(now),
                document_id=self.id,
                owner=self.owner,
                appointment_id=appointment_id,
                record_id=record_id,
            )
        )

    def delete(self, by: UserId, now: datetime) -> None:
        """Record the deletion (the repository removes the record, the use case the bytes)."""
        self.record(
            DocumentDeleted(
                occurred_at=utc(now), document_id=self.id, owner=self.owner, deleted_by=by
            )
        )
