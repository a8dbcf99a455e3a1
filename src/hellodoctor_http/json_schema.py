"""The JSON Schema of a request body, derived from its attrs class (OpenAPI 3.1 uses JSON
Schema 2020-12), and the input boundary: every limit the document publishes is the one the
server enforces, because both read the same declaration.

A body class is the one place its wire shape is written: type hints give the types, a field
without a default is required, and what a type cannot say (limits, formats, enum values,
descriptions) rides in the field's metadata, written with the field helpers below (``text``,
``integer``, ``identifier``, ``digits``, ``items``, ``choice``, ``birth_date``, ``wire``) on a
class declared with ``@request_body``. ``check`` enforces a field's keywords (the same dict
the document publishes), and ``@request_body`` refuses, at import, a string without
``maxLength``, an integer without ``minimum`` and ``maximum`` or a list without ``maxItems``:
a new body gets the boundary by construction. Type-wide rules (no control characters in any
string, every date and date-time within ``EARLIEST_YEAR``..``LATEST_YEAR``) live in the
scalar schemas here and in ``converters``' hooks, from the same constants.
cattrs structures requests into the same classes (``converters``) and refuses unknown fields,
as ``additionalProperties: false`` says.
"""

from __future__ import annotations

import enum
import functools
import re
import types
import typing
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar, dataclass_transform

import attrs

from hellodoctor_domain.errors import InvalidValue, WeakPassword
from hellodoctor_domain.model.accounts import MAX_PASSWORD_LENGTH
from hellodoctor_domain.model.values import EmailAddress

T = TypeVar("T")

METADATA_KEY = "json_schema"
# The longest free text (names, reasons) and secret (codes, tokens) a body may carry.
MAX_TEXT = 1000
MAX_SECRET = 512
# EmailAddress refuses longer addresses (RFC 5321's limit).
EMAIL_MAX_LENGTH = 254
# Money in whole minor units: far above any fee, far below a 64-bit column.
MAX_MINOR_UNITS = 10**12
# The deepest JSON a body may nest (objects and arrays); the deepest body here is 4.
MAX_DEPTH = 32
# Every date and date-time, as written, falls in these years (a sane calendar, and no
# overflow when converted between zones or stored).
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200
# The shape of every id (path, query or body): what the server makes, and nothing that
# needs escaping. Anything else is not found.
ID_MAX_LENGTH = 100
ID_PATTERN = f"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{ID_MAX_LENGTH - 1}}}$"
# No string may carry a control character (C0 with NUL, DEL, C1) but tab, line feed, return.
TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_YEAR = "(19[0-9]{2}|2[01][0-9]{2}|2200)"
DATE_TIME_PATTERN = f"^{_YEAR}-"
DATE_PATTERN = f"^{_YEAR}-[0-9]{{2}}-[0-9]{{2}}$"
# A TOTP code: ASCII digits only (str.isdigit would take Arabic-Indic ones).
TOTP_PATTERN = "^[0-9]{6,8}$"
# How much of a refused input an error message may quote.
QUOTE_LIMIT = 24

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string", "pattern": TEXT_PATTERN},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    datetime: {"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN},
    date: {"type": "string", "format": "date", "pattern": DATE_PATTERN},
    # Working hours are wall-clock times without an offset.
    time: {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"},
    EmailAddress: {
        "type": "string",
        "format": "email",
        "maxLength": EMAIL_MAX_LENGTH,
        "examples": ["grace@example.com"],
    },
}


def quote(value: object) -> str:
    """A refused input as an error message may show it: a short prefix, never the whole."""
    shown = repr(value if not isinstance(value, str) else value[:QUOTE_LIMIT])
    return shown + ("..." if isinstance(value, str) and len(value) > QUOTE_LIMIT else "")


def wire_values(kind: type[enum.Enum]) -> list[str]:
    """An enum as the API writes it: its string values, or (``Weekday``) its names in lower
    case."""
    return [m.value if isinstance(m.value, str) else m.name.lower() for m in kind]


def within_calendar(moment: date) -> str | None:
    """Why a date or date-time (as written) is outside the years the API accepts, or None."""
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        return f"the year must be from {EARLIEST_YEAR} to {LATEST_YEAR}"
    return None


