"""``hellodoctor worker`` and the composition root's payment wiring (``bootstrap``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hellodoctor_adapters.memory import InMemoryUnitOfWork, InMemoryUnitOfWorkFactory
from hellodoctor_adapters.offline_payments import OfflinePaymentGateway
from hellodoctor_adapters.sqlalchemy.testing import migrated_sqlite_file
from hellodoctor_domain.errors import BackendUnavailable, WebhookRejected
from hellodoctor_http.bootstrap import bootstrap, gateway_for
from hellodoctor_http.cli import main
from hellodoctor_http.config import Settings
from hellodoctor_http.worker import WorkerPass, outbox_relay, run_once, wallet_repair


def test_worker_once_makes_one_pass_and_exits() -> None:
    result = CliRunner().invoke(
        main, ["worker", "--once"], env={"HELLODOCTOR_DATABASE_URL": "memory://"}
    )
    assert result.exit_code == 0, result.output
    assert "expired 0 holds, checked 0 unsent refunds, relayed 0 events" in result.output


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
    assert outbox_relay(memory.storage) is None
    assert wallet_repair(memory.storage) is None


def test_the_default_gateway_takes_no_forged_webhooks() -> None:
    """Without Stripe, the offline gateway's webhook key is random per process: a body signed
    with the library's default key is refused."""
    gateway = gateway_for(Settings(jwt_secret="k" * 40))
    body = b'{"id": "e", "kind": "succeeded", "intent": "i", "payment_id": "p"}'
    forged = OfflinePaymentGateway().sign(body)
    with pytest.raises(WebhookRejected):
        gateway.parse_event(body=body, signature=forged)


def test_a_pass_relays_the_outbox_and_repairs_wallets_when_the_storage_can() -> None:
    class StorageWithHousekeeping(InMemoryUnitOfWorkFactory):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[str] = []

        def relay_outbox(self, limit: int = 100) -> int:
            self.calls.append("relay")
            return 3

        def repair_wallets(self) -> int:
            self.calls.append("repair")
            return 2

    storage = StorageWithHousekeeping()
    relay, repair = outbox_relay(storage), wallet_repair(storage)
    assert relay is not None
    assert repair is not None
    components = bootstrap(Settings(jwt_secret="k" * 40), storage=storage)
    assert run_once(components.scheduling, components.billing, relay, repair=repair) == WorkerPass(
        0, 0, 3, 2
    )
    assert storage.calls == ["repair", "relay"]


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
    """On MongoDB the pass also repairs wallets and relays the outbox (the factory has both)."""
    from hellodoctor_adapters.mongodb import MongoUnitOfWorkFactory
    from hellodoctor_adapters.mongodb.testing import fresh_database_name, server_url

    database = fresh_database_name()
    url = server_url().rstrip("/") + f"/{database}"
    try:
        result = CliRunner().invoke(
            main, ["worker", "--once"], env={"HELLODOCTOR_DATABASE_URL": url}
        )
        assert result.exit_code == 0, result.output
        assert "relayed 0 events, repaired 0 wallet writes" in result.output
    finally:
        cleanup = MongoUnitOfWorkFactory(url)
        cleanup.client.drop_database(database)
        cleanup.close()
