"""A simulated sharded cluster for tests and ``benchmarks/bench_shards.py`` -- not a production
router (a real cluster has ``mongos``; docs/scaling.md).

``ShardedStore`` is the adapter's ``MongoStore`` with every collection replaced by ``Routed``,
which plays ``mongos`` for a hashed shard key of one field -- ``_id`` unless ``keys`` names
another for a collection: an operation whose filter names the key (with ``_id``, every
operation of the claim protocol and of the appointment writes) goes to exactly one shard,
chosen by a hash of its value; any other is broadcast to every shard, as ``mongos`` scatters a
query without the shard key (a single-document write without it goes to the shard where it
matches, as ``mongos`` does for a filter on ``_id``). A document inserted without the key goes
where a missing key hashes, as MongoDB routes it as null. A unique index is therefore enforced
per shard only, exactly as on a cluster -- ``_id`` too, unless it is the shard key. Each shard
is a database, on one server or on several; nothing else of the adapter changes, so the
protocol under test is the real one (``claims.py``, ``scheduling.py``, ``uow.py``).
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC
from typing import Any

from attrs import define, field
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.operations import UpdateOne

from hellodoctor_adapters.mongodb.documents import Document
from hellodoctor_adapters.mongodb.store import MongoStore
from hellodoctor_adapters.mongodb.uow import MongoUnitOfWorkFactory


def shard_of(key: object, shards: int) -> int:
    """The shard holding the document whose ``_id`` is ``key`` (a stable hash, as mongos')."""
    return zlib.crc32(str(key).encode()) % shards


class Scattered:
    """A broadcast query's answer: every shard's documents, merged here as mongos merges them."""

    def __init__(self, found: Iterable[Document]) -> None:
        self._found = list(found)

    def limit(self, count: int) -> Scattered:
        return Scattered(self._found[:count] if count else self._found)

    def sort(self, key: str | list[tuple[str, int]], direction: int = 1) -> Scattered:
        order = [(key, direction)] if isinstance(key, str) else list(key)
        found = list(self._found)
        for name, sense in reversed(order):  # stable sorts, least significant key first
            found.sort(key=lambda document: document[name], reverse=sense < 0)
        return Scattered(found)

    def __iter__(self) -> Iterator[Document]:
        return iter(self._found)


class Routed:
    """One collection spread over shards by a hash of ``_id``. Counts, per shard, the
    operations it served (``served``) and which shards it touched since the owner last asked
    (``touched``)."""

    def __init__(
        self, parts: list[Collection[Document]], served: Counter[int], key: str = "_id"
    ) -> None:
        self._parts = parts
        self._served = served
        self._key = key
        self.touched: set[int] = set()

    def _one(self, key: object) -> Collection[Document]:
        index = shard_of(key, len(self._parts))
        self._served[index] += 1
        self.touched.add(index)
        return self._parts[index]

    def _targets(self, query: Mapping[str, Any]) -> list[Collection[Document]]:
        value = query.get(self._key)
        if value is not None and not isinstance(value, dict):
            return [self._one(value)]
        for index in range(len(self._parts)):
            self._served[index] += 1
            self.touched.add(index)
        return self._parts

    def _single(self, method: str, query: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        """A single-document write: on its shard, or tried shard by shard until it matches."""
        targets = self._targets(query)
        if len(targets) > 1 and "_id" not in query:
            raise NotImplementedError(f"a single-document write without the shard key: {query}")
        result: Any = None
        for part in targets:
            result = getattr(part, method)(query, *args, **kwargs)
            matched = getattr(result, "matched_count", getattr(result, "deleted_count", None))
            if (result is not None and matched is None) or matched:
                break
        return result

    # -- reads ---------------------------------------------------------------------------

    def find_one(self, query: Mapping[str, Any], *args: Any, **kwargs: Any) -> Document | None:
        for part in self._targets(query):
            found = part.find_one(query, *args, **kwargs)
            if found is not None:
                return found
        return None

    def find(self, query: Mapping[str, Any] | None = None, *args: Any, **kwargs: Any) -> Scattered:
        asked = query or {}
        return Scattered(
            document
            for part in self._targets(asked)
            for document in part.find(asked, *args, **kwargs)
        )

    def aggregate(self, pipeline: list[Mapping[str, Any]], **kwargs: Any) -> Iterator[Document]:
        """Routed by a leading ``$match`` on the key, else scattered (concatenated: the
        adapter's scattered pipelines do not rely on a merged order). A ``$lookup`` of a
        collection keyed by the same ``_id`` finds its document on the same shard."""
        first = pipeline[0].get("$match", {}) if pipeline else {}
        return (
            document
            for part in self._targets(first)
            for document in part.aggregate(pipeline, **kwargs)
        )

    def count_documents(self, query: Mapping[str, Any]) -> int:
        return sum(part.count_documents(query) for part in self._targets(query))

    # -- writes --------------------------------------------------------------------------

    def insert_one(self, document: Document) -> Any:
        return self._one(document.get(self._key)).insert_one(document)

    def insert_many(self, documents: Iterable[Document], ordered: bool = True) -> None:
        for document in documents:  # each to its own shard
            try:
                self.insert_one(document)
            except DuplicateKeyError:
                if ordered:
                    raise

    def bulk_write(self, requests: list[UpdateOne], ordered: bool = True) -> None:
        """As ``mongos`` runs a bulk: each statement on its own shard, in order; an ordered
        bulk stops at the first refusal, which is reported at its index."""
        errors: list[Document] = []
        for index, request in enumerate(requests):
            if not isinstance(request, UpdateOne):
                raise NotImplementedError(f"a bulk {type(request).__name__}")
            try:
                self.update_one(request._filter, request._doc, upsert=bool(request._upsert))
            except DuplicateKeyError:
                errors.append({"index": index, "code": 11000, "errmsg": "duplicate key"})
                if ordered:
                    break
        if errors:
            raise BulkWriteError({"writeErrors": errors, "writeConcernErrors": []})

    def update_one(self, query: Mapping[str, Any], update: Any, **kwargs: Any) -> Any:
        return self._single("update_one", query, update, **kwargs)

    def find_one_and_update(self, query: Mapping[str, Any], update: Any, **kwargs: Any) -> Any:
        return self._single("find_one_and_update", query, update, **kwargs)

    def replace_one(self, query: Mapping[str, Any], document: Document, **kwargs: Any) -> Any:
        return self._single("replace_one", query, document, **kwargs)

    def delete_one(self, query: Mapping[str, Any]) -> Any:
        return self._single("delete_one", query)

    def update_many(self, query: Mapping[str, Any], update: Any, **kwargs: Any) -> None:
        for part in self._targets(query):
            part.update_many(query, update, **kwargs)

    def delete_many(self, query: Mapping[str, Any]) -> None:
        for part in self._targets(query):
            part.delete_many(query)


@define
class ShardedStore(MongoStore):
    """The adapter's store with every collection routed over ``shards``, by the hashed field
    ``keys`` names for it (``_id`` for the others)."""

    shards: list[Database[Document]] = field(factory=list)
    keys: Mapping[str, str] = field(factory=dict)
    served: Counter[int] = field(factory=Counter)
    routed: dict[str, Routed] = field(factory=dict)

    def collection(self, name: str) -> Collection[Document]:
        if name not in self.routed:
            self.routed[name] = Routed(
                [shard.get_collection(name) for shard in self.shards],
                self.served,
                self.keys.get(name, "_id"),
            )
        return self.routed[name]  # type: ignore[return-value]

    def touched(self) -> set[int]:
        """The shards operations went to since the last call."""
        found: set[int] = set()
        for routed in self.routed.values():
            found |= routed.touched
            routed.touched.clear()
        return found

    def truncate(self) -> None:
        for shard in self.shards:
            for name in shard.list_collection_names():
                shard.get_collection(name).delete_many({})


def sharded_factory(
    targets: list[tuple[str, str]],
    *,
    make_indexes: bool = True,
    keys: Mapping[str, str] | None = None,
    **options: Any,
) -> MongoUnitOfWorkFactory:
    """A factory whose units of work route over the shards ``targets`` -- ``(url, database)``
    each, one client per distinct URL; ``keys`` maps a collection to its shard key (``_id``
    when not named). Unless ``make_indexes`` is false (another factory made
    them), each shard's indexes are made here by a plain factory over that database (indexes
    are per shard on a cluster too). ``options`` go to ``MongoUnitOfWorkFactory``."""
    if make_indexes:
        for url, name in targets:
            plain = MongoUnitOfWorkFactory(url, database=name)
            plain.ensure_indexes()
            plain.close()
    factory = MongoUnitOfWorkFactory(targets[0][0], database=targets[0][1], **options)
    first = factory.store
    clients: dict[str, MongoClient[Document]] = {targets[0][0]: factory.client}
    databases = []
    for url, name in targets:
        client = clients.get(url) or clients.setdefault(
            url, MongoClient(url, tz_aware=True, tzinfo=UTC)
        )
        databases.append(
            client.get_database(
                name,
                codec_options=first.database.codec_options,
                write_concern=first.database.write_concern,
            )
        )
    factory.store = ShardedStore(
        first.database,
        first.lease,
        first.clock,
        first.wait_for_in_flight,
        first.cipher,
        shards=databases,
        keys=dict(keys or {}),
    )
    factory.ensure_indexes = lambda: None  # type: ignore[method-assign]  # made above, per shard
    others = [client for client in clients.values() if client is not factory.client]
    close = factory.close

    def close_every_client() -> None:
        close()
        for client in others:
            client.close()

    factory.close = close_every_client  # type: ignore[method-assign]
    return factory
