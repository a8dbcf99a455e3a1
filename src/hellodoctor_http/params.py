"""Query-string parameters and opaque cursors, with every mistake reported per field (422)."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import falcon

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.values import time_zone
from hellodoctor_http.problems import FieldError, validation_problem


class QueryReader:
    """Reads parameters of one request, collecting errors; ``done()`` raises them together."""

    def __init__(self, req: falcon.Request, allowed: set[str]) -> None:
        self._req = req
        self.errors: list[FieldError] = []
        for name in sorted(set(req.params) - allowed):
            self.errors.append(FieldError(name, "unknown query parameter"))

    def text(self, name: str, max_length: int = 200) -> str | None:
        value = self._req.get_param(name)
        if value is None:
            return None
        if isinstance(value, list) or len(value) > max_length or not value.strip():
            self.errors.append(FieldError(name, f"one non-blank value of at most {max_length}"))
            return None
        return str(value.strip())

    def moment(self, name: str) -> datetime | None:
        raw = self.text(name, 64)
        if raw is None:
            return None
        try:
            parsed = datetime.fromisoformat(raw.replace(" ", "+"))
        except ValueError:
            self.errors.append(FieldError(name, "an ISO 8601 date-time with a UTC offset"))
            return None
        if parsed.tzinfo is None:
            self.errors.append(FieldError(name, "needs a UTC offset (2030-01-07T09:00:00Z)"))
            return None
        return parsed

    def boolean(self, name: str) -> bool | None:
        raw = self.text(name, 5)
        if raw is None:
            return None
        if raw.lower() not in ("true", "false"):
            self.errors.append(FieldError(name, "true or false"))
            return None
        return raw.lower() == "true"

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name, 6)
        if raw is None:
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            self.errors.append(FieldError(name, f"a whole number from {low} to {high}"))
            return default
        return int(raw)

    def zone(self, name: str) -> str | None:
        raw = self.text(name, 64)
        if raw is None:
            return None
        try:
            time_zone(raw)
        except InvalidValue:
            self.errors.append(FieldError(name, f"{raw!r} is not an IANA time zone"))
            return None
        return raw

    def cursor(self, name: str = "cursor") -> Any:
        raw = self.text(name, 500)
        if raw is None:
            return None
        try:
            return json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except ValueError:
            self.errors.append(FieldError(name, "not a cursor this API gave out"))
            return None

    def fail(self, name: str, message: str) -> None:
        self.errors.append(FieldError(name, message))

    def done(self) -> None:
        if self.errors:
            raise validation_problem(self.errors)


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")
