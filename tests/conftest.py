"""Hypothesis profiles: ``dev`` for quick local runs, ``ci`` (the default under .ci/run) for the
depth the project promises: at least 200 examples of at least 30 steps per state machine.
Hypothesis ends a few examples early (a precondition that cannot be met yet, an invalid draw);
measured on the in-memory machine, about 1 in 6 runs under 30 steps, hence 250 examples.

At the very end of a run, a banner lists the tests that were skipped, grouped by reason: in this
suite a test skips only when a service it needs (PostgreSQL, Redis, MongoDB, localstripe) is not
there, and a green run that skipped them has not tested those adapters."""

from __future__ import annotations

import os
from collections import Counter, defaultdict

import pytest
from hypothesis import HealthCheck, settings

_COMMON = {
    "stateful_step_count": 50,
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow],
}
settings.register_profile("ci", max_examples=250, print_blob=True, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("dev", max_examples=50, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_unconfigure(config: pytest.Config) -> None:
    # After the summary line, so that these are the last lines of the run: a skip is easy to
    # miss above "N passed", and a run that skipped a storage has not tested it.
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    files_by_reason: dict[str, Counter[str]] = defaultdict(Counter)
    for report in reporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        files_by_reason[reason.removeprefix("Skipped: ")][report.nodeid.split("::")[0]] += 1
    if not files_by_reason:
        return
    total = sum(sum(files.values()) for files in files_by_reason.values())
    reporter.write_sep(
        "!", f"{total} TESTS SKIPPED: NOT EVERYTHING WAS TESTED", red=True, bold=True
    )
    for reason, files in sorted(files_by_reason.items(), key=lambda item: -sum(item[1].values())):
        reporter.write_line(f"{sum(files.values()):5}  {reason}", red=True, bold=True)
        where = ", ".join(f"{name} ({count})" for name, count in files.most_common())
        reporter.write_line(f"       in {where}")
    reporter.write_line(
        "Start the service or set its variable to run them (./scripts/test finds a local "
        "PostgreSQL by itself); HELLODOCTOR_REQUIRE_SERVICES=1 makes a missing service a failure.",
        bold=True,
    )
