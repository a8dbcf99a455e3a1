"""The API, built by the composition root over the in-memory and SQLite storages, a clock
standing on a Monday morning and the offline payment gateway; tokens from the app's own codec,
and a client that validates every response against /openapi.json."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from hellodoctor_adapters.memory import (
    InMemoryBlobStorage,
    InMemoryUnitOfWorkFactory,
    ManualClock,
    SequentialIds,
)
from hellodoctor_adapters.notify import MaildirNotifier
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.testing import migrated_sqlite_file
from hellodoctor_domain import Role
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_domain.use_cases.billing import Billing
from hellodoctor_domain.use_cases.scheduling import Scheduling
from hellodoctor_http.app import create_app
from hellodoctor_http.auth import TokenCodec
from hellodoctor_http.bootstrap import Components, bootstrap
from hellodoctor_http.config import Settings
from hellodoctor_http.testing import FEE_DOCTOR, NOW, SECRET, Headers, ValidatingClient, seed


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[UnitOfWorkFactory]:
    if request.param == "memory":
        yield InMemoryUnitOfWorkFactory()
        return
    factory = SqlUnitOfWorkFactory(migrated_sqlite_file(tmp_path))
    yield factory
    factory.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


class DeliveringMaildir(MaildirNotifier):
    """The Maildir, read as a person would once the outbox was delivered: requests only write
    events, so reading first runs the relay (``components.delivery``) until nothing is due."""

    deliver: Callable[[], object] | None = None

    def messages(self) -> list[EmailMessage]:
        if self.deliver is not None:
            self.deliver()
        return super().messages()


@pytest.fixture
def mail(tmp_path: Path) -> MaildirNotifier:
    """Where the API's e-mails land: read codes and links from here, as a user would."""
    return DeliveringMaildir(tmp_path / "mail")


@pytest.fixture
def gateway() -> OfflinePaymentGateway:
    """The payment provider: tests play the customer with it and deliver its signed events."""
    return OfflinePaymentGateway(webhook_secret="http-test-webhook-secret")


@pytest.fixture
def blobs(clock: ManualClock) -> InMemoryBlobStorage:
    """Where uploaded files go (stamped by the test's clock, so the sweep sees them age)."""
    return InMemoryBlobStorage(clock.now)


@pytest.fixture
def components(
    storage: UnitOfWorkFactory,
    clock: ManualClock,
    mail: MaildirNotifier,
    gateway: OfflinePaymentGateway,
    blobs: InMemoryBlobStorage,
) -> Components:
    """The composition root over the test's storage, clock and payment provider."""
    settings = Settings(
        jwt_secret=SECRET,
        max_body_bytes=4096,
        bcrypt_cost=4,  # the cheapest cost: tests check behaviour, not strength
        require_totp_for=frozenset({Role.DOCTOR}),
        mail_folder=mail.folder,
    )
    built = bootstrap(
        settings,
        storage=storage,
        clock=clock,
        ids=SequentialIds("id"),
        gateway=gateway,
        cards_accepted=True,  # the offline gateway plays a card provider here
        blobs=blobs,
    )
    seed(built.scheduling)
    if isinstance(mail, DeliveringMaildir) and built.delivery is not None:
        mail.deliver = built.delivery.relay.drain
    return built


@pytest.fixture
def billing(components: Components) -> Billing:
    return components.billing


@pytest.fixture
def scheduling(components: Components) -> Scheduling:
    return components.scheduling


@pytest.fixture
def client(components: Components) -> ValidatingClient:
    return ValidatingClient(create_app(components))


@pytest.fixture
def codec(components: Components) -> TokenCodec:
    return components.token_codec()


@pytest.fixture
def as_patient(codec: TokenCodec) -> Headers:
    def headers(patient: str = "pat-1") -> dict[str, str]:
        token, _ = codec.issue(f"acct-{patient}", "patient", patient_id=patient)
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture
def as_doctor(codec: TokenCodec) -> Headers:
    def headers(doctor: str = FEE_DOCTOR) -> dict[str, str]:
        token, _ = codec.issue(f"acct-{doctor}", "doctor", doctor_id=doctor)
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture
def as_admin(codec: TokenCodec) -> Headers:
    def headers() -> dict[str, str]:
        token, _ = codec.issue("admin-1", "admin")
        return {"Authorization": f"Bearer {token}"}

    return headers
