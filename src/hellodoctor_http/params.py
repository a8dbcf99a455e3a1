"""Query-string parameters and opaque cursors, with every mistake reported per field (422).

A resource reads its query through the same ``Param`` declarations its route publishes: the
limits (``maxLength``, ``pattern``, ``minimum``/``maximum``, ``default``) come from the
declared schema, so the document and the server cannot disagree.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import falcon

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.values import time_zone, utc
from hellodoctor_http.converters import parse_moment
from hellodoctor_http.json_schema import EARLIEST_YEAR, LATEST_YEAR, check, clean_text, quote
from hellodoctor_http.openapi import Param
from hellodoctor_http.problems import FieldError, Problem, validation_problem

_SHORT = 20


class QueryReader:
    """Reads the declared query parameters of one request, collecting errors; ``done()``
    raises them together. An undeclared parameter is an error."""

    def __init__(self, req: falcon.Request, declared: Sequence[Param]) -> None:
        self._req = req
        self._schemas = {param.name: param.schema for param in declared if param.where == "query"}
        self.errors: list[FieldError] = []
        self.broken: list[FieldError] = []
        for name in sorted(set(req.params) - set(self._schemas)):
            self.errors.append(FieldError(name[:40], "unknown query parameter"))

    def text(self, name: str) -> str | None:
        """The value as sent (one, within the declared limits), or None when absent."""
        schema = self._schemas[name]
        value = self._req.get_param(name)
        if value is None:
            return None
        # Numbers and booleans are short; a string parameter declares its maxLength.
        limit = schema["maxLength"] if schema.get("type") == "string" else _SHORT
        if isinstance(value, list) or not 1 <= len(value) <= limit:
            self.errors.append(FieldError(name, f"one value of 1 to {limit} characters"))
            return None
        if not value.strip():
            return None  # spaces alone are as good as absent
        shape = {k: v for k, v in schema.items() if k in ("pattern", "x-pattern-means")}
        wrong = clean_text(value) or check(shape, value)
        if wrong is not None:
            self.errors.append(FieldError(name, wrong))
            return None
        return str(value.strip())

    def moment(self, name: str) -> datetime | None:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            # A + in a query string arrives as a space.
            return parse_moment(raw.replace(" ", "+"))
        except InvalidValue as error:
            self.errors.append(FieldError(name, str(error)))
            return None

    def day_or_moment(self, name: str, zone: str | None, *, end: bool = False) -> datetime | None:
        """A date-time with an offset, or a plain date taken in ``zone`` (UTC without one):
        the start of that day, or with ``end`` the start of the next (the whole day in)."""
        raw = self.text(name)
        if raw is None:
            return None
        if len(raw) == len("2030-01-07"):
            try:
                day = date.fromisoformat(raw)
            except ValueError:
                self.errors.append(FieldError(name, f"{quote(raw)} is not a date (YYYY-MM-DD)"))
                return None
            if end:
                day += timedelta(days=1)
            try:
                return utc(datetime.combine(day, time(0), tzinfo=time_zone(zone or "UTC")))
            except (InvalidValue, OverflowError):
                self.errors.append(FieldError(name, f"{quote(raw)} is out of range"))
                return None
        try:
            return parse_moment(raw.replace(" ", "+"))
        except InvalidValue as error:
            self.errors.append(FieldError(name, str(error)))
            return None

    def boolean(self, name: str) -> bool | None:
        raw = self.text(name)
        if raw is None:
            return None
        if raw.lower() not in ("true", "false"):
            self.errors.append(FieldError(name, "true or false"))
            return None
        return raw.lower() == "true"

    def count(self, name: str) -> int:
        """An integer parameter that declares a default (``limit``)."""
        value = self.integer(name)
        return self._schemas[name]["default"] if value is None else value

    def integer(self, name: str) -> int | None:
        """The declared default (or None) when absent; bounds from the declaration."""
        schema = self._schemas[name]
        low, high = schema["minimum"], schema["maximum"]
        raw = self.text(name)
        if raw is None:
            return schema.get("default")
        # isdigit alone takes Arabic-Indic and superscript digits.
        if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
            self.errors.append(FieldError(name, f"a whole number from {low} to {high}"))
            return schema.get("default")
        return int(raw)

    def day(self, name: str) -> date | None:
        """An ISO date (``YYYY-MM-DD``) within the years every input is held to."""
        raw = self.text(name)
        if raw is None:
            return None
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            value = None
        if value is None or len(raw) != 10 or not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
            self.fail(name, f"a date YYYY-MM-DD from {EARLIEST_YEAR} to {LATEST_YEAR}")
            return None
        return value

    def zone(self, name: str) -> str | None:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            time_zone(raw)
        except InvalidValue:
            self.fail(name, f"{quote(raw)} is not an IANA time zone")
            return None
        return raw

    def cursor(self, name: str = "cursor") -> Any:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except (ValueError, RecursionError):
            decoded = None
        if decoded is None or not _clean(decoded):
            self.fail(name, "not a cursor this API gave out")
            return None
        return decoded

    def keyset(self, position: str, name: str = "cursor") -> tuple[datetime, str] | None:
        """A keyset cursor ``{position: [instant, id]}`` this API gave out, as (instant, id)."""
        cursor = self.cursor(name)
        if cursor is None:
            return None
        try:
            moment, key = cursor[position]
            return parse_moment(moment), str(key)
        except (TypeError, KeyError, ValueError, InvalidValue):
            self.fail(name, "not a cursor this API gave out")
            return None

    def fail(self, name: str, message: str) -> None:
        """A rule the schema cannot state (``to`` after ``from``, a cursor we gave out): the
        request is well formed, so this is ``invalid-value``, not ``validation-error``."""
        self.broken.append(FieldError(name, message))

    def done(self) -> None:
        if self.errors:
            raise validation_problem([*self.errors, *self.broken])
        if self.broken:
            detail = "; ".join(f"{e.field}: {e.message}" for e in self.broken)
            raise Problem("invalid-value", detail, errors=tuple(self.broken))


def _clean(value: Any) -> bool:
    """Whether every string in a decoded cursor is one the API could have written."""
    if isinstance(value, str):
        return clean_text(value) is None
    if isinstance(value, list):
        return all(_clean(item) for item in value)
    if isinstance(value, dict):
        return all(_clean(key) and _clean(item) for key, item in value.items())
    return True


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
