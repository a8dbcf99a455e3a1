"""Blobs as files under one folder: the embedded default (``file://`` URLs).

A key maps to a path below the root, one folder per ``/``-separated part; a key that
``ports.blobs.checked_key`` refuses is refused (``InvalidValue``), so no key
leaves the root. Writes go to a temporary file in the target folder, are flushed to disk and
renamed over the target: a reader sees the old bytes or the new ones, never a part, and a
failed write leaves nothing. The folder has no URLs of its own: the API serves downloads with
signed, expiring links (``download_url`` returns ``None``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

from hellodoctor_domain.errors import InvalidValue, NotFound
from hellodoctor_domain.ports.blobs import BlobInfo, checked_key

CHUNK = 1 << 20
_PARTIAL = ".partial-"  # prefix of temporary files, never listed


class FilesystemBlobStorage:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()  # created by the first write

    def _path(self, key: str) -> Path:
        parts = checked_key(key).split("/")
        if any(part.startswith(_PARTIAL) for part in parts):
            raise InvalidValue(f"{key!r} is not a blob key")
        path = self.root.joinpath(*parts)
        if not path.is_relative_to(self.root):  # belt and braces against a drive or root part
            raise InvalidValue(f"{key!r} is not a blob key")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.put_stream(key, [data], content_type)

    def put_stream(self, key: str, chunks: Iterable[bytes], content_type: str) -> int:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=_PARTIAL, dir=target.parent)
        size = 0
        try:
            with os.fdopen(handle, "wb") as file:
                for chunk in chunks:
                    file.write(chunk)
                    size += len(chunk)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return size

    def get(self, key: str) -> bytes:
        return b"".join(self.open(key))

    def open(self, key: str) -> Iterator[bytes]:
        try:
            file = self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise NotFound(f"no blob {key!r}") from None

        def chunks() -> Iterator[bytes]:
            with file:
                while chunk := file.read(CHUNK):
                    yield chunk

        return chunks()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def listing(self, prefix: str) -> Iterator[BlobInfo]:
        for folder, _, files in os.walk(self.root):
            for name in sorted(files):
                if name.startswith(_PARTIAL):
                    continue
                path = Path(folder, name)
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    stat = path.stat()
                    yield BlobInfo(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))

    def download_url(
        self, key: str, *, filename: str, content_type: str, expires_in: timedelta
    ) -> str | None:
        return None


def open_filesystem_blobs(url: str) -> FilesystemBlobStorage:
    """Entry point for ``file:///absolute/folder`` and ``file:relative/folder`` URLs."""
    parts = urlsplit(url)
    path = unquote(parts.netloc + parts.path) if parts.netloc else unquote(parts.path)
    if not path:
        raise InvalidValue(f"{url!r} names no folder")
    return FilesystemBlobStorage(path)
