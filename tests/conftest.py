"""Hypothesis profiles: ``dev`` for quick local runs, ``ci`` (the default under .ci/run) for the
depth the project promises: at least 200 examples of at least 30 steps per state machine.
Hypothesis ends a few examples early (a precondition that cannot be met yet, an invalid draw);
measured on the in-memory machine, about 1 in 6 runs under 30 steps, hence 250 examples."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "stateful_step_count": 50,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
}
settings.register_profile("ci", max_examples=250, print_blob=True, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("dev", max_examples=50, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
