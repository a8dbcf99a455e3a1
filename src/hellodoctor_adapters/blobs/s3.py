"""Blobs in any S3 endpoint through boto3: AWS, MinIO, Ceph... (``s3://`` URLs, the ``s3``
extra).

``s3://bucket/prefix?endpoint=http://127.0.0.1:9000&path_style=1&region=eu-west-1&sse=AES256``
(``sse=aws:kms`` with ``kms_key_id=...``). Credentials come from boto3's usual chain
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, an instance role), never from the
URL. Every key is stored under ``prefix/``. A stream is sent as one ``PutObject`` when it fits
in one part, otherwise as a multipart upload of ``part_size`` parts; a failure (the caller's
iterator raising past its limit included) aborts the upload, so nothing is left behind.

Downloads are presigned GETs that carry our expiry and ask S3 to answer with
``Content-Disposition: attachment`` and the sniffed type (``response-content-*``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import UTC, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from hellodoctor_adapters.blobs import attachment
from hellodoctor_domain.errors import BackendUnavailable, InvalidValue, NotFound
from hellodoctor_domain.ports.blobs import BlobInfo, checked_key

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's smallest part but the last
_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3BlobStorage:
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region: str | None = None,
        path_style: bool = False,
        sse: str | None = None,
        kms_key_id: str | None = None,
        part_size: int = 8 * 1024 * 1024,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise InvalidValue(f"S3 parts are at least {MIN_PART_SIZE} bytes")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.part_size = part_size
        self._encryption: dict[str, str] = {}
        if sse:
            self._encryption["ServerSideEncryption"] = sse
            if kms_key_id:
                self._encryption["SSEKMSKeyId"] = kms_key_id
        self.client = client or boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                s3={"addressing_style": "path" if path_style else "auto"},
                signature_version="s3v4",
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    def _key(self, key: str) -> str:
        return self.prefix + checked_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.put_stream(key, [data], content_type)

    def put_stream(self, key: str, chunks: Iterable[bytes], content_type: str) -> int:
        target = self._key(key)
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        size = 0
        try:
            for chunk in chunks:
                buffer += chunk
                size += len(chunk)
                while len(buffer) >= self.part_size:
                    if upload_id is None:
                        upload_id = self._call(
                            "create_multipart_upload",
                            Bucket=self.bucket,
                            Key=target,
                            ContentType=content_type,
                            **self._encryption,
                        )["UploadId"]
                    self._upload_part(target, upload_id, parts, bytes(buffer[: self.part_size]))
                    del buffer[: self.part_size]
            if upload_id is None:
                self._call(
                    "put_object",
                    Bucket=self.bucket,
                    Key=target,
                    Body=bytes(buffer),
                    ContentType=content_type,
                    **self._encryption,
                )
                return size
            if buffer:
                self._upload_part(target, upload_id, parts, bytes(buffer))
            self._call(
                "complete_multipart_upload",
                Bucket=self.bucket,
                Key=target,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
            return size
        except BaseException:
            if upload_id is not None:
                # A failed abort leaves parts for the bucket's lifecycle rule to expire.
                with contextlib.suppress(BotoCoreError, ClientError):
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=target, UploadId=upload_id
                    )
            raise

    def _upload_part(
        self, target: str, upload_id: str, parts: list[dict[str, Any]], body: bytes
    ) -> None:
        number = len(parts) + 1
        answer = self._call(
            "upload_part",
            Bucket=self.bucket,
            Key=target,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def get(self, key: str) -> bytes:
        return b"".join(self.open(key))

    def open(self, key: str) -> Iterator[bytes]:
        body = self._call("get_object", Bucket=self.bucket, Key=self._key(key))["Body"]

        def chunks() -> Iterator[bytes]:
            with body:
                yield from body.iter_chunks(1 << 20)

        return chunks()

    def exists(self, key: str) -> bool:
        try:
            self._call("head_object", Bucket=self.bucket, Key=self._key(key))
        except NotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        self._call("delete_object", Bucket=self.bucket, Key=self._key(key))

    def listing(self, prefix: str) -> Iterator[BlobInfo]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix
        )
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    key = item["Key"][len(self.prefix) :]
                    yield BlobInfo(key, item["Size"], item["LastModified"].astimezone(UTC))
        except (BotoCoreError, ClientError) as error:
            raise _translated(error) from error

    def download_url(
        self, key: str, *, filename: str, content_type: str, expires_in: timedelta
    ) -> str:
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(key),
                "ResponseContentDisposition": attachment(filename),
                "ResponseContentType": content_type,
            },
            ExpiresIn=int(expires_in.total_seconds()),
        )
        return url

    def _call(self, operation: str, **arguments: Any) -> Any:
        try:
            return getattr(self.client, operation)(**arguments)
        except (BotoCoreError, ClientError) as error:
            raise _translated(error) from error


def _translated(error: Exception) -> Exception:
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            return NotFound("no such blob")
    return BackendUnavailable(f"S3 failed: {error}")


def open_s3_blobs(url: str) -> S3BlobStorage:
    """Entry point for ``s3://bucket/prefix?endpoint=...&path_style=1&sse=...&region=...``."""
    parts = urlsplit(url)
    if not parts.netloc:
        raise InvalidValue(f"{url!r} names no bucket")
    options = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    return S3BlobStorage(
        parts.netloc,
        parts.path,
        endpoint_url=options.get("endpoint"),
        region=options.get("region"),
        path_style=options.get("path_style", "0").lower() in ("1", "true", "yes"),
        sse=options.get("sse"),
        kms_key_id=options.get("kms_key_id"),
    )
