"""The storage port of emergency access: break-glass grants (with the admins' review queue),
patients' emergency cards, and the lookup of a patient by health ID."""

from __future__ import annotations

import abc
from collections.abc import Sequence

from hellodoctor_domain.model.emergency import (
    EmergencyCard,
    EmergencyCardId,
    EmergencyGrant,
    EmergencyGrantId,
)
from hellodoctor_domain.model.values import PatientId
from hellodoctor_domain.ports.repository import EntityRepository


class EmergencyGrantRepository(EntityRepository[EmergencyGrant, EmergencyGrantId]):
    def unreviewed(self, limit: int = 100) -> list[EmergencyGrant]:
        """Grants no admin has reviewed yet, oldest first."""
        return self._all_seen(self._unreviewed(limit))

    @abc.abstractmethod
    def _unreviewed(self, limit: int) -> Sequence[EmergencyGrant]: ...

    @abc.abstractmethod
    def patient_with_health_id(self, health_id: str) -> PatientId | None:
        """The one patient whose profile holds ``health_id`` (exact match); ``None`` when
        none does, or when more than one does (an ambiguous ID must not open anyone's
        critical view)."""


class EmergencyCardRepository(EntityRepository[EmergencyCard, EmergencyCardId]):
    def with_digest(self, digest: str) -> EmergencyCard | None:
        """The card whose token has this SHA-256 (revoked or not)."""
        return self._seen_if_any(self._with_digest(digest))

    def of_patient(self, patient_id: PatientId) -> list[EmergencyCard]:
        """The patient's cards, newest first."""
        return self._all_seen(self._of_patient(patient_id))

    @abc.abstractmethod
    def _with_digest(self, digest: str) -> EmergencyCard | None: ...

    @abc.abstractmethod
    def _of_patient(self, patient_id: PatientId) -> Sequence[EmergencyCard]: ...
