"""The documents use case over the in-memory fakes: sniffing, counting, names, access, and the
orphan sweep after a crash between storing the bytes and committing the record."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from hellodoctor_adapters.memory import (
    InMemoryBlobStorage,
    InMemoryUnitOfWorkFactory,
    ManualClock,
    SequentialIds,
)
from hellodoctor_domain.errors import (
    BackendUnavailable,
    InvalidValue,
    NotFound,
    TooLarge,
    UnsupportedMediaType,
)
from hellodoctor_domain.model.documents import DocumentKind, MediaType, Owner, sanitised_name
from hellodoctor_domain.model.values import Actor, DoctorId, PatientId, UserId
from hellodoctor_domain.ports.unit_of_work import UnitOfWork
from hellodoctor_domain.use_cases.documents import Documents, DocumentSettings

NOW = datetime(2030, 1, 7, 9, tzinfo=UTC)
PATIENT = Actor.patient(PatientId("pat-1"))
PDF = b"%PDF-1.7\n" + b"x" * 500


class MagicSniffer:
    """Knows two magic numbers: enough to tell the use case's branches apart."""

    def sniff(self, head: bytes) -> str | None:
        if head.startswith(b"%PDF"):
            return "application/pdf"
        if head.startswith(b"MZ"):
            return "application/x-msdownload"
        return None


class Clinic:
    def __init__(self, limit: int = 1024) -> None:
        self.clock = ManualClock(NOW)
        self.storage = InMemoryUnitOfWorkFactory()
        self.blobs = InMemoryBlobStorage(self.clock.now)
        self.documents = Documents(
            self.storage,
            self.clock,
            SequentialIds("doc"),
            self.blobs,
            MagicSniffer(),
            DocumentSettings(max_bytes=limit, orphan_age=timedelta(hours=1)),
        )

    def keys(self) -> list[str]:
        return [info.key for info in self.blobs.listing("")]


