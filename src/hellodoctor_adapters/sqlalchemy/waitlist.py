"""The waitlist over SQLAlchemy Core.

An offer is one transaction: the entry's compare-and-set (``UPDATE ... WHERE version = read``)
and the held appointment's ``INSERT`` under the exclusion constraints (PostgreSQL) or the
overlap triggers under ``BEGIN IMMEDIATE`` (SQLite). Of two offers racing for one entry, the
second waits on the first's row lock, then updates no row (``ConcurrencyError``) and rolls
back its hold with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.rows import compare_and_set, first_row
from hellodoctor_adapters.sqlalchemy.schema_waitlist import waitlist_entries as table
from hellodoctor_adapters.waitlist_records import entry_from, entry_record
from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.values import AppointmentId, DoctorId, PatientId
from hellodoctor_domain.model.waitlist import WaitlistEntry, WaitlistEntryId, WaitlistStatus
from hellodoctor_domain.ports.waitlist import WaitlistRepository


def _entry(row: RowMapping) -> WaitlistEntry:
    return entry_from(row["record"], row["version"])


def _values(entry: WaitlistEntry) -> dict[str, Any]:
    offered = entry.offered_appointment_id
    return {
        "status": entry.status.value,
        "offered_appointment_id": None if offered is None else offered.value,
        "offer_expires_at": entry.offer_expires_at,
        "record": entry_record(entry),
    }


class SqlWaitlistRepository(WaitlistRepository):
    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self._connection = connection

    def _add(self, entry: WaitlistEntry) -> None:
        with translated_errors(), self._connection.begin_nested():
            self._connection.execute(
                sa.insert(table).values(
                    id=entry.id.value,
                    patient_id=entry.patient_id.value,
                    doctor_id=entry.doctor_id.value,
                    joined_at=entry.joined_at,
                    version=1,
                    **_values(entry),
                )
            )

    def _get(self, entry_id: WaitlistEntryId) -> WaitlistEntry:
        row = first_row(self._connection, sa.select(table).where(table.c.id == entry_id.value))
        if row is None:
            raise NotFound(f"no waitlist entry {entry_id}")
        return _entry(row)

    def _update(self, entry: WaitlistEntry) -> None:
        compare_and_set(
            self._connection,
            table,
            table.c.id == entry.id.value,
            entry.version,
            _values(entry),
            f"waitlist entry {entry.id}",
        )

    def _rows(self, query: sa.Select[Any]) -> list[WaitlistEntry]:
        with translated_errors():
            return [_entry(row) for row in self._connection.execute(query).mappings()]

    def _in_join_order(self, *where: sa.ColumnElement[bool], limit: int) -> list[WaitlistEntry]:
        query = sa.select(table).where(*where).order_by(table.c.joined_at, table.c.id).limit(limit)
        return self._rows(query)

    def _waiting_for(self, doctor_id: DoctorId, limit: int) -> Sequence[WaitlistEntry]:
        return self._in_join_order(
            table.c.doctor_id == doctor_id.value,
            table.c.status == WaitlistStatus.WAITING.value,
            limit=limit,
        )

    def _search(
        self,
        doctor_id: DoctorId | None,
        patient_id: PatientId | None,
        statuses: frozenset[WaitlistStatus] | None,
        limit: int,
    ) -> Sequence[WaitlistEntry]:
        where: list[sa.ColumnElement[bool]] = []
        if doctor_id is not None:
            where.append(table.c.doctor_id == doctor_id.value)
        if patient_id is not None:
            where.append(table.c.patient_id == patient_id.value)
        if statuses is not None:
            where.append(table.c.status.in_(sorted(s.value for s in statuses)))
        return self._in_join_order(*where, limit=limit)

    def _lapsed_offers(self, now: datetime, limit: int) -> Sequence[WaitlistEntry]:
        query = (
            sa.select(table)
            .where(
                table.c.status == WaitlistStatus.OFFERED.value,
                table.c.offer_expires_at <= now,
            )
            .order_by(table.c.offer_expires_at, table.c.id)
            .limit(limit)
        )
        return self._rows(query)

    def _offered_with(self, appointment_id: AppointmentId) -> WaitlistEntry | None:
        row = first_row(
            self._connection,
            sa.select(table).where(table.c.offered_appointment_id == appointment_id.value),
        )
        return None if row is None else _entry(row)
