"""Documents: uploading files, reading their records, downloading them through short-lived
links, linking them to appointments, deleting them; and doctors' public profile photos.

An upload is ``multipart/form-data`` (the ``file`` part) or the raw bytes with any content
type; either way the declared type is ignored and the content is sniffed (``Documents``). The
bytes stream to storage through a counter: past ``HELLODOCTOR_MAX_UPLOAD_BYTES`` the upload is
refused with 413 and nothing is kept (a raw body whose ``Content-Length`` says so is refused
before a byte is read). This route is the only one that takes a body other than JSON.

A download is a link that expires: S3's presigned GET, or, for storages without URLs of their
own, a link to ``/documents/{id}/content`` that this API signed (HMAC of the id and expiry
under a key derived from the token secret), served with ``Content-Disposition: attachment``
and ``X-Content-Type-Options: nosniff``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any, Protocol

import falcon

from hellodoctor_adapters.blobs import attachment
from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.documents import Document, DocumentId, DocumentKind, Owner
from hellodoctor_domain.model.values import AppointmentId, Role
from hellodoctor_http.api import Resource
from hellodoctor_http.api.records import request_context
from hellodoctor_http.api.values import iso
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import parse_enum, write_json
from hellodoctor_http.json_schema import request_body, text, wire_values
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    DATETIME,
    STRING,
    Operation,
    Route,
    answer,
    id_query,
    integer_query,
    path_param,
    query_param,
    ref,
    text_query,
)
from hellodoctor_http.params import QueryReader
from hellodoctor_http.portal.paths import UPLOAD_PATH
from hellodoctor_http.problems import FieldError, validation_problem

CHUNK = 256 * 1024
# What a multipart body may add to the file it carries (boundaries and part headers).
MULTIPART_ALLOWANCE = 64 * 1024
PHOTOS = f"{API}/photos"
PHOTO_CACHE = "public, max-age=86400, immutable"  # a document's bytes never change

# -- requests -------------------------------------------------------------------------------


@request_body
class LinksBody:
    """What the document is linked to; ``null`` unlinks."""

    appointment_id: str | None = text(64, description="An appointment of the owner's.")
    record_id: str | None = text(64, default=None, description="A clinical record.")


# -- answers --------------------------------------------------------------------------------


def document_json(document: Document) -> dict[str, Any]:
    return {
        "id": document.id.value,
        "owner": {"role": document.owner.role.value, "id": document.owner.profile_id},
        "kind": document.kind.value,
        "name": document.original_name,
        "media_type": document.media_type.value,
        "size": document.size,
        "sha256": document.sha256,
        "uploaded_by": document.uploaded_by.value,
        "created_at": iso(document.created_at),
        "appointment_id": None
        if document.appointment_id is None
        else document.appointment_id.value,
        "record_id": document.record_id,
        "public": document.is_public,
    }


NULLABLE_STRING = {"type": ["string", "null"]}
SCHEMAS: dict[str, Any] = {
    "Document": answer(
        id=STRING,
        owner=answer(role={"enum": ["patient", "doctor"]}, id=STRING),
        kind={"enum": wire_values(DocumentKind)},
        name=STRING,
        media_type={
            "enum": [
                "application/pdf",
                "image/png",
                "image/jpeg",
                "image/webp",
                "application/dicom",
            ]
        },
        size={"type": "integer", "minimum": 0},
        sha256={"type": "string", "pattern": "^[0-9a-f]{64}$"},
        uploaded_by=STRING,
        created_at=DATETIME,
        appointment_id=NULLABLE_STRING,
        record_id=NULLABLE_STRING,
        public={"type": "boolean"},
    ),
    "DocumentList": answer(items={"type": "array", "items": ref("Document")}),
    "DownloadLink": answer(url={"type": "string"}, expires_at=DATETIME),
}

# -- signed links ---------------------------------------------------------------------------


def _signature(secret: str, document_id: str, expires: int) -> str:
    key = hashlib.sha256(b"hellodoctor document links\0" + secret.encode()).digest()
    return hmac.new(key, f"{document_id}\n{expires}".encode(), hashlib.sha256).hexdigest()


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _chunks(stream: _Readable) -> Iterator[bytes]:
    while chunk := stream.read(CHUNK):
        yield chunk


def _send(resp: falcon.Response, document: Document, content: Iterator[bytes]) -> None:
    resp.content_type = document.media_type.value
    resp.content_length = document.size
    resp.set_header("Content-Disposition", attachment(document.original_name))
    resp.set_header("X-Content-Type-Options", "nosniff")
    resp.stream = content


# -- query parameters: the resources read them through these declarations ------------------

_UPLOAD_PARAMS = (
    query_param("kind", {"enum": wire_values(DocumentKind)}, "Required."),
    text_query("filename", "The name to keep (raw uploads).", 255),
    id_query("appointment_id", "An appointment of yours."),
)
_LIST_PARAMS = (
    query_param("owner_role", {"enum": ["patient", "doctor"]}),
    id_query("owner_id"),
    integer_query("limit", 1, 200, 100),
)
_LINK_PARAMS = (
    text_query("expires", "", 20),
    text_query("signature", "", 64),
)

# -- resources ------------------------------------------------------------------------------


class Documents(Resource):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        query = QueryReader(req, _UPLOAD_PARAMS)
        kind = query.text("kind")
        appointment = query.text("appointment_id")
        filename = query.text("filename")
        if kind is None:
            query.fail("kind", f"required: one of {', '.join(wire_values(DocumentKind))}")
        query.done()
        assert kind is not None
        media_type = (req.content_type or "").split(";", 1)[0].strip().lower()
        declared: int | None = None
        if media_type == "multipart/form-data":
            found, chunks = self._file_part(req)
            filename = filename or found
        else:
            declared, chunks = req.content_length, _chunks(req.bounded_stream)
        document = self.components.documents.upload(
            actor,
            kind=parse_enum(DocumentKind, kind, "kind"),
            filename=filename or "document",
            chunks=chunks,
            appointment_id=None if appointment is None else AppointmentId(appointment),
            declared_size=declared,
        )
        resp.location = f"{API}/documents/{document.id.value}"
        write_json(resp, document_json(document), status=201)

    @staticmethod
    def _file_part(req: falcon.Request) -> tuple[str | None, Iterator[bytes]]:
        for part in req.get_media():
            if part.name == "file":
                return part.filename, _chunks(part.stream)
        raise validation_problem([FieldError("file", "send the file as the form's file part")])

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        actor = require_actor(req)
        query = QueryReader(req, _LIST_PARAMS)
        role, profile = query.text("owner_role"), query.text("owner_id")
        limit = query.count("limit")
        if role is None and profile is None and actor.role is Role.ADMIN:
            # A rule the schema cannot state: invalid-value, not a malformed request.
            query.fail("owner_id", "admins name the owner")
        query.done()
        if role is None and profile is None:
            owner = Owner.of(actor)
        else:
            owner = Owner(parse_enum(Role, role or "", "owner_role"), profile or "")
        found = self.components.documents.owned_by(actor, owner, limit)
        write_json(resp, {"items": [document_json(d) for d in found]})


class DocumentResource(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, document_id: str) -> None:
        document = self.components.documents.get(
            require_actor(req), DocumentId(document_id), request_context(self, req)
        )
        write_json(resp, document_json(document))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, document_id: str) -> None:
        self.components.documents.delete(
            require_actor(req), DocumentId(document_id), request_context(self, req)
        )
        resp.status = falcon.HTTP_204

    def on_put_links(self, req: falcon.Request, resp: falcon.Response, document_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, LinksBody)
        document = self.components.documents.link(
            actor,
            DocumentId(document_id),
            appointment_id=None
            if body.appointment_id is None
            else AppointmentId(body.appointment_id),
            record_id=body.record_id,
            context=request_context(self, req),
        )
        write_json(resp, document_json(document))

    def on_get_download(self, req: falcon.Request, resp: falcon.Response, document_id: str) -> None:
        documents = self.components.documents
        document, url = documents.download_url(
            require_actor(req), DocumentId(document_id), request_context(self, req)
        )
        expires_at = self.components.clock.now() + documents.settings.link_lifetime
        if url is None:
            expires = int(expires_at.timestamp())
            signature = _signature(self.settings.jwt_secret, document.id.value, expires)
            url = (
                f"{self.settings.public_url}{API}/documents/{document.id.value}/content"
                f"?expires={expires}&signature={signature}"
            )
        write_json(resp, {"url": url, "expires_at": iso(expires_at)})

    def on_get_content(self, req: falcon.Request, resp: falcon.Response, document_id: str) -> None:
        query = QueryReader(req, _LINK_PARAMS)
        expires, signature = query.text("expires"), query.text("signature")
        query.done()
        documents = self.components.documents
        if signature is None and expires is None:
            document, content = documents.content(
                require_actor(req), DocumentId(document_id), request_context(self, req)
            )
        else:
            self._check_link(document_id, expires, signature)
            document, content = documents.content_by_id(DocumentId(document_id))
        _send(resp, document, content)

    def _check_link(self, document_id: str, expires: str | None, signature: str | None) -> None:
        """A link this API signed that has not expired; anything else does not exist."""
        if not expires or not expires.isdigit() or signature is None:
            raise NotFound(f"no document {document_id}")
        expected = _signature(self.settings.jwt_secret, document_id, int(expires))
        now = self.components.clock.now().timestamp()
        if not hmac.compare_digest(expected, signature) or int(expires) < now:
            raise NotFound(f"no document {document_id}")


class Photo(Resource):
    def on_get(self, req: falcon.Request, resp: falcon.Response, document_id: str) -> None:
        document, content = self.components.documents.public_photo(DocumentId(document_id))
        _send(resp, document, content)
        resp.set_header("Cache-Control", PHOTO_CACHE)
        resp.set_header("ETag", f'"{document.sha256}"')
        resp.set_header("Content-Disposition", "inline")


DOCUMENT = path_param("document_id", "The document's id.")
_NOT_YOURS = ("not-found",)

ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/documents",
        Documents,
        {
            "post": Operation(
                "Upload a file: multipart/form-data (part `file`) or the raw bytes. Its type "
                "is sniffed from the content (PDF, PNG, JPEG, WebP, DICOM); the declared type "
                "is ignored",
                "bearer",
                "patient or doctor (own)",
                ok=201,
                response="Document",
                params=_UPLOAD_PARAMS,
                problems=(
                    "not-found",
                    "access-denied",
                    "invalid-value",
                    "validation-error",
                    "payload-too-large",
                    "unsupported-media-type",
                    "bad-request",
                ),
                headers=("Location",),
                tag="documents",
            ),
            "get": Operation(
                "Documents of an owner, newest first: your own; an admin names the owner",
                "bearer",
                "patient or doctor (own), admin",
                response="DocumentList",
                params=_LIST_PARAMS,
                problems=("access-denied", "invalid-value", "validation-error"),
                tag="documents",
            ),
        },
    ),
    Route(
        f"{API}/documents/{{document_id}}",
        DocumentResource,
        {
            "get": Operation(
                "A document's record",
                "bearer",
                "its owner, admin",
                response="Document",
                params=(DOCUMENT,),
                problems=_NOT_YOURS,
                tag="documents",
            ),
            "delete": Operation(
                "Delete a document and its file",
                "bearer",
                "its owner, admin",
                ok=204,
                params=(DOCUMENT,),
                problems=(*_NOT_YOURS, "concurrent-update"),
                tag="documents",
            ),
        },
    ),
    Route(
        f"{API}/documents/{{document_id}}/links",
        DocumentResource,
        {
            "put": Operation(
                "Link a document to one of its owner's appointments (or unlink it)",
                "bearer",
                "its owner, admin",
                response="Document",
                body=LinksBody,
                params=(DOCUMENT,),
                problems=(*_NOT_YOURS, "concurrent-update", "invalid-value", *BODY_PROBLEMS),
                tag="documents",
            )
        },
        suffix="links",
    ),
    Route(
        f"{API}/documents/{{document_id}}/download",
        DocumentResource,
        {
            "get": Operation(
                "A short-lived link to the file (downloaded as an attachment)",
                "bearer",
                "its owner, admin",
                response="DownloadLink",
                params=(DOCUMENT,),
                problems=_NOT_YOURS,
                tag="documents",
            )
        },
        suffix="download",
    ),
    Route(
        f"{API}/documents/{{document_id}}/content",
        DocumentResource,
        {
            "get": Operation(
                "The file's bytes, by a signed link from /download or with a bearer token "
                "(`Authorization: Bearer`, as on every route)",
                "public",
                "a signed link's holder; its owner, admin",
                response_type="*/*",
                params=(
                    DOCUMENT,
                    *_LINK_PARAMS,
                ),
                problems=(*_NOT_YOURS, "validation-error"),
                headers=("Content-Disposition",),
                tag="documents",
            )
        },
        suffix="content",
    ),
    Route(
        f"{PHOTOS}/{{document_id}}",
        Photo,
        {
            "get": Operation(
                "A doctor's profile photo, cacheable by anyone",
                "public",
                "anyone",
                response_type="*/*",
                params=(DOCUMENT,),
                problems=_NOT_YOURS,
                headers=("ETag", "Cache-Control"),
                tag="documents",
            )
        },
    ),
)


def upload_limits(max_upload_bytes: int) -> dict[str, int]:
    """The body limit of the upload routes (the request middleware's exception): this API's
    and the portal's upload form."""
    limit = max_upload_bytes + MULTIPART_ALLOWANCE
    return {f"{API}/documents": limit, UPLOAD_PATH: limit}
