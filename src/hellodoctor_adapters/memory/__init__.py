"""In-memory adapters: the reference implementation of every port, safe under threads.

They keep nothing between processes, so they are for tests, demos and embedding, not for a
deployment with more than one worker.
"""

from hellodoctor_adapters.memory.services import (
    InMemoryBlobStorage,
    InMemoryEventPublisher,
    InMemoryNotifier,
    ManualClock,
    OfflinePaymentGateway,
    SequentialIds,
    SystemClock,
    UuidIds,
    WebhookDelivery,
)
from hellodoctor_adapters.memory.storage import (
    InMemoryStore,
    InMemoryUnitOfWork,
    InMemoryUnitOfWorkFactory,
)

__all__ = [
    "InMemoryBlobStorage",
    "InMemoryEventPublisher",
    "InMemoryNotifier",
    "InMemoryStore",
    "InMemoryUnitOfWork",
    "InMemoryUnitOfWorkFactory",
    "ManualClock",
    "OfflinePaymentGateway",
    "SequentialIds",
    "SystemClock",
    "UuidIds",
    "WebhookDelivery",
]
