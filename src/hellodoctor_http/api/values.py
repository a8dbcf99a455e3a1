"""What several areas write or read the same way: moments and money."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hellodoctor_domain import Money
from hellodoctor_http.json_schema import MAX_MINOR_UNITS, integer, request_body, wire
from hellodoctor_http.openapi import answer

CURRENCY = "^[A-Z]{3}$"  # ISO 4217


def iso(moment: datetime | None) -> str | None:
    """ISO 8601, UTC written as Z."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def money(amount: Money) -> dict[str, Any]:
    return {"minor_units": amount.minor_units, "currency": amount.currency, "text": str(amount)}


@request_body
class MoneyBody:
    minor_units: int = integer(0, MAX_MINOR_UNITS)
    currency: str = wire(maxLength=3, pattern=CURRENCY)

    def to_domain(self) -> Money:
        return Money(self.minor_units, self.currency)


SCHEMAS: dict[str, Any] = {
    "Money": answer(
        minor_units={"type": "integer", "description": "Whole minor units (cents, pence)."},
        currency={"type": "string", "pattern": CURRENCY},
        text={"type": "string", "examples": ["80.00 GBP"]},
    ),
}
