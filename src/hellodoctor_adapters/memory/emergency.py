"""Break-glass grants and emergency cards over the in-memory store (the reference adapter)."""

from __future__ import annotations

from collections.abc import Sequence

from attrs import evolve

from hellodoctor_adapters.memory.store import _Journalled
from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError, NotFound
from hellodoctor_domain.model.emergency import (
    EmergencyCard,
    EmergencyCardId,
    EmergencyGrant,
    EmergencyGrantId,
)
from hellodoctor_domain.model.values import PatientId
from hellodoctor_domain.ports.emergency import EmergencyCardRepository, EmergencyGrantRepository


class InMemoryEmergencyGrantRepository(_Journalled, EmergencyGrantRepository):
    def _add(self, grant: EmergencyGrant) -> None:
        if grant.id in self._store.emergency_grants:
            raise AlreadyExists(f"emergency access {grant.id} exists")
        self._put(self._store.emergency_grants, grant.id, evolve(grant, version=1))

    def _get(self, grant_id: EmergencyGrantId) -> EmergencyGrant:
        try:
            return evolve(self._store.emergency_grants[grant_id])
        except KeyError:
            raise NotFound(f"no emergency access {grant_id}") from None

    def _update(self, grant: EmergencyGrant) -> None:
        stored = self._store.emergency_grants.get(grant.id)
        if stored is None:
            raise NotFound(f"no emergency access {grant.id}")
        if stored.version != grant.version:
            raise ConcurrencyError(f"emergency access {grant.id} changed since it was read")
        self._put(self._store.emergency_grants, grant.id, evolve(grant, version=grant.version + 1))

    def _unreviewed(self, limit: int) -> Sequence[EmergencyGrant]:
        waiting = [
            evolve(g) for g in self._store.emergency_grants.values() if g.reviewed_at is None
        ]
        return sorted(waiting, key=lambda g: (g.granted_at, g.id.value))[:limit]

    def patient_with_health_id(self, health_id: str) -> PatientId | None:
        found = [p.id for p in self._store.patients.values() if p.health_id == health_id]
        return found[0] if len(found) == 1 else None


class InMemoryEmergencyCardRepository(_Journalled, EmergencyCardRepository):
    def _add(self, card: EmergencyCard) -> None:
        cards = self._store.emergency_cards
        if card.id in cards or any(c.token_digest == card.token_digest for c in cards.values()):
            raise AlreadyExists(f"emergency card {card.id} exists")
        self._put(cards, card.id, evolve(card, version=1))

    def _get(self, card_id: EmergencyCardId) -> EmergencyCard:
        try:
            return evolve(self._store.emergency_cards[card_id])
        except KeyError:
            raise NotFound(f"no emergency card {card_id}") from None

    def _update(self, card: EmergencyCard) -> None:
        stored = self._store.emergency_cards.get(card.id)
        if stored is None:
            raise NotFound(f"no emergency card {card.id}")
        if stored.version != card.version:
            raise ConcurrencyError(f"emergency card {card.id} changed since it was read")
        self._put(self._store.emergency_cards, card.id, evolve(card, version=card.version + 1))

    def _with_digest(self, digest: str) -> EmergencyCard | None:
        for card in self._store.emergency_cards.values():
            if card.token_digest == digest:
                return evolve(card)
        return None

    def _of_patient(self, patient_id: PatientId) -> Sequence[EmergencyCard]:
        mine = [
            evolve(c) for c in self._store.emergency_cards.values() if c.patient_id == patient_id
        ]
        return sorted(mine, key=lambda c: (c.created_at, c.id.value), reverse=True)
