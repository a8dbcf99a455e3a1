"""JSON in and out: reading bodies safely, and the cattrs converter for request classes.

Request bodies are structured into the small attrs classes each API area declares (their JSON
Schemas are derived from the same classes) with ``forbid_extra_keys=True``: a field the API
does not accept (``role``, ``status``, ``price``, ``patient_id``...) is a 422 naming it, never
silently dropped or, worse, applied.
Scalars are strict: ``"3"`` is not an int, ``1`` is not a string, ``true`` is not a number.
Type-wide rules hold here for every body: no string carries a control character, every date
and date-time falls within the API's calendar (``json_schema``), and a body nests at most
``MAX_DEPTH`` deep (checked on the bytes, before the parser recurses).
"""

from __future__ import annotations

import enum
import json
import re
import typing
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from typing import Any, TypeVar

import falcon
from cattrs import Converter
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

from hellodoctor_domain.errors import DomainError, InvalidValue
from hellodoctor_domain.model.values import EmailAddress
from hellodoctor_http.json_schema import (
    EMAIL_MAX_LENGTH,
    MAX_DEPTH,
    FieldRefused,
    clean_text,
    quote,
    within_calendar,
)
from hellodoctor_http.jsoncodec import dump_json, load_json
from hellodoctor_http.problems import FieldError, Problem, validation_problem

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)


def _strict(kind: type, name: str) -> Any:
    def structure(value: Any, _type: Any) -> Any:
        # bool is an int subclass: true is not a number of minutes.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise InvalidValue(f"expected {name}")
        return value

    return structure


def _integer(value: Any, _type: Any) -> int:
    # JSON Schema counts 3.0 as an integer; bool is an int subclass, and true is not 1.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidValue("expected a whole number")
    return value


def _text(value: Any, _type: Any) -> str:
    if not isinstance(value, str):
        raise InvalidValue("expected a string")
    wrong = clean_text(value)
    if wrong is not None:
        raise InvalidValue(wrong)
    return value


