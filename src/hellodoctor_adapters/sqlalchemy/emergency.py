"""Break-glass grants and emergency cards over SQLAlchemy Core (PostgreSQL, SQLite): each read
and written whole as a JSON record, updates a compare-and-set on ``version``; a card's token
digest is a unique key."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from hellodoctor_adapters.clinical_records import card_from, card_record, grant_from, grant_record
from hellodoctor_adapters.crypto import FieldCipher, development_cipher
from hellodoctor_adapters.phi import health_id_lookups
from hellodoctor_adapters.sqlalchemy.engine import translated_errors
from hellodoctor_adapters.sqlalchemy.rows import compare_and_set, first_row
from hellodoctor_adapters.sqlalchemy.schema import emergency_cards, emergency_grants, patients
from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.emergency import (
    EmergencyCard,
    EmergencyCardId,
    EmergencyGrant,
    EmergencyGrantId,
)
from hellodoctor_domain.model.values import PatientId
from hellodoctor_domain.ports.emergency import EmergencyCardRepository, EmergencyGrantRepository


def _grant(row: RowMapping) -> EmergencyGrant:
    return grant_from(row["id"], row["patient_id"], row["version"], row["record"])


def _card(row: RowMapping) -> EmergencyCard:
    return card_from(
        row["id"], row["patient_id"], row["token_digest"], row["version"], row["record"]
    )


class SqlEmergencyGrantRepository(EmergencyGrantRepository):
    def __init__(self, connection: Connection, cipher: FieldCipher | None = None) -> None:
        super().__init__()
        self._connection = connection
        self._cipher = cipher or development_cipher()

    def _add(self, grant: EmergencyGrant) -> None:
        with translated_errors():
            self._connection.execute(
                sa.insert(emergency_grants).values(
                    id=grant.id.value,
                    patient_id=grant.patient_id.value,
                    granted_at=grant.granted_at,
                    reviewed_at=grant.reviewed_at,
                    record=grant_record(grant),
                    version=1,
                )
            )

    def _get(self, grant_id: EmergencyGrantId) -> EmergencyGrant:
        table = emergency_grants
        row = first_row(self._connection, sa.select(table).where(table.c.id == grant_id.value))
        if row is None:
            raise NotFound(f"no emergency access {grant_id}")
        return _grant(row)

    def _update(self, grant: EmergencyGrant) -> None:
        compare_and_set(
            self._connection,
            emergency_grants,
            emergency_grants.c.id == grant.id.value,
            grant.version,
            {"reviewed_at": grant.reviewed_at, "record": grant_record(grant)},
            f"emergency access {grant.id}",
        )

    def _unreviewed(self, limit: int) -> Sequence[EmergencyGrant]:
        c = emergency_grants.c
        query = (
            sa.select(emergency_grants)
            .where(c.reviewed_at.is_(None))
            .order_by(c.granted_at, c.id)
            .limit(limit)
        )
        with translated_errors():
            return [_grant(row) for row in self._connection.execute(query).mappings()]

    def patient_with_health_id(self, health_id: str) -> PatientId | None:
        # By the blind index (0014_phi): the health ID itself is sealed.
        indexes = health_id_lookups(self._cipher, health_id)
        query = sa.select(patients.c.id).where(patients.c.health_id_index.in_(indexes)).limit(2)
        with translated_errors():
            found = list(self._connection.execute(query).scalars())
        return PatientId(found[0]) if len(found) == 1 else None


class SqlEmergencyCardRepository(EmergencyCardRepository):
    def __init__(self, connection: Connection) -> None:
        super().__init__()
        self._connection = connection

    def _add(self, card: EmergencyCard) -> None:
        with translated_errors():
            self._connection.execute(
                sa.insert(emergency_cards).values(
                    id=card.id.value,
                    patient_id=card.patient_id.value,
                    token_digest=card.token_digest,
                    created_at=card.created_at,
                    record=card_record(card),
                    version=1,
                )
            )

    def _get(self, card_id: EmergencyCardId) -> EmergencyCard:
        table = emergency_cards
        row = first_row(self._connection, sa.select(table).where(table.c.id == card_id.value))
        if row is None:
            raise NotFound(f"no emergency card {card_id}")
        return _card(row)

    def _update(self, card: EmergencyCard) -> None:
        compare_and_set(
            self._connection,
            emergency_cards,
            emergency_cards.c.id == card.id.value,
            card.version,
            {"record": card_record(card)},
            f"emergency card {card.id}",
        )

    def _with_digest(self, digest: str) -> EmergencyCard | None:
        table = emergency_cards
        row = first_row(self._connection, sa.select(table).where(table.c.token_digest == digest))
        return None if row is None else _card(row)

    def _of_patient(self, patient_id: PatientId) -> Sequence[EmergencyCard]:
        c = emergency_cards.c
        query = (
            sa.select(emergency_cards)
            .where(c.patient_id == patient_id.value)
            .order_by(c.created_at.desc(), c.id.desc())
        )
        with translated_errors():
            return [_card(row) for row in self._connection.execute(query).mappings()]
