"""Plain HTTP refused behind a TLS-terminating proxy (HELLODOCTOR_REQUIRE_HTTPS), believing
X-Forwarded-Proto from the trusted proxies only; and the settings that go with it."""

from __future__ import annotations

import base64
import ipaddress

import falcon.testing
import pytest

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory
from hellodoctor_http.app import create_app
from hellodoctor_http.bootstrap import bootstrap
from hellodoctor_http.config import ConfigurationError, Settings
from hellodoctor_http.testing import SECRET

PROXY = "10.0.0.5"


@pytest.fixture
def client() -> falcon.testing.TestClient:
    settings = Settings(
        jwt_secret=SECRET,
        bcrypt_cost=4,
        require_https=True,
        trusted_proxies=(ipaddress.ip_network("10.0.0.0/24"),),
    )
    return falcon.testing.TestClient(
        create_app(bootstrap(settings, storage=InMemoryUnitOfWorkFactory()))
    )


@pytest.mark.parametrize(
    ("peer", "forwarded", "served"),
    [
        (PROXY, "https", True),
        (PROXY, "http", False),
        (PROXY, None, False),
        (PROXY, "https, http", False),  # the client forged https, our proxy saw http
        (PROXY, "http, https", True),  # our proxy's word is the last one
        ("203.0.113.9", "https", False),  # anyone can send the header: not a proxy of ours
        ("203.0.113.9", None, False),
    ],
)
def test_only_what_a_trusted_proxy_saw_as_https_is_served(
    client: falcon.testing.TestClient, peer: str, forwarded: str | None, served: bool
) -> None:
    headers = {} if forwarded is None else {"X-Forwarded-Proto": forwarded}
    result = client.simulate_get("/api/v1/doctors", headers=headers, remote_addr=peer)
    if served:
        assert result.status_code == 200
    else:
        assert result.status_code == 403
        assert result.json["type"].endswith("/access-denied")
        assert "https" in result.json["detail"]


def test_the_probes_answer_over_plain_http(client: falcon.testing.TestClient) -> None:
    assert client.simulate_get("/healthz", remote_addr="192.0.2.1").status_code == 200


def test_the_check_is_off_unless_asked() -> None:
    settings = Settings(jwt_secret=SECRET, bcrypt_cost=4)
    plain = falcon.testing.TestClient(
        create_app(bootstrap(settings, storage=InMemoryUnitOfWorkFactory()))
    )
    assert plain.simulate_get("/api/v1/doctors", remote_addr="192.0.2.1").status_code == 200


def test_settings_require_a_trusted_proxy_for_the_check() -> None:
    with pytest.raises(ConfigurationError, match="TRUSTED_PROXIES"):
        Settings.from_environ({"HELLODOCTOR_REQUIRE_HTTPS": "true"})
    settings = Settings.from_environ(
        {"HELLODOCTOR_REQUIRE_HTTPS": "1", "HELLODOCTOR_TRUSTED_PROXIES": "10.0.0.0/8"}
    )
    assert settings.require_https


def _key(byte: int) -> str:
    return base64.b64encode(bytes([byte]) * 32).decode()


def test_production_refuses_to_start_without_a_key_ring() -> None:
    production = {
        "HELLODOCTOR_ENV": "production",
        "HELLODOCTOR_JWT_SECRET": "k" * 40,
        "HELLODOCTOR_PUBLIC_URL": "https://clinic.example",
    }
    with pytest.raises(ConfigurationError, match="HELLODOCTOR_PHI_KEYS"):
        Settings.from_environ(production)
    ring = {
        "HELLODOCTOR_PHI_KEYS": f"k1:{_key(1)},k2:{_key(2)}",
        "HELLODOCTOR_PHI_INDEX_KEY": _key(3),
    }
    settings = Settings.from_environ({**production, **ring})
    assert settings.phi_current_key is None
    assert _key(1) not in repr(settings)
    bad = {**ring, "HELLODOCTOR_PHI_KEYS": f"k1:{_key(1)[:-8]}"}
    with pytest.raises(ConfigurationError, match="HELLODOCTOR_PHI_KEYS") as error:
        Settings.from_environ({**production, **bad})
    assert _key(1)[:-8] not in str(error.value)
    with pytest.raises(ConfigurationError, match="go together"):
        Settings.from_environ({"HELLODOCTOR_PHI_KEYS": ring["HELLODOCTOR_PHI_KEYS"]})
