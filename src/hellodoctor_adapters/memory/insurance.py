"""Schemes, policies and claims over the in-memory store (the reference adapter). The unit of
work holds the store's lock, so the one-claim-per-appointment check and its write are one
atomic step, the in-memory analogue of the databases' unique keys."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from attrs import evolve

from hellodoctor_adapters.memory.store import _Journalled
from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError, NotFound
from hellodoctor_domain.model.insurance import Claim, Policy, Scheme
from hellodoctor_domain.model.values import PatientId, PolicyId, SchemeId
from hellodoctor_domain.ports.insurance import ClaimRepository, PolicyRepository, SchemeRepository

T = TypeVar("T")


class _Versioned(_Journalled, Generic[T]):
    """Add, get and compare-and-set update over one table of the store, keyed by ``id``."""

    table: ClassVar[str]
    label: ClassVar[str]

    def _rows(self) -> dict[Any, T]:
        rows: dict[Any, T] = getattr(self._store, self.table)
        return rows

    def _add(self, value: T) -> None:
        key = value.id  # type: ignore[attr-defined]
        if key in self._rows():
            raise AlreadyExists(f"{self.label} {key} exists")
        self._put(self._rows(), key, evolve(value, version=1))  # type: ignore[misc]

    def _get(self, key: Any) -> T:
        try:
            return evolve(self._rows()[key])  # type: ignore[misc]
        except KeyError:
            raise NotFound(f"no {self.label} {key}") from None

    def _update(self, value: T) -> None:
        key, version = value.id, value.version  # type: ignore[attr-defined]
        stored = self._rows().get(key)
        if stored is None:
            raise NotFound(f"no {self.label} {key}")
        if stored.version != version:  # type: ignore[attr-defined]
            raise ConcurrencyError(f"{self.label} {key} changed since it was read")
        self._put(self._rows(), key, evolve(value, version=version + 1))  # type: ignore[misc]

    def _where(self, keep: Callable[[T], bool], order: Callable[[T], Any]) -> list[T]:
        found = [evolve(v) for v in self._rows().values() if keep(v)]  # type: ignore[misc]
        return sorted(found, key=order)


class InMemorySchemeRepository(_Versioned[Scheme], SchemeRepository):
    table, label = "schemes", "scheme"

    def _every(self) -> Sequence[Scheme]:
        return self._where(lambda _: True, lambda s: s.id)


class InMemoryPolicyRepository(_Versioned[Policy], PolicyRepository):
    table, label = "policies", "policy"

    def _of_patient(self, patient_id: PatientId) -> Sequence[Policy]:
        return self._where(lambda p: p.patient_id == patient_id, lambda p: p.id)


class InMemoryClaimRepository(_Versioned[Claim], ClaimRepository):
    table, label = "claims", "claim"

    def _add(self, claim: Claim) -> None:
        appointment = claim.appointment_id
        if appointment is not None and any(
            c.appointment_id == appointment for c in self._store.claims.values()
        ):
            raise AlreadyExists(f"appointment {appointment} has a claim")
        super()._add(claim)

    def _of_policy(self, policy_id: PolicyId) -> Sequence[Claim]:
        return self._where(lambda c: c.policy_id == policy_id, _oldest_first)

    def _of_scheme(self, scheme_id: SchemeId) -> Sequence[Claim]:
        return self._where(lambda c: c.scheme_id == scheme_id, _oldest_first)


def _oldest_first(claim: Claim) -> tuple[object, ...]:
    return (claim.submitted_at, claim.id)
