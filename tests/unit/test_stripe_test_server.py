"""Without localstripe the Stripe tests skip with the reason, and fail instead when services
are required (CI), so a missing fake can never pass a run silently."""

from __future__ import annotations

import importlib.util

import pytest

from hellodoctor_adapters.stripe import testing


@pytest.fixture
def no_localstripe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)


@pytest.mark.usefixtures("no_localstripe")
def test_without_localstripe_the_tests_skip_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HELLODOCTOR_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception, match="localstripe"), testing.localstripe():
        pass


@pytest.mark.usefixtures("no_localstripe")
def test_without_localstripe_required_services_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELLODOCTOR_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception, match="localstripe"), testing.localstripe():
        pass
