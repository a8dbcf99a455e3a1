"""``hellodoctor retention run`` (with ``--dry-run``) and the worker's retention step, on the
embedded SQLite database: what is past the configured period goes, nothing younger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from hellodoctor_adapters.sqlalchemy import SqlUnitOfWorkFactory
from hellodoctor_adapters.sqlalchemy.testing import migrated_sqlite_file
from hellodoctor_adapters.testing.contract_retention import RetentionContract
from hellodoctor_domain.model.retention import RetentionKind
from hellodoctor_http.cli import main


def test_retention_run_lists_then_deletes_what_is_past_its_period(tmp_path: Path) -> None:
    url = migrated_sqlite_file(tmp_path)
    factory = SqlUnitOfWorkFactory(url)
    delivery, _ = factory.delivery()
    now = datetime.now(UTC)
    # Delivered 40 and 10 days ago, and a dead letter from 100 days ago.
    RetentionContract.fill(delivery, "old", now - timedelta(days=40), [("sent", timedelta(0))])
    RetentionContract.fill(delivery, "new", now - timedelta(days=10), [("sent", timedelta(0))])
    RetentionContract.fill(delivery, "dead", now - timedelta(days=100), [("dead", timedelta(0))])
    env = {"HELLODOCTOR_DATABASE_URL": url, "HELLODOCTOR_RETENTION_DEAD_LETTERS_DAYS": "90"}

    listed = CliRunner().invoke(main, ["retention", "run", "--dry-run"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "delivered_events: would delete 1" in listed.output
    assert "dead_letters: would delete 1" in listed.output
    assert "audit log: kept (at least 6 years)" in listed.output

    kept = CliRunner().invoke(
        main, ["retention", "run"], env={**env, "HELLODOCTOR_RETENTION_DEAD_LETTERS_DAYS": "0"}
    )
    assert kept.exit_code == 0, kept.output
    assert "delivered_events: deleted 1" in kept.output
    assert "dead_letters" not in kept.output  # 0: kept for ever

    swept = CliRunner().invoke(main, ["worker", "--once"], env=env)
    assert swept.exit_code == 0, swept.output
    assert "retention deleted 1" in swept.output
    store = factory.retention()
    for kind in RetentionKind:
        assert store.count(kind, now) == (1 if kind is RetentionKind.DELIVERED_EVENTS else 0)
    factory.dispose()
