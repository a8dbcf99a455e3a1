"""``hellodoctor keys rewrap`` on PostgreSQL and SQLite: every sealed (or, from versions
before encryption, plain) health-data value not under the current key is sealed again.

Rows are walked in primary-key order (keyset pagination, never OFFSET); each batch is read,
then its values written in one transaction, so the API keeps serving between batches and a
run that stops can simply be started again: values already under the current key are
skipped. Each value is written by a
conditional update (``... WHERE id = :id AND field = :value_read``): a write the API made
after the batch read the row is never overwritten (it is under the current key already).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from hellodoctor_adapters.crypto import FieldCipher
from hellodoctor_adapters.phi import (
    ACCOUNTS,
    DOCUMENTS,
    MEDICAL_RECORDS,
    NOTIFICATION_PREFERENCES,
    PATIENTS,
    RECORD_PHI_TABLES,
    PhiTable,
    derived_indexes,
)
from hellodoctor_adapters.rewrap import RewrapReport, RewrapStep
from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.schema import (
    accounts,
    documents,
    medical_records,
    patients,
)
from hellodoctor_adapters.sqlalchemy.schema import admissions as admissions_table
from hellodoctor_adapters.sqlalchemy.schema import claims as claims_table
from hellodoctor_adapters.sqlalchemy.schema import transfers as transfers_table
from hellodoctor_adapters.sqlalchemy.schema_notifications import notification_preferences

_TABLES: tuple[tuple[PhiTable, sa.Table, Callable[[RowMapping], str]], ...] = (
    (PATIENTS, patients, lambda row: str(row["id"])),
    (MEDICAL_RECORDS, medical_records, lambda row: f"{row['id']}/{row['revision']}"),
    (DOCUMENTS, documents, lambda row: str(row["id"])),
    (ACCOUNTS, accounts, lambda row: str(row["id"])),
    (NOTIFICATION_PREFERENCES, notification_preferences, lambda row: str(row["account_id"])),
)


def rewrap_sql(engine: Engine, cipher: FieldCipher, batch_size: int = 500) -> RewrapReport:
    report = RewrapReport()
    for _ in rewrap_sql_steps(engine, cipher, batch_size, report):
        pass
    return report


def rewrap_sql_steps(
    engine: Engine, cipher: FieldCipher, batch_size: int, report: RewrapReport
) -> Iterator[RewrapStep]:
    """The rewrap, a step at a time: it yields after reading a batch (``"read"``) and after
    committing its writes (``"written"``), so a test can write between the two."""
    for phi, table, row_id in _TABLES:
        keys = list(table.primary_key.columns)
        wanted = [*keys, *(table.c[each.name] for each in phi.fields)]
        counts = report.table(phi.name)
        last: tuple[Any, ...] | None = None
        while True:
            query = sa.select(*wanted).order_by(*keys).limit(batch_size)
            if last is not None:
                query = query.where(sa.tuple_(*keys) > sa.tuple_(*last))
            with translated_errors(), engine.connect() as connection:
                rows = connection.execute(query).mappings().all()
            if not rows:
                break
            batch = tuple(row_id(row) for row in rows)
            yield RewrapStep("read", phi.name, batch)
            with translated_errors(), engine.begin() as connection:  # a batch, a transaction
                for row in rows:
                    place = row_id(row)
                    where = [key == row[key.name] for key in keys]
                    for each in phi.fields:
                        old = row[each.name]
                        if cipher.is_current(old):
                            continue
                        changes: dict[str, Any] = {
                            each.name: cipher.reseal(phi.name, each.name, place, old)
                        }
                        plain = cipher.open(phi.name, each.name, place, str(old))
                        changes.update(derived_indexes(cipher, phi, each.name, plain))
                        # Only if nobody wrote the value since it was read.
                        written = connection.execute(
                            sa.update(table)
                            .where(*where, table.c[each.name] == old)
                            .values(changes)
                        ).rowcount
                        if written == 1:
                            counts.rewrapped += 1
                        else:
                            counts.superseded += 1
            counts.rows += len(rows)
            counts.batches += 1
            last = tuple(rows[-1][key.name] for key in keys)
            yield RewrapStep("written", phi.name, batch)
    yield from _rewrap_records(engine, cipher, batch_size, report)


# Tables whose sealed fields sit inside the JSON ``record`` column (``phi.RECORD_PHI_TABLES``).
_RECORD_TABLES = {
    "claims": claims_table,
    "transfers": transfers_table,
    "admissions": admissions_table,
}


def _rewrap_records(
    engine: Engine, cipher: FieldCipher, batch_size: int, report: RewrapReport
) -> Iterator[RewrapStep]:
    """A record's sealed fields, written back with the whole record, only if the row's
    version is still the one read (any write of the API bumps it)."""
    for phi in RECORD_PHI_TABLES:
        table = _RECORD_TABLES[phi.name]
        counts = report.table(phi.name)
        last: str | None = None
        while True:
            query = sa.select(table.c.id, table.c.version, table.c.record)
            if last is not None:
                query = query.where(table.c.id > last)
            with translated_errors(), engine.connect() as connection:
                rows = connection.execute(query.order_by(table.c.id).limit(batch_size)).all()
            if not rows:
                break
            batch = tuple(str(row.id) for row in rows)
            yield RewrapStep("read", phi.name, batch)
            with translated_errors(), engine.begin() as connection:
                for row in rows:
                    record = dict(row.record)
                    stale = [f for f in phi.fields if not cipher.is_current(record.get(f.name))]
                    if not stale:
                        continue
                    for each in stale:
                        record[each.name] = cipher.reseal(
                            phi.name, each.name, str(row.id), record[each.name]
                        )
                    written = connection.execute(
                        sa.update(table)
                        .where(table.c.id == row.id, table.c.version == row.version)
                        .values(record=record)
                    ).rowcount
                    if written == 1:
                        counts.rewrapped += len(stale)
                    else:
                        counts.superseded += len(stale)
            counts.rows += len(rows)
            counts.batches += 1
            last = str(rows[-1].id)
            yield RewrapStep("written", phi.name, batch)
