"""Demo data: four hospitals in four time zones, their doctors' hours, patients and a few
appointments, all made through the use cases, and four demo logins. Running it again adds
nothing (ids and addresses are fixed, and a patient who already has appointments gets no
more)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, time, timedelta

from attrs import define

from hellodoctor_domain import (
    Actor,
    AppointmentStatus,
    Availability,
    BookingRequest,
    Doctor,
    DoctorId,
    LocalWindow,
    Money,
    Patient,
    PatientId,
    Scheduling,
    TimeRange,
    UserId,
    Weekday,
    WorkingDay,
)
from hellodoctor_domain.errors import AlreadyExists, DomainError, NotFound
from hellodoctor_domain.model import hospitals as care
from hellodoctor_domain.model.accounts import Account, AccountStatus
from hellodoctor_domain.model.insurance import ClaimItem, ClaimStatus, Decision, Policy, Scheme
from hellodoctor_domain.model.values import (
    EmailAddress,
    HospitalId,
    PolicyId,
    Role,
    SchemeId,
    VisitKind,
)
from hellodoctor_domain.ports.runtime import Clock
from hellodoctor_domain.ports.security import PasswordHasher
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.hospitals import Admission, Hospitals
from hellodoctor_domain.use_cases.insurance import Insurance
from hellodoctor_domain.use_cases.transfers import Transfers

DEMO_ADMIN = UserId("demo-admin")
# Shared by every demo login and printed by `hellodoctor serve` in development: demo data only.
DEMO_PASSWORD = "demo-pass-2030"


@define(frozen=True)
class Hospital:
    key: str
    name: str
    zone: str
    currency: str
    fee_minor_units: int
    languages: tuple[str, ...]
    address: care.Address


HOSPITALS = (
    Hospital(
        "lon", "St Bartholomew's", "Europe/London", "GBP", 8000, ("en", "fr"),
        care.Address("West Smithfield", "London", "GB", 51.5175, -0.1000),
    ),
    Hospital(
        "nyc", "Mount Sinai West", "America/New_York", "USD", 0, ("en", "es"),
        care.Address("1000 10th Avenue", "New York", "US", 40.7699, -73.9866),
    ),
    Hospital(
        "syd", "Royal North Shore", "Australia/Sydney", "AUD", 9500, ("en", "zh"),
        care.Address("Reserve Road, St Leonards", "Sydney", "AU", -33.8218, 151.1910),
    ),
    Hospital(
        "bom", "Lilavati", "Asia/Kolkata", "INR", 150000, ("en", "hi", "mr"),
        care.Address("A-791, Bandra Reclamation", "Mumbai", "IN", 19.0510, 72.8290),
    ),
)  # fmt: skip
SPECIALTIES = ("General practice", "Cardiology", "Dermatology", "Paediatrics", "Neurology")
NAMES = ("Ada Okafor", "Luis Reyes", "Mei Tanaka", "Priya Nair", "Tom Becker")
PATIENT_NAMES = (
    "Grace Hopper",
    "Alan Turing",
    "Katherine Johnson",
    "Tim Berners-Lee",
    "Margaret Hamilton",
    "Edsger Dijkstra",
    "Barbara Liskov",
    "Donald Knuth",
    "Frances Allen",
    "John McCarthy",
    "Radia Perlman",
    "Ken Thompson",
)


def doctor_id(hospital: Hospital, index: int) -> DoctorId:
    return DoctorId(f"dr-{hospital.key}-{index + 1}")


def patient_id(index: int) -> PatientId:
    return PatientId(f"pat-{index + 1}")


@define(frozen=True)
class Step:
    label: str
    run: Callable[[], bool]  # True when it created something


def steps(
    scheduling: Scheduling, clock: Clock, hospitals: Hospitals | None = None
) -> Iterator[Step]:
    """Doctors, patients, the doctors' hours and appointments; with ``hospitals``, the
    hospitals are registered before the hours, which then name each doctor's hospital (so
    the appointments record it)."""
    admin = Actor.admin(DEMO_ADMIN)
    for hospital in HOSPITALS:
        for index, (name, specialty) in enumerate(zip(NAMES, SPECIALTIES, strict=True)):
            yield Step(
                f"doctor {doctor_id(hospital, index)}",
                _doctor(scheduling, admin, hospital, index, name, specialty),
            )
    for index, name in enumerate(PATIENT_NAMES):
        yield Step(f"patient {patient_id(index)}", _patient(scheduling, index, name))
    if hospitals is not None:
        for hospital in HOSPITALS:
            yield Step(f"hospital {hospital_id(hospital)}", _hospital(hospitals, admin, hospital))
    for hospital in HOSPITALS:
        site = None if hospitals is None else hospital_id(hospital)
        for index in range(len(NAMES)):
            yield Step(
                f"hours of {doctor_id(hospital, index)}",
                _hours(scheduling, admin, hospital, index, site),
            )
    for index in range(len(PATIENT_NAMES)):
        yield Step(f"appointments of {patient_id(index)}", _book(scheduling, clock, index))


def _doctor(
    scheduling: Scheduling,
    admin: Actor,
    hospital: Hospital,
    index: int,
    name: str,
    specialty: str,
) -> Callable[[], bool]:
    def run() -> bool:
        key = doctor_id(hospital, index)
        created = True
        try:
            scheduling.register_doctor(
                admin,
                Doctor(
                    key,
                    f"Dr {name}",
                    specialty,
                    f"REG-{key.value.upper()}",
                    Money(hospital.fee_minor_units if index % 2 == 0 else 0, hospital.currency),
                    hospital.zone,
                    qualifications=("MBBS",),
                    languages=hospital.languages[: 1 + index % len(hospital.languages)],
                    email=demo_email(key.value, doctor=key),
                ),
            )
        except AlreadyExists:
            created = False
        return created

    return run


def _hours(
    scheduling: Scheduling,
    admin: Actor,
    hospital: Hospital,
    index: int,
    site: HospitalId | None,
) -> Callable[[], bool]:
    """Weekdays 08:00 or 09:00 to 17:00 with a lunch break, at ``site``."""

    def run() -> bool:
        key = doctor_id(hospital, index)
        try:
            scheduling.availability(key)
            return False
        except NotFound:
            opens = time(8 + index % 2)
            scheduling.define_availability(
                admin,
                Availability(
                    key,
                    hospital.zone,
                    [
                        WorkingDay(
                            day,
                            [LocalWindow(opens, time(17))],
                            breaks=[LocalWindow(time(12), time(13))],
                            hospital_id=site,
                        )
                        for day in (
                            Weekday.MONDAY,
                            Weekday.TUESDAY,
                            Weekday.WEDNESDAY,
                            Weekday.THURSDAY,
                            Weekday.FRIDAY,
                        )
                    ],
                    slot_length=timedelta(minutes=30 if index % 3 else 20),
                    buffer=timedelta(minutes=10 if index % 2 else 0),
                    minimum_notice=timedelta(hours=2),
                ),
            )
            return True

    return run


def _patient(scheduling: Scheduling, index: int, name: str) -> Callable[[], bool]:
    def run() -> bool:
        try:
            key = patient_id(index)
            # A health ID and blood group, so break-glass and the emergency card can be tried.
            groups = ("O+", "A-", "B+", "AB-")
            scheduling.register_patient(
                Patient(
                    key,
                    name,
                    email=demo_email(key.value, patient=key),
                    health_id=f"DEMO-HID-{index:04d}",
                    blood_group=groups[index % len(groups)],
                )
            )
        except AlreadyExists:
            return False
        return True

    return run


def _book(scheduling: Scheduling, clock: Clock, index: int) -> Callable[[], bool]:
    """Two appointments for most patients, with doctors of two hospitals, in the coming
    fortnight; a paid one is confirmed as if the payment went through."""

    def run() -> bool:
        key = patient_id(index)
        patient = Actor.patient(key)
        if scheduling.patient_appointments(patient, key):
            return False
        now = clock.now()
        made = False
        for turn in range(2 if index % 4 else 1):
            hospital = HOSPITALS[(index + turn) % len(HOSPITALS)]
            doctor = doctor_id(hospital, (index + 2 * turn) % len(NAMES))
            window = TimeRange(now + timedelta(days=1 + turn), now + timedelta(days=15))
            slots = scheduling.free_slots(doctor, window)
            # Spread patients over the calendar instead of all taking the first slot.
            for slot in slots[index * 3 :: 7]:
                try:
                    booked = scheduling.book(
                        patient,
                        BookingRequest(
                            doctor_id=doctor,
                            patient_id=key,
                            start=slot.time.start,
                            reason="demo visit",
                        ),
                    )
                except DomainError:
                    continue  # taken, or the patient is busy then: try the next one
                if booked.status is AppointmentStatus.HELD:
                    scheduling.confirm(booked.id)
                made = True
                break
        return made

    return run


def demo_email(
    key: str, *, doctor: DoctorId | None = None, patient: PatientId | None = None
) -> EmailAddress:
    """A demo profile's address: its demo login's when it has one (so the login's
    notification preferences apply to its mails), else ``{id}@hellodoctor.example``. Every
    demo mail lands in the Maildir (``var/mail``) unless SMTP is configured."""
    for login in DEMO_LOGINS:
        if (doctor is not None and login.doctor == doctor) or (
            patient is not None and login.patient == patient
        ):
            return EmailAddress(login.email)
    return EmailAddress(f"{key}@hellodoctor.example")


@define(frozen=True)
class DemoLogin:
    email: str
    role: Role
    user_id: UserId
    patient: PatientId | None = None
    doctor: DoctorId | None = None

    @property
    def profile(self) -> str:
        return str(self.patient or self.doctor or "")


DEMO_LOGINS = (
    DemoLogin("admin@hellodoctor.example", Role.ADMIN, DEMO_ADMIN),
    DemoLogin(
        "doctor@hellodoctor.example",
        Role.DOCTOR,
        UserId("demo-doctor"),
        doctor=doctor_id(HOSPITALS[0], 0),
    ),
    DemoLogin(
        "grace@hellodoctor.example", Role.PATIENT, UserId("demo-grace"), patient=patient_id(0)
    ),
    DemoLogin("alan@hellodoctor.example", Role.PATIENT, UserId("demo-alan"), patient=patient_id(1)),
    DemoLogin("hospital@hellodoctor.example", Role.HOSPITAL_ADMIN, UserId("demo-hospital-admin")),
    DemoLogin("insurer@hellodoctor.example", Role.INSURER, UserId("demo-insurer")),
    DemoLogin("desk@hellodoctor.example", Role.RECEPTIONIST, UserId("demo-receptionist")),
)


def login_steps(uow: UnitOfWorkFactory, hasher: PasswordHasher, clock: Clock) -> Iterator[Step]:
    """Active accounts for the demo admin, a doctor and two patients who already have
    appointments. Written straight to storage: the sign-up flows would e-mail codes and links
    and make fresh profiles, and the demo wants these existing ones signed in at once."""
    for login in DEMO_LOGINS:
        yield Step(f"login {login.email}", _login(uow, hasher, clock, login))


def _login(
    uow_factory: UnitOfWorkFactory, hasher: PasswordHasher, clock: Clock, login: DemoLogin
) -> Callable[[], bool]:
    def run() -> bool:
        email = EmailAddress(login.email)
        with uow_factory() as uow:
            if uow.accounts.by_email(email) is not None:
                return False
        account = Account(
            login.user_id,
            email,
            login.role,
            AccountStatus.ACTIVE,
            clock.now(),
            password_hash=hasher.hash(DEMO_PASSWORD),
            patient_id=login.patient,
            doctor_id=login.doctor,
        )
        with uow_factory() as uow:
            try:
                uow.accounts.add(account)
                uow.commit()
            except AlreadyExists:
                return False
        return True

    return run


def demo_logins_present(uow_factory: UnitOfWorkFactory) -> bool:
    with uow_factory() as uow:
        return all(uow.accounts.by_email(EmailAddress(login.email)) for login in DEMO_LOGINS)


def hospital_id(hospital: Hospital) -> HospitalId:
    return HospitalId(f"hosp-{hospital.key}")


def hospital_steps(hospitals: Hospitals, transfers: Transfers) -> Iterator[Step]:
    """The four hospitals with a department per specialty (headed by its doctor there), a
    general ward and an ICU, a few admissions, and the demo hospital administrator appointed
    at the first. After ``login_steps``: the administrator's account must exist."""
    admin = Actor.admin(DEMO_ADMIN)
    for hospital in HOSPITALS:
        yield Step(f"hospital {hospital_id(hospital)}", _hospital(hospitals, admin, hospital))
    yield Step(
        "hospital administrator",
        lambda: _appointed(
            hospitals, admin, hospital_id(HOSPITALS[0]), UserId("demo-hospital-admin")
        ),
    )
    yield Step(
        "receptionist",
        lambda: _desk(hospitals, admin, hospital_id(HOSPITALS[0]), UserId("demo-receptionist")),
    )
    yield Step("transfers", lambda: _transfers(transfers, admin))


