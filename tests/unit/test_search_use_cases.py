"""The doctor directory (``find_doctors``) and appointment lists (``list_appointments``): filters,
case-insensitivity, keyset pagination, page-size bounds and who may see what. Over the
in-memory adapters and a manual clock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

import pytest
from attrs import evolve

from hellodoctor_adapters.memory import (
    InMemoryStore,
    InMemoryUnitOfWorkFactory,
    ManualClock,
    SequentialIds,
)
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus
from hellodoctor_domain.model.availability import Availability, LocalWindow, Weekday, WorkingDay
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.values import Actor, DoctorId, Money, PatientId, UserId
from hellodoctor_domain.ports.scheduling import AppointmentQuery, DoctorQuery
from hellodoctor_domain.use_cases.scheduling import BookingRequest, Scheduling

T = TypeVar("T")
NOW = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)  # a Monday
ADMIN = Actor.admin(UserId("admin"))

# -- the doctor directory ------------------------------------------------------------------

# id, name, specialty, languages, accepting bookings
DIRECTORY = [
    ("dr-01", "Ana Silva", "Cardiology", ("Portuguese", "English"), True),
    ("dr-02", "Bruno Costa", "cardiology", ("Portuguese",), False),
    ("dr-03", "Chloé Martin", "Dermatology", ("French", "English"), True),
    ("dr-04", "David Okafor", "General Practice", ("English", "Igbo"), True),
    ("dr-05", "Eva Novak", "Paediatrics", ("Czech", "English"), False),
    ("dr-06", "Farid Haddad", "Cardiology", ("Arabic", "French"), True),
    ("dr-07", "Grace Lee", "Dermatology", ("Korean", "English"), True),
]
ALL_DOCTORS = [DoctorId(row[0]) for row in DIRECTORY]


def directory() -> Scheduling:
    scheduling = Scheduling(
        InMemoryUnitOfWorkFactory(), ManualClock(NOW), SequentialIds("apt"), OfflinePaymentGateway()
    )
    # Registered out of order: the directory's order is the ids', not the insertion's.
    for doctor_id, name, specialty, languages, accepting in reversed(DIRECTORY):
        scheduling.register_doctor(ADMIN, _doctor(doctor_id, name, specialty, languages, accepting))
    return scheduling


def _doctor(
    doctor_id: str,
    name: str,
    specialty: str = "General Practice",
    languages: tuple[str, ...] = ("English",),
    accepting: bool = True,
) -> Doctor:
    return Doctor(
        DoctorId(doctor_id),
        name,
        specialty,
        f"REG-{doctor_id}",
        Money(5000, "EUR"),
        "UTC",
        languages=languages,
        accepting_bookings=accepting,
    )


def ids(doctors: Sequence[Doctor]) -> list[DoctorId]:
    return [doctor.id for doctor in doctors]


def walk(fetch: Callable[[T | None], list[T]]) -> list[list[T]]:
    """Every page: ``fetch`` gets the last item seen (``None`` at first) to make its cursor
    from, until a page comes back empty (a full last page is followed by an empty one)."""
    pages: list[list[T]] = []
    cursor: T | None = None
    while True:
        page = fetch(cursor)
        if not page:
            return pages
        pages.append(page)
        cursor = page[-1]
        assert len(pages) <= 100, "the walk does not end"


@pytest.fixture(scope="module")
def doctors() -> Scheduling:
    return directory()


def test_without_filters_every_doctor_in_id_order(doctors: Scheduling) -> None:
    assert ids(doctors.find_doctors(DoctorQuery())) == ALL_DOCTORS


@pytest.mark.parametrize("specialty", ["cardiology", "CARDIOLOGY", "Cardiology"])
def test_specialty_matches_whole_and_ignores_case(doctors: Scheduling, specialty: str) -> None:
    found = doctors.find_doctors(DoctorQuery(specialty=specialty))
    assert ids(found) == [DoctorId("dr-01"), DoctorId("dr-02"), DoctorId("dr-06")]


def test_specialty_is_not_a_substring_search(doctors: Scheduling) -> None:
    assert doctors.find_doctors(DoctorQuery(specialty="cardio")) == []


@pytest.mark.parametrize("language", ["french", "FRENCH"])
def test_language_is_one_of_the_doctors_and_ignores_case(
    doctors: Scheduling, language: str
) -> None:
    found = doctors.find_doctors(DoctorQuery(language=language))
    assert ids(found) == [DoctorId("dr-03"), DoctorId("dr-06")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("silva", ["dr-01"]),  # part of a name
        ("CHLOÉ", ["dr-03"]),  # non-ASCII, other case
        ("derma", ["dr-03", "dr-07"]),  # part of a specialty
        ("lee", ["dr-07"]),
        ("nobody", []),
    ],
)
def test_text_searches_names_and_specialties(
    doctors: Scheduling, text: str, expected: list[str]
) -> None:
    assert ids(doctors.find_doctors(DoctorQuery(text=text))) == [DoctorId(e) for e in expected]


@pytest.mark.parametrize("accepting", [True, False])
def test_accepting_bookings(doctors: Scheduling, accepting: bool) -> None:
    expected = [DoctorId(row[0]) for row in DIRECTORY if row[4] is accepting]
    found = doctors.find_doctors(DoctorQuery(accepting_bookings=accepting))
    assert ids(found) == expected
    assert all(doctor.accepting_bookings is accepting for doctor in found)


def test_filters_combine(doctors: Scheduling) -> None:
    query = DoctorQuery(specialty="cardiology", language="english", accepting_bookings=True)
    assert ids(doctors.find_doctors(query)) == [DoctorId("dr-01")]
    query = DoctorQuery(specialty="cardiology", language="portuguese", accepting_bookings=False)
    assert ids(doctors.find_doctors(query)) == [DoctorId("dr-02")]


@pytest.mark.parametrize("limit", [1, 2, 3, len(DIRECTORY), 100])
def test_pages_walk_every_doctor_exactly_once(doctors: Scheduling, limit: int) -> None:
    pages = walk(
        lambda last: doctors.find_doctors(
            DoctorQuery(limit=limit, after=None if last is None else last.id)
        ),
    )
    assert all(len(page) <= limit for page in pages)
    assert all(len(page) == limit for page in pages[:-1])
    assert [doctor.id for page in pages for doctor in page] == ALL_DOCTORS


def test_pages_of_a_filtered_search(doctors: Scheduling) -> None:
    query = DoctorQuery(language="english", limit=2)
    pages = walk(
        lambda last: doctors.find_doctors(evolve(query, after=None if last is None else last.id)),
    )
    walked = [doctor.id for page in pages for doctor in page]
    assert walked == ids(doctors.find_doctors(evolve(query, limit=100)))
    assert len(walked) == sum("English" in row[3] for row in DIRECTORY)


def test_the_cursor_holds_while_doctors_are_added() -> None:
    scheduling = directory()
    first = scheduling.find_doctors(DoctorQuery(limit=3))
    scheduling.register_doctor(ADMIN, _doctor("dr-00", "Early Bird"))  # before the cursor
    scheduling.register_doctor(ADMIN, _doctor("dr-99", "Late Comer"))  # after it

    rest = scheduling.find_doctors(DoctorQuery(limit=100, after=first[-1].id))

    assert ids(first) == ALL_DOCTORS[:3]
    assert ids(rest) == [*ALL_DOCTORS[3:], DoctorId("dr-99")]


# 100 a page, and the one more row the API asks for to tell whether another page follows.
@pytest.mark.parametrize("limit", [0, -1, 102])
def test_page_size_out_of_bounds_is_refused(doctors: Scheduling, limit: int) -> None:
    with pytest.raises(InvalidValue):
        doctors.find_doctors(DoctorQuery(limit=limit))


def test_page_size_bounds_are_inclusive(doctors: Scheduling) -> None:
    assert len(doctors.find_doctors(DoctorQuery(limit=1))) == 1
    assert len(doctors.find_doctors(DoctorQuery(limit=100))) == len(DIRECTORY)


# -- appointment lists ---------------------------------------------------------------------

FREE = DoctorId("dr-free")  # books at once
PAID = DoctorId("dr-paid")  # holds until paid
ALICE, BOB, CAROL = PatientId("pat-alice"), PatientId("pat-bob"), PatientId("pat-carol")
AS_ALICE = Actor.patient(ALICE, UserId("user-alice"))
AS_BOB = Actor.patient(BOB, UserId("user-bob"))
AS_CAROL = Actor.patient(CAROL, UserId("user-carol"))
AS_FREE = Actor.doctor(FREE, UserId("user-free"))
AS_PAID = Actor.doctor(PAID, UserId("user-paid"))
TUESDAY = date(2026, 6, 2)


def at(clock: str, day: int = 0) -> datetime:
    return datetime.combine(TUESDAY + timedelta(days=day), time.fromisoformat(clock), tzinfo=UTC)


class Calendar:
    """Two doctors, three patients and a handful of appointments, two of them at the same
    moment (so that pages must break ties by id)."""

    def __init__(self) -> None:
        self.store = InMemoryStore()
        self.scheduling = Scheduling(
            InMemoryUnitOfWorkFactory(self.store),
            ManualClock(NOW),
            SequentialIds("apt"),
            OfflinePaymentGateway(),
        )
        hours = [WorkingDay(day, [LocalWindow(time(9), time(17))]) for day in list(Weekday)[:5]]
        for doctor_id, fee in ((FREE, Money.zero("EUR")), (PAID, Money(6000, "EUR"))):
            self.scheduling.register_doctor(
                ADMIN, Doctor(doctor_id, f"Dr {doctor_id}", "GP", f"REG-{doctor_id}", fee, "UTC")
            )
            self.scheduling.define_availability(ADMIN, Availability(doctor_id, "UTC", hours))
        for patient_id in (ALICE, BOB, CAROL):
            self.scheduling.register_patient(Patient(patient_id, f"Patient {patient_id}"))
        for actor, doctor_id, start in [
            (AS_ALICE, FREE, at("10:00")),
            (AS_BOB, PAID, at("10:00")),  # same moment as Alice's
            (AS_ALICE, PAID, at("11:00")),
            (AS_CAROL, FREE, at("14:00")),
            (AS_BOB, FREE, at("09:00", day=1)),
            (AS_ALICE, FREE, at("10:00", day=1)),
            (AS_CAROL, PAID, at("15:00", day=1)),
        ]:
            assert actor.patient_id is not None
            self.scheduling.book(
                actor, BookingRequest(doctor_id=doctor_id, patient_id=actor.patient_id, start=start)
            )
        carols = [a for a in self.all() if a.patient_id == CAROL]
        self.scheduling.cancel(AS_CAROL, carols[0].id, "better now")

    def all(self) -> list[Appointment]:
        """The oracle: everything stored, in the lists' order."""
        return sorted(self.store.appointments.values(), key=lambda a: (a.time.start, a.id))

    def list(self, actor: Actor, **filters: object) -> list[Appointment]:
        return self.scheduling.list_appointments(actor, AppointmentQuery(**filters))  # type: ignore[arg-type]


