"""Transfers: a hospital asks another to take a patient; the receiving hospital accepts
(reserving a bed of the asked type, in the same unit of work) or declines; an accepted transfer
completes when the patient arrives, and a transfer not yet completed or declined can be
cancelled. Every step is an explicit transition, kept in the transfer's history (who, when,
why) and recorded as an event.

```
requested --accept--> accepted --complete--> completed
    |                     |
    +--decline--> declined
    +--cancel---> cancelled <--cancel--+
```
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import ClassVar

from attrs import define, field

from hellodoctor_domain.errors import IllegalStateChange, InvalidValue
from hellodoctor_domain.model.events import Aggregate, DomainEvent
from hellodoctor_domain.model.hospitals import BedType
from hellodoctor_domain.model.values import HospitalId, PatientId, TransferId, UserId


class TransferStatus(enum.StrEnum):
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# Which status each transition leads to, and from which it may start.
_TRANSITIONS: dict[TransferStatus, frozenset[TransferStatus]] = {
    TransferStatus.ACCEPTED: frozenset({TransferStatus.REQUESTED}),
    TransferStatus.DECLINED: frozenset({TransferStatus.REQUESTED}),
    TransferStatus.COMPLETED: frozenset({TransferStatus.ACCEPTED}),
    TransferStatus.CANCELLED: frozenset({TransferStatus.REQUESTED, TransferStatus.ACCEPTED}),
}


@define(frozen=True)
class TransferStep:
    """One entry of the audit trail: the status reached, when, by whom, and why."""

    status: TransferStatus
    at: datetime
    by: UserId
    note: str = ""


@define(frozen=True, kw_only=True)
class TransferEvent(DomainEvent):
    aggregate_type: ClassVar[str] = "transfer"

    transfer_id: TransferId
    from_hospital_id: HospitalId
    to_hospital_id: HospitalId

    @property
    def aggregate_id(self) -> str:
        return self.transfer_id.value


@define(frozen=True, kw_only=True)
class TransferRequested(TransferEvent):
    patient_id: PatientId
    bed_type: BedType


@define(frozen=True, kw_only=True)
class TransferMoved(TransferEvent):
    """The transfer reached ``status`` (accepted, declined, completed or cancelled)."""

    status: TransferStatus
    by: UserId
    note: str


def _reason(_instance: object, _attribute: object, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue("a transfer needs a reason")


@define(eq=False)
class Transfer(Aggregate):
    id: TransferId
    patient_id: PatientId
    from_hospital_id: HospitalId
    to_hospital_id: HospitalId
    bed_type: BedType
    reason: str = field(validator=_reason)
    status: TransferStatus = TransferStatus.REQUESTED
    ward_code: str | None = None  # the receiving ward, once accepted
    history: tuple[TransferStep, ...] = ()
    version: int = 0

    def __attrs_post_init__(self) -> None:
        if self.from_hospital_id == self.to_hospital_id:
            raise InvalidValue("a transfer goes to another hospital")

    @classmethod
    def request(
        cls,
        transfer_id: TransferId,
        patient_id: PatientId,
        from_hospital_id: HospitalId,
        to_hospital_id: HospitalId,
        bed_type: BedType,
        reason: str,
        *,
        by: UserId,
        at: datetime,
    ) -> Transfer:
        transfer = cls(
            transfer_id,
            patient_id,
            from_hospital_id,
            to_hospital_id,
            bed_type,
            reason,
            history=(TransferStep(TransferStatus.REQUESTED, at, by, reason),),
        )
        transfer.record(
            TransferRequested(
                occurred_at=at,
                transfer_id=transfer_id,
                from_hospital_id=from_hospital_id,
                to_hospital_id=to_hospital_id,
                patient_id=patient_id,
                bed_type=bed_type,
            )
        )
        return transfer

    @property
    def holds_a_bed(self) -> bool:
        """Whether a bed at the receiving hospital is reserved for it (accepted, not ended)."""
        return self.status is TransferStatus.ACCEPTED

    def accept(self, ward_code: str, *, by: UserId, at: datetime) -> None:
        """The receiving hospital takes the patient into ``ward_code`` (the caller reserves
        the bed in the same unit of work)."""
        self._move(TransferStatus.ACCEPTED, by, at, f"ward {ward_code}")
        self.ward_code = ward_code

    def decline(self, reason: str, *, by: UserId, at: datetime) -> None:
        self._move(TransferStatus.DECLINED, by, at, _required(reason))

    def complete(self, *, by: UserId, at: datetime) -> None:
        self._move(TransferStatus.COMPLETED, by, at, "")

    def cancel(self, reason: str, *, by: UserId, at: datetime) -> None:
        """Either hospital calls it off; an accepted one's bed is the caller's to free."""
        self._move(TransferStatus.CANCELLED, by, at, _required(reason))

    def _move(self, to: TransferStatus, by: UserId, at: datetime, note: str) -> None:
        if self.status not in _TRANSITIONS[to]:
            raise IllegalStateChange(f"transfer {self.id}", self.status, to)
        self.status = to
        self.history = (*self.history, TransferStep(to, at, by, note))
        self.record(
            TransferMoved(
                occurred_at=at,
                transfer_id=self.id,
                from_hospital_id=self.from_hospital_id,
                to_hospital_id=self.to_hospital_id,
                status=to,
                by=by,
                note=note,
            )
        )


def _required(reason: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidValue("say why")
    return reason


__all__ = [
    "Transfer",
    "TransferEvent",
    "TransferMoved",
    "TransferRequested",
    "TransferStatus",
    "TransferStep",
]
