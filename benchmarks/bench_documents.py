"""Upload benchmark (not a test): MB/s of files uploaded through the API into S3, beside the
same files sent straight to the same S3 endpoint with boto3's ``put_object``, in the same run.

    .venv/bin/python benchmarks/bench_documents.py --files 16 --megabytes 5

The S3 endpoint is moto's server (``ThreadedMotoServer``) on loopback, started by the script.
The API is the real app (``create_app`` over ``bootstrap``, in-memory storage, the S3 blob
adapter) served by ``wsgiref`` on loopback in a thread, and the client posts raw PDF-looking
bodies over ``http.client``: every upload is read from a socket, sniffed, hashed, counted and
streamed to S3 (multipart above 8 MiB) before its record commits. ``--smoke`` sends two small
files to prove the script still works.
"""

from __future__ import annotations

import argparse
import http.client
import threading
import time
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from hellodoctor_adapters.blobs.testing import s3_endpoint, s3_storage
from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory
from hellodoctor_adapters.testing.files import pdf_of_size
from hellodoctor_http.app import create_app
from hellodoctor_http.bootstrap import bootstrap
from hellodoctor_http.config import Settings

SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"
SMOKE = {"files": 2, "megabytes": 0.25}


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _through_api(endpoint: str, bodies: list[bytes]) -> float:
    blobs = s3_storage(endpoint, prefix="api")
    largest = max(len(body) for body in bodies)
    settings = Settings(jwt_secret=SECRET, max_upload_bytes=largest, bcrypt_cost=4)
    components = bootstrap(settings, storage=InMemoryUnitOfWorkFactory(), blobs=blobs)
    token, _ = components.token_codec().issue("acct-bench", "patient", patient_id="pat-bench")
    server: WSGIServer = make_server("127.0.0.1", 0, create_app(components), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=60)
        started = time.perf_counter()
        for body in bodies:
            connection.request(
                "POST",
                "/api/v1/documents?kind=lab_result&filename=bench.pdf",
                body=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
            )
            answer = connection.getresponse()
            answer.read()
            if answer.status != 201:
                raise SystemExit(f"the API answered {answer.status}")
        elapsed = time.perf_counter() - started
        connection.close()
    finally:
        server.shutdown()
        server.server_close()
    return elapsed


def _direct(endpoint: str, bodies: list[bytes]) -> float:
    blobs = s3_storage(endpoint, prefix="direct")
    started = time.perf_counter()
    for index, body in enumerate(bodies):
        blobs.client.put_object(
            Bucket=blobs.bucket, Key=f"direct/{index}", Body=body, ContentType="application/pdf"
        )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--megabytes", type=float, default=5.0, help="size of each file")
    parser.add_argument("--smoke", action="store_true", help="two small files: does it run?")
    options = parser.parse_args()
    files = SMOKE["files"] if options.smoke else options.files
    megabytes = SMOKE["megabytes"] if options.smoke else options.megabytes
    size = int(megabytes * 1024 * 1024)
    bodies = [pdf_of_size(size)[:-8] + index.to_bytes(8, "big") for index in range(int(files))]
    total = size * len(bodies) / 1e6
    with s3_endpoint() as endpoint:
        _direct(endpoint, bodies[:1])  # warm both paths once: connection pools, imports
        _through_api(endpoint, bodies[:1])
        direct = _direct(endpoint, bodies)
        api = _through_api(endpoint, bodies)
    print(f"{len(bodies)} files of {megabytes:g} MiB into moto S3 on loopback")
    print(f"boto3 put_object: {total / direct:.1f} MB/s")
    print(f"API upload:       {total / api:.1f} MB/s")
    print(f"API upload / boto3 put_object ({megabytes:g} MiB files): {round(100 * direct / api)}%")


if __name__ == "__main__":
    main()