def _transfers(transfers: Transfers, admin: Actor) -> bool:
    """One transfer accepted (a bed reserved) and one waiting, out of the first hospital."""
    first, second, third = (hospital_id(h) for h in HOSPITALS[:3])
    if transfers.of_hospital(admin, first):
        return False
    accepted = transfers.request(
        admin, patient_id(3), first, second, care.BedType.ICU, "cardiac surgery"
    )
    transfers.accept(admin, accepted.id, "icu")
    transfers.request(admin, patient_id(4), first, third, care.BedType.GENERAL, "closer to family")
    return True


def _hospital(hospitals: Hospitals, admin: Actor, hospital: Hospital) -> Callable[[], bool]:
    def run() -> bool:
        key = hospital_id(hospital)
        try:
            hospitals.get(key)
            return False
        except NotFound:
            pass
        departments = tuple(
            care.Department(f"dep-{index + 1}", specialty, doctor_id(hospital, index))
            for index, specialty in enumerate(SPECIALTIES)
        )
        wards = (
            care.Ward(
                "general", "General ward", (care.WardBeds(care.BedType.GENERAL, 24),), "dep-1"
            ),
            care.Ward("icu", "Intensive care", (care.WardBeds(care.BedType.ICU, 6),), "dep-2"),
        )
        hospitals.register(
            admin,
            care.Hospital(
                key,
                name=hospital.name,
                registration_number=f"HOSP-{hospital.key.upper()}",
                address=hospital.address,
                phone="+1 555 0100",
                facilities=("pharmacy", "radiology", "laboratory"),
                departments=departments,
                wards=wards,
                doctors=tuple(
                    care.Affiliation(doctor_id(hospital, index), f"dep-{index + 1}")
                    for index in range(len(SPECIALTIES))
                ),
            ),
        )
        for index in range(3):
            ward, bed_type = (
                ("icu", care.BedType.ICU) if index == 0 else ("general", care.BedType.GENERAL)
            )
            hospitals.admit(admin, Admission(key, ward, bed_type, patient_id(index)))
        return True

    return run


