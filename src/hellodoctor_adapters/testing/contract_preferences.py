"""The notification preferences and calendar feed contract: preferences round-trip and are
compare-and-set (of two first saves, or two saves of one version, exactly one wins); a feed is
found by its digest only while it is the account's current one (regenerating replaces it in
one write, revoking removes it), and a digest belongs to one account. Mixed into
``UnitOfWorkContract``; it needs only ``uow_factory``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hellodoctor_adapters.testing.contract_accounts import account
from hellodoctor_adapters.testing.fixtures import at, state_of
from hellodoctor_domain import Role, UserId
from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError
from hellodoctor_domain.model.notifications import (
    CalendarFeed,
    Channel,
    NotificationPreferences,
    PhoneNumber,
    feed_digest,
)
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory

GRACE, ADA = UserId("u1"), UserId("u2")


def _in(uow_factory: UnitOfWorkFactory, action: Callable[[Any], Any]) -> Any:
    with uow_factory() as uow:
        result = action(uow)
        uow.commit()
    return result


class PreferenceStorageContract:
    @pytest.fixture
    def with_accounts(self, uow_factory: UnitOfWorkFactory) -> UnitOfWorkFactory:
        with uow_factory() as uow:
            # Admins: accounts that name no profile (nothing else to store first).
            uow.accounts.add(account("u1", "grace@example.org", role=Role.ADMIN, patient_id=None))
            uow.accounts.add(account("u2", "ada@example.org", role=Role.ADMIN, patient_id=None))
            uow.commit()
        return uow_factory

    def test_no_preferences_until_saved_then_they_round_trip(
        self, with_accounts: UnitOfWorkFactory
    ) -> None:
        assert _in(with_accounts, lambda uow: uow.notification_preferences.get(GRACE)) is None
        chosen = NotificationPreferences(
            GRACE,
            {Channel.EMAIL, Channel.SMS},
            reminders=False,
            language="pt-BR",
            time_zone="America/Sao_Paulo",
            phone=PhoneNumber("+5511912345678"),
        )
        _in(with_accounts, lambda uow: uow.notification_preferences.save(chosen))
        assert chosen.version == 1
        stored = _in(with_accounts, lambda uow: uow.notification_preferences.get(GRACE))
        assert state_of(stored) == state_of(chosen)
        assert _in(with_accounts, lambda uow: uow.notification_preferences.get(ADA)) is None

    def test_saving_is_compare_and_set(self, with_accounts: UnitOfWorkFactory) -> None:
        first = NotificationPreferences(GRACE)
        rival = NotificationPreferences(GRACE, reminders=False)
        _in(with_accounts, lambda uow: uow.notification_preferences.save(first))
        with pytest.raises(ConcurrencyError):  # a second "first" save
            _in(with_accounts, lambda uow: uow.notification_preferences.save(rival))
        read = _in(with_accounts, lambda uow: uow.notification_preferences.get(GRACE))
        stale = _in(with_accounts, lambda uow: uow.notification_preferences.get(GRACE))
        read.channels = frozenset({Channel.SMS})
        read.phone = PhoneNumber("+447700900123")
        _in(with_accounts, lambda uow: uow.notification_preferences.save(read))
        stale.language = "fr"
        with pytest.raises(ConcurrencyError):
            _in(with_accounts, lambda uow: uow.notification_preferences.save(stale))
        stored = _in(with_accounts, lambda uow: uow.notification_preferences.get(GRACE))
        assert (stored.channels, stored.language, stored.version) == ({Channel.SMS}, "en", 2)

    def test_a_rolled_back_save_leaves_nothing(self, with_accounts: UnitOfWorkFactory) -> None:
        with with_accounts() as uow:
            uow.notification_preferences.save(NotificationPreferences(GRACE, reminders=False))
            uow.rollback()
        assert _in(with_accounts, lambda uow: uow.notification_preferences.get(GRACE)) is None

    def test_a_feed_is_found_by_its_digest_until_replaced_or_revoked(
        self, with_accounts: UnitOfWorkFactory
    ) -> None:
        old, new = feed_digest("old-token"), feed_digest("new-token")
        _in(with_accounts, lambda uow: uow.calendar_feeds.put(CalendarFeed(GRACE, old, at(9))))
        found = _in(with_accounts, lambda uow: uow.calendar_feeds.by_digest(old))
        assert state_of(found) == state_of(CalendarFeed(GRACE, old, at(9)))
        _in(with_accounts, lambda uow: uow.calendar_feeds.put(CalendarFeed(GRACE, new, at(10))))
        assert _in(with_accounts, lambda uow: uow.calendar_feeds.by_digest(old)) is None
        current = _in(with_accounts, lambda uow: uow.calendar_feeds.of(GRACE))
        assert (current.digest, current.created_at) == (new, at(10))
        assert _in(with_accounts, lambda uow: uow.calendar_feeds.of(ADA)) is None
        assert _in(with_accounts, lambda uow: uow.calendar_feeds.remove(GRACE)) is True
        assert _in(with_accounts, lambda uow: uow.calendar_feeds.by_digest(new)) is None
        assert _in(with_accounts, lambda uow: uow.calendar_feeds.remove(GRACE)) is False

    def test_a_digest_belongs_to_one_account(self, with_accounts: UnitOfWorkFactory) -> None:
        digest = feed_digest("shared")
        _in(with_accounts, lambda uow: uow.calendar_feeds.put(CalendarFeed(GRACE, digest, at(9))))
        with pytest.raises(AlreadyExists):
            _in(
                with_accounts,
                lambda uow: uow.calendar_feeds.put(CalendarFeed(ADA, digest, at(9))),
            )
        assert _in(with_accounts, lambda uow: uow.calendar_feeds.by_digest(digest)).account_id == (
            GRACE
        )

    def test_a_rolled_back_revocation_keeps_the_feed(
        self, with_accounts: UnitOfWorkFactory
    ) -> None:
        digest = feed_digest("kept")
        _in(with_accounts, lambda uow: uow.calendar_feeds.put(CalendarFeed(GRACE, digest, at(9))))
        with with_accounts() as uow:
            assert uow.calendar_feeds.remove(GRACE)
            uow.rollback()
        assert _in(with_accounts, lambda uow: uow.calendar_feeds.by_digest(digest)) is not None
