"""The retention contract for lapsed holds and unverified accounts (``ports/retention.py``,
``model/retention.py``): a purge removes exactly what the policy names and nothing else. Any
storage whose factory offers ``retention()``; override ``uow_factory`` (a clean storage).

Each test writes one of every case around the cut-off ``CUT``: a second older goes, exactly as
old or a second younger stays, and so does everything the policy does not name (a hold with a
payment: the money ledger; a booking; a live hold; a free cancelled hold, which may have been
booked; a profile something else names; an active account; an invitation; the audit log).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from hellodoctor_adapters.testing.fixtures import MONDAY, appointment, at, doctor, patient
from hellodoctor_domain.errors import NotFound
from hellodoctor_domain.model.accounts import (
    Account,
    AccountStatus,
    OneTimeSecret,
    RefreshToken,
    SecretPurpose,
)
from hellodoctor_domain.model.appointment import Appointment, AppointmentStatus, Cancellation
from hellodoctor_domain.model.audit import AuditAction, AuditEntry, AuditOutcome, verify_chain
from hellodoctor_domain.model.notifications import NotificationPreferences
from hellodoctor_domain.model.payments import Payment, PaymentId, PaymentMethod
from hellodoctor_domain.model.retention import RetentionKind, RetentionPolicy
from hellodoctor_domain.model.values import (
    AppointmentId,
    EmailAddress,
    Money,
    PatientId,
    Role,
    UserId,
)
from hellodoctor_domain.ports.retention import RetentionStore
from hellodoctor_domain.ports.scheduling import IdempotencyRecord
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.retention import Retention

PERIOD = timedelta(days=30)
NOW = MONDAY + timedelta(days=60)
CUT = NOW - PERIOD
SECOND = timedelta(seconds=1)
FEE = Money(5000, "EUR")


class _Clock:
    def now(self) -> datetime:
        return NOW


def _hold(
    key: str, hour: int, status: AppointmentStatus, ended: datetime, **kw: object
) -> Appointment:
    built = appointment(key, at(hour), price=kw.pop("price", FEE), status=AppointmentStatus.BOOKED)  # type: ignore[arg-type]
    built.status = status
    built.hold_expires_at = kw.pop("hold_expires_at", ended)  # type: ignore[assignment]
    if status is AppointmentStatus.CANCELLED:
        built.cancellation = Cancellation(
            Role.PATIENT, UserId("u-p1"), "no", ended, Money(0, "EUR")
        )
    return built


class RecordRetentionContract:
    @pytest.fixture
    def uow_factory(self) -> UnitOfWorkFactory:
        raise NotImplementedError("override the uow_factory fixture with a clean storage")

    @staticmethod
    def _retention(store: RetentionStore, kind: RetentionKind) -> Retention:
        return Retention(store, _Clock(), RetentionPolicy({kind: PERIOD}), batch=2)

    def test_lapsed_holds_go_exactly_when_past_the_period(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        store: RetentionStore = uow_factory.retention()  # type: ignore[attr-defined]
        S = AppointmentStatus
        gone = {
            "expired-old": _hold("expired-old", 8, S.EXPIRED, CUT - SECOND),
            "cancelled-old": _hold("cancelled-old", 9, S.CANCELLED, CUT - SECOND),
            "keyed-old": _hold("keyed-old", 10, S.EXPIRED, CUT - timedelta(days=3)),
        }
        kept = {
            "expired-on-cut": _hold("expired-on-cut", 11, S.EXPIRED, CUT),
            "expired-young": _hold("expired-young", 12, S.EXPIRED, CUT + SECOND),
            "cancelled-on-cut": _hold("cancelled-on-cut", 13, S.CANCELLED, CUT),
            "paid-at-once": _hold("paid-at-once", 14, S.EXPIRED, CUT - timedelta(days=2)),
            "free-cancelled": _hold(
                "free-cancelled", 15, S.CANCELLED, CUT - timedelta(days=2), price=Money(0, "EUR")
            ),
            "booked-cancelled": _hold(
                "booked-cancelled", 16, S.CANCELLED, CUT - timedelta(days=2), hold_expires_at=None
            ),
            "booked": _hold("booked", 17, S.BOOKED, CUT - timedelta(days=2)),
            "still-held": _hold("still-held", 7, S.HELD, CUT - timedelta(days=2)),
        }
        with uow_factory() as uow:
            uow.doctors.add(doctor("d1"))
            uow.patients.add(patient("p1"))
            for built in (*gone.values(), *kept.values()):
                uow.appointments.add(built)
            uow.idempotency.add(
                IdempotencyRecord(
                    scope="patient:p1",
                    key="key-1",
                    fingerprint="fp",
                    appointment_id=AppointmentId("keyed-old"),
                    created_at=CUT,
                )
            )
            uow.payments.add(
                Payment.start(
                    id=PaymentId("pay-1"),
                    patient_id=PatientId("p1"),
                    appointment_id=AppointmentId("paid-at-once"),
                    method=PaymentMethod.OFFLINE,
                    amount=FEE,
                    wallet_part=Money(0, "EUR"),
                    now=CUT - timedelta(days=3),
                )
            )
            uow.commit()

        retention = self._retention(store, RetentionKind.LAPSED_HOLDS)
        assert retention.run(dry_run=True).counts == {RetentionKind.LAPSED_HOLDS: 3}
        assert store.count(RetentionKind.UNVERIFIED_ACCOUNTS, CUT) == 0
        assert retention.run().counts == {RetentionKind.LAPSED_HOLDS: 3}  # in batches of 2
        assert store.purge(RetentionKind.LAPSED_HOLDS, CUT, 10) == 0
        with uow_factory() as uow:
            for key in gone:
                with pytest.raises(NotFound):
                    uow.appointments.get(AppointmentId(key))
            for key in kept:
                assert uow.appointments.get(AppointmentId(key)).status is kept[key].status
            assert uow.idempotency.get("patient:p1", "key-1") is None
            assert uow.payments.get(PaymentId("pay-1")).appointment_id == AppointmentId(
                "paid-at-once"
            )
            uow.patients.get(PatientId("p1"))

    def test_unverified_accounts_go_with_what_they_own_and_nothing_else(
        self, uow_factory: UnitOfWorkFactory
    ) -> None:
        store: RetentionStore = uow_factory.retention()  # type: ignore[attr-defined]

        def registered(key: str, created: datetime, **kw: object) -> Account:
            return Account(
                UserId(f"u-{key}"),
                EmailAddress(f"{key}@example.org"),
                kw.pop("role", Role.PATIENT),  # type: ignore[arg-type]
                kw.pop("status", AccountStatus.PENDING),  # type: ignore[arg-type]
                created,
                password_hash=kw.pop("password_hash", "$2b$12$hash"),  # type: ignore[arg-type]
                patient_id=kw.pop("patient_id", PatientId(f"p-{key}")),  # type: ignore[arg-type]
            )

        accounts = {
            "old": registered("old", CUT - SECOND),  # goes, with its profile and what it owns
            "on-cut": registered("on-cut", CUT),
            "young": registered("young", CUT + SECOND),
            "booked": registered("booked", CUT - timedelta(days=5)),  # its profile has a visit
            "audited": registered("audited", CUT - timedelta(days=5)),  # named by the audit log
            "active": registered("active", CUT - timedelta(days=5), status=AccountStatus.ACTIVE),
            "invited": registered(
                "invited",
                CUT - timedelta(days=5),
                role=Role.HOSPITAL_ADMIN,
                password_hash=None,
                patient_id=None,
            ),
        }
        with uow_factory() as uow:
            uow.doctors.add(doctor("d1"))
            for key, account in accounts.items():
                if account.patient_id is not None:
                    uow.patients.add(patient(f"p-{key}"))
                uow.accounts.add(account)
            for key in ("old", "on-cut"):
                uow.one_time_secrets.add(
                    OneTimeSecret(
                        f"s-{key}",
                        UserId(f"u-{key}"),
                        SecretPurpose.VERIFY_EMAIL,
                        "d" * 64,
                        CUT - timedelta(days=1),
                        CUT,
                        5,
                    )
                )
                uow.refresh_tokens.add(
                    RefreshToken(
                        f"t-{key}",
                        f"f-{key}",
                        UserId(f"u-{key}"),
                        "d" * 64,
                        CUT - timedelta(days=1),
                        CUT,
                    )
                )
                uow.notification_preferences.save(NotificationPreferences(UserId(f"u-{key}")))
            uow.appointments.add(appointment("visit", at(9), patient_key="p-booked"))
            uow.audit.append(
                AuditEntry(
                    CUT,
                    UserId("admin"),
                    Role.ADMIN,
                    PatientId("p-audited"),
                    "records",
                    AuditAction.READ,
                    AuditOutcome.DENIED,
                    "care",
                )
            )
            uow.commit()

        retention = self._retention(store, RetentionKind.UNVERIFIED_ACCOUNTS)
        assert retention.run(dry_run=True).counts == {RetentionKind.UNVERIFIED_ACCOUNTS: 1}
        assert retention.run().counts == {RetentionKind.UNVERIFIED_ACCOUNTS: 1}
        assert store.count(RetentionKind.UNVERIFIED_ACCOUNTS, CUT) == 0
        with uow_factory() as uow:
            with pytest.raises(NotFound):
                uow.accounts.get(UserId("u-old"))
            with pytest.raises(NotFound):
                uow.patients.get(PatientId("p-old"))
            assert uow.one_time_secrets.latest(UserId("u-old"), SecretPurpose.VERIFY_EMAIL) is None
            with pytest.raises(NotFound):
                uow.refresh_tokens.get("t-old")
            assert uow.notification_preferences.get(UserId("u-old")) is None
            assert uow.accounts.by_email(EmailAddress("old@example.org")) is None
            for key, account in accounts.items():
                if key == "old":
                    continue
                assert uow.accounts.get(account.id).status is account.status
                if account.patient_id is not None:
                    uow.patients.get(account.patient_id)
            assert (
                uow.one_time_secrets.latest(UserId("u-on-cut"), SecretPurpose.VERIFY_EMAIL)
                is not None
            )
            uow.refresh_tokens.get("t-on-cut")
            chain = uow.audit.chain()
            assert len(chain) == 1
            assert verify_chain(chain) is None
