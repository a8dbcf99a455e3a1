"""Documents through the API (memory and SQLite storages, blobs in memory), every response
checked against /openapi.json: the type comes from the content, the size limit holds before
anything is kept, downloads are signed and expire, and nobody but the owner and admins learns
that a document exists."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from urllib.request import urlopen

import pytest

from hellodoctor_adapters.blobs.testing import s3_endpoint, s3_storage
from hellodoctor_adapters.memory import InMemoryBlobStorage, ManualClock
from hellodoctor_adapters.testing.files import DICOM, EXE, JPEG, PDF, PNG, TEXT, WEBP, pdf_of_size
from hellodoctor_domain.use_cases.documents import DocumentSettings
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.testing import FEE_DOCTOR, Headers, ValidatingClient, at
from hellodoctor_http.worker import run_once

API = "/api/v1"
LIMIT = 4096


def upload_raw(
    client: ValidatingClient,
    headers: dict[str, str],
    body: bytes,
    *,
    kind: str = "lab_result",
    declared: str = "application/octet-stream",
    **query: str,
) -> Any:
    return client.simulate_post(
        f"{API}/documents",
        params={"kind": kind, **query},
        body=body,
        headers={**headers, "Content-Type": declared},
    )


def upload_form(
    client: ValidatingClient,
    headers: dict[str, str],
    body: bytes,
    filename: str,
    *,
    kind: str = "report",
    declared: str = "application/pdf",
) -> Any:
    boundary = uuid.uuid4().hex
    form = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: {declared}\r\n\r\n"
        ).encode()
        + body
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.simulate_post(
        f"{API}/documents",
        params={"kind": kind},
        body=form,
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )


@pytest.fixture
def small_limit(components: Components) -> int:
    components.documents.settings = DocumentSettings(max_bytes=LIMIT)
    return LIMIT


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (WEBP, "image/webp"),
        (DICOM, "application/dicom"),
    ],
)
def test_accepted_types_are_sniffed_from_the_content(
    client: ValidatingClient, as_patient: Headers, content: bytes, media_type: str
) -> None:
    created = upload_raw(client, as_patient(), content, declared="text/plain", filename="x")
    assert created.status_code == 201, created.json
    assert created.json["media_type"] == media_type
    assert created.json["size"] == len(content)
    assert created.json["sha256"] == hashlib.sha256(content).hexdigest()
    assert created.headers["location"] == f"{API}/documents/{created.json['id']}"


def test_an_exe_renamed_pdf_is_refused_and_nothing_is_kept(
    client: ValidatingClient, as_patient: Headers, blobs: InMemoryBlobStorage
) -> None:
    for refused in (
        upload_form(client, as_patient(), EXE, "results.pdf", declared="application/pdf"),
        upload_raw(client, as_patient(), EXE, declared="application/pdf", filename="a.pdf"),
        upload_raw(client, as_patient(), TEXT, declared="application/pdf"),
    ):
        assert refused.status_code == 415
        assert refused.json["type"].endswith("/unsupported-media-type")
    assert list(blobs.listing("")) == []
    mine = client.simulate_get(f"{API}/documents", headers=as_patient())
    assert mine.json == {"items": []}


def test_one_byte_over_the_limit_is_413_with_nothing_stored(
    client: ValidatingClient, as_patient: Headers, blobs: InMemoryBlobStorage, small_limit: int
) -> None:
    over = pdf_of_size(small_limit + 1)
    for refused in (
        upload_raw(client, as_patient(), over),
        upload_form(client, as_patient(), over, "big.pdf"),
    ):
        assert refused.status_code == 413
        assert refused.json["type"].endswith("/payload-too-large")
    assert list(blobs.listing("")) == []
    exactly = upload_raw(client, as_patient(), pdf_of_size(small_limit))
    assert exactly.status_code == 201
    assert exactly.json["size"] == small_limit


def test_a_multipart_upload_keeps_a_sanitised_name(
    client: ValidatingClient, as_patient: Headers
) -> None:
    created = upload_form(client, as_patient(), PNG, "../../etc/scan\u00e9 <1>.png")
    assert created.status_code == 201, created.json
    assert created.json["name"] == "scan\u00e9 _1_.png"
    assert created.json["owner"] == {"role": "patient", "id": "pat-1"}


def test_only_the_owner_and_admins_see_a_document(
    client: ValidatingClient, as_patient: Headers, as_doctor: Headers, as_admin: Headers
) -> None:
    document = upload_raw(client, as_patient("pat-1"), PDF).json
    path = f"{API}/documents/{document['id']}"
    for outsider in (as_patient("pat-2"), as_doctor()):
        for method, url in (
            ("GET", path),
            ("GET", f"{path}/download"),
            ("GET", f"{path}/content"),
            ("DELETE", path),
        ):
            answer = client.simulate_request(method, url, headers=outsider)
            assert answer.status_code == 404, (method, url)
    assert client.simulate_get(path, headers=as_admin()).json == document
    assert client.simulate_get(path, headers=as_patient("pat-1")).json == document
    listed = client.simulate_get(
        f"{API}/documents",
        params={"owner_role": "patient", "owner_id": "pat-1"},
        headers=as_admin(),
    )
    assert [d["id"] for d in listed.json["items"]] == [document["id"]]
    others = client.simulate_get(
        f"{API}/documents",
        params={"owner_role": "patient", "owner_id": "pat-1"},
        headers=as_patient("pat-2"),
    )
    assert others.status_code == 403


def test_a_download_link_is_signed_expires_and_answers_as_an_attachment(
    client: ValidatingClient, as_patient: Headers, clock: ManualClock
) -> None:
    document = upload_raw(client, as_patient(), PDF, filename="résultats.pdf").json
    link = client.simulate_get(f"{API}/documents/{document['id']}/download", headers=as_patient())
    assert link.status_code == 200
    url = urlsplit(link.json["url"])
    fetched = client.simulate_get(url.path, query_string=url.query)  # no token: the link is it
    assert fetched.status_code == 200
    assert fetched.content == PDF
    assert fetched.headers["content-type"] == "application/pdf"
    assert fetched.headers["x-content-type-options"] == "nosniff"
    assert fetched.headers["content-disposition"] == (
        "attachment; filename=\"r_sultats.pdf\"; filename*=UTF-8''r%C3%A9sultats.pdf"
    )
    forged = url.query[:-1] + ("0" if not url.query.endswith("0") else "1")
    assert client.simulate_get(url.path, query_string=forged).status_code == 404
    other = client.simulate_get(
        f"{API}/documents/other/content", query_string=url.query
    )  # a signature is for one document
    assert other.status_code == 404
    clock.advance(timedelta(minutes=5, seconds=1))
    assert client.simulate_get(url.path, query_string=url.query).status_code == 404


def test_a_patient_links_only_their_own_appointment(
    client: ValidatingClient, as_patient: Headers
) -> None:
    mine = client.simulate_post(
        f"{API}/appointments", json={"doctor_id": FEE_DOCTOR, "start": at(10)}, headers=as_patient()
    ).json
    theirs = client.simulate_post(
        f"{API}/appointments",
        json={"doctor_id": FEE_DOCTOR, "start": at(11)},
        headers=as_patient("pat-2"),
    ).json
    document = upload_raw(client, as_patient(), PDF).json
    links = f"{API}/documents/{document['id']}/links"
    linked = client.simulate_put(links, json={"appointment_id": mine["id"]}, headers=as_patient())
    assert linked.status_code == 200
    assert linked.json["appointment_id"] == mine["id"]
    refused = client.simulate_put(
        links, json={"appointment_id": theirs["id"]}, headers=as_patient()
    )
    assert refused.status_code == 404
    at_upload = upload_raw(client, as_patient(), PDF, appointment_id=theirs["id"])
    assert at_upload.status_code == 404
    assert (
        client.simulate_get(f"{API}/documents/{document['id']}", headers=as_patient()).json[
            "appointment_id"
        ]
        == mine["id"]
    )


def test_deleting_removes_the_record_and_the_file(
    client: ValidatingClient, as_patient: Headers, blobs: InMemoryBlobStorage
) -> None:
    document = upload_raw(client, as_patient(), PDF).json
    path = f"{API}/documents/{document['id']}"
    assert client.simulate_delete(path, headers=as_patient()).status_code == 204
    assert client.simulate_get(path, headers=as_patient()).status_code == 404
    assert list(blobs.listing("")) == []


def test_a_profile_photo_is_public_and_cacheable(
    client: ValidatingClient, as_doctor: Headers, as_patient: Headers
) -> None:
    photo = upload_raw(client, as_doctor(), PNG, kind="profile_photo").json
    shown = client.simulate_get(f"{API}/photos/{photo['id']}")
    assert shown.status_code == 200
    assert shown.content == PNG
    assert shown.headers["cache-control"] == "public, max-age=86400, immutable"
    assert shown.headers["etag"] == f'"{photo["sha256"]}"'
    report = upload_raw(client, as_patient(), PDF).json
    assert client.simulate_get(f"{API}/photos/{report['id']}").status_code == 404
    refused = upload_raw(client, as_patient(), PNG, kind="profile_photo")
    assert refused.status_code == 422
    pdf_photo = upload_raw(client, as_doctor(), PDF, kind="profile_photo")
    assert pdf_photo.status_code == 422


def test_other_routes_still_take_only_json(client: ValidatingClient, as_patient: Headers) -> None:
    answer = client.simulate_post(
        f"{API}/appointments",
        body=PDF,
        headers={**as_patient(), "Content-Type": "multipart/form-data; boundary=x"},
    )
    assert answer.status_code == 415


def test_the_worker_sweeps_files_whose_record_never_committed(
    client: ValidatingClient,
    as_patient: Headers,
    components: Components,
    blobs: InMemoryBlobStorage,
    clock: ManualClock,
) -> None:
    kept = upload_raw(client, as_patient(), PDF).json
    # A crash after storing the bytes and before committing the record leaves this behind.
    blobs.put("documents/crashed-upload", PDF, "application/pdf")
    sweep = {"documents": components.documents}
    assert run_once(components.scheduling, components.billing, **sweep).orphans_swept == 0
    clock.advance(timedelta(minutes=61))
    assert run_once(components.scheduling, components.billing, **sweep).orphans_swept == 1
    assert [info.key for info in blobs.listing("")] == [f"documents/{kept['id']}"]
    assert (
        client.simulate_get(f"{API}/documents/{kept['id']}/content", headers=as_patient()).content
        == PDF
    )


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with s3_endpoint() as endpoint:
        yield endpoint


def test_on_s3_the_download_is_a_presigned_get_carrying_our_expiry_and_disposition(
    client: ValidatingClient, as_patient: Headers, components: Components, moto_endpoint: str
) -> None:
    s3 = s3_storage(moto_endpoint)
    components.documents.blobs = s3
    document = upload_raw(client, as_patient(), PDF, filename="résultats.pdf").json
    assert s3.get(f"documents/{document['id']}") == PDF
    link = client.simulate_get(f"{API}/documents/{document['id']}/download", headers=as_patient())
    url = urlsplit(link.json["url"])
    query = {name: values[0] for name, values in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}" == moto_endpoint
    assert url.path == f"/{s3.bucket}/hd/documents/{document['id']}"
    assert query["X-Amz-Expires"] == "300"
    assert query["response-content-type"] == "application/pdf"
    assert query["response-content-disposition"].startswith('attachment; filename="r_sultats.pdf"')
    with urlopen(link.json["url"]) as fetched:  # loopback: moto's server
        assert fetched.read() == PDF
