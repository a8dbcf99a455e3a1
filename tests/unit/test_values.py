"""Value objects: validation on construction, UTC normalisation, money arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.values import (
    MINOR_UNIT_EXPONENTS,
    Actor,
    AppointmentId,
    DoctorId,
    EmailAddress,
    Money,
    PatientId,
    Role,
    TimeRange,
    UserId,
    time_zone,
    utc,
)

NOON = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def span(start_hour: float, end_hour: float) -> TimeRange:
    """A range on the NOON day, in hours after midnight UTC."""
    midnight = NOON.replace(hour=0)
    return TimeRange(midnight + hours(start_hour), midnight + hours(end_hour))


class _NoOffset(tzinfo):
    """A tzinfo that knows no offset: the datetime is effectively naive."""

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


# -- TimeRange ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone",
    [
        ZoneInfo("Asia/Kolkata"),
        ZoneInfo("America/New_York"),
        ZoneInfo("Europe/London"),
        ZoneInfo("Pacific/Chatham"),
        timezone(timedelta(hours=-3, minutes=-30)),
        UTC,
    ],
    ids=str,
)
def test_time_range_normalises_any_aware_datetime_to_utc(zone: tzinfo) -> None:
    local_start = NOON.astimezone(zone)
    local_end = (NOON + hours(1)).astimezone(zone)

    written_locally = TimeRange(local_start, local_end)

    assert written_locally.start.tzinfo is UTC
    assert written_locally.end.tzinfo is UTC
    assert written_locally.start.utcoffset() == timedelta(0)
    assert written_locally.start == NOON
    assert written_locally == TimeRange(NOON, NOON + hours(1))
    # Equal ranges hash alike, whatever zone they were written in.
    assert hash(written_locally) == hash(TimeRange(NOON, NOON + hours(1)))


def test_time_range_conversion_keeps_the_instant_not_the_wall_clock() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")
    nine_in_kolkata = datetime(2026, 6, 1, 9, 0, tzinfo=kolkata)

    converted = TimeRange.starting_at(nine_in_kolkata, timedelta(minutes=30))

    offset = nine_in_kolkata.utcoffset()
    assert offset == timedelta(hours=5, minutes=30)
    assert converted.start == datetime(2026, 6, 1, 9, 0, tzinfo=UTC) - offset
    assert (converted.start.hour, converted.start.minute) == (3, 30)
    assert converted.duration == timedelta(minutes=30)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2026, 6, 1, 9), NOON),
        (NOON, datetime(2026, 6, 1, 13)),
        (datetime(2026, 6, 1, 9), datetime(2026, 6, 1, 10)),
        (datetime(2026, 6, 1, 9, tzinfo=_NoOffset()), NOON),
    ],
    ids=["naive-start", "naive-end", "both-naive", "tzinfo-without-offset"],
)
def test_time_range_refuses_naive_datetimes(start: datetime, end: datetime) -> None:
    with pytest.raises(InvalidValue, match="zone"):
        TimeRange(start, end)


def test_utc_refuses_what_is_not_a_datetime() -> None:
    with pytest.raises(InvalidValue):
        utc("2026-06-01T12:00:00Z")  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [timedelta(0), -timedelta(minutes=1)])
def test_time_range_must_end_after_it_starts(length: timedelta) -> None:
    with pytest.raises(InvalidValue):
        TimeRange(NOON, NOON + length)


def test_time_range_end_before_start_is_judged_on_instants_not_wall_clocks() -> None:
    # 12:30 in Kolkata is 07:00 UTC: before 12:00 UTC although its wall clock is later.
    with pytest.raises(InvalidValue):
        TimeRange(NOON, datetime(2026, 6, 1, 12, 30, tzinfo=ZoneInfo("Asia/Kolkata")))


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ((9, 10), (10, 11), False),  # touching: half-open
        ((10, 11), (9, 10), False),
        ((9, 10), (11, 12), False),
        ((9, 10.5), (10, 11), True),
        ((9, 12), (10, 11), True),  # containment
        ((10, 11), (9, 12), True),
        ((9, 10), (9, 10), True),  # identical
        ((9, 9 + 1 / 60), (9, 10), True),
    ],
)
def test_time_range_overlap_is_half_open_and_symmetric(
    first: tuple[float, float], second: tuple[float, float], overlap: bool
) -> None:
    a, b = span(*first), span(*second)
    assert a.overlaps(b) is overlap
    assert b.overlaps(a) is overlap


def test_touching_ranges_overlap_once_one_microsecond_longer() -> None:
    morning, afternoon = span(9, 10), span(10, 11)
    assert not morning.overlaps(afternoon)
    assert morning.extended(after=timedelta(microseconds=1)).overlaps(afternoon)


@pytest.mark.parametrize(
    ("outer", "inner", "contained"),
    [
        ((9, 12), (10, 11), True),
        ((9, 12), (9, 12), True),
        ((9, 12), (9, 10), True),
        ((9, 12), (11, 12), True),
        ((9, 12), (11, 13), False),
        ((9, 12), (8, 10), False),
        ((10, 11), (9, 12), False),
        ((9, 10), (10, 11), False),
    ],
)
def test_time_range_contains(
    outer: tuple[float, float], inner: tuple[float, float], contained: bool
) -> None:
    assert span(*outer).contains(span(*inner)) is contained


def test_contains_instant_is_half_open() -> None:
    morning = span(9, 10)
    assert morning.contains_instant(morning.start)
    assert morning.contains_instant(morning.end - timedelta(microseconds=1))
    assert not morning.contains_instant(morning.end)
    assert not morning.contains_instant(morning.start - timedelta(microseconds=1))


def test_contains_instant_accepts_any_zone_and_refuses_naive() -> None:
    morning = span(9, 10)
    half_past_nine_in_kolkata = (morning.start + timedelta(minutes=30)).astimezone(
        ZoneInfo("Asia/Kolkata")
    )
    assert morning.contains_instant(half_past_nine_in_kolkata)
    with pytest.raises(InvalidValue):
        morning.contains_instant(morning.start.replace(tzinfo=None))


@pytest.mark.parametrize(
    ("base", "hole", "expected"),
    [
        ((9, 12), (13, 14), [(9, 12)]),  # apart
        ((9, 12), (12, 13), [(9, 12)]),  # touching is not overlapping
        ((9, 12), (10, 11), [(9, 10), (11, 12)]),  # hole inside splits
        ((9, 12), (8, 10), [(10, 12)]),  # cuts the start
        ((9, 12), (11, 13), [(9, 11)]),  # cuts the end
        ((9, 12), (9, 12), []),  # exactly covered
        ((9, 12), (8, 13), []),  # covered
        ((9, 12), (9, 10), [(10, 12)]),  # shares the start
        ((9, 12), (11, 12), [(9, 11)]),  # shares the end
    ],
)
def test_minus(
    base: tuple[float, float], hole: tuple[float, float], expected: list[tuple[float, float]]
) -> None:
    parts = span(*base).minus(span(*hole))
    assert list(parts) == [span(*part) for part in expected]
    # What is left never overlaps the hole and always lies within the base.
    assert all(not part.overlaps(span(*hole)) for part in parts)
    assert all(span(*base).contains(part) for part in parts)


def test_extended_adds_only_to_the_end() -> None:
    visit = span(9, 9.5)
    blocked = visit.extended(after=timedelta(minutes=10))
    assert blocked.start == visit.start
    assert blocked.end == visit.end + timedelta(minutes=10)
    assert visit.extended(after=timedelta(0)) == visit
    # Frozen value: extending returns a new range and leaves the original alone.
    assert visit.duration == timedelta(minutes=30)


def test_extended_cannot_shrink_a_range_to_nothing() -> None:
    with pytest.raises(InvalidValue):
        span(9, 9.5).extended(after=-timedelta(minutes=30))


def test_shifted_to_keeps_the_length() -> None:
    visit = span(9, 10.5)
    moved = visit.shifted_to(NOON.astimezone(ZoneInfo("America/New_York")))
    assert moved.start == NOON
    assert moved.duration == visit.duration


def test_time_range_is_immutable() -> None:
    visit = span(9, 10)
    with pytest.raises(AttributeError):
        visit.start = NOON  # type: ignore[misc]


# -- Money -------------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [10.0, 10.5, 0.0, True, False, "100", None])
def test_money_takes_only_int_minor_units(amount: object) -> None:
    with pytest.raises(InvalidValue):
        Money(amount, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["usd", "US", "XYZ", "EURO", "", "€", None])
def test_money_refuses_unknown_currencies(currency: object) -> None:
    with pytest.raises(InvalidValue):
        Money(100, currency)  # type: ignore[arg-type]


def test_money_arithmetic_in_one_currency() -> None:
    fee, discount = Money(5000, "EUR"), Money(1250, "EUR")
    assert fee + discount == Money(6250, "EUR")
    assert fee - discount == Money(3750, "EUR")
    assert discount - fee == Money(-3750, "EUR")
    assert Money.zero("EUR").is_zero
    assert not fee.is_zero
    assert fee + Money.zero("EUR") == fee


@pytest.mark.parametrize("combine", [Money.__add__, Money.__sub__], ids=["add", "sub"])
def test_money_refuses_to_mix_currencies(combine: object) -> None:
    with pytest.raises(InvalidValue, match="EUR"):
        combine(Money(100, "USD"), Money(100, "EUR"))  # type: ignore[operator]


def test_equal_amounts_in_different_currencies_differ() -> None:
    assert Money(100, "USD") != Money(100, "EUR")
    assert Money(100, "USD") == Money(100, "USD")


@pytest.mark.parametrize(
    ("minor_units", "percent"),
    [(999, 50), (1001, 50), (1, 50), (333, 33), (5000, 100), (5000, 0), (7, 99)],
)
def test_share_rounds_down_to_a_whole_minor_unit(minor_units: int, percent: int) -> None:
    share = Money(minor_units, "USD").share(percent)
    exact = minor_units * percent / 100
    assert share.currency == "USD"
    assert isinstance(share.minor_units, int)
    assert share.minor_units <= exact < share.minor_units + 1


def test_share_never_gives_back_more_than_the_amount() -> None:
    assert Money(999, "USD").share(50) == Money(499, "USD")
    assert Money(999, "USD").share(100) == Money(999, "USD")


@pytest.mark.parametrize("percent", [-1, 101, 150])
def test_share_is_a_percentage_from_0_to_100(percent: int) -> None:
    with pytest.raises(InvalidValue):
        Money(1000, "USD").share(percent)


def test_minor_unit_exponents_of_well_known_currencies() -> None:
    # ISO 4217: yen have no minor unit, dollars and euros have cents, dinars have fils.
    assert MINOR_UNIT_EXPONENTS["JPY"] == 0
    assert MINOR_UNIT_EXPONENTS["USD"] == MINOR_UNIT_EXPONENTS["EUR"] == 2
    assert MINOR_UNIT_EXPONENTS["KWD"] == MINOR_UNIT_EXPONENTS["BHD"] == 3


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(0, "JPY"), "0 JPY"),
        (Money(1500, "JPY"), "1500 JPY"),
        (Money(-7, "JPY"), "-7 JPY"),
        (Money(0, "USD"), "0.00 USD"),
        (Money(5, "USD"), "0.05 USD"),
        (Money(1999, "USD"), "19.99 USD"),
        (Money(100000, "EUR"), "1000.00 EUR"),
        (Money(-5, "USD"), "-0.05 USD"),
        (Money(-1999, "GBP"), "-19.99 GBP"),
        (Money(0, "KWD"), "0.000 KWD"),
        (Money(5, "KWD"), "0.005 KWD"),
        (Money(12345, "KWD"), "12.345 KWD"),
        (Money(-1001, "BHD"), "-1.001 BHD"),
    ],
    ids=str,
)
def test_money_str_uses_the_currency_minor_unit(money: Money, text: str) -> None:
    assert str(money) == text


# -- EmailAddress ------------------------------------------------------------------------------


def test_email_lower_cases_the_domain_and_keeps_the_local_part() -> None:
    address = EmailAddress("  Grace.Hopper@Navy.MIL ")
    assert str(address) == "Grace.Hopper@navy.mil"
    assert address == EmailAddress("Grace.Hopper@navy.mil")
    # The local part may be case-sensitive on the receiving server: not folded.
    assert address != EmailAddress("grace.hopper@navy.mil")


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        "",
        "   ",
        "@example.com",
        "ada@",
        "ada@localhost",
        "ada@@example.com",
        "ada lovelace@example.com",
        "ada@exa mple.com",
        "ada@example..com",
        "ada@.example.com",
        "ada@example.com.",
        "a" * 65 + "@example.com",
        "ada@" + "d" * 250 + ".com",
    ],
)
def test_email_refuses_what_is_not_an_address(text: str) -> None:
    with pytest.raises(InvalidValue):
        EmailAddress(text)


def test_email_accepts_the_longest_local_part() -> None:
    assert str(EmailAddress("a" * 64 + "@example.com")).startswith("a" * 64)


def test_email_refuses_non_strings() -> None:
    with pytest.raises(InvalidValue):
        EmailAddress(None)  # type: ignore[arg-type]


# -- identifiers -------------------------------------------------------------------------------

IDENTIFIERS = [DoctorId, PatientId, AppointmentId, UserId]


@pytest.mark.parametrize("kind", IDENTIFIERS)
@pytest.mark.parametrize("value", ["", "   ", "\t\n", None, 42])
def test_identifiers_refuse_blank_or_non_string_values(kind: type, value: object) -> None:
    with pytest.raises(InvalidValue):
        kind(value)


@pytest.mark.parametrize("kind", IDENTIFIERS)
def test_identifiers_compare_by_value_and_print_their_value(kind: type) -> None:
    assert kind("abc-1") == kind("abc-1")
    assert kind("abc-1") != kind("abc-2")
    assert hash(kind("abc-1")) == hash(kind("abc-1"))
    assert str(kind("abc-1")) == "abc-1"
    assert sorted([kind("b"), kind("a")]) == [kind("a"), kind("b")]


def test_identifiers_of_different_kinds_are_never_equal() -> None:
    assert DoctorId("x") != PatientId("x")
    assert AppointmentId("x") != UserId("x")
    assert len({DoctorId("x"), PatientId("x"), AppointmentId("x"), UserId("x")}) == 4


# -- Actor -------------------------------------------------------------------------------------


def test_a_patient_actor_must_act_as_a_patient() -> None:
    with pytest.raises(InvalidValue):
        Actor(Role.PATIENT, UserId("u-1"))


def test_a_doctor_actor_must_act_as_a_doctor() -> None:
    with pytest.raises(InvalidValue):
        Actor(Role.DOCTOR, UserId("u-1"), patient_id=PatientId("p-1"))


@pytest.mark.parametrize(
    "contradiction",
    [
        {"role": Role.PATIENT, "patient_id": PatientId("p-1"), "doctor_id": DoctorId("d-1")},
        {"role": Role.DOCTOR, "patient_id": PatientId("p-1"), "doctor_id": DoctorId("d-1")},
        {"role": Role.ADMIN, "doctor_id": DoctorId("d-1")},
    ],
)
def test_an_actor_acts_as_one_profile_of_its_own_role(contradiction: dict[str, object]) -> None:
    with pytest.raises(InvalidValue):
        Actor(user_id=UserId("u-1"), **contradiction)  # type: ignore[arg-type]


def test_an_admin_needs_no_profile() -> None:
    admin = Actor.admin(UserId("root"))
    assert admin.role is Role.ADMIN
    assert admin.patient_id is None
    assert admin.doctor_id is None


def test_actor_shortcuts_default_the_user_to_the_profile_id() -> None:
    patient = Actor.patient(PatientId("p-1"))
    doctor = Actor.doctor(DoctorId("d-1"), UserId("account-9"))
    assert (patient.role, patient.patient_id, patient.user_id) == (
        Role.PATIENT,
        PatientId("p-1"),
        UserId("p-1"),
    )
    assert (doctor.role, doctor.doctor_id, doctor.user_id) == (
        Role.DOCTOR,
        DoctorId("d-1"),
        UserId("account-9"),
    )


# -- time zones --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["Mars/Olympus_Mons", "", "utc", "Europe/london", "../../etc/passwd", "/UTC"]
)
def test_time_zone_refuses_unknown_names_with_a_domain_error(name: str) -> None:
    with pytest.raises(InvalidValue, match="IANA"):
        time_zone(name)


@pytest.mark.parametrize("name", ["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"])
def test_time_zone_loads_iana_names(name: str) -> None:
    assert time_zone(name) == ZoneInfo(name)


def test_domain_errors_are_value_errors_for_generic_callers() -> None:
    with pytest.raises(ValueError, match="IANA"):
        time_zone("Nowhere/Special")
