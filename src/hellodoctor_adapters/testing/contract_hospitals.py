"""The hospitals contract: hospitals round-trip, their registration numbers are unique, their
updates are compare-and-set, every bed count stays within ``0 <= occupied <= capacity``
however many admissions race for the last beds, and transfers move by explicit transitions,
an acceptance reserving its bed in the same unit of work.

Part of ``UnitOfWorkContract``; needs only ``uow_factory``.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from hellodoctor_adapters.memory.services import ManualClock, SequentialIds
from hellodoctor_adapters.testing.fixtures import MONDAY, seed, state_of
from hellodoctor_domain.errors import (
    AlreadyExists,
    ConcurrencyError,
    IllegalStateChange,
    InvalidValue,
    NoBedAvailable,
    NotFound,
)
from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.model.hospitals import (
    Address,
    Affiliation,
    BedType,
    Department,
    Hospital,
    Ward,
    WardBeds,
)
from hellodoctor_domain.model.transfers import Transfer, TransferStatus, TransferStep
from hellodoctor_domain.model.values import (
    Actor,
    DoctorId,
    EmailAddress,
    HospitalId,
    PatientId,
    Role,
    UserId,
)
from hellodoctor_domain.ports.hospitals import BedCount
from hellodoctor_domain.ports.scheduling import DoctorQuery
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.hospitals import Admission, Hospitals
from hellodoctor_domain.use_cases.transfers import Transfers

ADMIN = Actor.admin(UserId("root"))
H1, H2 = HospitalId("h1"), HospitalId("h2")


def hospital(key: str = "h1", city: str = "Pune", general: int = 10, icu: int = 2) -> Hospital:
    return Hospital(
        HospitalId(key),
        name=f"Hospital {key}",
        registration_number=f"REG-{key}",
        address=Address("1 Main Road", city, "IN", 18.52, 73.85),
        phone="+91 20 5555 0000",
        email=EmailAddress(f"desk@{key}.example.org"),
        facilities=("pharmacy", "radiology"),
        departments=(
            Department("card", "Cardiology", DoctorId("d1")),
            Department("gen", "General"),
        ),
        wards=(
            Ward("w1", "Ward one", (WardBeds(BedType.GENERAL, general),), "gen"),
            Ward("icu", "Intensive care", (WardBeds(BedType.ICU, icu),), "card"),
        ),
    )


def staff(uow_factory: UnitOfWorkFactory, key: str, role: Role = Role.HOSPITAL_ADMIN) -> Actor:
    """A stored account ``key`` with ``role`` (hospital administrator, insurer), as its token
    would describe it."""
    account = Account(
        UserId(key), EmailAddress(f"{key}@example.org"), role, AccountStatus.ACTIVE, MONDAY
    )
    with uow_factory() as uow:
        uow.accounts.add(account)
        uow.commit()
    return account.actor()


class HospitalStorageContract:
    @pytest.fixture
    def hospitals(self, uow_factory: UnitOfWorkFactory) -> Hospitals:
        seed(uow_factory)
        use_case = Hospitals(uow_factory, ManualClock(MONDAY))
        use_case.register(ADMIN, hospital("h1"))
        use_case.register(ADMIN, hospital("h2", city="Mumbai", general=3))
        return use_case

    def test_a_hospital_round_trips(self, uow_factory: UnitOfWorkFactory) -> None:
        written = hospital("h1")
        with uow_factory() as uow:
            uow.hospitals.add(written)
            uow.commit()
        with uow_factory() as uow:
            read = uow.hospitals.get(H1)
        assert state_of(read) == state_of(written)
        assert read.version == 1

    def test_registration_numbers_are_unique(self, uow_factory: UnitOfWorkFactory) -> None:
        with uow_factory() as uow:
            uow.hospitals.add(hospital("h1"))
            uow.commit()
        with pytest.raises(AlreadyExists), uow_factory() as uow:
            clash = hospital("h2")
            clash.registration_number = "REG-h1"
            uow.hospitals.add(clash)
            uow.commit()

    def test_a_stale_update_is_refused(
        self, hospitals: Hospitals, uow_factory: UnitOfWorkFactory
    ) -> None:
        with uow_factory() as uow:
            first = uow.hospitals.get(H1)
        with uow_factory() as uow:
            second = uow.hospitals.get(H1)
            second.set_department_head("gen", DoctorId("d2"))
            uow.hospitals.update(second)
            uow.commit()
        first.set_department_head("gen", None)
        with pytest.raises(ConcurrencyError), uow_factory() as uow:
            uow.hospitals.update(first)
            uow.commit()
        assert hospitals.get(H1).departments[1].head_doctor_id == DoctorId("d2")

    def test_unknown_hospital_is_not_found(self, uow_factory: UnitOfWorkFactory) -> None:
        with pytest.raises(NotFound), uow_factory() as uow:
            uow.hospitals.get(HospitalId("nowhere"))

    def test_hospitals_are_listed_by_city(self, hospitals: Hospitals) -> None:
        assert [h.id for h in hospitals.in_city()] == [H1, H2]
        assert [h.id for h in hospitals.in_city("mumbai")] == [H2]
        assert hospitals.in_city("Delhi") == []

    def test_registration_frees_every_bed(self, hospitals: Hospitals) -> None:
        assert hospitals.beds(H1) == [
            BedCount("icu", BedType.ICU, 2, 0),
            BedCount("w1", BedType.GENERAL, 10, 0),
        ]

    def test_counts_never_leave_zero_to_capacity(
        self, hospitals: Hospitals, uow_factory: UnitOfWorkFactory
    ) -> None:
        for _ in range(2):
            hospitals.admit(ADMIN, Admission(H1, "icu", BedType.ICU, PatientId("p1")))
        with pytest.raises(NoBedAvailable):
            hospitals.admit(ADMIN, Admission(H1, "icu", BedType.ICU, PatientId("p2")))
        with pytest.raises(NoBedAvailable):  # the ward has no bed of that type
            hospitals.admit(ADMIN, Admission(H1, "icu", BedType.GENERAL, PatientId("p2")))
        for _ in range(2):
            hospitals.discharge(ADMIN, Admission(H1, "icu", BedType.ICU, PatientId("p1")))
        with pytest.raises(NoBedAvailable):
            hospitals.discharge(ADMIN, Admission(H1, "icu", BedType.ICU, PatientId("p1")))
        assert hospitals.beds(H1)[0] == BedCount("icu", BedType.ICU, 2, 0)

    def test_a_capacity_below_the_occupied_beds_is_refused(
        self, hospitals: Hospitals, uow_factory: UnitOfWorkFactory
    ) -> None:
        hospitals.admit(ADMIN, Admission(H1, "icu", BedType.ICU, PatientId("p1")))
        with pytest.raises(NoBedAvailable), uow_factory() as uow:
            uow.beds.provide(H1, "icu", BedType.ICU, 0)
            uow.commit()
        with uow_factory() as uow:
            uow.beds.provide(H1, "icu", BedType.ICU, 5)
            uow.commit()
        assert hospitals.beds(H1)[0] == BedCount("icu", BedType.ICU, 5, 1)

    def test_a_rolled_back_admission_frees_its_bed(
        self, hospitals: Hospitals, uow_factory: UnitOfWorkFactory
    ) -> None:
        with uow_factory() as uow:
            uow.beds.occupy(H1, "icu", BedType.ICU)
        assert hospitals.beds(H1)[0].occupied == 0

    def test_forty_admissions_race_for_ten_beds_and_ten_win(self, hospitals: Hospitals) -> None:
        threads = 40
        barrier = threading.Barrier(threads)

        def admit(index: int) -> str:
            barrier.wait()
            for _ in range(20):  # a storage may answer a lost race with ConcurrencyError
                try:
                    hospitals.admit(ADMIN, Admission(H1, "w1", BedType.GENERAL, PatientId("p1")))
                    return "admitted"
                except NoBedAvailable:
                    return "refused"
                except ConcurrencyError:
                    continue
            return "gave up"

        with ThreadPoolExecutor(threads) as pool:
            outcomes = list(pool.map(admit, range(threads)))
        assert outcomes.count("gave up") == 0
        assert outcomes.count("admitted") == 10
        assert hospitals.beds(H1)[1] == BedCount("w1", BedType.GENERAL, 10, 10)

    def test_a_hospital_admin_manages_only_their_own_hospital(
        self, hospitals: Hospitals, uow_factory: UnitOfWorkFactory
    ) -> None:
        mine = staff(uow_factory, "ha1")
        hospitals.appoint_administrator(ADMIN, H1, mine.user_id)
        hospitals.admit(mine, Admission(H1, "w1", BedType.GENERAL, PatientId("p1")))
        with pytest.raises(NotFound):
            hospitals.admit(mine, Admission(H2, "w1", BedType.GENERAL, PatientId("p1")))
        with pytest.raises(NotFound):
            hospitals.admit(
                Actor.patient(PatientId("p1")),
                Admission(H1, "w1", BedType.GENERAL, PatientId("p1")),
            )
        assert hospitals.get(H1).administrators == (mine.user_id,)
        assert [c.occupied for c in hospitals.beds(H2)] == [0, 0]


class TransferStorageContract:
    """Transfers round-trip with their history, are compare-and-set, are listed for both
    hospitals, and an acceptance reserves a bed atomically with the transition."""

    @pytest.fixture
    def transfers(self, hospitals: Hospitals, uow_factory: UnitOfWorkFactory) -> Transfers:
        return Transfers(uow_factory, ManualClock(MONDAY), SequentialIds("t"))

    def _requested(self, transfers: Transfers) -> Transfer:
        return transfers.request(ADMIN, PatientId("p1"), H1, H2, BedType.GENERAL, "needs surgery")

    def test_a_transfer_round_trips_with_its_history(
        self, transfers: Transfers, uow_factory: UnitOfWorkFactory
    ) -> None:
        written = self._requested(transfers)
        transfers.accept(ADMIN, written.id, "w1")
        with uow_factory() as uow:
            read = uow.transfers.get(written.id)
        assert read.status is TransferStatus.ACCEPTED
        assert [step.status for step in read.history] == [
            TransferStatus.REQUESTED,
            TransferStatus.ACCEPTED,
        ]
        assert read.history[0] == TransferStep(
            TransferStatus.REQUESTED, MONDAY, UserId("root"), "needs surgery"
        )
        assert read.version == 2

    def test_a_stale_transfer_update_is_refused(
        self, transfers: Transfers, uow_factory: UnitOfWorkFactory
    ) -> None:
        written = self._requested(transfers)
        with uow_factory() as uow:
            stale = uow.transfers.get(written.id)
        transfers.decline(ADMIN, written.id, "no surgeon")
        stale.cancel("changed our mind", by=UserId("root"), at=MONDAY)
        with pytest.raises(ConcurrencyError), uow_factory() as uow:
            uow.transfers.update(stale)
            uow.commit()

    def test_accepting_reserves_a_bed_and_cancelling_frees_it(
        self, transfers: Transfers, hospitals: Hospitals
    ) -> None:
        accepted = transfers.accept(ADMIN, self._requested(transfers).id, "w1")
        assert hospitals.beds(H2)[1].occupied == 1
        transfers.cancel(ADMIN, accepted.id, "patient recovered")
        assert hospitals.beds(H2)[1].occupied == 0
        with pytest.raises(IllegalStateChange):
            transfers.complete(ADMIN, accepted.id)

    def test_accepting_into_a_full_ward_is_refused_and_changes_nothing(
        self, transfers: Transfers, hospitals: Hospitals
    ) -> None:
        for _ in range(3):
            hospitals.admit(ADMIN, Admission(H2, "w1", BedType.GENERAL, PatientId("p2")))
        requested = self._requested(transfers)
        with pytest.raises(NoBedAvailable):
            transfers.accept(ADMIN, requested.id, "w1")
        assert transfers.get(ADMIN, requested.id).status is TransferStatus.REQUESTED

    def test_both_hospitals_administrators_see_it_and_nobody_else(
        self, transfers: Transfers, uow_factory: UnitOfWorkFactory, hospitals: Hospitals
    ) -> None:
        sender, receiver, stranger = (staff(uow_factory, key) for key in ("ha1", "ha2", "ha3"))
        hospitals.appoint_administrator(ADMIN, H1, sender.user_id)
        hospitals.appoint_administrator(ADMIN, H2, receiver.user_id)
        requested = transfers.request(sender, PatientId("p1"), H1, H2, BedType.GENERAL, "cardiac")
        with pytest.raises(NotFound):  # only the receiving hospital accepts
            transfers.accept(sender, requested.id, "w1")
        transfers.accept(receiver, requested.id, "w1")
        transfers.complete(receiver, requested.id)
        for actor, hospital_id in ((sender, H1), (receiver, H2)):
            assert [t.id for t in transfers.of_hospital(actor, hospital_id)] == [requested.id]
            assert transfers.get(actor, requested.id).status is TransferStatus.COMPLETED
        with pytest.raises(NotFound):
            transfers.get(stranger, requested.id)
        with pytest.raises(NotFound):
            transfers.of_hospital(stranger, H1)


class AffiliationContract:
    """Doctors affiliated with hospitals are stored with them and found by the doctor search
    (``DoctorQuery.among``) by hospital and by city."""

    def test_doctors_are_found_by_hospital_and_city(
        self, hospitals: Hospitals, uow_factory: UnitOfWorkFactory
    ) -> None:
        hospitals.affiliate(ADMIN, H1, DoctorId("d1"), "card")
        hospitals.affiliate(ADMIN, H2, DoctorId("d2"))
        hospitals.affiliate(ADMIN, H2, DoctorId("d1"), "gen")
        assert hospitals.get(H2).doctors == (
            Affiliation(DoctorId("d2")),
            Affiliation(DoctorId("d1"), "gen"),
        )
        with pytest.raises(InvalidValue):
            hospitals.affiliate(ADMIN, H1, DoctorId("d2"), "no-such-department")
        with pytest.raises(NotFound):
            hospitals.affiliate(ADMIN, H1, DoctorId("nobody"))

        def search(**where: object) -> list[str]:
            among = hospitals.doctors_at(**where)  # type: ignore[arg-type]
            with uow_factory() as uow:
                return [d.id.value for d in uow.doctors.search(DoctorQuery(among=among))]

        assert search(hospital_id=H1) == ["d1"]
        assert search(city="mumbai") == ["d1", "d2"]
        assert search(city="Delhi") == []
        with uow_factory() as uow:
            after = DoctorQuery(
                among=frozenset({DoctorId("d1"), DoctorId("d2")}), after=DoctorId("d1")
            )
            assert [d.id.value for d in uow.doctors.search(after)] == ["d2"]
