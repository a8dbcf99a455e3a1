"""A hospital chooses when reminders of visits there go out; visits elsewhere keep the
platform's setting (24 h and 1 h)."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from attrs import evolve
from tests.unit.test_notification_preferences import ADMIN, NOW, VISIT, Clinic

from hellodoctor_adapters.testing.contract_hospitals import hospital
from hellodoctor_adapters.testing.fixtures import every_day
from hellodoctor_domain.errors import InvalidValue, NotFound
from hellodoctor_domain.model.availability import LocalWindow, Weekday, WorkingDay
from hellodoctor_domain.model.values import Actor, DoctorId, HospitalId, UserId
from hellodoctor_domain.ports.notifications import NoticeKind
from hellodoctor_domain.use_cases.hospitals import Hospitals


def reminders(clinic: Clinic) -> list[timedelta]:
    clinic.book()
    clinic.relay.drain()
    clinic.clock.advance(VISIT - NOW - timedelta(minutes=30))  # every reminder is due
    clinic.relay.drain()
    return [n.before for n in clinic.mailbox.sent if n.kind is NoticeKind.REMINDER]


def at_hospital(clinic: Clinic, minutes: tuple[int, ...] | None) -> Hospitals:
    hospitals = Hospitals(clinic.storage, clinic.clock)
    hospitals.register(ADMIN, evolve(hospital("h1"), reminder_minutes=minutes))
    hospitals.affiliate(ADMIN, HospitalId("h1"), DoctorId("d1"), None)
    weekly = [
        WorkingDay(day, [LocalWindow(time(8), time(18))], hospital_id=HospitalId("h1"))
        for day in Weekday
    ]
    clinic.scheduling.define_availability(
        ADMIN, evolve(every_day(DoctorId("d1"), zone="Europe/London"), weekly=weekly, version=1)
    )
    return hospitals


def test_visits_at_a_hospital_follow_its_reminders() -> None:
    clinic = Clinic()
    at_hospital(clinic, (180,))
    assert reminders(clinic) == [timedelta(hours=3)]


def test_a_hospital_without_its_own_follows_the_platform() -> None:
    clinic = Clinic()
    at_hospital(clinic, None)
    assert reminders(clinic) == [timedelta(hours=24), timedelta(hours=1)]


def test_only_its_administrators_set_them_within_bounds() -> None:
    clinic = Clinic()
    hospitals = at_hospital(clinic, None)
    stranger = Actor.doctor(DoctorId("d1"))
    with pytest.raises(NotFound):
        hospitals.set_reminders(stranger, HospitalId("h1"), (60,))
    for wrong in ((0,), (60, 60), (1, 2, 3, 4, 5, 6), (30 * 24 * 60 + 1,)):
        with pytest.raises(InvalidValue):
            hospitals.set_reminders(Actor.admin(UserId("admin")), HospitalId("h1"), wrong)
    changed = hospitals.set_reminders(ADMIN, HospitalId("h1"), (60, 2880))
    assert changed.reminder_minutes == (2880, 60)
