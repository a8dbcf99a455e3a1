"""One rule for every test that needs an outside service (a database server, Redis, a fake
Stripe...): without the service it skips with the reason, and under
``HELLODOCTOR_REQUIRE_SERVICES=1`` (CI) the same call fails it instead, so a missing service can
never pass a run silently.

The project's own test support uses it (``sqlalchemy.testing``, ``mongodb.testing``,
``stripe.testing``, the Redis tests, the benchmark smoke test); adapter authors outside the
project use it the same way in theirs, so one variable governs their tests too::

    from hellodoctor_adapters.testing.services import unavailable

    def foo_server_url() -> str:
        url = os.environ.get("FOO_TEST_URL")
        if not url:
            unavailable("the Foo storage tests need FOO_TEST_URL")
        return url
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_SERVICES_VARIABLE = "HELLODOCTOR_REQUIRE_SERVICES"


def services_required() -> bool:
    """Whether a missing service is a failure (``HELLODOCTOR_REQUIRE_SERVICES=1``)."""
    return os.environ.get(REQUIRE_SERVICES_VARIABLE) == "1"


def unavailable(reason: str) -> NoReturn:
    """Skip the calling test with ``reason``, or fail it when services are required."""
    if services_required():
        pytest.fail(f"{reason} ({REQUIRE_SERVICES_VARIABLE}=1, so this is a failure)")
    pytest.skip(reason)
