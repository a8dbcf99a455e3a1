"""A patient's own health information: their clinical records (latest revision of each, and
every revision of one), and their documents (list, details, download, upload). Every read goes
through the use cases the API calls (``Records``, ``Documents``), which decide and audit it;
what is not the patient's is 404, like what does not exist.

The upload form is ``multipart/form-data``: its CSRF token is a text part that must come
before the file part (the form puts it first), so the token is checked before a byte of the
file is stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import falcon

from hellodoctor_adapters.blobs import attachment
from hellodoctor_domain.errors import DomainError, NotFound, PortError, TooLarge
from hellodoctor_domain.model.audit import RequestContext
from hellodoctor_domain.model.documents import DocumentId, DocumentKind, Owner
from hellodoctor_domain.model.records import RecordId
from hellodoctor_domain.model.values import Actor, Role
from hellodoctor_http.api.accounts import client_address
from hellodoctor_http.portal.pages import MAX_FIELD, Page, PageError
from hellodoctor_http.portal.session import CSRF_FIELD

CHUNK = 256 * 1024
MAX_SHOWN = 200
# What a patient may upload (profile photos are doctors', claim attachments the desk's).
PATIENT_KINDS = (
    DocumentKind.REPORT,
    DocumentKind.LAB_RESULT,
    DocumentKind.IMAGING,
    DocumentKind.PRESCRIPTION_SCAN,
)


def request_context(page: Page, req: falcon.Request) -> RequestContext:
    """Who asked, for the audit log (as the API records it)."""
    settings = page.components.settings
    return RequestContext(
        getattr(req.context, "request_id", None),
        client_address(req, settings.trusted_proxies) or None,
    )


def _patient(page: Page, req: falcon.Request) -> Actor:
    actor = page.require(req, Role.PATIENT)
    assert actor.patient_id is not None
    return actor


class Records(Page):
    """``GET /records``: the latest revision of each of my records, newest first."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = _patient(self, req)
        assert actor.patient_id is not None
        found = self.components.records.of_patient(
            actor, actor.patient_id, request_context(self, req)
        )
        self.render(
            req,
            resp,
            "my_records.html",
            records=sorted(found, key=lambda r: r.created_at, reverse=True),
            zone=_zone(self, req),
        )


class RecordPage(Page):
    """``GET /records/{id}``: one record, every revision (the latest first)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, record_id: str) -> None:
        actor = _patient(self, req)
        assert actor.patient_id is not None
        try:
            versions = self.components.records.versions(
                actor, actor.patient_id, RecordId(record_id), request_context(self, req)
            )
        except (NotFound, DomainError):
            raise PageError(404, "There is no such record.") from None
        self.render(
            req,
            resp,
            "my_record.html",
            record=versions[-1],
            versions=list(reversed(versions)),
            zone=_zone(self, req),
        )


def _zone(page: Page, req: falcon.Request) -> str | None:
    found = page.session(req)
    return None if found is None else found.zone


class Documents(Page):
    """``GET /documents``: my documents and the upload form; ``POST``: upload one."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = _patient(self, req)
        found = self.components.documents.owned_by(actor, Owner.of(actor), MAX_SHOWN)
        self.render(
            req,
            resp,
            "my_documents.html",
            documents=sorted(found, key=lambda d: d.created_at, reverse=True),
            kinds=PATIENT_KINDS,
            zone=_zone(self, req),
            done=req.get_param("notice"),
            max_megabytes=self.components.settings.max_upload_bytes // (1024 * 1024),
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = _patient(self, req)
        if not (req.content_type or "").startswith("multipart/form-data"):
            self.form(req)  # a form without the file: refused as CSRF-less, or below
            raise PageError(422, "Choose a file to upload.")
        fields: dict[str, str] = {}
        document = None
        try:
            for part in req.get_media():
                if part.name != "file":
                    fields[part.name] = part.get_text()[:MAX_FIELD]
                    continue
                self._check_token(req, fields.get(CSRF_FIELD))
                try:
                    kind = DocumentKind(fields.get("kind", ""))
                except ValueError:
                    raise PageError(422, "Choose what kind of document it is.") from None
                if kind not in PATIENT_KINDS:
                    raise PageError(422, "Choose what kind of document it is.")
                if not part.filename:
                    raise PageError(422, "Choose a file to upload.")
                document = self.components.documents.upload(
                    actor,
                    kind=kind,
                    filename=part.filename,
                    chunks=_chunks(part.stream),
                )
                break
        except TooLarge:
            raise PageError(413, "That file is too large.") from None
        except (DomainError, PortError) as error:
            raise PageError(422, f"That was refused: {error}") from None
        except falcon.MediaMalformedError:
            raise PageError(400, "The upload did not arrive whole. Please try again.") from None
        if document is None:
            self._check_token(req, fields.get(CSRF_FIELD))
            raise PageError(422, "Choose a file to upload.")
        self.redirect(resp, f"/documents/{document.id.value}", "uploaded")

    def _check_token(self, req: falcon.Request, sent: str | None) -> None:
        found = self.session(req)
        if not self.portal.codec.csrf_valid(req, found.session_id if found else None, sent):
            raise PageError(403, "The form had expired or did not come from this site.")


def _chunks(stream: Any) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


class DocumentPage(Page):
    """``GET /documents/{id}``: what the document is, and its download link."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, document_id: str) -> None:
        actor = _patient(self, req)
        try:
            document = self.components.documents.get(
                actor, DocumentId(document_id), request_context(self, req)
            )
        except (NotFound, DomainError):
            raise PageError(404, "There is no such document.") from None
        self.render(
            req,
            resp,
            "my_document.html",
            document=document,
            zone=_zone(self, req),
            done=req.get_param("notice"),
        )


class DocumentFile(Page):
    """``GET /documents/{id}/file``: the bytes, as an attachment (never shown inline)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, document_id: str) -> None:
        actor = _patient(self, req)
        try:
            document, content = self.components.documents.content(
                actor, DocumentId(document_id), request_context(self, req)
            )
        except (NotFound, DomainError):
            raise PageError(404, "There is no such document.") from None
        resp.content_type = document.media_type.value
        resp.content_length = document.size
        resp.set_header("Content-Disposition", attachment(document.original_name))
        resp.stream = content
