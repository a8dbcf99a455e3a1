"""Choosing a storage adapter by URL, through entry points.

A storage adapter registers, under the ``hellodoctor.unit_of_work`` entry-point group, a
callable ``open(url: str, *, publisher: EventPublisher | None) -> UnitOfWorkFactory`` named
after its URL scheme (``memory``, ``sqlite``, ``postgresql``, ``mongodb``...). A driver suffix
is ignored when matching (``postgresql+psycopg://`` finds ``postgresql``), so a third-party
package ``hellodoctor-foo`` only needs, in its own pyproject::

    [project.entry-points."hellodoctor.unit_of_work"]
    foo = "hellodoctor_foo:open_storage"

Housekeeping (optional). A factory whose storage needs cleaning up after crashed or abandoned
writers offers ``housekeeping(limit: int = 100) -> Mapping[str, int]``: idempotent, safe to run
in several processes at once, returning how many of each thing it did (``{"claims swept": 2}``).
``hellodoctor worker`` calls it on every pass; a factory without it simply has none. The built-in
factories all offer it: MongoDB repairs wallet writes, sweeps stale claims and relays stranded
events; memory and SQL, whose units of work are all or nothing, do nothing.

Delivery (optional). A factory whose outbox can be relayed offers ``delivery() ->
tuple[OutboxDelivery, Inbox]`` (``ports/outbox.py``): the outbox's delivery state and the
consumers' inbox, both in the same database. The built-in factories all offer it.

Retention (optional). A factory offers ``retention() -> RetentionStore``
(``ports/retention.py``): counts and bounded deletions of what the retention policy names
(docs/retention.md). The built-in factories all offer it.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from hellodoctor_domain.ports.outbox import Inbox, OutboxDelivery
from hellodoctor_domain.ports.retention import RetentionStore
from hellodoctor_domain.ports.unit_of_work import EventPublisher, UnitOfWorkFactory

if TYPE_CHECKING:
    from hellodoctor_adapters.crypto import FieldCipher

ENTRY_POINT_GROUP = "hellodoctor.unit_of_work"


class UnknownStorage(LookupError):
    """No installed adapter handles the URL's scheme."""


def url_scheme(url: str) -> str:
    scheme, separator, _ = url.partition(":")
    if not separator or not scheme:
        raise UnknownStorage(f"{url!r} is not a storage URL (expected scheme://...)")
    return scheme.split("+", 1)[0].lower()


def open_storage(
    url: str, *, publisher: EventPublisher | None = None, cipher: FieldCipher | None = None
) -> UnitOfWorkFactory:
    """The unit-of-work factory of the adapter registered for ``url``'s scheme; ``cipher``
    seals health data at rest (docs/encryption.md; ``None``: the development key ring)."""
    scheme = url_scheme(url)
    found = entry_points(group=ENTRY_POINT_GROUP, name=scheme)
    if not found:
        installed = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
        raise UnknownStorage(
            f"no storage adapter for {scheme!r} URLs is installed (installed: "
            f"{', '.join(installed) or 'none'}); install the matching extra, e.g. "
            f"pip install 'hellodoctor[{scheme}]'"
        )
    opener = next(iter(found)).load()
    factory: UnitOfWorkFactory = opener(url, publisher=publisher, cipher=cipher)
    return factory


def storage_delivery(storage: UnitOfWorkFactory) -> tuple[OutboxDelivery, Inbox] | None:
    """The storage's outbox delivery and inbox, when its factory offers them."""
    delivery = getattr(storage, "delivery", None)
    return delivery() if callable(delivery) else None


def storage_retention(storage: UnitOfWorkFactory) -> RetentionStore | None:
    """The storage's retention store, when its factory offers one."""
    retention = getattr(storage, "retention", None)
    found: RetentionStore | None = retention() if callable(retention) else None
    return found