def keys(appointments: Sequence[Appointment]) -> list[object]:
    return [(a.time.start, a.id) for a in appointments]


@pytest.fixture(scope="module")
def calendar() -> Calendar:
    return Calendar()


def test_the_calendar_has_what_the_tests_rely_on(calendar: Calendar) -> None:
    everything = calendar.all()
    assert len(everything) == 7
    assert len({a.time.start for a in everything}) < len(everything)  # a tie to break
    assert {a.status for a in everything} >= {
        AppointmentStatus.BOOKED,
        AppointmentStatus.HELD,
        AppointmentStatus.CANCELLED,
    }


@pytest.mark.parametrize(("actor", "patient"), [(AS_ALICE, ALICE), (AS_BOB, BOB)])
def test_a_patient_sees_only_their_own(
    calendar: Calendar, actor: Actor, patient: PatientId
) -> None:
    found = calendar.list(actor)
    assert keys(found) == keys([a for a in calendar.all() if a.patient_id == patient])
    assert found


def test_a_patient_naming_someone_else_finds_nothing(calendar: Calendar) -> None:
    assert calendar.list(AS_ALICE, patient_id=BOB) == []


def test_a_patient_naming_themself_finds_their_own(calendar: Calendar) -> None:
    assert keys(calendar.list(AS_ALICE, patient_id=ALICE)) == keys(calendar.list(AS_ALICE))


