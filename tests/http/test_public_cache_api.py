"""The public doctors' directory from the cache: equal anonymous requests share one answer
until something that can change it commits; requests with credentials never touch the cache;
hits and misses are counted on /metrics."""

from __future__ import annotations

import re

import pytest

from hellodoctor_adapters.memory import InMemoryBlobStorage, ManualClock, SequentialIds
from hellodoctor_adapters.notify import MaildirNotifier
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.public_cache import InMemoryPublicCache
from hellodoctor_domain import Role
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_http.bootstrap import Components, bootstrap
from hellodoctor_http.config import Settings
from hellodoctor_http.testing import FREE_DOCTOR, SECRET, Headers, ValidatingClient, at, seed


@pytest.fixture
def public_cache() -> InMemoryPublicCache:
    return InMemoryPublicCache()


@pytest.fixture
def components(
    storage: UnitOfWorkFactory,
    clock: ManualClock,
    mail: MaildirNotifier,
    gateway: OfflinePaymentGateway,
    blobs: InMemoryBlobStorage,
    public_cache: InMemoryPublicCache,
) -> Components:
    """As the suite's composition root, with a cache."""
    built = bootstrap(
        Settings(
            jwt_secret=SECRET,
            bcrypt_cost=4,
            require_totp_for=frozenset({Role.DOCTOR}),
            mail_folder=mail.folder,
        ),
        storage=storage,
        clock=clock,
        ids=SequentialIds("id"),
        gateway=gateway,
        blobs=blobs,
        public_cache=public_cache,
    )
    seed(built.scheduling)
    return built


def _count(client: ValidatingClient, result: str) -> float:
    metrics = client.simulate_get("/metrics").text
    found = re.search(
        rf'^hellodoctor_public_cache_total{{result="{result}"}} (\S+)$', metrics, re.M
    )
    return 0.0 if found is None else float(found.group(1))


def test_equal_anonymous_requests_share_an_answer_until_a_booking_commits(
    client: ValidatingClient, as_patient: Headers, public_cache: InMemoryPublicCache
) -> None:
    first = client.simulate_get("/api/v1/doctors", params={"limit": "5", "specialty": "x"})
    # The same parameters in another order: the same entry.
    again = client.simulate_get("/api/v1/doctors", query_string="specialty=x&limit=5")
    assert first.status_code == again.status_code == 200
    assert again.json == first.json
    one = client.simulate_get(f"/api/v1/doctors/{FREE_DOCTOR}")
    assert client.simulate_get(f"/api/v1/doctors/{FREE_DOCTOR}").json == one.json
    assert (_count(client, "miss"), _count(client, "hit")) == (2, 2)

    # A caller with credentials is never answered from, nor stored in, the cache.
    client.simulate_get(f"/api/v1/doctors/{FREE_DOCTOR}", headers=as_patient())
    assert _count(client, "bypass") == 1

    booked = client.simulate_post(
        "/api/v1/appointments",
        json={"doctor_id": FREE_DOCTOR, "start": at(14)},
        headers=as_patient(),
    )
    assert booked.status_code == 201, booked.json
    assert public_cache.generation() == 1  # the committed booking moved it
    client.simulate_get(f"/api/v1/doctors/{FREE_DOCTOR}")
    assert (_count(client, "miss"), _count(client, "hit")) == (3, 2)


def test_a_failed_write_keeps_the_cache_and_a_refused_lookup_is_not_stored(
    client: ValidatingClient, public_cache: InMemoryPublicCache
) -> None:
    assert client.simulate_get("/api/v1/doctors/dr-nobody").status_code == 404
    assert client.simulate_get("/api/v1/doctors/dr-nobody").status_code == 404
    assert _count(client, "hit") == 0  # a 404 is not kept
    refused = client.simulate_patch(f"/api/v1/doctors/{FREE_DOCTOR}/profile", json={})
    assert refused.status_code == 401
    assert public_cache.generation() == 0