def clean_text(value: str) -> str | None:
    """Why a string cannot be taken (a control character, a lone surrogate), or None."""
    if _CONTROL.search(value):
        return "no control characters (NUL included)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid Unicode text"
    return None


# -- checking keywords ------------------------------------------------------------------------


def check(keywords: Mapping[str, Any], value: Any) -> str | None:
    """Why ``value`` breaks one of these JSON Schema keywords, or None. The keywords are the
    ones the document publishes for the field or parameter, so both say the same."""
    if value is None:
        return None
    if isinstance(value, str):
        low, high = keywords.get("minLength", 0), keywords.get("maxLength")
        if high is not None and not low <= len(value) <= high:
            return f"from {low} to {high} characters" if low else f"at most {high} characters"
        if len(value) < low:
            return f"at least {low} characters"
        pattern = keywords.get("pattern")
        if pattern is not None and not _compiled(pattern).search(value):
            return str(keywords.get("x-pattern-means", f"does not match {pattern}"))
    elif isinstance(value, int) and not isinstance(value, bool):
        low, high = keywords.get("minimum"), keywords.get("maximum")
        if (low is not None and value < low) or (high is not None and value > high):
            return f"a whole number from {low} to {high}"
    elif isinstance(value, tuple | list):
        high = keywords.get("maxItems")
        if high is not None and len(value) > high:
            return f"at most {high} items"
        inner = keywords.get("items", {})
        for index, item in enumerate(value):
            wrong = check(inner, item)
            if wrong is not None:
                return f"item {index}: {wrong}"
    allowed = keywords.get("enum")
    if allowed is not None and value not in allowed:
        return f"one of {', '.join(map(str, allowed))}, not {quote(value)}"
    return None


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    # Python's re reads JSON Schema's \\uXXXX as written; its $ would also match before a
    # final line feed, where ECMA 262's (JSON Schema's) matches only at the very end.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + "\\Z"
    return re.compile(pattern)