def parse_moment(value: str) -> datetime:
    """An ISO 8601 date-time with a UTC offset, within the API's calendar, or InvalidValue
    (bodies and query parameters alike)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidValue(f"{quote(value)} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise InvalidValue("a date-time needs a UTC offset (2030-01-07T09:00:00Z)")
    wrong = within_calendar(parsed)
    if wrong is not None:
        raise InvalidValue(wrong)
    return parsed


def _datetime(value: Any, _type: Any) -> datetime:
    if not isinstance(value, str):
        raise InvalidValue("expected an ISO 8601 date-time string")
    return parse_moment(value)


def _time(value: Any, _type: Any) -> time:
    if not isinstance(value, str):
        raise InvalidValue("expected a wall-clock time string (HH:MM)")
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise InvalidValue(f"{quote(value)} is not a time (HH:MM)") from None
    if parsed.tzinfo is not None:
        raise InvalidValue("working-hour times are wall-clock times without an offset")
    return parsed


def _date(value: Any, _type: Any) -> date:
    if not isinstance(value, str):
        raise InvalidValue("expected a date string (YYYY-MM-DD)")
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise InvalidValue(f"{quote(value)} is not a date (YYYY-MM-DD)") from None
    wrong = within_calendar(parsed)
    if wrong is not None:
        raise InvalidValue(wrong)
    return parsed


def _email(value: Any, _type: Any) -> EmailAddress:
    if not isinstance(value, str):
        raise InvalidValue("expected an e-mail address string")
    if len(value) > EMAIL_MAX_LENGTH or clean_text(value) is not None:
        raise InvalidValue(f"an e-mail address of at most {EMAIL_MAX_LENGTH} characters")
    try:
        return EmailAddress(value)
    except InvalidValue:
        raise InvalidValue(f"{quote(value)} is not an e-mail address") from None


def _is_sequence(hint: Any) -> bool:
    return typing.get_origin(hint) in (tuple, list)


def _sequence(hint: Any, converter: Converter) -> Any:
    """A JSON array, and nothing else: cattrs alone would take an object (its keys) or a
    string (its characters) for a list."""
    item = typing.get_args(hint)[0]

    def structure(value: Any, _type: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise InvalidValue("expected an array")
        found, wrong = [], []
        for index, element in enumerate(value):
            try:
                found.append(converter.structure(element, item))
            except Exception as error:
                error.__notes__ = [IterableValidationNote(f"@ index {index}", index, item)]
                wrong.append(error)
        if wrong:
            raise IterableValidationError("invalid items", wrong, hint)
        return tuple(found)

    return structure


def make_converter() -> Converter:
    converter = Converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(str, _text)
    converter.register_structure_hook(int, _integer)
    converter.register_structure_hook(bool, _strict(bool, "true or false"))
    converter.register_structure_hook(datetime, _datetime)
    converter.register_structure_hook(time, _time)
    converter.register_structure_hook(date, _date)
    converter.register_structure_hook(EmailAddress, _email)
    converter.register_structure_hook_factory(_is_sequence, lambda hint: _sequence(hint, converter))
    return converter


CONVERTER = make_converter()
# Each request class's structuring function, looked up in the converter once.
_STRUCTURE: dict[type, Callable[[Any, type], Any]] = {}


def structure(data: Any, cls: type[T]) -> T:
    """``data`` as a ``cls`` instance, or a 422 problem listing every field that is wrong."""
    if not isinstance(data, dict):
        raise validation_problem([FieldError("$", "expected a JSON object")])
    hook = _STRUCTURE.get(cls)
    if hook is None:
        hook = _STRUCTURE.setdefault(cls, CONVERTER.get_structure_hook(cls))
    try:
        result: T = hook(data, cls)
        return result
    except (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError) as error:
        raise validation_problem(list(_field_errors(error, ""))) from None


def _field_errors(error: BaseException, path: str) -> Iterator[FieldError]:
    if isinstance(error, ClassValidationError):
        with_notes, without = error.group_exceptions()
        for inner, note in with_notes:
            yield from _field_errors(inner, _join(path, str(note.name)))
        for inner in without:
            yield from _field_errors(inner, path)
    elif isinstance(error, IterableValidationError):
        with_index, without = error.group_exceptions()
        for inner, index_note in with_index:
            yield from _field_errors(inner, f"{path or '$'}[{index_note.index}]")
        for inner in without:
            yield from _field_errors(inner, path)
    elif isinstance(error, ForbiddenExtraKeysError):
        for name in sorted(error.extra_fields):
            yield FieldError(_join(path, name), "unknown field; this API does not accept it")
    elif isinstance(error, KeyError):
        yield FieldError(path or "$", "required")
    elif isinstance(error, FieldRefused):
        yield FieldError(_join(path, error.field), str(error))
    elif type(error) is InvalidValue:
        yield FieldError(path or "$", str(error))
    elif isinstance(error, DomainError):
        raise error  # a refusal the domain names itself (weak-password): its own problem
    elif isinstance(error, TypeError | ValueError | AttributeError):
        yield FieldError(path or "$", "wrong type")
    else:
        raise error


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def parse_enum(kind: type[E], value: str, field: str) -> E:
    """A member of ``kind`` by its value, or ``InvalidValue`` naming the field and the values
    allowed (a 422 ``invalid-value``)."""
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise InvalidValue(f"{field} is one of {allowed}, not {quote(value)}") from None


# -- bodies ---------------------------------------------------------------------------------

_JSON_TYPES = ("application/json",)


def read_raw(req: falcon.Request, limit: int) -> bytes:
    """The request body's bytes exactly as sent (a webhook signature covers these), 413 past
    ``limit`` bytes (read no further than that)."""
    if req.content_length is not None and req.content_length > limit:
        raise Problem("payload-too-large", f"the body may be at most {limit} bytes")
    # Without a Content-Length (chunked), the server's input stream ends the body; read at
    # most one byte past the limit either way.
    stream = req.bounded_stream if req.content_length is not None else req.stream
    raw: bytes = stream.read(limit + 1)
    if len(raw) > limit:
        raise Problem("payload-too-large", f"the body may be at most {limit} bytes")
    return raw


def read_json(req: falcon.Request, limit: int) -> Any:
    """The request's JSON body: 415 for another content type, 413 past ``limit`` bytes (read
    no further than that), 400 when it does not parse."""
    media_type = (req.content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in _JSON_TYPES:
        raise Problem(
            "unsupported-media-type",
            f"send the body as application/json, not {media_type or 'no content type'}",
        )
    raw = read_raw(req, limit)
    if _nesting(raw) > MAX_DEPTH:
        raise Problem("malformed-body", f"the body nests deeper than {MAX_DEPTH} levels")
    try:
        return load_json(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Problem("malformed-body", f"the body is not valid JSON: {error}") from None


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(rb"[\[\]{}]")


def _nesting(raw: bytes) -> int:
    """How deep the JSON's arrays and objects nest, counted on the bytes (strings skipped),
    so a body of 20,000 brackets is refused before the parser recurses into it."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRING.sub(b"", raw)):
        if bracket in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def read_body(req: falcon.Request, cls: type[T], limit: int) -> T:
    return structure(read_json(req, limit), cls)


def write_json(resp: falcon.Response, body: Any, status: int = 200) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = dump_json(body)
