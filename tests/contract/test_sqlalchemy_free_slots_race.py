"""Two refreshes of one doctor's "next free" summary at once on PostgreSQL (two workers, or the
outbox consumer beside the worker). The first summary used to be written by a SELECT ... FOR
UPDATE, then an INSERT: the select of a row not yet committed locks nothing, so the second
refresh waited on the first's insert and then failed on the primary key ("already stored",
seen in two `hellodoctor worker` processes). It is one conditional upsert now."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from hellodoctor_adapters.memory import SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.runtime import SystemClock
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.schema_search import doctor_free_days, doctor_free_slots
from hellodoctor_adapters.sqlalchemy.search import SqlDoctorDirectory
from hellodoctor_adapters.sqlalchemy.testing import migrated_postgres_schema
from hellodoctor_adapters.testing.fixtures import doctor
from hellodoctor_domain import Actor, DoctorId, Scheduling, UserId
from hellodoctor_domain.ports.search import FreeSlots

EARLIER = datetime(2030, 1, 7, 8, tzinfo=UTC)
LATER = EARLIER + timedelta(minutes=1)


def _waiting_on_a_lock(engine: sa.Engine) -> bool:
    with engine.connect() as probe:
        return bool(
            probe.exec_driver_sql("SELECT count(*) FROM pg_locks WHERE NOT granted").scalar()
        )


def test_two_first_summaries_of_a_doctor_do_not_collide_and_the_newer_wins() -> None:
    with migrated_postgres_schema() as url:
        factory = SqlUnitOfWorkFactory(url)
        try:
            scheduling = Scheduling(
                factory, SystemClock(), SequentialIds("s"), OfflinePaymentGateway()
            )
            scheduling.register_doctor(Actor.admin(UserId("admin")), doctor("d1"))
        finally:
            factory.dispose()
        engine = sa.create_engine(url)
        failures: list[BaseException] = []

        def second() -> None:
            try:
                with engine.begin() as connection:
                    SqlDoctorDirectory(connection).record_free_slots(
                        FreeSlots(DoctorId("d1"), LATER, LATER, {date(2030, 1, 7)})
                    )
            except BaseException as error:  # the thread's failure is the test's
                failures.append(error)

        try:
            with engine.connect() as first:
                transaction = first.begin()
                SqlDoctorDirectory(first).record_free_slots(
                    FreeSlots(DoctorId("d1"), EARLIER, None)
                )
                racing = threading.Thread(target=second)
                racing.start()
                # The second refresh must be waiting on the first's uncommitted row.
                deadline = time.monotonic() + 30
                while not _waiting_on_a_lock(engine):
                    assert time.monotonic() < deadline, "the second refresh never waited"
                    time.sleep(0.01)
                transaction.commit()
            racing.join(timeout=30)
            assert failures == []
            with engine.connect() as reader:
                stored = reader.execute(sa.select(doctor_free_slots)).one()
                days = reader.execute(sa.select(doctor_free_days.c.day)).scalars().all()
            assert (stored.computed_at, stored.next_free_at) == (LATER, LATER)
            assert days == [date(2030, 1, 7)]
        finally:
            engine.dispose()
