"""Insurance storage over SQLAlchemy Core: schemes, policies and claims, each a JSON record
(``insurance_records``) beside the columns its constraints and queries need.

The database decides every race: a second claim for one appointment is refused by
``uq_claims_appointment_id`` (``AlreadyExists``); a stale update fails its compare-and-set on
``version``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from hellodoctor_adapters.crypto import FieldCipher
from hellodoctor_adapters.insurance_records import (
    Record,
    claim_from,
    claim_record,
    policy_from,
    policy_record,
    scheme_from,
    scheme_record,
)
from hellodoctor_adapters.phi import CLAIMS, open_fields, seal_fields
from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.rows import compare_and_set, first_row
from hellodoctor_adapters.sqlalchemy.schema import claims, policies, schemes
from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.insurance import Claim, Policy, Scheme
from hellodoctor_domain.model.values import PatientId, PolicyId, SchemeId
from hellodoctor_domain.ports.insurance import ClaimRepository, PolicyRepository, SchemeRepository

T = TypeVar("T")


class _RecordTable(Generic[T]):
    """Add, get and compare-and-set update of aggregates stored as ``record`` + ``version``
    (plus the key columns ``_columns`` names) in one table."""

    table: ClassVar[sa.Table]
    label: ClassVar[str]
    to_record: ClassVar[Callable[[Any], Record]]
    from_record: ClassVar[Callable[[str, int, Record], Any]]

    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self._connection = connection

    def _columns(self, value: T) -> dict[str, object]:
        return {}

    def _record(self, value: T) -> Record:
        """What the ``record`` column holds (a subclass seals what is health data)."""
        return type(self).to_record(value)

    def _opened(self, key: str, record: Record) -> Record:
        return record

    def _from(self, row: RowMapping) -> T:
        record = self._opened(str(row["id"]), row["record"])
        value: T = type(self).from_record(row["id"], row["version"], record)
        return value

    def _add(self, value: T) -> None:
        with translated_errors():
            self._connection.execute(
                sa.insert(self.table).values(
                    id=value.id.value,  # type: ignore[attr-defined]
                    record=self._record(value),
                    version=1,
                    **self._columns(value),
                )
            )

    def _get(self, key: Any) -> T:
        row = first_row(self._connection, sa.select(self.table).where(self.table.c.id == key.value))
        if row is None:
            raise NotFound(f"no {self.label} {key}")
        return self._from(row)

    def _update(self, value: T) -> None:
        compare_and_set(
            self._connection,
            self.table,
            self.table.c.id == value.id.value,  # type: ignore[attr-defined]
            value.version,  # type: ignore[attr-defined]
            {"record": self._record(value)},
            f"{self.label} {value.id}",  # type: ignore[attr-defined]
        )

    def _where(self, condition: sa.ColumnElement[bool], *order: sa.ColumnElement[Any]) -> list[T]:
        query = sa.select(self.table).where(condition).order_by(*order, self.table.c.id)
        with translated_errors():
            return [self._from(row) for row in self._connection.execute(query).mappings()]


class SqlSchemeRepository(_RecordTable[Scheme], SchemeRepository):
    table, label = schemes, "scheme"
    to_record, from_record = scheme_record, scheme_from

    def _every(self) -> Sequence[Scheme]:
        return self._where(sa.true())


class SqlPolicyRepository(_RecordTable[Policy], PolicyRepository):
    table, label = policies, "policy"
    to_record, from_record = policy_record, policy_from

    def _columns(self, policy: Policy) -> dict[str, object]:
        return {"patient_id": policy.patient_id.value, "scheme_id": policy.scheme_id.value}

    def _of_patient(self, patient_id: PatientId) -> Sequence[Policy]:
        return self._where(policies.c.patient_id == patient_id.value)


class SqlClaimRepository(_RecordTable[Claim], ClaimRepository):
    """A claim's items (services, ICD-10 codes) are sealed in its record (``phi.CLAIMS``)."""

    table, label = claims, "claim"
    to_record, from_record = claim_record, claim_from

    def __init__(self, connection: Connection, cipher: FieldCipher) -> None:
        super().__init__(connection)
        self._cipher = cipher

    def _record(self, claim: Claim) -> Record:
        return seal_fields(self._cipher, CLAIMS, claim.id.value, claim_record(claim))

    def _opened(self, key: str, record: Record) -> Record:
        return open_fields(self._cipher, CLAIMS, key, record)

    def _columns(self, claim: Claim) -> dict[str, object]:
        appointment = claim.appointment_id
        return {
            "policy_id": claim.policy_id.value,
            "scheme_id": claim.scheme_id.value,
            "appointment_id": None if appointment is None else appointment.value,
            "submitted_at": claim.submitted_at,
        }

    def _of_policy(self, policy_id: PolicyId) -> Sequence[Claim]:
        return self._where(claims.c.policy_id == policy_id.value, claims.c.submitted_at)

    def _of_scheme(self, scheme_id: SchemeId) -> Sequence[Claim]:
        return self._where(claims.c.scheme_id == scheme_id.value, claims.c.submitted_at)
