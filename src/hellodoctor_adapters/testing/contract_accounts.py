"""The storage contract for accounts, one-time secrets, refresh tokens, idempotency records
and the search queries. Same fixture as ``UnitOfWorkContract``: override ``uow_factory``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from attrs import evolve

from hellodoctor_adapters.testing.fixtures import MONDAY, appointment, at, doctor, seed, state_of
from hellodoctor_domain import AppointmentId, AppointmentStatus, DoctorId, PatientId
from hellodoctor_domain.errors import AlreadyExists, ConcurrencyError, NotFound
from hellodoctor_domain.model.accounts import (
    Account,
    AccountStatus,
    OneTimeSecret,
    RefreshToken,
    SecretPurpose,
)
from hellodoctor_domain.model.values import EmailAddress, Role, UserId
from hellodoctor_domain.ports.scheduling import AppointmentQuery, DoctorQuery, IdempotencyRecord
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory


def account(key: str = "u1", email: str = "Grace@Example.org", **changes: Any) -> Account:
    built = Account(
        UserId(key),
        EmailAddress(email),
        Role.PATIENT,
        AccountStatus.PENDING,
        MONDAY,
        password_hash="$2b$12$" + "x" * 53,
        patient_id=PatientId("p1"),
    )
    return evolve(built, **changes)


def secret(
    key: str,
    minutes: int = 0,
    purpose: SecretPurpose = SecretPurpose.VERIFY_EMAIL,
    owner: str = "u1",
) -> OneTimeSecret:
    return OneTimeSecret(
        key,
        UserId(owner),
        purpose,
        "d" * 64,
        MONDAY + timedelta(minutes=minutes),
        MONDAY + timedelta(minutes=minutes + 15),
        attempts_left=5,
    )


def token(key: str, family: str = "f1", owner: str = "u1") -> RefreshToken:
    return RefreshToken(key, family, UserId(owner), "e" * 64, MONDAY, MONDAY + timedelta(days=14))


def _in(uow_factory: UnitOfWorkFactory, action: Callable[[Any], Any]) -> Any:
    with uow_factory() as uow:
        result = action(uow)
        uow.commit()
        return result


class AccountsAndQueriesContract:
    """Behaviour suite for identity storage and queries. Override ``uow_factory``."""

    @pytest.fixture
    def uow_factory(self) -> UnitOfWorkFactory:
        raise NotImplementedError("override the uow_factory fixture with your adapter's factory")

    @pytest.fixture
    def seeded(self, uow_factory: UnitOfWorkFactory) -> UnitOfWorkFactory:
        seed(uow_factory)
        return uow_factory

    # -- accounts --------------------------------------------------------------------------

    def test_account_round_trips_and_is_found_by_email_in_any_case(
        self, seeded: UnitOfWorkFactory
    ) -> None:
        original = account(
            totp_secret="JBSWY3DPEHPK3PXP", totp_enabled=True, totp_last_step=59_000_000
        )
        _in(seeded, lambda uow: uow.accounts.add(original))
        assert original.version == 1
        with seeded() as uow:
            assert state_of(uow.accounts.get(UserId("u1"))) == state_of(original)
            for email in ("grace@example.org", "GRACE@EXAMPLE.ORG"):
                assert state_of(uow.accounts.by_email(EmailAddress(email))) == state_of(original)
            assert uow.accounts.by_email(EmailAddress("ada@example.org")) is None
            with pytest.raises(NotFound):
                uow.accounts.get(UserId("nobody"))

    def test_doctor_and_admin_accounts_round_trip(self, seeded: UnitOfWorkFactory) -> None:
        doctor_account = account(
            "u2",
            "dr@example.org",
            role=Role.DOCTOR,
            patient_id=None,
            doctor_id=DoctorId("d1"),
            password_hash=None,
        )
        admin = account(
            "u3", "root@example.org", role=Role.ADMIN, patient_id=None, status=AccountStatus.ACTIVE
        )
        _in(seeded, lambda uow: (uow.accounts.add(doctor_account), uow.accounts.add(admin)))
        with seeded() as uow:
            assert state_of(uow.accounts.get(UserId("u2"))) == state_of(doctor_account)
            assert state_of(uow.accounts.get(UserId("u3"))) == state_of(admin)

    def test_one_account_per_email_whatever_its_case(self, seeded: UnitOfWorkFactory) -> None:
        _in(seeded, lambda uow: uow.accounts.add(account()))
        with pytest.raises(AlreadyExists):
            _in(seeded, lambda uow: uow.accounts.add(account("u2", "GRACE@example.org")))
        # Upper and lower case of non-ASCII letters are one address too, on every database...
        _in(seeded, lambda uow: uow.accounts.add(account("u3", "Élise@example.org")))
        with pytest.raises(AlreadyExists):
            _in(seeded, lambda uow: uow.accounts.add(account("u4", "éLISE@example.org")))
        # ...but letters that merely fold alike are different mailboxes (EmailAddress.lookup_key).
        _in(seeded, lambda uow: uow.accounts.add(account("u5", "grace@strasse.example")))
        _in(seeded, lambda uow: uow.accounts.add(account("u6", "grace@straße.example")))
        with seeded() as uow:
            found = uow.accounts.by_email(EmailAddress("GRACE@STRASSE.example"))
            assert found is not None
            assert found.id == UserId("u5")
        with pytest.raises(AlreadyExists):
            _in(seeded, lambda uow: uow.accounts.add(account("u1", "other@example.org")))

    def test_account_update_is_compare_and_set(self, seeded: UnitOfWorkFactory) -> None:
        _in(seeded, lambda uow: uow.accounts.add(account()))
        first = _in(seeded, lambda uow: uow.accounts.get(UserId("u1")))
        second = _in(seeded, lambda uow: uow.accounts.get(UserId("u1")))
        first.status = AccountStatus.ACTIVE
        _in(seeded, lambda uow: uow.accounts.update(first))
        second.password_hash = "$2b$12$" + "y" * 53
        with pytest.raises(ConcurrencyError):
            _in(seeded, lambda uow: uow.accounts.update(second))
        stored = _in(seeded, lambda uow: uow.accounts.get(UserId("u1")))
        assert (stored.status, stored.version) == (AccountStatus.ACTIVE, 2)

    def test_changing_to_a_taken_email_is_refused(self, seeded: UnitOfWorkFactory) -> None:
        _in(
            seeded,
            lambda uow: (
                uow.accounts.add(account()),
                uow.accounts.add(account("u2", "ada@example.org")),
            ),
        )
        moving = _in(seeded, lambda uow: uow.accounts.get(UserId("u2")))
        moving.email = EmailAddress("grace@EXAMPLE.org")
        with pytest.raises(AlreadyExists):
            _in(seeded, lambda uow: uow.accounts.update(moving))

    # -- one-time secrets ------------------------------------------------------------------

    def test_secrets_round_trip_and_the_latest_is_found(self, seeded: UnitOfWorkFactory) -> None:
        _in(seeded, lambda uow: uow.accounts.add(account()))
        older, newer = secret("s1", 0), secret("s2", 5)
        other = secret("s3", 10, SecretPurpose.RESET_PASSWORD)
        _in(seeded, lambda uow: [uow.one_time_secrets.add(s) for s in (newer, older, other)])
        with seeded() as uow:
            assert state_of(uow.one_time_secrets.get("s1")) == state_of(older)
            latest = uow.one_time_secrets.latest(UserId("u1"), SecretPurpose.VERIFY_EMAIL)
            assert state_of(latest) == state_of(newer)
            assert uow.one_time_secrets.latest(UserId("u1"), SecretPurpose.SET_PASSWORD) is None
            with pytest.raises(NotFound):
                uow.one_time_secrets.get("missing")

    def test_secret_update_is_compare_and_set(self, seeded: UnitOfWorkFactory) -> None:
        _in(seeded, lambda uow: uow.accounts.add(account()))
        _in(seeded, lambda uow: uow.one_time_secrets.add(secret("s1")))
        first = _in(seeded, lambda uow: uow.one_time_secrets.get("s1"))
        second = _in(seeded, lambda uow: uow.one_time_secrets.get("s1"))
        first.attempts_left -= 1
        _in(seeded, lambda uow: uow.one_time_secrets.update(first))
        second.used_at = MONDAY + timedelta(minutes=1)
        with pytest.raises(ConcurrencyError):
            _in(seeded, lambda uow: uow.one_time_secrets.update(second))
        stored = _in(seeded, lambda uow: uow.one_time_secrets.get("s1"))
        assert (stored.attempts_left, stored.used_at) == (4, None)

    # -- refresh tokens ----------------------------------------------------------------------

    def test_tokens_round_trip_and_rotate_by_compare_and_set(
        self, seeded: UnitOfWorkFactory
    ) -> None:
        _in(seeded, lambda uow: uow.accounts.add(account()))
        _in(seeded, lambda uow: uow.refresh_tokens.add(token("t1")))
        first = _in(seeded, lambda uow: uow.refresh_tokens.get("t1"))
        assert state_of(first) == state_of(evolve(token("t1"), version=1))
        second = _in(seeded, lambda uow: uow.refresh_tokens.get("t1"))
        first.replaced_at = MONDAY + timedelta(hours=1)
        _in(seeded, lambda uow: uow.refresh_tokens.update(first))
        second.replaced_at = MONDAY + timedelta(hours=1)
        with pytest.raises(ConcurrencyError):  # only one refresh per token can win
            _in(seeded, lambda uow: uow.refresh_tokens.update(second))
        with seeded() as uow, pytest.raises(NotFound):
            uow.refresh_tokens.get("t9")

    def test_revoking_a_family_or_an_account_spares_the_others(
        self, seeded: UnitOfWorkFactory
    ) -> None:
        _in(
            seeded,
            lambda uow: (
                uow.accounts.add(account()),
                uow.accounts.add(account("u2", "ada@example.org")),
            ),
        )
        tokens = [token("a", "f1"), token("b", "f1"), token("c", "f2"), token("d", "f3", "u2")]
        _in(seeded, lambda uow: [uow.refresh_tokens.add(t) for t in tokens])
        when = MONDAY + timedelta(hours=2)
        _in(seeded, lambda uow: uow.refresh_tokens.revoke_family("f1", when))

        def revoked() -> dict[str, bool]:
            with seeded() as uow:
                return {k: uow.refresh_tokens.get(k).revoked_at is not None for k in "abcd"}

        assert revoked() == {"a": True, "b": True, "c": False, "d": False}
        with seeded() as uow:
            assert uow.refresh_tokens.get("a").revoked_at == when
        _in(seeded, lambda uow: uow.refresh_tokens.revoke_account(UserId("u1"), when))
        assert revoked() == {"a": True, "b": True, "c": True, "d": False}

    # -- idempotency -------------------------------------------------------------------------

    def test_an_idempotency_key_is_taken_once_per_scope(self, seeded: UnitOfWorkFactory) -> None:
        _in(seeded, lambda uow: uow.appointments.add(appointment("a1", at(9))))
        record = IdempotencyRecord(
            scope="u1",
            key="k-1",
            fingerprint="f" * 64,
            appointment_id=AppointmentId("a1"),
            created_at=MONDAY,
        )
        _in(seeded, lambda uow: uow.idempotency.add(record))
        with pytest.raises(AlreadyExists):
            _in(seeded, lambda uow: uow.idempotency.add(evolve(record, fingerprint="g" * 64)))
        _in(seeded, lambda uow: uow.idempotency.add(evolve(record, scope="u2")))
        with seeded() as uow:
            assert uow.idempotency.get("u1", "k-1") == record
            assert uow.idempotency.get("u1", "k-2") is None

    def test_a_rolled_back_idempotency_key_is_free_again(self, seeded: UnitOfWorkFactory) -> None:
        _in(seeded, lambda uow: uow.appointments.add(appointment("a1", at(9))))
        record = IdempotencyRecord(
            scope="u1",
            key="k-1",
            fingerprint="f" * 64,
            appointment_id=AppointmentId("a1"),
            created_at=MONDAY,
        )
        with seeded() as uow:
            uow.idempotency.add(record)
        with seeded() as uow:
            assert uow.idempotency.get("u1", "k-1") is None

    # -- search ------------------------------------------------------------------------------

    def test_doctor_search_filters_and_pages(self, uow_factory: UnitOfWorkFactory) -> None:
        people = [
            doctor("d1", name="Dr Ada Okafor", specialty="Cardiology", languages=("en", "yo")),
            doctor(
                "d2", name="Dr Luis Reyes", specialty="General practice", languages=("es", "EN")
            ),
            doctor(
                "d3",
                name="Dr Mei Chen",
                specialty="cardiology",
                languages=("zh",),
                accepting_bookings=False,
            ),
            doctor("d4", name="Dr Omar Haddad", specialty="Dermatology", languages=("ar", "fr")),
        ]
        _in(uow_factory, lambda uow: [uow.doctors.add(d) for d in people])

        def ids(**filters: Any) -> list[str]:
            with uow_factory() as uow:
                return [d.id.value for d in uow.doctors.search(DoctorQuery(**filters))]

        assert ids() == ["d1", "d2", "d3", "d4"]
        assert ids(specialty="CARDIOLOGY") == ["d1", "d3"]
        assert ids(language="en") == ["d1", "d2"]
        assert ids(text="rey") == ["d2"]
        assert ids(text="derma") == ["d4"]
        assert ids(accepting_bookings=False) == ["d3"]
        assert ids(specialty="cardiology", accepting_bookings=True) == ["d1"]
        assert ids(limit=2) == ["d1", "d2"]
        assert ids(limit=2, after=DoctorId("d2")) == ["d3", "d4"]
        assert ids(after=DoctorId("d4")) == []

    def test_appointment_search_filters_and_pages(self, seeded: UnitOfWorkFactory) -> None:
        done = appointment("a0", at(8), patient_key="p1")
        done.complete(at(8, 30))
        rows = [
            done,
            appointment("a2", at(9), patient_key="p2"),
            appointment("a1", at(9), doctor_key="d2", patient_key="p1"),
            appointment("a3", at(11), patient_key="p1"),
            appointment("a4", at(9, day=1), doctor_key="d2", patient_key="p3"),
        ]
        _in(seeded, lambda uow: [uow.appointments.add(a) for a in rows])

        def ids(**filters: Any) -> list[str]:
            with seeded() as uow:
                return [a.id.value for a in uow.appointments.search(AppointmentQuery(**filters))]

        assert ids() == ["a0", "a1", "a2", "a3", "a4"]  # by (start, id)
        assert ids(patient_id=PatientId("p1")) == ["a0", "a1", "a3"]
        assert ids(doctor_id=DoctorId("d2")) == ["a1", "a4"]
        assert ids(statuses=frozenset({AppointmentStatus.COMPLETED})) == ["a0"]
        assert ids(starts_from=at(9), starts_before=at(11)) == ["a1", "a2"]
        assert ids(limit=2) == ["a0", "a1"]
        assert ids(limit=2, after=(at(9), AppointmentId("a1"))) == ["a2", "a3"]
        assert ids(after=(at(9, day=1), AppointmentId("a4"))) == []
