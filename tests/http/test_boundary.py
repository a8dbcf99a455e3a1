"""The input boundary, class by class, over every route it applies to: the cases are
generated from the route table (``app.ROUTES``) and the body classes it declares, so a new
route or field is covered without a new test.

Each class of hostile input (deep JSON, dates at the calendar's edges, huge integers, NUL and
control characters, malformed ids, non-ASCII digits, over-long strings) is refused with a 4xx
problem that names the field and quotes at most a short prefix; none is ever a 5xx (the
client also checks every answer against /openapi.json).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any

import attrs
import pytest

from hellodoctor_adapters.memory import InMemoryUnitOfWorkFactory
from hellodoctor_domain.model.values import EmailAddress
from hellodoctor_domain.ports.unit_of_work import UnitOfWorkFactory
from hellodoctor_http.api.doctors import TIME_ZONE
from hellodoctor_http.api.preferences import LANGUAGE_PATTERN, PHONE_PATTERN
from hellodoctor_http.api.profiles import LANGUAGE_PATTERN as PROFILE_LANGUAGE
from hellodoctor_http.api.profiles import ZONE_OR_EMPTY
from hellodoctor_http.api.values import CURRENCY
from hellodoctor_http.app import ROUTES
from hellodoctor_http.auth import TokenCodec
from hellodoctor_http.bootstrap import Components
from hellodoctor_http.json_schema import (
    DATE_TIME_PATTERN,
    ID_PATTERN,
    METADATA_KEY,
    TOTP_PATTERN,
)
from hellodoctor_http.openapi import Operation, Route
from hellodoctor_http.testing import FEE_DOCTOR, Headers, ValidatingClient

PATH_VALUES = {
    "doctor_id": FEE_DOCTOR,
    "appointment_id": "appt-1",
    "document_id": "doc-1",
    "entry_id": "entry-1",
    "hospital_id": "hosp-1",
    "transfer_id": "tr-1",
    "scheme_id": "scheme-1",
    "claim_id": "claim-1",
    "review_id": "rev-1",
    "name": "init.js",
    "patient_id": "pat-1",
    "record_id": "rec-1",
    "consent_id": "con-1",
    "grant_id": "em-1",
    "series_id": "series-1",
    "token": "0" * 64,  # fits an emergency card's token and a calendar feed's (none stored: 404)
}


def _operations() -> Iterator[tuple[str, str, Route, Operation]]:
    for route in ROUTES:
        for method, operation in route.operations.items():
            yield method, _path(route.path), route, operation


def _path(template: str, **overrides: str) -> str:
    values = {**PATH_VALUES, **overrides}
    return re.sub(r"\{(\w+)\}", lambda m: values[m[1]], template)


def _id(method: str, path: str) -> str:
    return f"{method.upper()} {path}"


# -- what each body declares: (JSON path, body to send, field keywords) per scalar field ------


def _leaves(cls: type[Any], wanted: Any) -> Iterator[tuple[str, list[Any], dict[str, Any]]]:
    """(JSON path, keys to it, keywords) for every field of ``cls`` (nested bodies and lists
    of them included) whose type ``wanted`` accepts."""
    hints = typing.get_type_hints(cls)
    for field in attrs.fields(cls):
        hint, keywords = _unwrapped(hints[field.name]), dict(field.metadata.get(METADATA_KEY, {}))
        in_list = typing.get_origin(hint) in (tuple, list)
        inner = typing.get_args(hint)[0] if in_list else hint
        keys: list[Any] = [field.name, 0] if in_list else [field.name]
        label = f"{field.name}[0]" if in_list else field.name
        if isinstance(inner, type) and attrs.has(inner) and inner not in _BY_TYPE:
            for path, below, found in _leaves(inner, wanted):
                yield f"{label}.{path}", keys + below, found
        elif wanted(inner):
            yield label, keys, keywords.get("items", {}) if in_list else keywords


def _unwrapped(hint: Any) -> Any:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


# A value of the right shape for each pattern a field may declare.
_BY_PATTERN = {
    ID_PATTERN: "a1",
    TOTP_PATTERN: "123456",
    CURRENCY: "GBP",
    TIME_ZONE["pattern"]: "UTC",
    LANGUAGE_PATTERN: "en",
    PROFILE_LANGUAGE: "en",
    PHONE_PATTERN: "+447911123456",
    ZONE_OR_EMPTY: "UTC",
}
_BY_TYPE: dict[Any, Any] = {
    str: "x",
    bool: False,
    float: 0.0,
    datetime: "2030-01-07T09:00:00Z",
    date: "2000-01-01",
    time: "09:00",
    EmailAddress: "someone@example.com",
}


def sample(cls: type[Any]) -> dict[str, Any]:
    """A body of ``cls`` that passes the boundary (the domain may still refuse it): every
    field present, each at a value its declaration takes."""
    hints = typing.get_type_hints(cls)
    body: dict[str, Any] = {}
    for field in attrs.fields(cls):
        hint, keywords = _unwrapped(hints[field.name]), field.metadata.get(METADATA_KEY, {})
        if typing.get_origin(hint) in (tuple, list):
            inner = typing.get_args(hint)[0]
            body[field.name] = [sample(inner)] if attrs.has(inner) else []
        elif hint in _BY_TYPE and hint is not str:
            body[field.name] = _BY_TYPE[hint]
        elif attrs.has(hint):
            body[field.name] = sample(hint)
        elif "enum" in keywords:
            body[field.name] = keywords["enum"][0]
        elif "pattern" in keywords:
            body[field.name] = _BY_PATTERN[keywords["pattern"]]
        elif hint is int:
            body[field.name] = keywords["minimum"]
        elif hint is str and "minLength" in keywords:
            body[field.name] = "x" * keywords["minLength"]
        else:
            body[field.name] = _BY_TYPE[hint]
    return body


def _placing(cls: type[Any], keys: list[Any]) -> Any:
    """A function of a value: the sample body of ``cls`` with the value at ``keys``."""

    def build(value: Any) -> Any:
        body = sample(cls)
        place = body
        for key in keys[:-1]:
            place = place[key]
        if isinstance(place, list) and keys[-1] == len(place):
            place.append(value)
        else:
            place[keys[-1]] = value
        return body

    return build


def _body_fields(hint_filter: Any) -> list[Any]:
    cases = []
    for method, path, _route, operation in _operations():
        body = operation.body
        if body is None or isinstance(body, str):
            continue
        for cls in body if isinstance(body, tuple) else (body,):
            for field, keys, keywords in _leaves(cls, hint_filter):
                build = _placing(cls, keys)
                cases.append(
                    pytest.param(
                        method,
                        path,
                        field,
                        build,
                        keywords,
                        id=f"{_id(method, path)} {cls.__name__}.{field}",
                    )
                )
    return cases


def _is(kind: type) -> Any:
    return lambda hint: hint is kind


def _is_text(hint: Any) -> bool:
    return hint in (str, EmailAddress)


def _query_params(predicate: Any) -> list[Any]:
    return [
        pytest.param(method, path, param, id=f"{_id(method, path)} ?{param.name}")
        for method, path, _route, operation in _operations()
        for param in operation.params
        if param.where == "query" and predicate(param.schema)
    ]


def _send(
    client: ValidatingClient, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> Any:
    result = client.simulate_request(method.upper(), path, headers=headers, **kwargs)
    assert result.status_code < 500, (method, path, result.status_code, result.text[:300])
    return result


@pytest.fixture
def storage() -> UnitOfWorkFactory:
    """One storage here, not the conftest's two: every case is refused at the boundary, before
    a storage is touched (the schemathesis run drives the same routes on SQLite and PostgreSQL,
    and test_storage_errors.py what each database refuses). Halves this module's minutes."""
    return InMemoryUnitOfWorkFactory()


