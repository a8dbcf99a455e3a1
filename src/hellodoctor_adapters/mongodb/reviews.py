"""Reviews and ratings on MongoDB.

Reviews are buffered like the profiles (``store.Profiles``): an insert under the unique
``_id`` and the unique ``appointment_id`` index (one review per visit, whatever the race),
updates a compare-and-set on ``version``, at commit.

A rating changes by ``$inc`` on the doctor's ``doctor_ratings`` document, which the server
applies atomically, so concurrent reviews add up exactly. Without a multi-document
transaction, a crash between a review's write and its ``$inc`` must not lose the increment nor
apply it twice. So each change is first written to ``rating_journal`` (before the review, in
the same commit, undone with it); once the commit's writes are done it is applied by one
guarded update, ``{_id: doctor, applied: {$ne: entry}}`` with ``$inc`` and ``$push`` of the
entry id (a second application finds no match), then the entry is deleted and its id pulled.
``MongoRatingRepair.repair`` (run by ``hellodoctor worker``'s housekeeping) finishes entries
older than a minute whose review did land and drops those whose review did not.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Sequence
from datetime import timedelta

from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from hellodoctor_adapters.mongodb.documents import Document, from_micros, to_micros
from hellodoctor_adapters.mongodb.search import rating_fields
from hellodoctor_adapters.mongodb.store import (
    AGGREGATE_COLLECTIONS,
    MongoStore,
    Profiles,
    Undo,
    translated,
)
from hellodoctor_adapters.review_records import review_from, review_record
from hellodoctor_domain.model.reviews import DoctorRating, Review
from hellodoctor_domain.model.values import DoctorId, ReviewId
from hellodoctor_domain.ports.reviews import RatingLedger, ReviewCursor, ReviewRepository

# A journal entry younger than this may belong to a commit still in progress.
STALE_ENTRY = timedelta(minutes=1)


class MongoReviewRepository(Profiles[Review], ReviewRepository):
    kind = Review
    label = "review"
    aggregate_type = "review"

    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, AGGREGATE_COLLECTIONS[self.aggregate_type])

    def _document(self, value: Review) -> Document:
        return {
            "_id": value.id.value,
            "appointment_id": value.appointment_id.value,
            "doctor_id": value.doctor_id.value,
            "patient_id": value.patient_id.value,
            "rating": value.rating,
            "text": value.text,
            "written_us": to_micros(value.written_at),  # exact, unlike a BSON date
            "visible": value.visible,
            "record": review_record(value),
            "version": value.version,
        }

    def _current(self, key: str) -> Review | None:
        change = self.pending.get(key)
        if change is not None:
            return _review(self._document(change.value))
        document = self._read(key)
        return None if document is None else _review(document)

    @translated
    def _add(self, review: Review) -> None:
        self._stage_add(review)

    @translated
    def _get(self, review_id: ReviewId) -> Review:
        return self._find(review_id.value)

    @translated
    def _update(self, review: Review) -> None:
        self._stage_update(review)

    @translated
    def _of_doctor(
        self,
        doctor_id: DoctorId,
        include_hidden: bool,
        limit: int,
        before: ReviewCursor | None,
    ) -> Sequence[Review]:
        query: Document = {"doctor_id": doctor_id.value}
        if not include_hidden:
            query["visible"] = True
        if before is not None:
            at, review_id = before
            query["$or"] = [
                {"written_us": {"$lt": to_micros(at)}},
                {"written_us": to_micros(at), "_id": {"$lt": review_id.value}},
            ]
        found = self._collection.find(query).sort([("written_us", -1), ("_id", -1)]).limit(limit)
        return [_review(document) for document in found]


def _review(document: Document) -> Review:
    fields = {**document, "id": document["_id"], "written_at": from_micros(document["written_us"])}
    return review_from(fields, document["record"], document["version"])


class MongoRatingLedger(RatingLedger):
    def __init__(self, store: MongoStore) -> None:
        self._ratings: Collection[Document] = store.collection("doctor_ratings")
        self._doctors: Collection[Document] = store.collection("doctors")
        self._journal: Collection[Document] = store.collection("rating_journal")
        self._clock = store.clock
        self._entries: list[Document] = []

    def add(self, review: Review) -> None:
        self._entries.append(_entry(review, "add", +1, review.rating))

    def withdraw(self, review: Review) -> None:
        self._entries.append(_entry(review, "withdraw", -1, -review.rating))

    @translated
    def ratings(self, doctor_ids: Sequence[DoctorId]) -> dict[DoctorId, DoctorRating]:
        wanted = [d.value for d in doctor_ids]
        found = {
            d["_id"]: DoctorRating(DoctorId(d["_id"]), d["count"], d["total"])
            for d in self._ratings.find({"_id": {"$in": wanted}})
        }
        return {d: found.get(d.value, DoctorRating(d)) for d in doctor_ids}

    # -- at commit (uow.py) ----------------------------------------------------------------

    def flush_journal(self, undo: list[Undo]) -> None:
        """Before the reviews: each change's journal entry, naming the review it follows."""
        if not self._entries:
            return
        for entry in self._entries:
            entry["at"] = self._clock()
        self._journal.insert_many(self._entries)
        ids = [entry["_id"] for entry in self._entries]

        def undo_journal() -> None:
            self._journal.delete_many({"_id": {"$in": ids}})

        undo.append(undo_journal)

    def settle(self) -> None:
        """After the commit: apply each journal entry once, then forget it."""
        for entry in self._entries:
            apply_entry(self._ratings, self._journal, entry, self._doctors)
        self._entries = []