def test_a_patient_may_filter_by_doctor_within_their_own(calendar: Calendar) -> None:
    found = calendar.list(AS_ALICE, doctor_id=PAID)
    expected = [a for a in calendar.all() if a.patient_id == ALICE and a.doctor_id == PAID]
    assert keys(found) == keys(expected)
    assert found


@pytest.mark.parametrize(("actor", "doctor"), [(AS_FREE, FREE), (AS_PAID, PAID)])
def test_a_doctor_sees_their_calendar(calendar: Calendar, actor: Actor, doctor: DoctorId) -> None:
    found = calendar.list(actor)
    assert keys(found) == keys([a for a in calendar.all() if a.doctor_id == doctor])
    assert found


def test_a_doctor_naming_another_doctor_finds_nothing(calendar: Calendar) -> None:
    assert calendar.list(AS_FREE, doctor_id=PAID) == []


def test_a_doctor_filtering_by_patient_stays_in_their_calendar(calendar: Calendar) -> None:
    found = calendar.list(AS_FREE, patient_id=ALICE)
    expected = [a for a in calendar.all() if a.doctor_id == FREE and a.patient_id == ALICE]
    assert keys(found) == keys(expected)
    assert calendar.list(AS_PAID, patient_id=BOB)  # Bob does see Dr Paid
    assert all(a.doctor_id == PAID for a in calendar.list(AS_PAID, patient_id=BOB))