@pytest.fixture
def every_role(
    as_patient: Headers,
    as_doctor: Headers,
    as_admin: Headers,
    components: Components,
    codec: TokenCodec,
) -> list[dict[str, str]]:
    """A field is checked when the body is read; some routes refuse some roles first (and the
    account routes want an account that exists), so each case is sent as each role, and one
    of them must reach the body."""
    account = components.identity.create_admin(
        EmailAddress("boundary@example.com"), "a long enough password"
    )
    token, _ = codec.issue(account.id.value, "admin")
    return [{}, as_patient(), as_doctor(), as_admin(), {"Authorization": f"Bearer {token}"}]


def _field_refusals(
    client: ValidatingClient, roles: list[dict[str, str]], method: str, path: str, **kwargs: Any
) -> list[dict[str, Any]]:
    """The problems of every role's answer that listed field errors."""
    problems = []
    for headers in roles:
        result = _send(client, method, path, headers, **kwargs)
        if result.status_code == 422 and "errors" in result.json:
            problems.append(result.json)
    return problems


def _named(problems: list[dict[str, Any]], field: str) -> bool:
    return any(field in {error["field"] for error in p["errors"]} for p in problems)


# -- deep JSON ----------------------------------------------------------------------------


JSON_BODIES = [
    pytest.param(method, path, id=_id(method, path))
    for method, path, _route, operation in _operations()
    if operation.body is not None and not isinstance(operation.body, str)
]


