"""What ``hellodoctor keys rewrap`` did: per table (collection), how many rows it read, how
many values it sealed again under the current key, and how many a newer write had already
replaced (the conditional update left those alone: the newer value is under the current key)."""

from __future__ import annotations

from attrs import define, field, frozen


@frozen
class RewrapStep:
    """Where a step-by-step rewrap stands: ``read`` (a batch read, its writes not done yet)
    or ``written`` (the batch's transaction committed), and the batch's row ids."""

    stage: str
    table: str
    rows: tuple[str, ...]


@define
class TableRewrap:
    rows: int = 0
    rewrapped: int = 0
    superseded: int = 0
    batches: int = 0


@define
class RewrapReport:
    tables: dict[str, TableRewrap] = field(factory=dict)

    def table(self, name: str) -> TableRewrap:
        return self.tables.setdefault(name, TableRewrap())

    @property
    def rewrapped(self) -> int:
        return sum(each.rewrapped for each in self.tables.values())

    @property
    def superseded(self) -> int:
        return sum(each.superseded for each in self.tables.values())

    def lines(self) -> list[str]:
        return [
            f"{name}: {each.rows} rows in {each.batches} batches, {each.rewrapped} values "
            f"sealed again, {each.superseded} replaced meanwhile by a newer write"
            for name, each in self.tables.items()
        ]
