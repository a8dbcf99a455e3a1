"""Identity mails through the outbox: a request only records an event (nothing is mailed
inside it, for an address with an account or without), the event carries no secret, and the
consumer issues the code or link as it mails it, once however often the event is delivered."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from hellodoctor_adapters.memory import (
    InMemoryNotifier,
    InMemoryUnitOfWorkFactory,
    ManualClock,
    SequentialIds,
)
from hellodoctor_adapters.outbox import event_of
from hellodoctor_adapters.security import BcryptPasswordHasher, PyOtpTotp
from hellodoctor_adapters.throttle import InMemoryLoginThrottle
from hellodoctor_domain.model.accounts import digest
from hellodoctor_domain.model.profiles import Doctor, Patient
from hellodoctor_domain.model.values import Actor, DoctorId, EmailAddress, Money, PatientId, UserId
from hellodoctor_domain.use_cases.identity import Identity
from hellodoctor_domain.use_cases.identity_mail import IdentityMailer

NOW = datetime(2030, 1, 7, 9, tzinfo=UTC)
ANN = EmailAddress("ann@example.com")
PASSWORD = "correct horse battery staple"


class World:
    def __init__(self) -> None:
        self.storage = InMemoryUnitOfWorkFactory()
        self.clock = ManualClock(NOW)
        ids = SequentialIds("id")
        self.identity = Identity(
            self.storage,
            self.clock,
            ids,
            BcryptPasswordHasher(cost=4),
            PyOtpTotp(),
            InMemoryLoginThrottle(),
        )
        self.mailbox = InMemoryNotifier()
        self.outbox, inbox = self.storage.delivery()
        self.mailer = IdentityMailer(self.storage, self.clock, ids, self.mailbox, inbox)

    def deliver(self, times: int = 1) -> None:
        entries = self.outbox.claim(
            self.clock.now(), self.mailer.settings.reset_token_lifetime, 100
        )
        for _ in range(times):
            for entry in entries:
                self.mailer.handle(entry.id, event_of(entry.event_type, dict(entry.payload)))

    def outbox_text(self) -> str:
        return json.dumps([m.payload for m in self.storage.store.outbox], default=str)


def test_requests_mail_nothing_themselves_known_address_or_not() -> None:
    world = World()
    world.identity.register_patient(ANN, PASSWORD, Patient(PatientId("p1"), "Ann"))
    world.identity.register_patient(ANN, PASSWORD, Patient(PatientId("p2"), "Ann again"))
    world.identity.forgot_password(ANN)
    world.identity.forgot_password(EmailAddress("nobody@example.com"))
    world.identity.invite_doctor(
        Actor.admin(UserId("admin")),
        Doctor(DoctorId("d1"), "Dr One", "GP", "REG-1", Money(0, "GBP"), "Europe/London"),
        EmailAddress("one@example.com"),
    )
    assert world.mailbox.sent == []
    world.deliver()
    assert sorted(sent.kind for sent in world.mailbox.sent) == [
        "already_registered",
        "reset_password",
        "set_password",
        "verify_email",
    ]
    assert "nobody@example.com" not in {str(sent.recipient) for sent in world.mailbox.sent}


def test_no_secret_rests_in_the_outbox_only_its_digest_in_the_secrets() -> None:
    world = World()
    world.identity.register_patient(ANN, PASSWORD, Patient(PatientId("p1"), "Ann"))
    world.identity.forgot_password(ANN)
    world.deliver()
    by_kind = {sent.kind: sent.body for sent in world.mailbox.sent}
    code = re.search(r"\b(\d{6})\b", by_kind["verify_email"])
    link = re.search(r"token=([\w.-]+)", by_kind["reset_password"])
    assert code is not None
    assert link is not None
    outbox = world.outbox_text()
    assert code.group(1) not in outbox
    assert link.group(1).split(".", 1)[1] not in outbox
    secret_id, text = link.group(1).split(".", 1)
    stored = world.storage.store.one_time_secrets[secret_id]
    assert stored.digest == digest(secret_id, text)  # what is kept is the digest


def test_a_redelivered_event_mails_once_and_issues_one_secret() -> None:
    world = World()
    world.identity.forgot_password(ANN)  # no account yet: nothing at all
    world.identity.register_patient(ANN, PASSWORD, Patient(PatientId("p1"), "Ann"))
    world.deliver(times=5)
    assert [sent.kind for sent in world.mailbox.sent] == ["verify_email"]
    assert len(world.storage.store.one_time_secrets) == 1


def test_a_code_mailed_by_the_consumer_verifies_the_account() -> None:
    world = World()
    world.identity.register_patient(ANN, PASSWORD, Patient(PatientId("p1"), "Ann"))
    world.deliver()
    code = re.search(r"\b(\d{6})\b", world.mailbox.sent[-1].body)
    assert code is not None
    world.identity.verify_email(ANN, code.group(1))
    assert world.identity.login(ANN, PASSWORD).account.email == ANN


def test_an_account_verified_before_its_mail_went_out_gets_no_code() -> None:
    world = World()
    world.identity.register_patient(ANN, PASSWORD, Patient(PatientId("p1"), "Ann"))
    world.deliver()
    code = re.search(r"\b(\d{6})\b", world.mailbox.sent[-1].body)
    assert code is not None
    world.clock.advance(world.mailer.settings.verification_code_lifetime / 10)
    world.identity.resend_verification(ANN)  # asked again...
    world.identity.verify_email(ANN, code.group(1))  # ...but verified with the first code
    world.deliver()
    assert [sent.kind for sent in world.mailbox.sent] == ["verify_email"]
