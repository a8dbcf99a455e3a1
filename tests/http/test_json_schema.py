"""Request bodies' JSON Schemas are derived from their attrs classes, and say what the
converter enforces."""

from __future__ import annotations

import enum
from datetime import date, datetime, time
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from hellodoctor_domain import AppointmentType, EmailAddress, Weekday
from hellodoctor_domain.errors import InvalidValue
from hellodoctor_http.api.appointments import CancelBody, EmptyBody
from hellodoctor_http.converters import structure
from hellodoctor_http.json_schema import (
    DATE_PATTERN,
    DATE_TIME_PATTERN,
    TEXT_PATTERN,
    body_schemas,
    choice,
    integer,
    items,
    may_be_omitted,
    request_body,
    text,
    wire,
)
from hellodoctor_http.problems import Problem
from hellodoctor_http.testing import OPENAPI


class Colour(enum.Enum):
    RED = 1
    DARK_BLUE = 2


@request_body
class PartBody:
    at: time


@request_body
class SampleBody:
    name: str = text(50)
    count: int = integer(1, 10)
    email: EmailAddress = wire(description="Where to write.")
    day: date | None = None
    moment: datetime | None = None
    flag: bool = False
    note: str = text(20, default="")
    kind: str = choice(AppointmentType, default=AppointmentType.IN_PERSON)
    colour: Colour = Colour.RED
    parts: tuple[PartBody, ...] = items(3, default=())
    part: PartBody | None = None


def test_a_body_class_becomes_its_schema() -> None:
    schemas = body_schemas([SampleBody])
    assert set(schemas) == {"SampleInput", "PartInput"}
    assert schemas["PartInput"]["required"] == ["at"]
    assert schemas["SampleInput"] == {
        "type": "object",
        "required": ["name", "count", "email"],
        "properties": {
            "name": {"type": "string", "pattern": TEXT_PATTERN, "maxLength": 50},
            "count": {"type": "integer", "minimum": 1, "maximum": 10},
            "email": {
                "type": "string",
                "format": "email",
                "maxLength": 254,
                "examples": ["grace@example.com"],
                "description": "Where to write.",
            },
            "day": {
                "type": ["string", "null"],
                "format": "date",
                "pattern": DATE_PATTERN,
                "default": None,
            },
            "moment": {
                "type": ["string", "null"],
                "format": "date-time",
                "pattern": DATE_TIME_PATTERN,
                "default": None,
            },
            "flag": {"type": "boolean", "default": False},
            "note": {"type": "string", "pattern": TEXT_PATTERN, "maxLength": 20, "default": ""},
            "kind": {
                "type": "string",
                "pattern": TEXT_PATTERN,
                "enum": ["in_person", "telemedicine"],
                "default": "in_person",
            },
            "colour": {"enum": [1, 2], "default": 1},
            "parts": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/PartInput"},
                "maxItems": 3,
                "default": [],
            },
            "part": {
                "oneOf": [{"$ref": "#/components/schemas/PartInput"}, {"type": "null"}],
                "default": None,
            },
        },
        "additionalProperties": False,
    }


def test_enum_values_are_the_domains() -> None:
    schemas = OPENAPI["components"]["schemas"]
    booking = schemas["BookingInput"]["properties"]["type"]
    assert booking["enum"] == [kind.value for kind in AppointmentType]
    weekday = schemas["WorkingDayInput"]["properties"]["weekday"]
    assert weekday["enum"] == [day.name.lower() for day in Weekday]


def test_only_bodies_whose_fields_all_have_defaults_may_be_omitted() -> None:
    assert not may_be_omitted(SampleBody)
    assert not may_be_omitted(PartBody)
    assert may_be_omitted(CancelBody)
    assert may_be_omitted(EmptyBody)


def _accepted(data: dict[str, Any]) -> bool:
    try:
        structure(data, SampleBody)
    except (Problem, InvalidValue):
        return False
    return True


@pytest.mark.parametrize(
    "data",
    [
        {"name": "n", "count": 1, "email": "a@example.com"},
        {"name": "n", "count": 1, "email": "a@example.com", "parts": [{"at": "09:30"}]},
        {"name": "n", "count": 1, "email": "a@example.com", "unknown": 1},
        {"name": "n", "count": 1, "email": "a@example.com", "note": "x" * 21},
        {"name": "n", "count": "1", "email": "a@example.com"},
        {"name": "n", "email": "a@example.com"},
        {"name": "n", "count": 1, "email": "a@example.com", "part": {"at": "9", "x": 1}},
        {"name": "n", "count": 11, "email": "a@example.com"},
        {"name": "n", "count": 10**30, "email": "a@example.com"},
        {"name": "n\u0000", "count": 1, "email": "a@example.com"},
        {"name": "x" * 51, "count": 1, "email": "a@example.com"},
        {"name": "n", "count": 1, "email": "a@example.com", "day": "0001-01-01"},
        {"name": "n", "count": 1, "email": "a@example.com", "day": "2200-12-31"},
        {"name": "n", "count": 1, "email": "a@example.com", "moment": "9999-12-31T23:30:00-01:00"},
        {"name": "n", "count": 1, "email": "a@example.com", "parts": [{"at": "09:30"}] * 4},
    ],
)
def test_the_schema_and_the_converter_agree(data: dict[str, Any]) -> None:
    schema = {
        "components": {"schemas": body_schemas([SampleBody])},
        "$ref": "#/components/schemas/SampleInput",
    }
    valid = jsonschema.Draft202012Validator(schema).is_valid(data)
    assert valid == _accepted(data)


@pytest.mark.parametrize(
    ("hint", "field"),
    [(str, None), (int, "minimum"), (tuple[str, ...], "maxItems")],
)
def test_a_body_field_without_limits_is_refused_at_import(hint: Any, field: str | None) -> None:
    """New bodies get the boundary by construction: a string without maxLength, an integer
    without bounds or a list without maxItems does not even define."""
    keywords = {} if field is None else {"maxLength": 5}
    namespace = {"__annotations__": {"value": hint}, "value": wire(**keywords)}
    with pytest.raises(TypeError, match="needs"):
        request_body(type("LimitlessBody", (), namespace))
