"""`hellodoctor worker` is safe to run as several processes: two OS processes sweeping one
PostgreSQL database at once expire every lapsed hold exactly once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa

from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.schema import outbox
from hellodoctor_adapters.sqlalchemy.testing import migrated_postgres_schema
from hellodoctor_adapters.testing.fixtures import doctor, every_day, patient
from hellodoctor_domain import (
    Actor,
    AppointmentStatus,
    BookingRequest,
    DoctorId,
    Money,
    PatientId,
    Scheduling,
    SchedulingSettings,
    TimeRange,
    UserId,
)

HOLDS = 40


def _lapsed_holds(url: str) -> list[str]:
    """Holds booked an hour ago by the clock's reckoning, so they lapsed 45 minutes ago."""
    factory = SqlUnitOfWorkFactory(url)
    try:
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        scheduling = Scheduling(
            factory,
            ManualClock(an_hour_ago),
            SequentialIds("hold"),
            OfflinePaymentGateway(),
            SchedulingSettings(hold_for=timedelta(minutes=15)),
        )
        admin = Actor.admin(UserId("admin"))
        scheduling.register_doctor(admin, doctor("d1", fee=Money(5000, "EUR")))
        scheduling.define_availability(
            admin,
            every_day(
                DoctorId("d1"),
                opens=time(0),
                closes=time(0),
                minimum_notice=timedelta(0),
                booking_horizon=timedelta(days=30),
            ),
        )
        day_after_tomorrow = datetime.combine(
            an_hour_ago.date() + timedelta(days=2), time(0), tzinfo=UTC
        )
        held = []
        for number in range(HOLDS):
            scheduling.register_patient(patient(f"p{number}"))
            booked = scheduling.book(
                Actor.patient(PatientId(f"p{number}")),
                BookingRequest(
                    doctor_id=DoctorId("d1"),
                    patient_id=PatientId(f"p{number}"),
                    start=day_after_tomorrow + number * timedelta(minutes=30),
                ),
            )
            assert booked.status is AppointmentStatus.HELD
            held.append(booked.id.value)
        return held
    finally:
        factory.dispose()


def test_two_worker_processes_expire_each_lapsed_hold_once() -> None:
    with migrated_postgres_schema() as schema_url:
        url = schema_url.render_as_string(hide_password=False)
        held = _lapsed_holds(url)
        environment = {
            **os.environ,
            "HELLODOCTOR_DATABASE_URL": url,
            "HELLODOCTOR_JWT_SECRET": "w" * 48,
        }
        workers = [
            subprocess.Popen(
                [sys.executable, "-m", "hellodoctor_http", "worker", "--once"],
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outputs = [worker.communicate(timeout=120) for worker in workers]
        assert all(worker.returncode == 0 for worker in workers), outputs
        expired = [
            int(re.search(r"expired (\d+) holds", out).group(1))  # type: ignore[union-attr]
            for out, _ in outputs
        ]
        assert sum(expired) == HOLDS, outputs

        factory = SqlUnitOfWorkFactory(url)
        try:
            with factory() as uow:
                everything = uow.appointments.for_doctor(
                    DoctorId("d1"),
                    TimeRange(datetime.now(UTC), datetime.now(UTC) + timedelta(days=5)),
                    active_only=False,
                )
            assert sorted(a.id.value for a in everything) == sorted(held)
            assert {a.status for a in everything} == {AppointmentStatus.EXPIRED}
            with factory.engine.connect() as connection:
                events = (
                    connection.execute(
                        sa.select(outbox.c.aggregate_id).where(
                            outbox.c.event_type.like("%HoldExpired%")
                        )
                    )
                    .scalars()
                    .all()
                )
            assert sorted(events) == sorted(held)  # one expiry each, not one per worker
        finally:
            factory.dispose()