class FieldRefused(InvalidValue):
    """A field's value breaks its declared keywords; ``field`` names it for the 422."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _keywords_validator(
    keywords: Mapping[str, Any], refusals: Mapping[str, type[Exception]]
) -> Any:
    own = {key: value for key, value in keywords.items() if key != "items"}
    each = keywords.get("items", {})

    def validate(_instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        for keyword, refusal in refusals.items():
            wrong = check({keyword: keywords[keyword]}, value)
            if wrong is not None:
                raise refusal(f"{attribute.name}: {wrong}")
        wrong = check(own, value)
        if wrong is not None:
            raise FieldRefused(attribute.name, wrong)
        for index, item in enumerate(value if isinstance(value, tuple | list) else ()):
            wrong = check(each, item)
            if wrong is not None:
                raise FieldRefused(f"{attribute.name}[{index}]", wrong)

    return validate


# -- fields -----------------------------------------------------------------------------------


def wire(
    *,
    default: Any = attrs.NOTHING,
    validator: Any = None,
    kw_only: bool = False,
    refusals: Mapping[str, type[Exception]] | None = None,
    **keywords: Any,
) -> Any:
    """An attrs field with JSON Schema keywords (``maxLength``, ``minimum``, ``pattern``,
    ``maxItems``, ``items``, ``description``...): published in the document and enforced by
    ``check`` when the body is read: a 422 ``validation-error`` naming the field, or, for a
    keyword in ``refusals``, that domain error (where the domain names the refusal itself)."""
    validators = [_keywords_validator(keywords, refusals or {})]
    validators += [validator] if validator else []
    return attrs.field(
        default=default,
        validator=validators,
        kw_only=kw_only,
        metadata={METADATA_KEY: keywords},
    )


def text(max_length: int, *, default: Any = attrs.NOTHING, **keywords: Any) -> Any:
    """A string (or None) of at most ``max_length`` characters."""
    return wire(default=default, maxLength=max_length, **keywords)


def integer(minimum: int, maximum: int, *, default: Any = attrs.NOTHING, **keywords: Any) -> Any:
    """A whole number from ``minimum`` to ``maximum``."""
    return wire(default=default, minimum=minimum, maximum=maximum, **keywords)


def identifier(*, default: Any = attrs.NOTHING, **keywords: Any) -> Any:
    """An id of the shape the server gives out (``ID_PATTERN``)."""
    return wire(
        default=default,
        maxLength=ID_MAX_LENGTH,
        pattern=ID_PATTERN,
        **{"x-pattern-means": "not an id this API gives out", **keywords},
    )


def password(*, minimum: int = 0, **keywords: Any) -> Any:
    """A password: a short one is ``weak-password``, as the domain calls it."""
    if minimum:
        keywords = {"minLength": minimum, **keywords}
    return wire(
        maxLength=MAX_PASSWORD_LENGTH,
        refusals={"minLength": WeakPassword} if minimum else None,
        **keywords,
    )


def digits(*, default: Any = attrs.NOTHING, **keywords: Any) -> Any:
    """A one-time code from an authenticator app: 6 to 8 ASCII digits."""
    return wire(
        default=default,
        maxLength=8,
        pattern=TOTP_PATTERN,
        **{"x-pattern-means": "6 to 8 digits (0-9)", **keywords},
    )


def items(
    max_items: int,
    *,
    default: Any = attrs.NOTHING,
    each: Mapping[str, Any] | None = None,
    **keywords: Any,
) -> Any:
    """A list of at most ``max_items``; ``each`` holds the keywords of every item (a list of
    strings needs a ``maxLength`` there)."""
    extra: dict[str, Any] = {"items": dict(each)} if each else {}
    return wire(default=default, maxItems=max_items, **extra, **keywords)


def choice(kind: type[enum.Enum], *, default: Any = attrs.NOTHING, **keywords: Any) -> Any:
    """A string naming a member of ``kind``; the resource parses it (an unknown one is
    ``invalid-value``)."""
    if default is not attrs.NOTHING and isinstance(default, enum.Enum):
        default = default.value
    return wire(default=default, enum=wire_values(kind), **keywords)


def birth_date(*, default: Any = None, **keywords: Any) -> Any:
    """A date of birth: within the calendar and not in the future (today anywhere on Earth)."""
    return wire(default=default, validator=_not_future, **keywords)


class RuleBroken(InvalidValue):
    """A well-formed value a rule refuses that no schema keyword can state (a date of birth
    in the future): ``invalid-value``, not ``validation-error``."""


def _not_future(_instance: object, attribute: attrs.Attribute[Any], value: date | None) -> None:
    latest = (datetime.now(UTC) + timedelta(hours=14)).date()  # UTC+14 is a day ahead
    if value is not None and value > latest:
        raise RuleBroken(f"{attribute.name} cannot be in the future")


# Type checkers see the field helpers as what they are: attrs fields, with or without a default.
@dataclass_transform(
    frozen_default=True,
    field_specifiers=(
        attrs.field,
        wire,
        text,
        integer,
        identifier,
        password,
        digits,
        items,
        choice,
        birth_date,
    ),
)
def request_body(cls: type[T]) -> type[T]:
    """A request body: a frozen attrs class, structured by cattrs and published as its
    schema. Refused at import when a field has no limit (see the module's doc)."""
    built = attrs.frozen(cls)
    hints = typing.get_type_hints(built)
    for field in attrs.fields(typing.cast(Any, built)):
        missing = _missing_limits(hints[field.name], field.metadata.get(METADATA_KEY, {}))
        if missing:
            raise TypeError(f"{cls.__name__}.{field.name} needs {missing} (see json_schema)")
    return built


def _missing_limits(hint: Any, keywords: Mapping[str, Any]) -> str | None:
    arguments = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _missing_limits(arguments[0], keywords)
    if origin in (list, tuple):
        if "maxItems" not in keywords:
            return "maxItems"
        return _missing_limits(arguments[0], keywords.get("items", {}))
    if hint is str and "maxLength" not in keywords and "enum" not in keywords:
        return "maxLength"
    if hint is int and not {"minimum", "maximum"} <= set(keywords):
        return "minimum and maximum"
    return None


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
        keywords = dict(field.metadata.get(METADATA_KEY, {}))
        if "items" in keywords:  # item keywords refine the items' own schema
            schema["items"] = {**schema["items"], **keywords.pop("items")}
        schema.update(keywords)
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
