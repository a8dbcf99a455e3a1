"""The in-memory login throttle: failures counted per key in a window, a lock-out after too
many, a success forgetting them. Time is a manual clock's, passed in by the caller."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from hellodoctor_adapters.memory import ManualClock
from hellodoctor_adapters.throttle import DEFAULT_RULES, InMemoryLoginThrottle, ThrottleRule

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
ACCOUNT = "account:ann@example.com"
OTHER_ACCOUNT = "account:ben@example.com"
ADDRESS = "address:203.0.113.7"
ACCOUNT_RULE = DEFAULT_RULES["account"]
ADDRESS_RULE = DEFAULT_RULES["address"]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def throttle() -> InMemoryLoginThrottle:
    return InMemoryLoginThrottle()


def fail(throttle: InMemoryLoginThrottle, clock: ManualClock, times: int, *keys: str) -> None:
    for _ in range(times):
        throttle.failed(list(keys), clock.now())


def test_the_default_rules_are_the_specified_ones() -> None:
    """Five failures lock an account for 15 minutes; an address may fail 20 times."""
    assert DEFAULT_RULES["account"] == ThrottleRule(5, timedelta(minutes=15), timedelta(minutes=15))
    assert DEFAULT_RULES["address"] == ThrottleRule(
        20, timedelta(minutes=15), timedelta(minutes=15)
    )


def test_a_key_with_no_failures_is_open(
    throttle: InMemoryLoginThrottle, clock: ManualClock
) -> None:
    assert throttle.blocked_for([ACCOUNT], clock.now()) is None
    assert throttle.blocked_for([], clock.now()) is None


def test_failures_below_the_limit_do_not_lock(
    throttle: InMemoryLoginThrottle, clock: ManualClock
) -> None:
    fail(throttle, clock, ACCOUNT_RULE.max_failures - 1, ACCOUNT)
    assert throttle.blocked_for([ACCOUNT], clock.now()) is None


def test_the_limit_locks_the_key_for_the_lockout(
    throttle: InMemoryLoginThrottle, clock: ManualClock
) -> None:
    fail(throttle, clock, ACCOUNT_RULE.max_failures, ACCOUNT)
    assert throttle.blocked_for([ACCOUNT], clock.now()) == ACCOUNT_RULE.lockout


def test_the_wait_shrinks_as_time_passes_and_the_lock_lifts(
    throttle: InMemoryLoginThrottle, clock: ManualClock
) -> None:
    fail(throttle, clock, ACCOUNT_RULE.max_failures, ACCOUNT)
    clock.advance(timedelta(minutes=10))
    assert throttle.blocked_for([ACCOUNT], clock.now()) == ACCOUNT_RULE.lockout - timedelta(
        minutes=10
    )
    clock.set(START + ACCOUNT_RULE.lockout - timedelta(microseconds=1))
    assert throttle.blocked_for([ACCOUNT], clock.now()) == timedelta(microseconds=1)
    clock.set(START + ACCOUNT_RULE.lockout)
    assert throttle.blocked_for([ACCOUNT], clock.now()) is None


def test_counting_starts_afresh_after_a_lockout(
    throttle: InMemoryLoginThrottle, clock: ManualClock
) -> None:
    fail(throttle, clock, ACCOUNT_RULE.max_failures, ACCOUNT)
    clock.advance(ACCOUNT_RULE.lockout)
    fail(throttle, clock, ACCOUNT_RULE.max_failures - 1, ACCOUNT)
    assert throttle.blocked_for([ACCOUNT], clock.now()) is None
    fail(throttle, clock, 1, ACCOUNT)
    assert throttle.blocked_for([ACCOUNT], clock.now()) == ACCOUNT_RULE.lockout


def test_a_lockout_shorter_than_the_window_still_starts_the_count_afresh(
    clock: ManualClock,
) -> None:
    rule = ThrottleRule(3, window=timedelta(hours=1), lockout=timedelta(minutes=1))
    throttle = InMemoryLoginThrottle({"account": rule})
    fail(throttle, clock, rule.max_failures, ACCOUNT)
    clock.advance(rule.lockout)
    assert throttle.blocked_for([ACCOUNT], clock.now()) is None

    fail(throttle, clock, rule.max_failures - 1, ACCOUNT)  # within the window of the first ones
    assert throttle.blocked_for([ACCOUNT], clock.now()) is None
    fail(throttle, clock, 1, ACCOUNT)
    assert throttle.blocked_for([ACCOUNT], clock.now()) == rule.lockout


def test_failures_older_than_the_window_are_forgotten(
    throttle: InMemoryLoginThrottle, clock: ManualClock
) -> None:
    fail(throttle, clock, ACCOUNT_RULE.max_failures - 1, ACCOUNT)
    clock.advance(ACCOUNT_RULE.window)
    fail(throttle, clock, 1, ACCOUNT)
    assert throttle.blocked_for([ACCOUNT], clock.now()) is None


def test_failures_within_the_window_add_up(
    throttle: InMemoryLoginThrottle, clock: ManualClock
) -> None:
    fail(throttle, clock, ACCOUNT_RULE.max_failures - 1, ACCOUNT)
    clock.advance(ACCOUNT_RULE.window - timedelta(seconds=1))
    fail(throttle, clock, 1, ACCOUNT)
    assert throttle.blocked_for([ACCOUNT], clock.now()) == ACCOUNT_RULE.lockout


def test_each_kind_of_key_has_its_own_rule(
    throttle: InMemoryLoginThrottle, clock: ManualClock
) -> None:
    fail(throttle, clock, ACCOUNT_RULE.max_failures, ACCOUNT, ADDRESS)
    assert throttle.blocked_for([ACCOUNT], clock.now()) == ACCOUNT_RULE.lockout
    assert throttle.blocked_for([ADDRESS], clock.now()) is None

    fail(throttle, clock, ADDRESS_RULE.max_failures - ACCOUNT_RULE.max_failures - 1, ADDRESS)
    assert throttle.blocked_for([ADDRESS], clock.now()) is None
    fail(throttle, clock, 1, ADDRESS)
    assert throttle.blocked_for([ADDRESS], clock.now()) == ADDRESS_RULE.lockout


def test_keys_are_counted_separately(throttle: InMemoryLoginThrottle, clock: ManualClock) -> None:
    fail(throttle, clock, ACCOUNT_RULE.max_failures - 1, ACCOUNT)
    fail(throttle, clock, ACCOUNT_RULE.max_failures - 1, OTHER_ACCOUNT)
    assert throttle.blocked_for([ACCOUNT, OTHER_ACCOUNT], clock.now()) is None


def test_the_longest_wait_among_the_keys_is_reported(
    throttle: InMemoryLoginThrottle, clock: ManualClock
) -> None:
    fail(throttle, clock, ACCOUNT_RULE.max_failures, ACCOUNT)
    clock.advance(timedelta(minutes=5))
    fail(throttle, clock, ACCOUNT_RULE.max_failures, OTHER_ACCOUNT)

    assert throttle.blocked_for([ACCOUNT], clock.now()) == ACCOUNT_RULE.lockout - timedelta(
        minutes=5
    )
    assert throttle.blocked_for([ACCOUNT, OTHER_ACCOUNT], clock.now()) == ACCOUNT_RULE.lockout
    assert throttle.blocked_for([ADDRESS, ACCOUNT], clock.now()) == (
        ACCOUNT_RULE.lockout - timedelta(minutes=5)
    )


def test_a_success_forgets_the_failures_and_lock_of_the_given_keys_only(
    throttle: InMemoryLoginThrottle, clock: ManualClock
) -> None:
    fail(throttle, clock, ACCOUNT_RULE.max_failures, ACCOUNT)
    fail(throttle, clock, ACCOUNT_RULE.max_failures, OTHER_ACCOUNT)
    fail(throttle, clock, ADDRESS_RULE.max_failures - 1, ADDRESS)

    throttle.succeeded([ACCOUNT])

    assert throttle.blocked_for([ACCOUNT], clock.now()) is None
    assert throttle.blocked_for([OTHER_ACCOUNT], clock.now()) == ACCOUNT_RULE.lockout
    fail(throttle, clock, 1, ADDRESS)  # the address's count was kept
    assert throttle.blocked_for([ADDRESS], clock.now()) == ADDRESS_RULE.lockout


def test_a_success_resets_the_count(throttle: InMemoryLoginThrottle, clock: ManualClock) -> None:
    fail(throttle, clock, ACCOUNT_RULE.max_failures - 1, ACCOUNT)
    throttle.succeeded([ACCOUNT])
    fail(throttle, clock, ACCOUNT_RULE.max_failures - 1, ACCOUNT)
    assert throttle.blocked_for([ACCOUNT], clock.now()) is None


def test_custom_rules(clock: ManualClock) -> None:
    rules = {
        "account": ThrottleRule(2, timedelta(minutes=1), timedelta(seconds=30)),
        "address": ThrottleRule(3, timedelta(minutes=1), timedelta(hours=1)),
    }
    throttle = InMemoryLoginThrottle(rules)
    fail(throttle, clock, 2, ACCOUNT)
    assert throttle.blocked_for([ACCOUNT], clock.now()) == timedelta(seconds=30)
    fail(throttle, clock, 3, ADDRESS)
    assert throttle.blocked_for([ADDRESS], clock.now()) == timedelta(hours=1)


@pytest.mark.parametrize("extra", [0, 1])
def test_concurrent_failures_are_all_counted(clock: ManualClock, extra: int) -> None:
    threads = 16
    throttle = InMemoryLoginThrottle(
        {"account": ThrottleRule(threads + extra, timedelta(minutes=1), timedelta(minutes=1))}
    )
    start = threading.Barrier(threads)

    def one_failure(_: int) -> None:
        start.wait()
        throttle.failed([ACCOUNT], clock.now())

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one_failure, range(threads)))

    wait = throttle.blocked_for([ACCOUNT], clock.now())
    assert wait == (timedelta(minutes=1) if extra == 0 else None)
