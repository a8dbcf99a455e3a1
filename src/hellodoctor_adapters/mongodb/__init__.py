"""MongoDB adapters (pymongo): storage that keeps the no-double-booking guarantee on a
standalone server, without multi-document transactions. ``docs/mongodb.md`` explains how.

Install with the ``mongodb`` extra; select with ``HELLODOCTOR_DATABASE_URL=mongodb://...``.
"""

from hellodoctor_adapters.mongodb.store import MongoStore
from hellodoctor_adapters.mongodb.uow import (
    MongoUnitOfWork,
    MongoUnitOfWorkFactory,
    open_mongodb_storage,
)

__all__ = ["MongoStore", "MongoUnitOfWork", "MongoUnitOfWorkFactory", "open_mongodb_storage"]
