"""A review as the JSON-keeping storages (SQL, MongoDB) hold it: its plain fields as columns
or keys, and the reply and the hiding as one JSON record, through the adapters' one converter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from hellodoctor_adapters.outbox import json_converter
from hellodoctor_domain.model.reviews import Review, ReviewHiding, ReviewReply
from hellodoctor_domain.model.values import AppointmentId, DoctorId, PatientId, ReviewId

T = TypeVar("T")


def review_record(review: Review) -> dict[str, Any]:
    """The reply and the hiding, as the JSON stores (SQL and MongoDB) keep them."""
    return {
        "reply": json_converter.unstructure(review.reply),
        "hiding": json_converter.unstructure(review.hiding),
    }


def review_from(fields: Any, record: Mapping[str, Any], version: int) -> Review:
    """``fields``: a row mapping or a document, anything indexable by column name."""
    return Review(
        ReviewId(fields["id"]),
        AppointmentId(fields["appointment_id"]),
        DoctorId(fields["doctor_id"]),
        PatientId(fields["patient_id"]),
        fields["rating"],
        fields["text"],
        fields["written_at"],
        reply=_optional(record["reply"], ReviewReply),
        hiding=_optional(record["hiding"], ReviewHiding),
        version=version,
    )


def _optional(value: Any, kind: type[T]) -> T | None:
    return None if value is None else json_converter.structure(value, kind)
