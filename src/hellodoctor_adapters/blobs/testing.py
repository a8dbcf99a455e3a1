"""A real S3 endpoint for tests: moto's server mode on a free loopback port.

``s3_endpoint()`` starts ``ThreadedMotoServer`` once per process (a pytest session fixture
usually holds it) and ``s3_storage(endpoint)`` gives a fresh bucket on it. moto checks no
presigned URL's signature or expiry, so tests assert on the URL we sign, not on moto refusing.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from hellodoctor_adapters.blobs.s3 import MIN_PART_SIZE, S3BlobStorage
from hellodoctor_adapters.testing.services import unavailable

# moto accepts any credentials; boto3 only needs some, and never the developer's real ones.
TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def s3_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server on 127.0.0.1, stopped on exit."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        unavailable("the S3 blob tests need moto[server] (the dev extra)")
    for name, value in TEST_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_storage(endpoint: str, *, prefix: str = "hd", **options: object) -> S3BlobStorage:
    """A storage over a new bucket on ``endpoint``, with the smallest parts S3 allows."""
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    storage = S3BlobStorage(
        bucket,
        prefix,
        endpoint_url=endpoint,
        region="us-east-1",
        path_style=True,
        part_size=MIN_PART_SIZE,
        **options,  # type: ignore[arg-type]
    )
    storage.client.create_bucket(Bucket=bucket)
    return storage
