"""The MongoDB test fixtures skip without a server, and fail instead when services are
required (CI), so a missing server can never pass a run silently."""

from __future__ import annotations

import importlib.util

import pytest

from hellodoctor_adapters.mongodb import testing


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(testing.URI_VARIABLE, raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)


@pytest.mark.usefixtures("no_server")
def test_without_a_server_the_tests_skip_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HELLODOCTOR_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="HELLODOCTOR_TEST_MONGODB_URI"):
        testing.server_url()


@pytest.mark.usefixtures("no_server")
def test_without_a_server_required_services_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELLODOCTOR_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="secantusdb"):
        testing.server_url()


def test_a_named_server_is_used_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(testing.URI_VARIABLE, "mongodb://mongo.example:27017/")
    assert testing.server_url() == "mongodb://mongo.example:27017/"
