"""Blob storage adapters, chosen by URL through entry points.

An adapter registers, under the ``hellodoctor.blob_storage`` entry-point group, a callable
``open(url: str) -> BlobStorage`` named after its URL scheme, as storage adapters do under
``hellodoctor.unit_of_work`` (``hellodoctor_adapters.registry``). Built in:

* ``file:///srv/hellodoctor/blobs`` (or a relative ``file:var/blobs``): a folder on local disk,
  the embedded default (``filesystem.py``);
* ``s3://bucket/prefix?endpoint=http://minio:9000&path_style=1&sse=AES256&region=eu-west-1``:
  any S3 endpoint through boto3 (``s3.py``, the ``s3`` extra).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from urllib.parse import quote

from hellodoctor_adapters.registry import UnknownStorage, url_scheme
from hellodoctor_domain.ports.blobs import BlobStorage

ENTRY_POINT_GROUP = "hellodoctor.blob_storage"


def open_blob_storage(url: str) -> BlobStorage:
    """The blob storage of the adapter registered for ``url``'s scheme."""
    scheme = url_scheme(url)
    found = entry_points(group=ENTRY_POINT_GROUP, name=scheme)
    if not found:
        installed = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
        raise UnknownStorage(
            f"no blob storage for {scheme!r} URLs is installed (installed: "
            f"{', '.join(installed) or 'none'}); install the matching extra, e.g. "
            f"pip install 'hellodoctor[{scheme}]'"
        )
    storage: BlobStorage = next(iter(found)).load()(url)
    return storage


def attachment(filename: str) -> str:
    """``Content-Disposition`` of a download: an ASCII fallback and the RFC 5987 UTF-8 name."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


__all__ = ["ENTRY_POINT_GROUP", "attachment", "open_blob_storage"]