def _appointed(hospitals: Hospitals, admin: Actor, key: HospitalId, user: UserId) -> bool:
    if user in hospitals.get(key).administrators:
        return False
    hospitals.appoint_administrator(admin, key, user)
    return True


def _desk(hospitals: Hospitals, admin: Actor, key: HospitalId, user: UserId) -> bool:
    if user in hospitals.get(key).receptionists:
        return False
    hospitals.appoint_receptionist(admin, key, user)
    return True


DEMO_SCHEME = SchemeId("sch-acme")


def insurance_steps(insurance: Insurance, clock: Clock) -> Iterator[Step]:
    """One insurer's scheme (in rupees, at the Mumbai hospital), policies for six patients,
    and a claim for a stay there in each state. After ``login_steps`` and ``hospital_steps``."""
    yield Step("insurance", lambda: _insurance(insurance, clock))


def _insurance(insurance: Insurance, clock: Clock) -> bool:
    admin = Actor.admin(DEMO_ADMIN)
    if any(scheme.id == DEMO_SCHEME for scheme in insurance.schemes()):
        return False
    limit = Money(5_000_000, "INR")
    insurance.create_scheme(
        admin,
        Scheme(
            DEMO_SCHEME,
            "Acme Mutual",
            "Acme Care",
            (VisitKind.REGULAR, VisitKind.FOLLOW_UP),
            20,
            limit,
        ),
    )
    insurance.appoint_insurer(admin, DEMO_SCHEME, UserId("demo-insurer"))
    year = clock.now().year
    hospital = hospital_id(HOSPITALS[3])
    for index, status in enumerate(ClaimStatus):
        policy = insurance.add_policy(
            admin,
            Policy(
                PolicyId(f"pol-demo-{index + 1}"),
                patient_id(index),
                DEMO_SCHEME,
                f"ACME-{1000 + index}",
                date(year, 1, 1),
                date(year, 12, 31),
            ),
        )
        items = (
            ClaimItem("ward stay, 2 nights", ("I20.0",), Money(1_200_000, "INR")),
            ClaimItem("ECG", ("I20.0",), Money(150_000, "INR")),
        )
        claim = insurance.claim_stay(admin, hospital, policy.id, items)
        if status is ClaimStatus.SUBMITTED:
            continue
        insurance.review(admin, claim.id)
        decisions = {
            ClaimStatus.APPROVED: [Decision(i.claimed) for i in items],
            ClaimStatus.PAID: [Decision(i.claimed) for i in items],
            ClaimStatus.PARTIALLY_APPROVED: [
                Decision(items[0].claimed),
                Decision(Money(100_000, "INR"), "above the scheme's tariff"),
            ],
            ClaimStatus.REJECTED: [Decision(Money(0, "INR"), "not covered") for _ in items],
        }.get(status)
        if decisions is None:
            continue
        reason = "elective stay: not covered" if status is ClaimStatus.REJECTED else ""
        insurance.adjudicate(admin, claim.id, decisions, reason)
        if status is ClaimStatus.PAID:
            insurance.pay(admin, claim.id)
    return True
