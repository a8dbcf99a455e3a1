"""The clinic's day contract (issue 17): what every storage keeps for profiles edited through
``PATCH /me`` (a patient's language and time zone beside the fields they always had), written
at the version read; a visit's arrival steps (arrived, called in, seen), the visit holding
its time throughout.

Part of ``UnitOfWorkContract``; needs only ``uow_factory``.
"""

from __future__ import annotations

from datetime import date

import pytest
from attrs import evolve

from hellodoctor_adapters.testing.fixtures import appointment, at, seed, state_of
from hellodoctor_domain.errors import ConcurrencyError, SlotUnavailable
from hellodoctor_domain.model.appointment import VisitStage
from hellodoctor_domain.model.profiles import EmergencyContact
from hellodoctor_domain.model.values import AppointmentId, PatientId
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory


class ClinicDayStorageContract:
    def test_patient_preferences_round_trip_and_clear(self, uow_factory: UnitOfWorkFactory) -> None:
        seed(uow_factory)
        with uow_factory() as uow:
            read = uow.patients.get(PatientId("p1"))
        assert (read.language, read.time_zone) == (None, None)
        edited = evolve(
            read,
            name="Grace Hopper",
            phone="+442079460000",
            date_of_birth=date(1906, 12, 9),
            language="pt-BR",
            time_zone="America/Sao_Paulo",
            emergency_contacts=(EmergencyContact("Alan", "+442079460001", "brother"),),
            allergies=("latex",),
        )
        with uow_factory() as uow:
            uow.patients.update(edited)
            uow.commit()
        with uow_factory() as uow:
            stored = uow.patients.get(PatientId("p1"))
        assert state_of(stored) == state_of(evolve(edited, version=read.version + 1))
        with uow_factory() as uow:
            uow.patients.update(evolve(stored, language=None, time_zone=None))
            uow.commit()
        with pytest.raises(ConcurrencyError), uow_factory() as uow:
            uow.patients.update(evolve(stored, language="fr"))  # read before the clearing
            uow.commit()
        with uow_factory() as uow:
            cleared = uow.patients.get(PatientId("p1"))
        assert (cleared.language, cleared.time_zone, cleared.name) == (None, None, "Grace Hopper")

    def test_a_visit_keeps_its_arrival_steps_and_still_holds_its_time(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        seed(uow_factory)
        with uow_factory() as uow:
            uow.appointments.add(appointment("a1", at(9)))
            uow.commit()
        # Millisecond moments: what every storage keeps exactly (MongoDB keeps no more).
        arrived, called, seen = at(8, 50), at(9, 5), at(9, 31)
        for step, moment in (
            ("check_in", arrived),
            ("start_consultation", called),
        ):
            with uow_factory() as uow:
                visit = uow.appointments.get(AppointmentId("a1"))
                getattr(visit, step)(moment)
                uow.appointments.update(visit)
                uow.commit()
            with uow_factory() as uow:
                stored = uow.appointments.get(AppointmentId("a1"))
            assert state_of(evolve(stored, version=0)) == state_of(evolve(visit, version=0))
        assert (stored.stage, stored.arrived_at, stored.consultation_started_at) == (
            VisitStage.IN_CONSULTATION,
            arrived,
            called,
        )
        # In consultation the visit is still booked: its time stays taken.
        with pytest.raises(SlotUnavailable), uow_factory() as uow:
            uow.appointments.add(appointment("a2", at(9, 15), patient_key="p2"))
            uow.commit()
        with uow_factory() as uow:
            visit = uow.appointments.get(AppointmentId("a1"))
            visit.complete(seen)
            uow.appointments.update(visit)
            uow.commit()
        with uow_factory() as uow:
            done = uow.appointments.get(AppointmentId("a1"))
        assert (done.stage, done.completed_at) == (VisitStage.COMPLETED, seen)
