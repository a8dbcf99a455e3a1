"""``hellodoctor worker`` and the composition root's payment wiring (``bootstrap``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hellodoctor_adapters.memory import InMemoryUnitOfWork, InMemoryUnitOfWorkFactory
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.sqlalchemy.testing import migrated_sqlite_file
from hellodoctor_domain.errors import BackendUnavailable, WebhookRejected
from hellodoctor_domain.model.waitlist import WaitlistEntryId
from hellodoctor_http.bootstrap import bootstrap, gateway_for
from hellodoctor_http.cli import main
from hellodoctor_http.config import Settings
from hellodoctor_http.worker import WorkerPass, run_once, storage_housekeeping


def test_worker_once_makes_one_pass_and_exits() -> None:
    result = CliRunner().invoke(
        main, ["worker", "--once"], env={"HELLODOCTOR_DATABASE_URL": "memory://"}
    )
    assert result.exit_code == 0, result.output
    assert "expired 0 holds, checked 0 unsent refunds" in result.output


def test_worker_refuses_stripe_keys_it_cannot_use() -> None:
    result = CliRunner().invoke(
        main,
        ["worker", "--once"],
        env={
            "HELLODOCTOR_DATABASE_URL": "memory://",
            "HELLODOCTOR_STRIPE_SECRET_KEY": "sk_test_123",
        },
    )
    assert result.exit_code != 0
    assert "configuration refused" in result.output


def test_billing_is_built_over_every_storage(tmp_path: Path) -> None:
    memory = bootstrap(Settings(database_url="memory://", jwt_secret="k" * 40))
    assert memory.billing
    sqlite = bootstrap(Settings(database_url=migrated_sqlite_file(tmp_path), jwt_secret="k" * 40))
    try:
        assert sqlite.billing
    finally:
        sqlite.close()
    housekeeping = storage_housekeeping(memory.storage)
    assert housekeeping is not None
    assert housekeeping() == {}  # a unit of work in memory leaves nothing behind


def test_the_default_gateway_takes_no_forged_webhooks() -> None:
    """Without Stripe, the offline gateway's webhook key is random per process: a body signed
    with the library's default key is refused."""
    gateway = gateway_for(Settings(jwt_secret="k" * 40))
    body = b'{"id": "e", "kind": "succeeded", "intent": "i", "payment_id": "p"}'
    forged = OfflinePaymentGateway().sign(body)
    with pytest.raises(WebhookRejected):
        gateway.parse_event(body=body, signature=forged)


def test_a_pass_runs_the_storage_housekeeping_first_when_it_has_one() -> None:
    class StorageWithHousekeeping(InMemoryUnitOfWorkFactory):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[str] = []

        def housekeeping(self, limit: int = 100) -> dict[str, int]:
            self.calls.append("housekeeping")
            return {"wallet writes repaired": 2, "events relayed": 3}

    storage = StorageWithHousekeeping()
    housekeeping = storage_housekeeping(storage)
    assert housekeeping is not None
    expected = {"wallet writes repaired": 2, "events relayed": 3}
    components = bootstrap(Settings(jwt_secret="k" * 40), storage=storage)
    done = run_once(components.scheduling, components.billing, housekeeping)
    assert done == WorkerPass(0, 0, expected)
    assert storage.calls == ["housekeeping"]


def test_a_storage_without_housekeeping_still_works_with_the_worker() -> None:
    """A third-party factory need not offer ``housekeeping``: the pass skips it."""
    store = InMemoryUnitOfWorkFactory()

    def third_party() -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(store.store)

    assert storage_housekeeping(third_party) is None
    components = bootstrap(Settings(jwt_secret="k" * 40), storage=third_party)
    assert run_once(components.scheduling, components.billing, None) == WorkerPass(0, 0)


def test_billing_is_built_while_the_database_is_away() -> None:
    """Start-up does not fail on a database outage (readiness reports it instead)."""

    def unreachable() -> InMemoryUnitOfWork:
        raise BackendUnavailable("connection refused")

    built = bootstrap(Settings(jwt_secret="k" * 40), storage=unreachable)
    assert built.billing is not None


def test_stripe_keys_select_the_stripe_gateway() -> None:
    settings = Settings.from_environ(
        {
            "HELLODOCTOR_STRIPE_SECRET_KEY": "sk_test_123",
            "HELLODOCTOR_STRIPE_WEBHOOK_SECRET": "whsec_123",
            "HELLODOCTOR_STRIPE_API_BASE": "http://127.0.0.1:8420/",
        }
    )
    assert settings.stripe_api_base == "http://127.0.0.1:8420"
    assert gateway_for(settings).name == "stripe"
    assert gateway_for(Settings(jwt_secret="k" * 40)).name == "offline"


def test_worker_once_on_mongodb_runs_its_housekeeping_too() -> None:
    """On MongoDB the pass also repairs wallets, sweeps stale claims and relays the outbox."""
    from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
    from hellodoctor_adapters.mongodb.testing import fresh_database_name, server_url

    database = fresh_database_name()
    url = server_url().rstrip("/") + f"/{database}"
    try:
        result = CliRunner().invoke(
            main, ["worker", "--once"], env={"HELLODOCTOR_DATABASE_URL": url}
        )
        assert result.exit_code == 0, result.output
        assert (
            "housekeeping: 0 wallet writes repaired, 0 claims swept, 0 events relayed"
            in result.output
        )
    finally:
        cleanup = MongoUnitOfWorkFactory(url)
        cleanup.client.drop_database(database)
        cleanup.close()


def test_a_pass_sweeps_lapsed_waitlist_offers(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the sweep does is the waitlist contract's; the pass runs it and counts."""
    components = bootstrap(Settings(database_url="memory://", jwt_secret="k" * 40))
    assert components.waitlist is not None
    swept: list[int] = []

    def sweep(limit: int = 100) -> list[WaitlistEntryId]:
        swept.append(limit)
        return [WaitlistEntryId("w1")]

    monkeypatch.setattr(components.waitlist, "sweep_lapsed_offers", sweep)
    done = run_once(components.scheduling, components.billing, None, waitlist=components.waitlist)
    assert (done.offers_passed_on, swept) == (1, [100])
