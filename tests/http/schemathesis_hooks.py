"""Schemathesis hooks for tests/http/test_schemathesis.py (loaded by the CLI through
SCHEMATHESIS_HOOKS): one check of our own, next to the built-in ones."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import schemathesis
from hypothesis import strategies as st

from hellodoctor_http.json_schema import EARLIEST_YEAR, LATEST_YEAR

# The problem types that mean "the request's shape is wrong". Schema-valid data must never
# get one of these: everything the boundary refuses, the document must say.
SHAPE_PROBLEMS = ("validation-error", "malformed-body", "unsupported-media-type")


@schemathesis.check
def schema_valid_data_passes_the_boundary(ctx: Any, response: Any, case: Any) -> bool | None:
    """positive_data_acceptance is configured to allow 422 (a business rule refusing a
    well-formed request: in-the-past, off-grid, weak-password...); this check makes sure a
    positive case is never refused as malformed."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return None
    if response.status_code not in (400, 415, 422):
        return None
    try:
        slug = str(json.loads(response.content)["type"]).rsplit("/", 1)[-1]
    except (ValueError, KeyError, TypeError):
        return None
    if slug in SHAPE_PROBLEMS and not _role_dependent(case, response):
        raise AssertionError(f"schema-valid data refused as {slug}: {response.content[:300]!r}")
    return None


def _role_dependent(case: Any, response: Any) -> bool:
    """POST /appointments takes BookingInput from a patient and StaffBookingInput from a
    doctor or an admin (published as oneOf: OpenAPI cannot tie a body to a role), so the
    other role's shape is refused naming ``patient_id`` and nothing else."""
    if case.operation.label != "POST /api/v1/appointments":
        return False
    errors = json.loads(response.content).get("errors", [])
    return bool(errors) and {error["field"] for error in errors} == {"patient_id"}


# Dates and date-times within the API's calendar (json_schema's EARLIEST_YEAR..LATEST_YEAR,
# which the document states as a pattern on the year): Hypothesis's own formats range over
# years 1 to 9999, so nearly all of them would be filtered out by that pattern.
_MOMENTS = st.datetimes(
    min_value=datetime(EARLIEST_YEAR, 1, 2),
    max_value=datetime(LATEST_YEAR, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=9))]),
)
schemathesis.openapi.format("date-time", _MOMENTS.map(lambda moment: moment.isoformat()))
schemathesis.openapi.format(
    "date", st.dates(date(EARLIEST_YEAR, 1, 1), date(LATEST_YEAR, 12, 31)).map(date.isoformat)
)