@pytest.mark.parametrize(("method", "path"), JSON_BODIES)
@pytest.mark.parametrize("opening", ["[", '{"a":'])
def test_deeply_nested_json_is_a_400_never_a_500(
    client: ValidatingClient, every_role: list[dict[str, str]], method: str, path: str, opening: str
) -> None:
    closing = "]" if opening == "[" else "}"
    # Under the 4 KiB body limit; the arrays go past the parser's recursion limit.
    depth = 1500 if opening == "[" else 600
    body = opening * depth + "1" + closing * depth
    answers = [
        _send(client, method, path, {**headers, "Content-Type": "application/json"}, body=body)
        for headers in every_role
    ]
    assert any(answer.json["type"].endswith("/malformed-body") for answer in answers)


# -- dates at the calendar's edges --------------------------------------------------------


EDGE_MOMENTS = ["9999-12-31T23:30:00-01:00", "0001-01-01T00:00:00+01:00", "1899-12-31T23:00:00Z"]
EDGE_DATES = ["9999-12-31", "0001-01-01", "2201-01-01"]


@pytest.mark.parametrize(
    ("method", "path", "field", "build", "keywords"), _body_fields(_is(datetime))
)
@pytest.mark.parametrize("moment", EDGE_MOMENTS)
def test_body_date_times_outside_the_calendar_are_refused(
    client: ValidatingClient,
    every_role: list[dict[str, str]],
    method: str,
    path: str,
    field: str,
    build: Any,
    keywords: dict[str, Any],
    moment: str,
) -> None:
    problems = _field_refusals(client, every_role, method, path, json=build(moment))
    assert _named(problems, field)


@pytest.mark.parametrize(("method", "path", "field", "build", "keywords"), _body_fields(_is(date)))
@pytest.mark.parametrize("day", EDGE_DATES)
def test_body_dates_outside_the_calendar_are_refused(
    client: ValidatingClient,
    every_role: list[dict[str, str]],
    method: str,
    path: str,
    field: str,
    build: Any,
    keywords: dict[str, Any],
    day: str,
) -> None:
    problems = _field_refusals(client, every_role, method, path, json=build(day))
    assert _named(problems, field)


@pytest.mark.parametrize(
    ("method", "path", "param"),
    _query_params(lambda schema: schema.get("pattern") == DATE_TIME_PATTERN),
)
@pytest.mark.parametrize("moment", EDGE_MOMENTS)
def test_query_date_times_outside_the_calendar_are_refused(
    client: ValidatingClient,
    every_role: list[dict[str, str]],
    method: str,
    path: str,
    param: Any,
    moment: str,
) -> None:
    problems = _field_refusals(client, every_role, method, path, params={param.name: moment})
    assert _named(problems, param.name)


def test_a_date_of_birth_in_the_future_is_refused(client: ValidatingClient) -> None:
    refused = client.simulate_post(
        "/api/v1/auth/register",
        json={
            "email": "future@example.com",
            "password": "a long enough password",
            "name": "Future",
            "date_of_birth": "2199-12-31",
        },
    )
    assert refused.status_code == 422
    assert "date_of_birth" in refused.json["detail"]


# -- integers: bounded, and the bound itself accepted ------------------------------------


def _is_int(hint: Any) -> bool:
    return hint is int


@pytest.mark.parametrize(("method", "path", "field", "build", "keywords"), _body_fields(_is_int))
@pytest.mark.parametrize("size", [10**12 + 1, 2**63, 10**30, -(2**63) - 1])
def test_body_integers_beyond_their_bounds_are_refused(
    client: ValidatingClient,
    every_role: list[dict[str, str]],
    method: str,
    path: str,
    field: str,
    build: Any,
    keywords: dict[str, Any],
    size: int,
) -> None:
    assert keywords["maximum"] < size or keywords["minimum"] > size
    problems = _field_refusals(client, every_role, method, path, json=build(size))
    assert _named(problems, field)


@pytest.mark.parametrize(
    ("method", "path", "param"), _query_params(lambda schema: schema.get("type") == "integer")
)
def test_query_integers_take_their_documented_bounds_and_nothing_past(
    client: ValidatingClient, every_role: list[dict[str, str]], method: str, path: str, param: Any
) -> None:
    low, high = param.schema["minimum"], param.schema["maximum"]
    for value in (low, high):
        problems = _field_refusals(
            client, every_role, method, path, params={param.name: str(value)}
        )
        assert not _named(problems, param.name), value
    for value in (str(high + 1), str(low - 1), str(10**30), "١٢", "1e3"):
        problems = _field_refusals(client, every_role, method, path, params={param.name: value})
        assert _named(problems, param.name), value


