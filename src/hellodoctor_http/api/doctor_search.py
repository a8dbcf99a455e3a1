"""``GET /api/v1/doctors``: the doctor search (issue 16, docs/search.md). The query string is
read through the declarations the route publishes; the whole page is one use-case call
(``DoctorFinder.search``), so a cache may wrap it."""

from __future__ import annotations

import math
from typing import Any

import falcon

from hellodoctor_domain.errors import InvalidValue
from hellodoctor_domain.model.reviews import DoctorRating
from hellodoctor_domain.model.values import DoctorId, HospitalId, SchemeId
from hellodoctor_domain.ports.search import DoctorSearch, SearchHit, SearchSort, key_instant
from hellodoctor_domain.use_cases.search import DoctorFinder, Place
from hellodoctor_http.api import Resource
from hellodoctor_http.api.values import iso
from hellodoctor_http.auth import require_actor
from hellodoctor_http.converters import write_json
from hellodoctor_http.json_schema import ID_PATTERN, items, request_body
from hellodoctor_http.openapi import (
    API,
    BODY_PROBLEMS,
    CURSOR_PARAM,
    STRING,
    Operation,
    Param,
    Route,
    answer,
    date_query,
    id_query,
    integer_query,
    path_param,
    query_param,
    text_query,
)
from hellodoctor_http.params import QueryReader, encode_cursor
from hellodoctor_http.problems import FieldError, Problem

MAX_FEE = 10**12
HORIZON_DAYS = 30


def _number(low: float, high: float) -> dict[str, Any]:
    return {"type": "number", "minimum": low, "maximum": high}


SEARCH_PARAMS: tuple[Param, ...] = (
    text_query("specialty", "Exact, case-insensitive."),
    text_query("language", "One of the doctor's languages."),
    text_query("text", "Words of the name, specialty or qualifications (all of them)."),
    query_param("accepting", {"type": "boolean"}, "Only doctors taking bookings."),
    id_query("hospital_id", "Only that hospital's doctors."),
    text_query("city", "Only doctors of the city's hospitals."),
    query_param("latitude", _number(-90, 90), "With longitude and radius_km: near a point."),
    query_param("longitude", _number(-180, 180), "Degrees east."),
    query_param("radius_km", _number(0, 20_000), "Of hospitals the doctor works at."),
    id_query("scheme_id", "Only doctors accepting this insurance scheme."),
    query_param(
        "currency",
        {"type": "string", "pattern": "^[A-Z]{3}$", "maxLength": 3},
        "Fees in this currency only (needed by fee_min and fee_max).",
    ),
    integer_query("fee_min", 0, MAX_FEE, description="Lowest fee, minor units."),
    integer_query("fee_max", 0, MAX_FEE, description="Highest fee, minor units."),
    query_param("min_rating", _number(0, 5), "Lowest average of the visible reviews."),
    date_query("available_on", "A free slot on this date (the doctor's zone)."),
    integer_query("within_days", 1, HORIZON_DAYS, description="A free slot within this many days."),
    query_param(
        "sort",
        {"type": "string", "enum": [s.value for s in SearchSort], "default": "id", "maxLength": 20},
        "relevance (needs text), rating, fee, earliest (free slot), or id.",
    ),
    CURSOR_PARAM,
    integer_query("limit", 1, 100, 20),
)


