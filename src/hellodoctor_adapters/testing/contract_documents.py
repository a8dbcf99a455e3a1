"""The documents contract: records of stored files round-trip, are listed by owner, change
their links under optimistic concurrency, are removed only at the version read, and tell the
orphan sweep which blob keys they name. Part of ``UnitOfWorkContract``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from hellodoctor_adapters.testing.contract_events import Outbox
from hellodoctor_adapters.testing.fixtures import MONDAY, appointment, seed, state_of
from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError, NotFound
from hellodoctor_domain.model.documents import (
    Document,
    DocumentId,
    DocumentKind,
    MediaType,
    Owner,
)
from hellodoctor_domain.model.values import AppointmentId, DoctorId, PatientId, UserId
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory


def document(key: str, owner: Owner | None = None, minutes: int = 0, **changes: Any) -> Document:
    values: dict[str, Any] = {
        "id": DocumentId(key),
        "owner": owner or Owner.patient(PatientId("p1")),
        "kind": DocumentKind.LAB_RESULT,
        "original_name": "résultat sanguin 📄.pdf",
        "media_type": MediaType.PDF,
        "size": 1234,
        "sha256": "ab" * 32,
        "blob_key": f"documents/{key}",
        "uploaded_by": UserId("u-p1"),
        "created_at": MONDAY + timedelta(minutes=minutes, microseconds=250_000),
        **changes,
    }
    return Document.uploaded(**values)


def _get(uow_factory: UnitOfWorkFactory, key: str) -> Document:
    with uow_factory() as uow:
        return uow.documents.get(DocumentId(key))


class DocumentStorageContract:
    """Needs ``uow_factory`` and ``outbox`` (see ``UnitOfWorkContract``)."""

    @pytest.fixture
    def with_visit(self, uow_factory: UnitOfWorkFactory) -> UnitOfWorkFactory:
        seed(uow_factory)
        with uow_factory() as uow:
            uow.appointments.add(appointment("a1", MONDAY + timedelta(hours=9)))
            uow.commit()
        return uow_factory

    def _store(self, uow_factory: UnitOfWorkFactory, *documents: Document) -> None:
        with uow_factory() as uow:
            for each in documents:
                uow.documents.add(each)
            uow.commit()

    def test_document_round_trips_with_every_field(self, with_visit: UnitOfWorkFactory) -> None:
        original = document("doc-1", appointment_id=AppointmentId("a1"), record_id="rec-9")
        self._store(with_visit, original)
        assert original.version == 1
        assert state_of(_get(with_visit, "doc-1")) == state_of(original)
        photo = document(
            "doc-2",
            Owner.doctor(DoctorId("d1")),
            kind=DocumentKind.PROFILE_PHOTO,
            media_type=MediaType.WEBP,
        )
        self._store(with_visit, photo)
        assert state_of(_get(with_visit, "doc-2")) == state_of(photo)

    def test_ids_are_unique(self, uow_factory: UnitOfWorkFactory) -> None:
        self._store(uow_factory, document("doc-1"))
        with pytest.raises(AlreadyExists), uow_factory() as uow:
            uow.documents.add(document("doc-1"))
            uow.commit()

    def test_an_owner_lists_their_own_newest_first(self, uow_factory: UnitOfWorkFactory) -> None:
        other = Owner.patient(PatientId("p2"))
        self._store(
            uow_factory,
            document("doc-1", minutes=1),
            document("doc-3", minutes=3),
            document("doc-2", minutes=2),
            document("doc-4", other, minutes=4),
            document("doc-5", Owner.doctor(DoctorId("p1")), minutes=5),  # same id, a doctor
        )
        with uow_factory() as uow:
            mine = uow.documents.for_owner(Owner.patient(PatientId("p1")))
            two = uow.documents.for_owner(Owner.patient(PatientId("p1")), limit=2)
        assert [d.id.value for d in mine] == ["doc-3", "doc-2", "doc-1"]
        assert [d.id.value for d in two] == ["doc-3", "doc-2"]

    def test_links_change_under_optimistic_concurrency(self, with_visit: UnitOfWorkFactory) -> None:
        self._store(with_visit, document("doc-1"))
        with with_visit() as uow:
            first = uow.documents.get(DocumentId("doc-1"))
        with with_visit() as uow:
            second = uow.documents.get(DocumentId("doc-1"))
            second.link(MONDAY, appointment_id=AppointmentId("a1"), record_id=None)
            uow.documents.update(second)
            uow.commit()
        assert second.version == 2
        first.link(MONDAY, appointment_id=None, record_id="rec-1")
        with pytest.raises(ConcurrencyError), with_visit() as uow:
            uow.documents.update(first)
            uow.commit()
        stored = _get(with_visit, "doc-1")
        assert (stored.appointment_id, stored.record_id, stored.version) == (
            AppointmentId("a1"),
            None,
            2,
        )

    def test_remove_takes_the_version_read_and_rolls_back(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        self._store(uow_factory, document("doc-1"), document("doc-2"))
        with uow_factory() as uow:
            uow.documents.remove(uow.documents.get(DocumentId("doc-1")))
            # no commit: rolled back
        assert _get(uow_factory, "doc-1").version == 1
        stale = _get(uow_factory, "doc-2")
        with uow_factory() as uow:
            fresh = uow.documents.get(DocumentId("doc-2"))
            fresh.link(MONDAY, appointment_id=None, record_id="rec-1")
            uow.documents.update(fresh)
            uow.commit()
        with pytest.raises(ConcurrencyError), uow_factory() as uow:
            uow.documents.remove(stale)
            uow.commit()
        with uow_factory() as uow:
            uow.documents.remove(uow.documents.get(DocumentId("doc-1")))
            uow.commit()
        with pytest.raises(NotFound):
            _get(uow_factory, "doc-1")
        assert _get(uow_factory, "doc-2").record_id == "rec-1"

    def test_the_sweep_learns_which_blob_keys_have_a_record(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        self._store(uow_factory, document("doc-1"), document("doc-2"))
        with uow_factory() as uow:
            kept = uow.documents.with_blob_keys(
                ["documents/doc-1", "documents/doc-2", "documents/orphan", "other/doc-1"]
            )
            assert uow.documents.with_blob_keys([]) == set()
        assert kept == {"documents/doc-1", "documents/doc-2"}

    def test_document_events_reach_the_outbox(
        self, uow_factory: UnitOfWorkFactory, outbox: Outbox
    ) -> None:
        self._store(uow_factory, document("doc-1"))
        with uow_factory() as uow:
            stored = uow.documents.get(DocumentId("doc-1"))
            stored.delete(UserId("u-p1"), MONDAY + timedelta(hours=1))
            uow.documents.remove(stored)
            uow.commit()
        assert [row for row in outbox() if row[0] == "document"] == [
            ("document", "doc-1", "DocumentUploaded"),
            ("document", "doc-1", "DocumentDeleted"),
        ]
