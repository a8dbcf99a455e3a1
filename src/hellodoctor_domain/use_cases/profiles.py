"""Use cases of profiles (issue 17, item 5): an account reads and edits its own profile.

A patient edits their name, phone, date of birth, language, time zone, emergency contacts and
allergies; a doctor their public profile (name, specialty, qualifications, languages, time
zone) but never their registration number or fee: those are an administrator's
(``update_doctor``). Accounts of other roles have no profile to edit. Every change is read and
written in one unit of work at the version read (a concurrent edit is retried on fresh data).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from attrs import define, evolve

from hellodoctor_domain.errors import AccessDenied, InvalidValue, NotFound
from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.model.audit import AuditAction, AuditOutcome, RequestContext
from hellodoctor_domain.model.profiles import Doctor, EmergencyContact, Patient
from hellodoctor_domain.model.values import Actor, DoctorId, Money, PatientId, Role
from hellodoctor_domain.ports.runtime import Clock
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from hellodoctor_domain.use_cases.records import NO_CONTEXT, audit_entry
from hellodoctor_domain.use_cases.retry import retrying

PATIENT_FIELDS = frozenset(
    {
        "name",
        "phone",
        "date_of_birth",
        "language",
        "time_zone",
        "emergency_contacts",
        "allergies",
    }
)
DOCTOR_FIELDS = frozenset({"name", "specialty", "qualifications", "languages", "time_zone"})
ADMIN_ONLY_DOCTOR_FIELDS = frozenset({"registration_number", "consultation_fee"})
EARLIEST_BIRTH = date(1900, 1, 1)
# E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
E164 = re.compile(r"\+[1-9][0-9]{6,14}")


@define(frozen=True)
class MyProfile:
    """An account and the profile it is linked to (None for roles without one)."""

    account: Account
    patient: Patient | None = None
    doctor: Doctor | None = None


class Profiles:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, retries: int = 3) -> None:
        self._uow = uow
        self._clock = clock
        self._retries = retries

    def me(self, actor: Actor, context: RequestContext = NO_CONTEXT) -> MyProfile:
        """The caller's account and profile; ``NotFound`` when the account is gone or not
        active (the token outlived it). A patient's profile is health information: reading
        it is audited (docs/records.md)."""
        with self._uow() as uow:
            account = _active(uow.accounts.get(actor.user_id))
            if account.patient_id is not None:
                patient = uow.patients.get(account.patient_id)
                self._audit(uow, actor, account.patient_id, AuditAction.READ, context)
                uow.commit()
                return MyProfile(account, patient=patient)
            if account.doctor_id is not None:
                return MyProfile(account, doctor=uow.doctors.get(account.doctor_id))
            return MyProfile(account)

    def update_me(
        self, actor: Actor, changes: Mapping[str, Any], context: RequestContext = NO_CONTEXT
    ) -> MyProfile:
        """Apply ``changes`` (field name → new value; absent fields unchanged) to the caller's
        own profile. A field the caller's role may not change is ``AccessDenied``."""

        def attempt() -> MyProfile:
            with self._uow() as uow:
                account = _active(uow.accounts.get(actor.user_id))
                if account.patient_id is not None:
                    patient = uow.patients.get(account.patient_id)
                    changed = self._patient_changed(patient, changes)
                    uow.patients.update(changed)
                    self._audit(uow, actor, account.patient_id, AuditAction.WRITE, context)
                    uow.commit()
                    return MyProfile(account, patient=changed)
                if account.doctor_id is not None:
                    _refuse_admin_only(changes)
                    doctor = uow.doctors.get(account.doctor_id)
                    changed_doctor = _doctor_changed(doctor, changes, DOCTOR_FIELDS)
                    uow.doctors.update(changed_doctor)
                    uow.commit()
                    return MyProfile(account, doctor=changed_doctor)
                raise AccessDenied(f"a {account.role.value} account has no profile to edit")

        return retrying(attempt, retries=self._retries)

    def _audit(
        self,
        uow: UnitOfWork,
        actor: Actor,
        patient_id: PatientId,
        action: AuditAction,
        context: RequestContext,
    ) -> None:
        now = self._clock.now()
        uow.audit.append(
            audit_entry(
                actor, patient_id, "profile", action, AuditOutcome.ALLOWED, "own", now, context
            )
        )

    def update_doctor(
        self, actor: Actor, doctor_id: DoctorId, changes: Mapping[str, Any]
    ) -> Doctor:
        """An administrator edits any part of a doctor's profile, registration number and fee
        included (a registration number another doctor holds is ``AlreadyExists``)."""
        if actor.role is not Role.ADMIN:
            raise AccessDenied("only an administrator edits a doctor's registration or fee")
        allowed = DOCTOR_FIELDS | ADMIN_ONLY_DOCTOR_FIELDS

        def attempt() -> Doctor:
            with self._uow() as uow:
                doctor = uow.doctors.get(doctor_id)
                changed = _doctor_changed(doctor, changes, allowed)
                uow.doctors.update(changed)
                uow.commit()
                return changed

        return retrying(attempt, retries=self._retries)

    def _patient_changed(self, patient: Patient, changes: Mapping[str, Any]) -> Patient:
        _only(changes, PATIENT_FIELDS, "a patient")
        if "phone" in changes:
            check_phone(changes["phone"])
        if "date_of_birth" in changes:
            self.check_birth_date(changes["date_of_birth"])
        if "emergency_contacts" in changes:
            contacts = changes["emergency_contacts"]
            if not all(isinstance(contact, EmergencyContact) for contact in contacts):
                raise InvalidValue("emergency contacts must be EmergencyContact values")
            for contact in contacts:
                check_phone(contact.phone)
        return evolve(patient, **changes)

    def check_birth_date(self, value: object) -> None:
        if value is None:
            return
        if not isinstance(value, date):
            raise InvalidValue("date_of_birth must be a date")
        if value < EARLIEST_BIRTH:
            raise InvalidValue("date_of_birth cannot be before 1900")
        if value > self._clock.now().date():
            raise InvalidValue("date_of_birth cannot be in the future")


def check_phone(value: object) -> None:
    """A phone number in E.164 (``+442079460001``), or None to have none."""
    if value is not None and (not isinstance(value, str) or not E164.fullmatch(value)):
        raise InvalidValue("a phone number must be in E.164 form, e.g. +442079460001")


def _active(account: Account) -> Account:
    if account.status is not AccountStatus.ACTIVE:
        raise NotFound("no active account")
    return account


def _only(changes: Mapping[str, Any], allowed: frozenset[str], who: str) -> None:
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise AccessDenied(f"{who} cannot change {', '.join(unknown)}")


def _refuse_admin_only(changes: Mapping[str, Any]) -> None:
    forbidden = sorted(set(changes) & ADMIN_ONLY_DOCTOR_FIELDS)
    if forbidden:
        raise AccessDenied(f"only an administrator changes {', '.join(forbidden)}")


def _doctor_changed(doctor: Doctor, changes: Mapping[str, Any], allowed: frozenset[str]) -> Doctor:
    _only(changes, allowed, "this account")
    if "consultation_fee" in changes and not isinstance(changes["consultation_fee"], Money):
        raise InvalidValue("consultation_fee must be Money")
    return evolve(doctor, **changes)
