"""The JSON Schema of a request body, derived from its attrs class (OpenAPI 3.1 uses JSON
Schema 2020-12).

A body class is the one place its wire shape is written: type hints give the types, a field
without a default is required, and what a type cannot say (limits, formats, enum values,
descriptions) rides in the field's metadata, written with ``wire``, ``text`` or ``choice``
on a class declared with ``@request_body``.
cattrs structures requests into the same classes (``converters``) and refuses unknown fields,
as ``additionalProperties: false`` says; ``text`` limits are enforced there too.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any, TypeVar, dataclass_transform

import attrs

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.values import EmailAddress

T = TypeVar("T")

METADATA_KEY = "json_schema"
# The longest free text (names, reasons) and secret (codes, tokens) a body may carry.
MAX_TEXT = 1000
MAX_SECRET = 512
# EmailAddress refuses longer addresses (RFC 5321's limit).
EMAIL_MAX_LENGTH = 254

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    datetime: {"type": "string", "format": "date-time"},
    date: {"type": "string", "format": "date"},
    # Working hours are wall-clock times without an offset.
    time: {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9](:[0-5][0-9])?$"},
    EmailAddress: {
        "type": "string",
        "maxLength": EMAIL_MAX_LENGTH,
        "examples": ["grace@example.com"],
    },
}


def wire_values(kind: type[enum.Enum]) -> list[str]:
    """An enum as the API writes it: its string values, or (``Weekday``) its names in lower
    case."""
    return [m.value if isinstance(m.value, str) else m.name.lower() for m in kind]


# -- fields ----------------------------------------------------------------------------------


def wire(
    *,
    default: Any = attrs.NOTHING,
    validator: Any = None,
    kw_only: bool = False,
    **keywords: Any,
) -> Any:
    """An attrs field with JSON Schema keywords (``maxLength``, ``minimum``, ``pattern``,
    ``description``...) for its documentation; limits enforced elsewhere (by the domain) are
    only published here."""
    return attrs.field(
        default=default, validator=validator, kw_only=kw_only, metadata={METADATA_KEY: keywords}
    )


def text(max_length: int, *, default: Any = attrs.NOTHING, **keywords: Any) -> Any:
    """A string (or None) of at most ``max_length`` characters: refused past it, and
    published as ``maxLength``."""
    return wire(default=default, validator=_at_most(max_length), maxLength=max_length, **keywords)


def choice(kind: type[enum.Enum], *, default: Any = attrs.NOTHING, **keywords: Any) -> Any:
    """A string naming a member of ``kind``; the resource parses it (an unknown one is
    ``invalid-value``)."""
    if default is not attrs.NOTHING and isinstance(default, enum.Enum):
        default = default.value
    return wire(default=default, enum=wire_values(kind), **keywords)


def _at_most(limit: int) -> Any:
    def check(_instance: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
        if value is not None and len(value) > limit:
            raise InvalidValue(f"{attribute.name} is at most {limit} characters")

    return check


# Type checkers see the field helpers as what they are: attrs fields, with or without a default.
@dataclass_transform(frozen_default=True, field_specifiers=(attrs.field, wire, text, choice))
def request_body(cls: type[T]) -> type[T]:
    """A request body: a frozen attrs class, structured by cattrs and published as its schema."""
    return attrs.frozen(cls)


def may_be_omitted(body: type[Any]) -> bool:
    """Whether every field has a default, so a request may come without the body at all."""
    return all(field.default is not attrs.NOTHING for field in attrs.fields(body))


# -- schemas ---------------------------------------------------------------------------------


def component_name(body: type[Any]) -> str:
    """``BookingBody`` is published as ``BookingInput``."""
    return body.__name__.removesuffix("Body") + "Input"


def reference(body: type[Any]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{component_name(body)}"}


def body_schemas(bodies: Iterable[type[Any]]) -> dict[str, dict[str, Any]]:
    """The components for these body classes and every attrs class within them, by name."""
    found: dict[str, dict[str, Any]] = {}
    owners: dict[str, type[Any]] = {}
    pending = list(bodies)
    while pending:
        body = pending.pop(0)
        name = component_name(body)
        if name in owners:
            if owners[name] is not body:
                raise ValueError(f"{body!r} and {owners[name]!r} would both be {name}")
            continue
        owners[name] = body
        found[name] = object_schema(body, pending)
    return found


def object_schema(body: type[Any], nested: list[type[Any]]) -> dict[str, Any]:
    """One attrs class as an object; attrs classes within it are appended to ``nested``."""
    hints = typing.get_type_hints(body)
    required: list[str] = []
    properties: dict[str, Any] = {}
    for field in attrs.fields(body):
        schema = _schema_of(hints[field.name], nested)
        schema.update(field.metadata.get(METADATA_KEY, {}))
        if field.default is attrs.NOTHING:
            required.append(field.name)
        elif not isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
            schema["default"] = _as_json(field.default)
        properties[field.name] = schema
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }


def _schema_of(hint: Any, nested: list[type[Any]]) -> dict[str, Any]:
    origin, arguments = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        present = [argument for argument in arguments if argument is not type(None)]
        if len(present) != 1 or len(arguments) != 2:
            raise TypeError(f"only X | None unions have a schema here, not {hint!r}")
        inner = _schema_of(present[0], nested)
        if isinstance(inner.get("type"), str):
            return {**inner, "type": [inner["type"], "null"]}
        return {"oneOf": [inner, {"type": "null"}]}
    if origin is list or (origin is tuple and len(arguments) == 2 and arguments[1] is ...):
        return {"type": "array", "items": _schema_of(arguments[0], nested)}
    if hint in _SCALARS:
        return {
            key: list(value) if isinstance(value, list) else value
            for key, value in _SCALARS[hint].items()
        }
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [member.value for member in hint]}  # cattrs reads members by value
    if isinstance(hint, type) and attrs.has(hint):
        nested.append(hint)
        return reference(hint)
    raise TypeError(f"no JSON Schema for {hint!r}")


def _as_json(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_as_json(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value
