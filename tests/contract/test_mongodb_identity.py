"""What only the MongoDB adapter has to prove about identity storage, idempotency and search:
buffered revocations, the crash window between a booking and its idempotency record, and
bringing a database written by the first release up to date."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from pymongo import ASCENDING

from hellodoctor_adapters.memory import ManualClock, SequentialIds
from hellodoctor_adapters.mongodb import MongoUnitOfWork, MongoUnitOfWorkFactory
from hellodoctor_adapters.mongodb.documents import to_document
from hellodoctor_adapters.mongodb.scheduling import MongoIdempotencyRepository
from hellodoctor_adapters.mongodb.testing import new_factory
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.testing.contract_accounts import account, token
from hellodoctor_adapters.testing.fixtures import MONDAY, at, doctor, every_day, seed
from hellodoctor_domain import (
    Actor,
    BookingRequest,
    DoctorId,
    PatientId,
    Scheduling,
)
from hellodoctor_domain.errors import ConcurrencyError, SlotUnavailable
from hellodoctor_domain.ports.scheduling import AppointmentQuery, DoctorQuery


class Crash(BaseException):
    """The process dies here: nothing after it runs, not even the unit of work's exit."""


@pytest.fixture
def factory() -> Iterator[MongoUnitOfWorkFactory]:
    made = new_factory()
    seed(made)
    with made() as uow:
        uow.accounts.add(account())
        uow.commit()
    yield made
    made.client.drop_database(made.store.database.name)
    made.close()


def revoked(factory: MongoUnitOfWorkFactory, *keys: str) -> dict[str, bool]:
    with factory() as uow:
        return {key: uow.refresh_tokens.get(key).revoked_at is not None for key in keys}


def test_a_revocation_takes_effect_only_at_commit(factory: MongoUnitOfWorkFactory) -> None:
    with factory() as uow:
        uow.refresh_tokens.add(token("a"))
        uow.commit()
    with factory() as uow:
        uow.refresh_tokens.revoke_family("f1", MONDAY)
        assert uow.refresh_tokens.get("a").revoked_at == MONDAY  # seen inside the unit
    assert revoked(factory, "a") == {"a": False}  # rolled back
    with factory() as uow:
        uow.refresh_tokens.revoke_family("f1", MONDAY)
        uow.commit()
    assert revoked(factory, "a") == {"a": True}


def test_a_revocation_covers_what_the_unit_held_and_not_what_it_added_later(
    factory: MongoUnitOfWorkFactory,
) -> None:
    with factory() as uow:
        uow.refresh_tokens.add(token("on-server"))
        uow.commit()
    with factory() as uow:
        uow.refresh_tokens.add(token("before"))
        uow.refresh_tokens.revoke_family("f1", MONDAY)
        uow.refresh_tokens.add(token("after"))
        uow.commit()
    assert revoked(factory, "on-server", "before", "after") == {
        "on-server": True,
        "before": True,
        "after": False,
    }


def test_a_token_read_before_its_revocation_cannot_be_rotated_after_it(
    factory: MongoUnitOfWorkFactory,
) -> None:
    with factory() as uow:
        uow.refresh_tokens.add(token("a"))
        uow.commit()
    with factory() as uow:
        stale = uow.refresh_tokens.get("a")
        uow.refresh_tokens.revoke_family("f1", MONDAY)
        stale.replaced_at = MONDAY + timedelta(minutes=1)
        with pytest.raises(ConcurrencyError):  # as on the reference: the version moved
            uow.refresh_tokens.update(stale)
        fresh = uow.refresh_tokens.get("a")
        fresh.replaced_at = MONDAY + timedelta(minutes=1)
        uow.refresh_tokens.update(fresh)
        uow.commit()
    with factory() as uow:
        stored = uow.refresh_tokens.get("a")
    assert (stored.revoked_at, stored.replaced_at, stored.version) == (
        MONDAY,
        MONDAY + timedelta(minutes=1),
        3,  # added, revoked, rotated: the same as the reference
    )


def test_a_crash_between_a_booking_and_its_idempotency_record_never_books_twice(
    factory: MongoUnitOfWorkFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with factory() as uow:
        uow.availability.save(every_day(DoctorId("d1")))
        uow.commit()
    scheduling = Scheduling(
        factory, ManualClock(MONDAY), SequentialIds("apt"), OfflinePaymentGateway()
    )
    request = BookingRequest(
        doctor_id=DoctorId("d1"), patient_id=PatientId("p1"), start=at(9), idempotency_key="k1"
    )

    def die(*_: object) -> None:
        raise Crash

    # The process dies after the appointment is written and before its record is: no undo,
    # no rollback (a dead process releases nothing).
    monkeypatch.setattr(MongoIdempotencyRepository, "flush", die)
    monkeypatch.setattr(MongoUnitOfWork, "_undo", lambda *_: None)
    monkeypatch.setattr(MongoUnitOfWork, "_rollback", lambda *_: None)
    with pytest.raises(Crash):
        scheduling.book(Actor.patient(PatientId("p1")), request)
    monkeypatch.undo()

    # The retry finds no record and is refused by the patient's own booking: a 409 instead
    # of the first result, but never a second appointment.
    with pytest.raises(SlotUnavailable):
        scheduling.book(Actor.patient(PatientId("p1")), request)
    with factory() as uow:
        assert [a.id.value for a in uow.appointments.search(AppointmentQuery())] == ["apt-1"]
        assert uow.idempotency.get("p1", "k1") is None


def test_a_database_of_the_first_release_is_brought_up_to_date(
    factory: MongoUnitOfWorkFactory,
) -> None:
    appointments = factory.store.collection("appointments")
    for name in ("doctor_by_start", "patient_by_start"):
        appointments.drop_index(name)
    appointments.create_index(
        [("doctor_id", ASCENDING), ("time.start_us", ASCENDING)], name="doctor_calendar"
    )
    appointments.create_index(
        [("patient_id", ASCENDING), ("time.start_us", ASCENDING)], name="patient_calendar"
    )
    # A doctor written before the search keys existed.
    factory.store.collection("doctors").insert_one(
        {**to_document(doctor("d9", languages=("Yoruba",))), "version": 1}
    )

    factory.store.ensure_indexes()
    factory.store.ensure_indexes()

    names = set(appointments.index_information())
    assert {"doctor_by_start", "patient_by_start", "all_by_start", "holds_by_expiry"} <= names
    assert not {"doctor_calendar", "patient_calendar"} & names
    assert "email_key_unique" in factory.store.collection("accounts").index_information()
    assert "scope_key_unique" in factory.store.collection("idempotency").index_information()
    with factory() as uow:
        found = uow.doctors.search(DoctorQuery(language="YORUBA"))
    assert [d.id.value for d in found] == ["d9"]