def _entry(review: Review, kind: str, count: int, total: int) -> Document:
    return {
        "_id": uuid.uuid4().hex,
        "review_id": review.id.value,
        "kind": kind,
        "doctor_id": review.doctor_id.value,
        "count": count,
        "total": total,
    }


def apply_entry(
    ratings: Collection[Document],
    journal: Collection[Document],
    entry: Document,
    doctors: Collection[Document],
) -> None:
    # ``seq`` counts the changes applied: the doctor's copy for the search (``_rating``,
    # mongodb/search.py) is written from the counts this update returns, only over a lower
    # ``seq``, so of two racing changes the later one's counts stay.
    change = {"$inc": {"count": entry["count"], "total": entry["total"], "seq": 1}}
    applied = None
    # A duplicate key: the document exists and already names the entry, so it was applied.
    with contextlib.suppress(DuplicateKeyError):
        applied = ratings.find_one_and_update(
            {"_id": entry["doctor_id"], "applied": {"$ne": entry["_id"]}},
            {**change, "$push": {"applied": entry["_id"]}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
    if applied is not None:
        seq = applied["seq"]
        doctors.update_one(
            {
                "_id": entry["doctor_id"],
                "$or": [{"_rating.seq": {"$exists": False}}, {"_rating.seq": {"$lt": seq}}],
            },
            {"$set": {"_rating": rating_fields(seq, applied["count"], applied["total"])}},
        )
    journal.delete_one({"_id": entry["_id"]})
    ratings.update_one({"_id": entry["doctor_id"]}, {"$pull": {"applied": entry["_id"]}})


class MongoRatingRepair:
    """Finishes what a crash cut short between a review's write and its rating's ``$inc``."""

    def __init__(self, store: MongoStore) -> None:
        self._reviews = store.collection("reviews")
        self._ratings = store.collection("doctor_ratings")
        self._doctors = store.collection("doctors")
        self._journal = store.collection("rating_journal")
        self._clock = store.clock

    def repair(self, limit: int = 100) -> int:
        stale = self._journal.find({"at": {"$lt": self._clock() - STALE_ENTRY}}).limit(limit)
        repaired = 0
        for entry in stale:
            # Did the review's write land? A written review exists; a hidden one is invisible.
            wanted: Document = {"_id": entry["review_id"]}
            if entry["kind"] == "withdraw":
                wanted["visible"] = False
            landed = self._reviews.find_one(wanted)
            if landed is None:
                self._journal.delete_one({"_id": entry["_id"]})  # its commit was undone
                continue
            apply_entry(self._ratings, self._journal, entry, self._doctors)
            repaired += 1
        return repaired
