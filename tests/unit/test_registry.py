"""Storage adapters are found by URL scheme through entry points."""

from __future__ import annotations

import pytest

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory
from hellodoctor_adapters.registry import UnknownStorage, open_storage, url_scheme


def test_the_memory_adapter_is_found_through_its_entry_point() -> None:
    assert isinstance(open_storage("memory://"), InMemoryUnitOfWorkFactory)


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("postgresql+psycopg://u@h/db", "postgresql"),
        ("sqlite:///var/hd.sqlite3", "sqlite"),
        ("mongodb+srv://cluster.example/hd", "mongodb"),
        ("MEMORY://", "memory"),
    ],
)
def test_the_driver_suffix_is_ignored(url: str, scheme: str) -> None:
    assert url_scheme(url) == scheme


@pytest.mark.parametrize("url", ["nosuchdb://x", "not a url"])
def test_unknown_storage_says_what_is_installed(url: str) -> None:
    with pytest.raises(UnknownStorage, match=r"memory|not a storage URL"):
        open_storage(url)