def chunks(data: bytes, size: int = 7) -> Iterator[bytes]:
    """Small, uneven chunks: the sniffer and the counter must not depend on chunk sizes."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_an_upload_is_sniffed_counted_and_hashed_across_chunks() -> None:
    clinic = Clinic()
    document = clinic.documents.upload(
        PATIENT, kind=DocumentKind.REPORT, filename="r.pdf", chunks=chunks(PDF)
    )
    assert document.media_type is MediaType.PDF
    assert document.size == len(PDF)
    assert clinic.blobs.get(document.blob_key) == PDF
    assert document.owner == Owner.patient(PatientId("pat-1"))
    assert document.uploaded_by == UserId("pat-1")
    assert [m.event_type for m in clinic.storage.store.outbox] == ["DocumentUploaded"]


@pytest.mark.parametrize("content", [b"MZ" + b"\0" * 300, b"plain text " * 40, b""])
def test_what_is_not_on_the_allow_list_is_refused_and_not_stored(content: bytes) -> None:
    clinic = Clinic()
    with pytest.raises(UnsupportedMediaType):
        clinic.documents.upload(
            PATIENT, kind=DocumentKind.REPORT, filename="a.pdf", chunks=chunks(content)
        )
    assert clinic.keys() == []


def test_one_byte_over_the_limit_stores_nothing() -> None:
    clinic = Clinic(limit=len(PDF) - 1)
    with pytest.raises(TooLarge):
        clinic.documents.upload(PATIENT, kind=DocumentKind.REPORT, filename="a", chunks=chunks(PDF))
    with pytest.raises(TooLarge):  # announced: refused before reading
        clinic.documents.upload(
            PATIENT, kind=DocumentKind.REPORT, filename="a", chunks=iter(()), declared_size=len(PDF)
        )
    assert clinic.keys() == []
    assert clinic.documents.owned_by(PATIENT, Owner.of(PATIENT)) == []


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\scan.pdf", "scan.pdf"),
        ("...hidden.pdf", "hidden.pdf"),
        ("a\x00b\r\nc<>.pdf", "a_b__c__.pdf"),
        ("", "document"),
        ("../", "document"),
        ("e\u0301t\u00e9.pdf", "\u00e9t\u00e9.pdf"),  # NFC
        ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),  # at most 200, keeping the extension
    ],
)
def test_names_are_sanitised(given: str, kept: str) -> None:
    assert sanitised_name(given) == kept


def test_the_owner_and_admins_see_a_document_and_no_one_else_learns_it_exists() -> None:
    clinic = Clinic()
    document = clinic.documents.upload(
        PATIENT, kind=DocumentKind.REPORT, filename="r.pdf", chunks=chunks(PDF)
    )
    assert clinic.documents.get(Actor.admin(UserId("admin")), document.id).id == document.id
    for outsider in (Actor.patient(PatientId("pat-2")), Actor.doctor(DoctorId("dr-1"))):
        with pytest.raises(NotFound):
            clinic.documents.get(outsider, document.id)
        with pytest.raises(NotFound):
            clinic.documents.delete(outsider, document.id)
    with pytest.raises(InvalidValue):  # an admin names the owner
        clinic.documents.upload(
            Actor.admin(UserId("admin")), kind=DocumentKind.REPORT, filename="r", chunks=iter([PDF])
        )


def test_a_commit_that_fails_takes_its_bytes_with_it() -> None:
    clinic = Clinic()

    def failing() -> UnitOfWork:
        uow = clinic.storage()
        uow._commit = _raise  # type: ignore[method-assign]
        return uow

    clinic.documents._uow = failing
    with pytest.raises(BackendUnavailable):
        clinic.documents.upload(PATIENT, kind=DocumentKind.REPORT, filename="r", chunks=iter([PDF]))
    assert clinic.keys() == []


def _raise(*_: object) -> None:
    raise BackendUnavailable("the database went away")


class CrashingBlobs(InMemoryBlobStorage):
    """The process dies after the bytes land: nothing it meant to do afterwards happens."""

    def delete(self, key: str) -> None:
        raise BackendUnavailable("the process is gone")


def test_bytes_a_crash_left_without_a_record_are_swept_once_old_enough() -> None:
    clinic = Clinic()
    kept = clinic.documents.upload(
        PATIENT, kind=DocumentKind.REPORT, filename="r", chunks=iter([PDF])
    )
    crashing = CrashingBlobs(clinic.clock.now)
    crashing._blobs = clinic.blobs._blobs  # the same bucket
    clinic.documents.blobs = crashing

    def failing() -> UnitOfWork:
        uow = clinic.storage()
        uow._commit = _raise  # type: ignore[method-assign]
        return uow

    clinic.documents._uow = failing
    with pytest.raises(BackendUnavailable):
        clinic.documents.upload(PATIENT, kind=DocumentKind.REPORT, filename="r", chunks=iter([PDF]))
    orphan = "documents/doc-2"
    assert sorted(clinic.keys()) == [kept.blob_key, orphan]
    clinic.documents.blobs = clinic.blobs
    clinic.documents._uow = clinic.storage
    # Young bytes may belong to a record still committing: kept.
    clinic.clock.advance(timedelta(minutes=59))
    assert clinic.documents.sweep_orphans() == 0
    clinic.clock.advance(timedelta(minutes=2))
    assert clinic.documents.sweep_orphans() == 1
    assert clinic.keys() == [kept.blob_key]
    assert clinic.documents.sweep_orphans() == 0  # idempotent
    assert clinic.blobs.get(kept.blob_key) == PDF


def test_the_sweep_stops_at_its_limit() -> None:
    clinic = Clinic()
    for index in range(5):
        clinic.blobs.put(f"documents/orphan-{index}", PDF, "application/pdf")
    clinic.blobs.put("elsewhere/not-ours", PDF, "application/pdf")
    clinic.clock.advance(timedelta(hours=2))
    assert clinic.documents.sweep_orphans(limit=3) == 3
    assert clinic.documents.sweep_orphans(limit=3) == 2
    assert clinic.keys() == ["elsewhere/not-ours"]
