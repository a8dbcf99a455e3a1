"""The blob storage adapters against the one contract: the filesystem adapter on a temporary
folder, the S3 adapter against a real S3 endpoint (moto's server mode); and the upload
sniffer on hand-made files."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from hellodoctor_adapters.blobs import open_blob_storage
from hellodoctor_adapters.blobs.filesystem import FilesystemBlobStorage
from hellodoctor_adapters.blobs.s3 import S3BlobStorage
from hellodoctor_adapters.blobs.testing import s3_endpoint, s3_storage
from hellodoctor_adapters.registry import UnknownStorage
from hellodoctor_adapters.sniffing import FiletypeSniffer
from hellodoctor_adapters.testing import BlobStorageContract
from hellodoctor_adapters.testing.files import DICOM, EXE, JPEG, PDF, PNG, TEXT, WEBP


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with s3_endpoint() as endpoint:
        yield endpoint


class TestFilesystemBlobStorage(BlobStorageContract):
    @pytest.fixture
    def blob_storage(self, tmp_path: Path) -> FilesystemBlobStorage:
        return FilesystemBlobStorage(tmp_path / "blobs")

    def test_nothing_is_written_outside_the_root(self, tmp_path: Path) -> None:
        storage = FilesystemBlobStorage(tmp_path / "blobs")
        storage.put("a/b", b"x", "text/plain")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["blobs"]
        assert (tmp_path / "blobs" / "a" / "b").read_bytes() == b"x"

    def test_has_no_urls_of_its_own(self, tmp_path: Path) -> None:
        storage = FilesystemBlobStorage(tmp_path)
        url = storage.download_url(
            "a", filename="a.pdf", content_type="application/pdf", expires_in=timedelta(1)
        )
        assert url is None


class TestS3BlobStorage(BlobStorageContract):
    @pytest.fixture
    def blob_storage(self, moto_endpoint: str) -> S3BlobStorage:
        return s3_storage(moto_endpoint)

    def test_a_large_stream_goes_up_in_parts(self, moto_endpoint: str) -> None:
        storage = s3_storage(moto_endpoint)
        calls: list[str] = []
        storage.client.meta.events.register(
            "before-call.s3.*", lambda model, **_: calls.append(model.name)
        )
        storage.put_stream("big", iter([b"x" * (4 << 20)] * 3), "application/pdf")
        assert calls.count("UploadPart") == 3
        assert "CompleteMultipartUpload" in calls
        assert "PutObject" not in calls

    def test_server_side_encryption_is_asked_for(self, moto_endpoint: str) -> None:
        storage = s3_storage(moto_endpoint, sse="AES256")
        storage.put("secret.pdf", b"%PDF", "application/pdf")
        head = storage.client.head_object(Bucket=storage.bucket, Key="hd/secret.pdf")
        assert head["ServerSideEncryption"] == "AES256"
        assert head["ContentType"] == "application/pdf"

    def test_a_presigned_url_carries_our_expiry_and_disposition(self, moto_endpoint: str) -> None:
        storage = s3_storage(moto_endpoint)
        url = storage.download_url(
            "documents/d1",
            filename="lab résult.pdf",
            content_type="application/pdf",
            expires_in=timedelta(minutes=5),
        )
        parts = urlsplit(url)
        query = {name: values[0] for name, values in parse_qs(parts.query).items()}
        assert parts.path == f"/{storage.bucket}/hd/documents/d1"
        assert query["X-Amz-Expires"] == "300"
        assert query["X-Amz-Signature"]
        assert query["response-content-type"] == "application/pdf"
        assert query["response-content-disposition"] == (
            "attachment; filename=\"lab r_sult.pdf\"; filename*=UTF-8''lab%20r%C3%A9sult.pdf"
        )


def test_blob_storage_is_chosen_by_url(tmp_path: Path) -> None:
    storage = open_blob_storage(f"file://{tmp_path}/blobs")
    assert isinstance(storage, FilesystemBlobStorage)
    assert storage.root == tmp_path / "blobs"
    s3 = open_blob_storage(
        "s3://bucket/some/prefix?endpoint=http://127.0.0.1:9&path_style=1&sse=AES256&region=eu-west-1"
    )
    assert isinstance(s3, S3BlobStorage)
    assert (s3.bucket, s3.prefix) == ("bucket", "some/prefix/")
    assert s3.client.meta.endpoint_url == "http://127.0.0.1:9"
    assert s3.client.meta.config.s3 == {"addressing_style": "path"}
    with pytest.raises(UnknownStorage):
        open_blob_storage("ftp://host/x")


def test_the_sniffer_knows_every_accepted_type_and_refuses_look_alikes() -> None:
    sniffer = FiletypeSniffer()
    assert [sniffer.sniff(content) for content in (PDF, PNG, JPEG, WEBP, DICOM)] == [
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/webp",
        "application/dicom",  # filetype reads DICOM's "DICM" at offset 128 itself
    ]
    assert sniffer.sniff(EXE) == "application/x-msdownload"
    assert sniffer.sniff(TEXT) is None
    assert sniffer.sniff(b"") is None
