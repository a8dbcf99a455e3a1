"""In-memory adapters: the reference implementation of every storage port, and test doubles
of the outside services (a manual clock, sequential ids...), safe under threads.

They keep nothing between processes, so they are for tests, demos and embedding, not for a
deployment with more than one worker. The production clock and ids are in
``hellodoctor_adapters.runtime``, the offline payment gateway in
``hellodoctor_adapters.offline_payments``.
"""

from hellodoctor_adapters.memory.services import (
    InMemoryBlobStorage,
    InMemoryEventPublisher,
    InMemoryNotifier,
    ManualClock,
    SequentialIds,
)
from hellodoctor_adapters.memory.storage import InMemoryUnitOfWork, InMemoryUnitOfWorkFactory
from hellodoctor_adapters.memory.store import InMemoryStore

__all__ = [
    "InMemoryBlobStorage",
    "InMemoryEventPublisher",
    "InMemoryNotifier",
    "InMemoryStore",
    "InMemoryUnitOfWork",
    "InMemoryUnitOfWorkFactory",
    "ManualClock",
    "SequentialIds",
]
