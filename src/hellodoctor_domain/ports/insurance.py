"""The storage port of insurance: schemes, policies and claims."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from hellodoctor_domain.model.insurance import Claim, Policy, Scheme
from hellodoctor_domain.model.values import ClaimId, PatientId, PolicyId, SchemeId
from hellodoctor_domain.ports.repository import EntityRepository


class SchemeRepository(EntityRepository[Scheme, SchemeId]):
    def every(self) -> list[Scheme]:
        """Every scheme, by id."""
        return self._all_seen(self._every())

    @abc.abstractmethod
    def _every(self) -> Sequence[Scheme]: ...


class PolicyRepository(EntityRepository[Policy, PolicyId]):
    def of_patient(self, patient_id: PatientId) -> list[Policy]:
        """The patient's policies, by id."""
        return self._all_seen(self._of_patient(patient_id))

    @abc.abstractmethod
    def _of_patient(self, patient_id: PatientId) -> Sequence[Policy]: ...


class ClaimRepository(EntityRepository[Claim, ClaimId]):
    """``add`` refuses a second claim for one appointment (``AlreadyExists``), decided by the
    storage (a unique key), never by a read first."""

    def of_policy(self, policy_id: PolicyId) -> list[Claim]:
        """The policy's claims, oldest first."""
        return self._all_seen(self._of_policy(policy_id))

    def of_scheme(self, scheme_id: SchemeId) -> list[Claim]:
        """The scheme's claims, oldest first (what its insurer reviews)."""
        return self._all_seen(self._of_scheme(scheme_id))

    @abc.abstractmethod
    def _of_policy(self, policy_id: PolicyId) -> Sequence[Claim]: ...

    @abc.abstractmethod
    def _of_scheme(self, scheme_id: SchemeId) -> Sequence[Claim]: ...