def test_an_admin_sees_everything_and_may_filter(calendar: Calendar) -> None:
    assert keys(calendar.list(ADMIN)) == keys(calendar.all())
    assert keys(calendar.list(ADMIN, patient_id=BOB)) == keys(
        [a for a in calendar.all() if a.patient_id == BOB]
    )
    assert keys(calendar.list(ADMIN, doctor_id=PAID, patient_id=ALICE)) == keys(
        [a for a in calendar.all() if a.doctor_id == PAID and a.patient_id == ALICE]
    )


@pytest.mark.parametrize(
    "statuses",
    [
        frozenset({AppointmentStatus.CANCELLED}),
        frozenset({AppointmentStatus.HELD}),
        frozenset({AppointmentStatus.BOOKED, AppointmentStatus.HELD}),
    ],
)
def test_status_filter(calendar: Calendar, statuses: frozenset[AppointmentStatus]) -> None:
    found = calendar.list(ADMIN, statuses=statuses)
    assert keys(found) == keys([a for a in calendar.all() if a.status in statuses])
    assert found


def test_a_patient_status_filter_stays_within_their_own(calendar: Calendar) -> None:
    cancelled = frozenset({AppointmentStatus.CANCELLED})
    assert calendar.list(AS_ALICE, statuses=cancelled) == []
    assert [a.patient_id for a in calendar.list(AS_CAROL, statuses=cancelled)] == [CAROL]


def test_time_filters_are_half_open(calendar: Calendar) -> None:
    found = calendar.list(ADMIN, starts_from=at("10:00"), starts_before=at("09:00", day=1))
    expected = [a for a in calendar.all() if at("10:00") <= a.time.start < at("09:00", day=1)]
    assert keys(found) == keys(expected)
    assert {a.time.start for a in found} == {at("10:00"), at("11:00"), at("14:00")}


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 200])
def test_pages_walk_every_appointment_exactly_once(calendar: Calendar, limit: int) -> None:
    pages = walk(
        lambda last: calendar.list(
            ADMIN, limit=limit, after=None if last is None else (last.time.start, last.id)
        ),
    )
    walked = [a for page in pages for a in page]
    assert all(len(page) == limit for page in pages[:-1])
    assert keys(walked) == keys(calendar.all())


def test_a_patients_pages_stay_within_their_own(calendar: Calendar) -> None:
    pages = walk(
        lambda last: calendar.list(
            AS_ALICE, limit=1, after=None if last is None else (last.time.start, last.id)
        ),
    )
    walked = [a for page in pages for a in page]
    assert keys(walked) == keys([a for a in calendar.all() if a.patient_id == ALICE])


def test_a_cursor_from_someone_elses_appointment_reveals_nothing_else(calendar: Calendar) -> None:
    bobs_first = next(a for a in calendar.all() if a.patient_id == BOB)
    found = calendar.list(AS_ALICE, after=(bobs_first.time.start, bobs_first.id))
    assert all(a.patient_id == ALICE for a in found)
    assert keys(found) == keys(
        [
            a
            for a in calendar.all()
            if a.patient_id == ALICE
            and (a.time.start, a.id) > (bobs_first.time.start, bobs_first.id)
        ]
    )


@pytest.mark.parametrize("limit", [0, -5, 202])  # 200 a page, and one more
def test_appointment_page_size_out_of_bounds_is_refused(calendar: Calendar, limit: int) -> None:
    with pytest.raises(InvalidValue):
        calendar.list(ADMIN, limit=limit)


def test_appointment_page_size_bounds_are_inclusive(calendar: Calendar) -> None:
    assert len(calendar.list(ADMIN, limit=1)) == 1
    assert len(calendar.list(ADMIN, limit=200)) == len(calendar.all())
