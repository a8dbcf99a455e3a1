"""Blob storage for uploaded files, and the media-type sniffer that judges their content.

Keys are ``/``-separated relative paths chosen by the use cases (never by a client). Adapters
are chosen by URL through the ``hellodoctor.blob_storage`` entry points
(``hellodoctor_adapters.blobs``): ``file://`` (a folder, the embedded default) and ``s3://``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Protocol

from attrs import define

from hellodoctor_domain.errors import InvalidValue


def checked_key(key: str) -> str:
    """``key`` if every ``/``-separated part is a plain name (not empty, ``.`` or ``..``, no
    backslash or NUL); ``InvalidValue`` otherwise. Every adapter refuses the same keys, so none
    can be tricked into leaving its folder or prefix."""
    parts = key.split("/") if isinstance(key, str) else [""]
    if any(part in ("", ".", "..") or "\\" in part or "\0" in part for part in parts):
        raise InvalidValue(f"{key!r} is not a blob key")
    return key


@define(frozen=True)
class BlobInfo:
    """One stored object, as a listing sees it (``modified_at``: UTC)."""

    key: str
    size: int
    modified_at: datetime


class BlobStorage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def put_stream(self, key: str, chunks: Iterable[bytes], content_type: str) -> int:
        """Store the concatenated ``chunks``, returning how many bytes were stored. Nothing is
        stored, not even in part, when the iterator raises (the error propagates): callers
        count bytes in their iterator and raise past their limit."""

    def get(self, key: str) -> bytes:
        """The stored bytes, or ``NotFound``."""

    def open(self, key: str) -> Iterator[bytes]:
        """The stored bytes in chunks, or ``NotFound`` (raised before the first chunk)."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing key is not an error."""

    def listing(self, prefix: str) -> Iterator[BlobInfo]:
        """Every blob whose key starts with ``prefix``."""

    def download_url(
        self, key: str, *, filename: str, content_type: str, expires_in: timedelta
    ) -> str | None:
        """A URL the client may fetch directly until ``expires_in`` runs out, answering with
        ``Content-Disposition: attachment; filename=...`` and ``content_type``; ``None`` when
        the storage has no URLs of its own (the API then serves the bytes itself)."""


class MediaTypeSniffer(Protocol):
    def sniff(self, head: bytes) -> str | None:
        """The media type the first bytes of a file show, or ``None`` when unrecognised."""
