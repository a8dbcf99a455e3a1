"""What a storage answers when its database is gone, and when it is given a value it cannot hold.

Only an outage is ``BackendUnavailable`` (an entry point answers 503: retry later). A value the
database cannot hold (a NUL character in a PostgreSQL string, a number beyond 64 bits) is stored
as given or refused as a ``ValueError`` (``hellodoctor_adapters.errors.StoredValueRejected``, a
bug answered 500), never an outage.

``StoredValuesContract`` is part of ``UnitOfWorkContract``. ``LostServerContract`` is for
storages that have a server (or a file) to lose: subclass it and override
``unreachable_uow_factory`` with a factory over one that is gone (a closed port, say:
``closed_port()``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import pytest

from hellodoctor_adapters.testing.fixtures import at, doctor, seed, state_of
from hellodoctor_domain import AppointmentId, DoctorId, Money, TimeRange
from hellodoctor_domain.errors import BackendUnavailable, NotFound, PortError
from hellodoctor_domain.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

NUL = "\x00"


def closed_port() -> int:
    """A loopback TCP port nothing listens on (it was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _stored_or_refused_as_a_value(write: Callable[[], None], read: Callable[[], Any]) -> Any:
    """``read()`` after ``write()``; ``None`` when the write was refused as a bad value."""
    try:
        write()
    except ValueError:
        return None  # refused as the bad value it is: fine
    except PortError as error:
        pytest.fail(f"a value the database cannot hold answered {error!r}: that is no outage")
    return read()


class StoredValuesContract:
    """Values a database may not hold are stored or refused as values. Override ``uow_factory``."""

    @pytest.fixture
    def uow_factory(self) -> UnitOfWorkFactory:
        raise NotImplementedError("override the uow_factory fixture with your adapter's factory")

    def test_a_nul_character_is_stored_or_refused_as_a_value(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        with_nul = doctor("d1", name=f"Dr {NUL}Null", specialty=f"General{NUL}practice")

        def write() -> None:
            with uow_factory() as uow:
                uow.doctors.add(with_nul)
                uow.commit()

        def read() -> Any:
            with uow_factory() as uow:
                return uow.doctors.get(DoctorId("d1"))

        stored = _stored_or_refused_as_a_value(write, read)
        assert stored is None or state_of(stored) == state_of(with_nul)

    def test_looking_up_a_key_with_a_nul_character_finds_nothing(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        seed(uow_factory)
        lookups: list[Callable[[UnitOfWork], object]] = [
            lambda uow: uow.doctors.get(DoctorId(f"d1{NUL}")),
            lambda uow: uow.appointments.get(AppointmentId(f"a{NUL}")),
        ]
        for lookup in lookups:
            with uow_factory() as uow:
                try:
                    lookup(uow)
                except (NotFound, ValueError):
                    continue  # not there, or refused as the bad value it is
                except PortError as error:
                    pytest.fail(f"a key with a NUL character answered {error!r}: no outage")
                pytest.fail("a key with a NUL character found a record")

    def test_a_number_beyond_64_bits_is_stored_or_refused_as_a_value(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        huge = doctor("d1", fee=Money(2**64, "EUR"))

        def write() -> None:
            with uow_factory() as uow:
                uow.doctors.add(huge)
                uow.commit()

        def read() -> Any:
            with uow_factory() as uow:
                return uow.doctors.get(DoctorId("d1"))

        stored = _stored_or_refused_as_a_value(write, read)
        assert stored is None or state_of(stored) == state_of(huge)
        with uow_factory() as uow:  # a refusal left nothing behind, and the storage works
            if stored is None:
                with pytest.raises(NotFound):
                    uow.doctors.get(DoctorId("d1"))
            uow.doctors.add(doctor("d2"))
            uow.commit()


class LostServerContract:
    """A storage whose server is gone says so with ``BackendUnavailable``, whatever it was
    asked. Override ``unreachable_uow_factory``."""

    @pytest.fixture
    def unreachable_uow_factory(self) -> UnitOfWorkFactory:
        raise NotImplementedError(
            "override unreachable_uow_factory: your adapter's factory over a server that is gone"
        )

    def test_reading_from_a_server_that_is_gone_is_backend_unavailable(
        self, unreachable_uow_factory: UnitOfWorkFactory
    ) -> None:
        with pytest.raises(BackendUnavailable), unreachable_uow_factory() as uow:
            uow.doctors.get(DoctorId("d1"))

    def test_writing_to_a_server_that_is_gone_is_backend_unavailable(
        self, unreachable_uow_factory: UnitOfWorkFactory
    ) -> None:
        with pytest.raises(BackendUnavailable), unreachable_uow_factory() as uow:
            uow.doctors.add(doctor("d1"))
            uow.commit()

    def test_listing_from_a_server_that_is_gone_is_backend_unavailable(
        self, unreachable_uow_factory: UnitOfWorkFactory
    ) -> None:
        with pytest.raises(BackendUnavailable), unreachable_uow_factory() as uow:
            uow.appointments.for_doctor(DoctorId("d1"), TimeRange(at(0), at(0, day=1)))
