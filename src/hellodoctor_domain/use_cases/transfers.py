"""Transfers between hospitals: the sending hospital's administrators request one and may
cancel it; the receiving hospital's accept (reserving a bed atomically, or ``NoBedAvailable``
when none is free), decline, or complete it when the patient arrives, and may cancel it too.
Administrators of both hospitals see it; to anyone else it does not exist (``NotFound``).
Platform admins may do everything.

A transfer's reason, notes and ward are health data: every read and every step, allowed or
refused, is an audit entry committed with it (``access_audit``; subject ``transfer:<id>``,
purpose ``hospital:<id>`` of the administrator's hospital, ``admin``, or ``none``)."""

from __future__ import annotations

from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.audit import AuditAction, RequestContext
from hellodoctor_domain.model.hospitals import BedType
from hellodoctor_domain.model.transfers import Transfer
from hellodoctor_domain.model.values import Actor, HospitalId, PatientId, Role, TransferId
from hellodoctor_domain.ports.runtime import Clock, IdGenerator
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.access_audit import REFUSED, audit_access
from hellodoctor_domain.use_cases.hospitals import managed_hospital
from hellodoctor_domain.use_cases.records import NO_CONTEXT


class Transfers:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    def request(
        self,
        actor: Actor,
        patient_id: PatientId,
        from_hospital_id: HospitalId,
        to_hospital_id: HospitalId,
        bed_type: BedType,
        reason: str,
        context: RequestContext = NO_CONTEXT,
    ) -> Transfer:
        with self._uow() as uow:
            managed_hospital(uow, actor, from_hospital_id)
            uow.hospitals.get(to_hospital_id)  # NotFound for an unknown receiver
            uow.patients.get(patient_id)
            transfer = Transfer.request(
                TransferId(f"tr-{self._ids.new_id()}"),
                patient_id,
                from_hospital_id,
                to_hospital_id,
                bed_type,
                reason,
                by=actor.user_id,
                at=self._clock.now(),
            )
            uow.transfers.add(transfer)
            purpose = "admin" if actor.role is Role.ADMIN else f"hospital:{from_hospital_id}"
            written = [(patient_id, f"transfer:{transfer.id}")]
            now = self._clock.now()
            audit_access(uow, actor, written, purpose, now, context, AuditAction.WRITE)
            uow.commit()
        return transfer

    def get(
        self, actor: Actor, transfer_id: TransferId, context: RequestContext = NO_CONTEXT
    ) -> Transfer:
        with self._uow() as uow:
            transfer = self._visible(uow, actor, transfer_id, context)
            uow.commit()
            return transfer

    def of_hospital(
        self, actor: Actor, hospital_id: HospitalId, context: RequestContext = NO_CONTEXT
    ) -> list[Transfer]:
        """The transfers from or to the hospital, for its administrators: one audit entry
        per transfer."""
        with self._uow() as uow:
            managed_hospital(uow, actor, hospital_id)
            found = uow.transfers.of_hospital(hospital_id)
            purpose = "admin" if actor.role is Role.ADMIN else f"hospital:{hospital_id}"
            read = [(t.patient_id, f"transfer:{t.id}") for t in found]
            audit_access(uow, actor, read, purpose, self._clock.now(), context)
            uow.commit()
            return found

    def accept(
        self,
        actor: Actor,
        transfer_id: TransferId,
        ward_code: str,
        context: RequestContext = NO_CONTEXT,
    ) -> Transfer:
        with self._uow() as uow:
            transfer = self._visible(uow, actor, transfer_id, context, AuditAction.WRITE)
            receiver = managed_hospital(uow, actor, transfer.to_hospital_id)
            receiver.ward(ward_code)
            transfer.accept(ward_code, by=actor.user_id, at=self._clock.now())
            # The reservation and the transition commit together, or neither does.
            uow.beds.occupy(transfer.to_hospital_id, ward_code, transfer.bed_type)
            uow.transfers.update(transfer)
            uow.commit()
        return transfer

    def decline(
        self,
        actor: Actor,
        transfer_id: TransferId,
        reason: str,
        context: RequestContext = NO_CONTEXT,
    ) -> Transfer:
        with self._uow() as uow:
            transfer = self._visible(uow, actor, transfer_id, context, AuditAction.WRITE)
            managed_hospital(uow, actor, transfer.to_hospital_id)
            transfer.decline(reason, by=actor.user_id, at=self._clock.now())
            uow.transfers.update(transfer)
            uow.commit()
        return transfer

    def complete(
        self, actor: Actor, transfer_id: TransferId, context: RequestContext = NO_CONTEXT
    ) -> Transfer:
        """The patient arrived: the reserved bed is now theirs."""
        with self._uow() as uow:
            transfer = self._visible(uow, actor, transfer_id, context, AuditAction.WRITE)
            managed_hospital(uow, actor, transfer.to_hospital_id)
            transfer.complete(by=actor.user_id, at=self._clock.now())
            uow.transfers.update(transfer)
            uow.commit()
        return transfer

    def cancel(
        self,
        actor: Actor,
        transfer_id: TransferId,
        reason: str,
        context: RequestContext = NO_CONTEXT,
    ) -> Transfer:
        """Either hospital calls it off; a bed reserved by the acceptance is freed."""
        with self._uow() as uow:
            transfer = self._visible(uow, actor, transfer_id, context, AuditAction.WRITE)
            reserved = transfer.holds_a_bed
            transfer.cancel(reason, by=actor.user_id, at=self._clock.now())
            if reserved and transfer.ward_code is not None:
                uow.beds.release(transfer.to_hospital_id, transfer.ward_code, transfer.bed_type)
            uow.transfers.update(transfer)
            uow.commit()
        return transfer

    def _visible(
        self,
        uow: UnitOfWork,
        actor: Actor,
        transfer_id: TransferId,
        context: RequestContext,
        action: AuditAction = AuditAction.READ,
    ) -> Transfer:
        """The transfer, if ``actor`` administers either hospital; the access is audited (a
        refusal audited and committed, then ``NotFound``). A step refused later (the wrong
        side) rolls its entry back with it: nothing was changed."""
        transfer = uow.transfers.get(transfer_id)
        purpose = REFUSED
        if actor.role is Role.ADMIN:
            purpose = "admin"
        else:
            for hospital_id in (transfer.from_hospital_id, transfer.to_hospital_id):
                if uow.hospitals.get(hospital_id).administered_by(actor):
                    purpose = f"hospital:{hospital_id}"
                    break
        read = [(transfer.patient_id, f"transfer:{transfer.id}")]
        audit_access(uow, actor, read, purpose, self._clock.now(), context, action)
        if purpose == REFUSED:
            uow.commit()
            raise NotFound(f"no transfer {transfer_id}")
        return transfer
