"""What a client is told when the storage fails: an outage is 503 with Retry-After; a value the
database refused, or any other storage bug, is a 500 with the request id, never "backend
unavailable" (which would tell a client to retry a request that can never succeed)."""

from __future__ import annotations

import pytest

from hellodoctor_adapters.errors import StoredValueRejected, UnexpectedStorageError
from hellodoctor_domain.errors import BackendUnavailable
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.testing import Headers, ValidatingClient

API = "/api/v1"


def _failing(components: Components, monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise error

    monkeypatch.setattr(components.scheduling, "appointment", fail)


def test_an_outage_is_503_with_retry_after(
    client: ValidatingClient,
    as_patient: Headers,
    components: Components,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _failing(components, monkeypatch, BackendUnavailable("connection refused by 10.0.0.5"))
    result = client.simulate_get(f"{API}/appointments/apt-1", headers=as_patient())
    assert result.status_code == 503
    assert result.json["type"].endswith("/backend-unavailable")
    assert int(result.headers["retry-after"]) > 0
    assert "10.0.0.5" not in result.text


@pytest.mark.parametrize(
    "error",
    [
        StoredValueRejected("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
        StoredValueRejected("bigint out of range"),
        UnexpectedStorageError('column "secret_column" does not exist'),
    ],
)
def test_a_storage_bug_is_500_with_the_request_id(
    client: ValidatingClient,
    as_patient: Headers,
    components: Components,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
) -> None:
    _failing(components, monkeypatch, error)
    result = client.simulate_get(f"{API}/appointments/apt-1", headers=as_patient())
    assert result.status_code == 500
    assert result.json["type"].endswith("/internal-error")
    assert result.json["request_id"] == result.headers["x-request-id"]
    assert "retry-after" not in result.headers
    assert str(error) not in result.text
