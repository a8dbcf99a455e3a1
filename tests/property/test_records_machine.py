"""Who may read and write clinical records, and the audit of every access, under random
grants, revocations, appointments, time and actors: on the in-memory reference storage,
SQLite, PostgreSQL and MongoDB -- and proof that the machine notices a rule that lets too much
through, or an access that leaves no audit entry."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory
from hellodoctor_adapters.mongodb.testing import new_factory
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.provision import empty_tables
from hellodoctor_adapters.sqlalchemy.testing import migrated_postgres_schema, migrated_sqlite_file
from hellodoctor_adapters.testing.records_machine import make_records_machine
from hellodoctor_domain.model.record_access import RecordAccess
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.records import Records

TestInMemoryRecords = make_records_machine(InMemoryUnitOfWorkFactory).TestCase


@pytest.fixture(scope="module")
def migrated_template() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as folder:
        migrated_sqlite_file(Path(folder))
        yield Path(folder) / "hellodoctor.db"


def test_sqlite_records(migrated_template: Path, tmp_path: Path) -> None:
    factories: list[SqlUnitOfWorkFactory] = []

    def fresh() -> UnitOfWorkFactory:
        copy = tmp_path / f"run-{len(factories)}.db"
        shutil.copy(migrated_template, copy)
        factory = SqlUnitOfWorkFactory(f"sqlite:///{copy}")
        factories.append(factory)
        return factory

    try:
        run_state_machine_as_test(
            make_records_machine(fresh),
            settings=settings(max_examples=25, deadline=None, stateful_step_count=25),
        )
    finally:
        for factory in factories:
            factory.dispose()


def test_mongodb_records() -> None:
    factories = []

    def fresh() -> UnitOfWorkFactory:
        factory = new_factory()
        factories.append(factory)
        return factory

    try:
        run_state_machine_as_test(
            make_records_machine(fresh),
            settings=settings(max_examples=10, deadline=None, stateful_step_count=20),
        )
    finally:
        for factory in factories:
            factory.client.drop_database(factory.store.database.name)
            factory.close()


class LongCare(Records):
    """Deliberately broken: a completed visit keeps its doctor in for a year, not 90 days."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self._access = RecordAccess(timedelta(days=365))


class ForgetsRefusals(Records):
    """Deliberately broken: a refused attempt leaves no audit entry."""

    def _audit(
        self, uow, actor, patient_id, subject, action, decision, context, now, *, purpose=None
    ):  # type: ignore[no-untyped-def]
        if decision.allowed:
            super()._audit(
                uow, actor, patient_id, subject, action, decision, context, now, purpose=purpose
            )


@pytest.mark.parametrize(
    ("broken", "caught_by"),
    [(LongCare, ("read", "wrote")), (ForgetsRefusals, ("audit entries",))],
    ids=["care lasting a year", "refusals not audited"],
)
def test_the_machine_catches_a_broken_rule_or_audit(
    broken: type[Records], caught_by: tuple[str, ...]
) -> None:
    machine = make_records_machine(InMemoryUnitOfWorkFactory, broken)
    quick = settings(
        max_examples=1000,
        derandomize=True,  # the same examples every run: a catch that cannot be luck
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        stateful_step_count=30,
    )
    with pytest.raises(AssertionError) as failure:
        run_state_machine_as_test(machine, settings=quick)
    assert any(words in str(failure.value) for words in caught_by), str(failure.value)


def test_postgres_records() -> None:
    with migrated_postgres_schema() as url:
        factory = SqlUnitOfWorkFactory(url)

        def fresh() -> UnitOfWorkFactory:
            empty_tables(factory.engine)
            return factory

        try:
            run_state_machine_as_test(
                make_records_machine(fresh),
                settings=settings(max_examples=10, deadline=None, stateful_step_count=20),
            )
        finally:
            factory.dispose()