# -- strings: no control characters, bounded, never echoed whole -------------------------


@pytest.mark.parametrize(("method", "path", "field", "build", "keywords"), _body_fields(_is_text))
@pytest.mark.parametrize("nasty", ["a\u0000b", "a\u001bb", "\u007f"])
def test_body_strings_with_control_characters_are_refused(
    client: ValidatingClient,
    every_role: list[dict[str, str]],
    method: str,
    path: str,
    field: str,
    build: Any,
    keywords: dict[str, Any],
    nasty: str,
) -> None:
    problems = _field_refusals(client, every_role, method, path, json=build(nasty))
    assert _named(problems, field)


@pytest.mark.parametrize(
    ("method", "path", "param"), _query_params(lambda schema: schema.get("type") == "string")
)
def test_query_strings_with_control_characters_are_refused(
    client: ValidatingClient, every_role: list[dict[str, str]], method: str, path: str, param: Any
) -> None:
    problems = _field_refusals(client, every_role, method, path, query_string=f"{param.name}=a%00b")
    assert _named(problems, param.name)


@pytest.mark.parametrize(("method", "path", "field", "build", "keywords"), _body_fields(_is_text))
def test_over_long_strings_are_refused_and_never_echoed(
    client: ValidatingClient,
    every_role: list[dict[str, str]],
    method: str,
    path: str,
    field: str,
    build: Any,
    keywords: dict[str, Any],
) -> None:
    # Past the field's limit, within the (test app's 4 KiB) body limit.
    long = "x" * min(keywords.get("maxLength", 3000) + 1, 3000)
    problems = []
    for headers in every_role:
        result = _send(client, method, path, headers, json=build(long))
        assert "x" * 100 not in result.text  # never echoed back whole
        if result.status_code == 422 and "errors" in result.json:
            problems.append(result.json)
    assert _named(problems, field)


# -- ids and one-time codes ----------------------------------------------------------------


PATH_IDS = [
    pytest.param(method, route, operation, id=_id(method, route.path))
    for method, _path_, route, operation in _operations()
    if any(
        param.where == "path" and param.schema.get("pattern") == ID_PATTERN
        for param in operation.params
    )
]


@pytest.mark.parametrize(("method", "route", "operation"), PATH_IDS)
@pytest.mark.parametrize("bad", ["%20", "%00", "a%00b", "..", "%C3%A9", "x" * 101, "-x", "a%20b"])
def test_a_malformed_path_id_is_not_found(
    client: ValidatingClient,
    every_role: list[dict[str, str]],
    method: str,
    route: Route,
    operation: Operation,
    bad: str,
) -> None:
    names = [
        p.name
        for p in operation.params
        if p.where == "path" and p.schema.get("pattern") == ID_PATTERN
    ]
    path = _path(route.path, **dict.fromkeys(names, bad))
    for headers in every_role:
        result = _send(client, method, path, headers, json={})
        assert result.status_code == 404, (path, result.status_code)


TOTP_FIELDS = [
    case for case in _body_fields(_is_text) if case.values[4].get("pattern") == TOTP_PATTERN
]


@pytest.mark.parametrize(("method", "path", "field", "build", "keywords"), TOTP_FIELDS)
# Arabic-Indic and full-width digits: str.isdigit() takes both.
@pytest.mark.parametrize(
    "code", ["é", "\u0661\u0662\u0663\u0664\u0665\u0666", "\uff11" * 6, "12345x", "123456\n"]
)
def test_one_time_codes_are_ascii_digits(
    client: ValidatingClient,
    every_role: list[dict[str, str]],
    method: str,
    path: str,
    field: str,
    build: Any,
    keywords: dict[str, Any],
    code: str,
) -> None:
    problems = _field_refusals(client, every_role, method, path, json=build(code))
    assert _named(problems, field)


def test_the_route_table_yields_cases_for_every_class() -> None:
    """The generators find what they should; an empty list would pass vacuously."""
    assert len(JSON_BODIES) >= 15
    assert len(_body_fields(_is(datetime))) >= 3
    assert _body_fields(_is(date))
    assert len(_body_fields(_is_int)) >= 7
    assert len(_body_fields(_is_text)) >= 15
    assert len(TOTP_FIELDS) == 2
    assert len(PATH_IDS) >= 10
    assert len(_query_params(lambda schema: schema.get("type") == "integer")) >= 4