def _float(
    req: falcon.Request, params: QueryReader, name: str, low: float, high: float
) -> float | None:
    # Read as sent: a number the schema allows may be written in more than 20 characters.
    raw = req.get_param(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = float(raw) if isinstance(raw, str) and len(raw) <= 64 else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not low <= value <= high:
        params.errors.append(FieldError(name, f"a number from {low:g} to {high:g}"))
        return None
    return value


def _sort(params: QueryReader) -> SearchSort:
    raw = params.text("sort")
    if raw is None:
        return SearchSort.ID
    try:
        return SearchSort(raw)
    except ValueError:
        params.errors.append(FieldError("sort", f"one of {', '.join(s.value for s in SearchSort)}"))
        return SearchSort.ID


def _after(params: QueryReader, sort: SearchSort) -> tuple[float | int | str, str] | None:
    cursor = params.cursor()
    if cursor is None:
        return None
    wanted: tuple[type, ...] = {
        SearchSort.RELEVANCE: (float, int),
        SearchSort.RATING: (float, int),
        SearchSort.FEE: (int,),
        SearchSort.EARLIEST: (str,),
        SearchSort.ID: (str,),
    }[sort]
    if (
        isinstance(cursor, dict)
        and cursor.get("sort") == sort.value
        and isinstance(cursor.get("id"), str)
        and isinstance(cursor.get("key"), wanted)
        and not isinstance(cursor.get("key"), bool)
        and _sane(sort, cursor["key"])
    ):
        return cursor["key"], cursor["id"]
    params.fail("cursor", "not a cursor this API gave out for this sort")
    return None


def _sane(sort: SearchSort, key: float | str) -> bool:
    """A key the storage can compare: finite, in the column's range, an instant we wrote."""
    if isinstance(key, float):
        return math.isfinite(key)
    if isinstance(key, int):
        return 0 <= key <= MAX_FEE if sort is SearchSort.FEE else abs(key) <= 10
    if sort is SearchSort.EARLIEST:
        try:
            key_instant(key)
        except ValueError:
            return False
    return True


def hit_json(hit: SearchHit) -> dict[str, Any]:
    from hellodoctor_http.api.doctors import doctor_json

    rating = DoctorRating(hit.doctor.id, hit.rating_count, hit.rating_total)
    return {**doctor_json(hit.doctor, rating), "next_free_slot": iso(hit.next_free)}


def find_doctors(components: Any, req: falcon.Request, resp: falcon.Response) -> None:
    params = QueryReader(req, SEARCH_PARAMS)
    hospital, city = params.text("hospital_id"), params.text("city")
    latitude = _float(req, params, "latitude", -90, 90)
    longitude = _float(req, params, "longitude", -180, 180)
    radius = _float(req, params, "radius_km", 0, 20_000)
    scheme = params.text("scheme_id")
    sort = _sort(params)
    fields: dict[str, Any] = {
        "specialty": params.text("specialty"),
        "language": params.text("language"),
        "text": params.text("text"),
        "accepting_bookings": params.boolean("accepting"),
        "scheme_id": None if scheme is None else SchemeId(scheme),
        "fee_currency": params.text("currency"),
        "fee_min": params.integer("fee_min"),
        "fee_max": params.integer("fee_max"),
        "min_rating": _float(req, params, "min_rating", 0, 5),
        "free_on": params.day("available_on"),
        "free_within_days": params.integer("within_days"),
        "sort": sort,
    }
    limit = params.count("limit")
    after = _after(params, sort)
    params.done()
    try:
        query = DoctorSearch(**fields, after=after, limit=limit)
        place = Place(
            hospital_id=None if hospital is None else HospitalId(hospital),
            city=city,
            latitude=latitude,
            longitude=longitude,
            radius_km=radius,
        )
    except InvalidValue as error:
        raise Problem("invalid-value", str(error)) from None
    found = _finder(components).search(query, place)
    write_json(
        resp,
        {
            "items": [hit_json(hit) for hit in found.hits],
            "next_cursor": None
            if found.next_after is None
            else encode_cursor(
                {"sort": sort.value, "key": found.next_after[0], "id": found.next_after[1]}
            ),
        },
    )


# -- the insurance schemes a doctor accepts ---------------------------------------------------


@request_body
class DoctorSearchSchemesBody:
    """Replaces the list; an empty list accepts none."""

    scheme_ids: tuple[str, ...] = items(
        50, each={"maxLength": 100, "pattern": ID_PATTERN}, uniqueItems=True
    )


def schemes_json(doctor_id: DoctorId, schemes: frozenset[SchemeId]) -> dict[str, Any]:
    return {"doctor_id": doctor_id.value, "scheme_ids": sorted(s.value for s in schemes)}


def _finder(components: Any) -> DoctorFinder:
    finder = components.finder
    assert finder is not None, "bootstrap builds the doctor search"
    return finder  # type: ignore[no-any-return]


class DoctorSchemes(Resource):
    def on_get(self, _req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        key = DoctorId(doctor_id)
        write_json(resp, schemes_json(key, _finder(self.components).schemes(key)))

    def on_put(self, req: falcon.Request, resp: falcon.Response, doctor_id: str) -> None:
        actor = require_actor(req)
        body = self.body(req, DoctorSearchSchemesBody)
        key = DoctorId(doctor_id)
        chosen = _finder(self.components).accept_schemes(
            actor, key, [SchemeId(s) for s in body.scheme_ids]
        )
        write_json(resp, schemes_json(key, chosen))


SCHEMAS: dict[str, Any] = {
    "DoctorSchemes": answer(doctor_id=STRING, scheme_ids={"type": "array", "items": STRING}),
}
_DOCTOR = path_param("doctor_id", "A doctor's id.")
ROUTES: tuple[Route, ...] = (
    Route(
        f"{API}/doctors/{{doctor_id}}/insurance-schemes",
        DoctorSchemes,
        {
            "get": Operation(
                "The insurance schemes a doctor accepts (the search's scheme_id filter)",
                "public",
                "anyone",
                response="DoctorSchemes",
                params=(_DOCTOR,),
                problems=("not-found",),
            ),
            "put": Operation(
                "Replace the insurance schemes a doctor accepts",
                "bearer",
                "that doctor, admin",
                response="DoctorSchemes",
                body=DoctorSearchSchemesBody,
                params=(_DOCTOR,),
                problems=("not-found", *BODY_PROBLEMS),
            ),
        },
    ),
)
