"""Blob storage for uploaded files."""

from __future__ import annotations

from typing import Protocol


class BlobStorage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes:
        """The stored bytes, or ``NotFound``."""

    def delete(self, key: str) -> None:
        """Remove the blob; deleting a missing key is not an error."""
