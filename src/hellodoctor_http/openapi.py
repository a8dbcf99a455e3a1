"""The route declarations and the OpenAPI 3.1 document built from them.

Each API area (``hellodoctor_http.api``) declares its routes here as ``Route`` values beside
its resources: the path, the resource class and, per method, what the docs say (who may call
it, its parameters, request body, answer and problems). ``create_app`` mounts exactly these
routes and ``document`` describes exactly these, so the document cannot drift from the app
(a test also compares the mounted responders with the document). Request bodies' schemas are
derived from their attrs classes (``json_schema``); answers' schemas are written by hand
beside the code that writes them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from attrs import define, field

from hellodoctor_http.json_schema import (
    DATE_PATTERN,
    DATE_TIME_PATTERN,
    ID_MAX_LENGTH,
    ID_PATTERN,
    TEXT_PATTERN,
    body_schemas,
    may_be_omitted,
    reference,
)
from hellodoctor_http.problems import PROBLEM_JSON, PROBLEMS

API = "/api/v1"
JSON = "application/json"
# A request body: its attrs class (a tuple: either of these), or the name of a hand-written
# schema for a body read raw.
Body = type[Any] | tuple[type[Any], ...] | str


@define(frozen=True)
class Param:
    name: str
    where: str  # path, query, header
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


@define(frozen=True)
class Link:
    """An OpenAPI link from a success answer to the next call (a stateful client or fuzzer
    follows register -> login, find -> slots -> book -> pay -> cancel with these)."""

    name: str
    operation_id: str
    parameters: dict[str, str] = field(factory=dict)  # name -> runtime expression
    request_body: Any = None  # a runtime expression, or an object of them

    def to_openapi(self) -> dict[str, Any]:
        built: dict[str, Any] = {"operationId": self.operation_id}
        if self.parameters:
            built["parameters"] = dict(self.parameters)
        if self.request_body is not None:
            built["requestBody"] = self.request_body
        return built


def to_appointment(*names: str, key: str = "$response.body#/id") -> tuple[Link, ...]:
    """Links to the actions on an appointment whose id is at ``key``."""
    return tuple(Link(name, name, {"appointment_id": key}) for name in names)


@define(frozen=True)
class Operation:
    summary: str
    # "public", "bearer" (a token is required), and who may call it, for the docs.
    auth: str
    who: str
    ok: int = 200
    response: str | None = None  # schema name of the success body
    response_type: str = JSON
    body: Body | None = None
    params: tuple[Param, ...] = ()
    problems: tuple[str, ...] = ()  # problem slugs this operation may answer besides common
    headers: tuple[str, ...] = ()  # response headers on success
    tag: str = "scheduling"
    links: tuple[Link, ...] = ()  # from the success answer to the next calls
    not_modified: bool = False  # may answer 304 to a conditional GET (If-None-Match)


@define(frozen=True)
class Route:
    path: str
    resource: type[Any]  # built once per app with the app's ``Api``
    operations: dict[str, Operation] = field(factory=dict)
    suffix: str | None = None  # Falcon's responder suffix: on_get_<suffix>

    @property
    def template(self) -> str:
        """The path as mounted: every id segment (``path_param``) through the ``id``
        converter, so a segment of another shape matches no route (404)."""
        ids = {
            param.name
            for operation in self.operations.values()
            for param in operation.params
            if param.where == "path" and param.schema.get("pattern") == ID_PATTERN
        }
        return re.sub(r"\{(\w+)\}", lambda m: f"{{{m[1]}:id}}" if m[1] in ids else m[0], self.path)


ID = {"type": "string", "minLength": 1, "maxLength": ID_MAX_LENGTH, "pattern": ID_PATTERN}
TEXT = {"type": "string", "pattern": TEXT_PATTERN}
DATETIME_PARAM = {"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN}


def path_param(name: str, description: str) -> Param:
    """A path segment that is an id: one of another shape is not found (404), as an unknown
    one is; the app mounts it with the ``id`` converter (``Route.template``)."""
    return Param(name, "path", ID, description, required=True)


def file_param(name: str, description: str) -> Param:
    return Param(name, "path", {"type": "string", "maxLength": 64}, description, required=True)


def query_param(name: str, schema: dict[str, Any], description: str = "") -> Param:
    return Param(name, "query", schema, description)


def text_query(name: str, description: str = "", max_length: int = 200) -> Param:
    return query_param(name, {**TEXT, "minLength": 1, "maxLength": max_length}, description)


def id_query(name: str, description: str = "") -> Param:
    return query_param(name, ID, description)


def integer_query(
    name: str, low: int, high: int, default: int | None = None, description: str = ""
) -> Param:
    schema: dict[str, Any] = {"type": "integer", "minimum": low, "maximum": high}
    if default is not None:
        schema["default"] = default
    return query_param(name, schema, description)


# The header formats the server checks (visible ASCII; an ETag it gave out, or *).
IDEMPOTENCY_KEY = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[!-~]{1,200}$"}
IF_MATCH = {"type": "string", "maxLength": 11, "pattern": '^(\\*|[0-9]{1,9}|"[0-9]{1,9}")$'}


def date_query(name: str, description: str = "") -> Param:
    return query_param(
        name,
        {"type": "string", "format": "date", "pattern": DATE_PATTERN, "maxLength": 10},
        description,
    )


def moment_query(name: str, description: str = "") -> Param:
    return query_param(name, {**DATETIME_PARAM, "maxLength": 64}, description)


def day_or_moment_query(name: str, description: str = "") -> Param:
    """A date-time with an offset, or a plain date (YYYY-MM-DD) taken in a time zone: the
    start of that day for ``from``, the end of it for ``to``."""
    # Exactly what the server parses: a whole date, or an RFC 3339 date-time (both within the
    # years every input is held to); a year prefix alone is neither.
    schema = {
        "type": "string",
        "maxLength": 64,
        "anyOf": [
            {"format": "date", "pattern": DATE_PATTERN},
            {"format": "date-time", "pattern": DATE_TIME_PATTERN},
        ],
    }
    text = "A date-time with a UTC offset, or a plain date (YYYY-MM-DD)."
    return query_param(name, schema, f"{text} {description}".strip())


CURSOR_PARAM = text_query("cursor", "next_cursor of the previous page", 500)
BODY_PROBLEMS = (
    "malformed-body",
    "payload-too-large",
    "unsupported-media-type",
    "validation-error",
)

# -- hand-written (response) schemas ----------------------------------------------------------

STRING = {"type": "string"}
DATETIME = {"type": "string", "format": "date-time"}
NULLABLE_DATETIME = {"type": ["string", "null"], "format": "date-time"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(name: str) -> dict[str, Any]:
    return {"oneOf": [ref(name), {"type": "null"}]}


def answer(**properties: Any) -> dict[str, Any]:
    """An object the API answers: every property always present, and no other."""
    return {
        "type": "object",
        "required": list(properties),
        "properties": properties,
        "additionalProperties": False,
    }


def page(item: str) -> dict[str, Any]:
    """A page of a list: its items and the cursor of the next page."""
    return answer(
        items={"type": "array", "items": ref(item)},
        next_cursor={
            "type": ["string", "null"],
            "description": "Pass as ?cursor= for the next page.",
        },
    )


PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": STRING,
        "status": {"type": "integer"},
        "detail": STRING,
        "instance": STRING,
        "request_id": STRING,
        "errors": {
            "type": "array",
            "items": answer(field=STRING, message=STRING),
        },
    },
    "additionalProperties": False,
}

# -- the document -----------------------------------------------------------------------------

# Problems any operation may answer: a refused token, an oversized or unparseable request
# line, an unexpected failure, the database being away.
COMMON_PROBLEMS = (
    "unauthorized",
    "bad-request",
    "payload-too-large",
    "internal-error",
    "backend-unavailable",
)


def document(
    routes: Sequence[Route], schemas: Mapping[str, Any], version: str = "0.1.0"
) -> dict[str, Any]:
    """The document of these routes; ``schemas`` are the hand-written (response) ones."""
    paths: dict[str, Any] = {}
    for route in routes:
        item = paths.setdefault(route.path, {})
        for method, operation in route.operations.items():
            item[method] = _operation(route, method, operation)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "HelloDoctor API",
            "version": version,
            "description": (
                "Doctors' availability and appointments that can never double-book a doctor. "
                "Every error is application/problem+json (RFC 9457); switch on its `type`. "
                "Problem types:\n\n"
                + "\n".join(
                    f"* `{p.uri}` ({p.status}) {p.title}. {p.description}".rstrip()
                    for p in PROBLEMS.values()
                )
            ),
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "scheduling", "description": "Doctors, slots and appointments."},
            {
                "name": "identity",
                "description": "Registration, sign-in, tokens, passwords, two-factor.",
            },
            {
                "name": "payments",
                "description": "Paying for appointments, the wallet, payment history, the "
                "payment provider's webhook.",
            },
            {
                "name": "documents",
                "description": "Uploaded files: reports, results, imaging, profile photos.",
            },
            {
                "name": "telemedicine",
                "description": "Video consultation rooms: tickets, ICE servers, attendance.",
            },
            {
                "name": "hospitals",
                "description": "Hospitals, their administrators, beds, admissions.",
            },
            {
                "name": "insurance",
                "description": "Schemes, policies, eligibility, claims and their review.",
            },
            {
                "name": "reviews",
                "description": "Reviews of completed visits, answers, moderation, ratings.",
            },
            {
                "name": "analytics",
                "description": "Reports computed by the database, as JSON or CSV.",
            },
            {"name": "operations", "description": "Health, readiness, metrics, docs."},
            {"name": "notifications", "description": "Dead-lettered events and their retry."},
            {
                "name": "records",
                "description": "Clinical records, consents, the audit log, emergency access.",
            },
        ],
        "paths": paths,
        "components": {
            "schemas": _schemas(routes, schemas),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _schemas(routes: Sequence[Route], written: Mapping[str, Any]) -> dict[str, Any]:
    bodies = [
        body
        for route in routes
        for operation in route.operations.values()
        for body in _classes(operation.body)
    ]
    derived = body_schemas(bodies)
    clashes = set(derived) & {*written, "Problem"}
    if clashes:
        raise ValueError(f"request and response schemas share names: {sorted(clashes)}")
    return {**written, "Problem": PROBLEM_SCHEMA, **derived}


def _classes(body: Body | None) -> tuple[type[Any], ...]:
    if body is None or isinstance(body, str):
        return ()
    return body if isinstance(body, tuple) else (body,)


def _request_body(body: Body) -> dict[str, Any]:
    if isinstance(body, str):  # a hand-written schema: a body read raw
        return {"required": True, "content": {JSON: {"schema": ref(body)}}}
    classes = _classes(body)
    schema = (
        reference(classes[0]) if len(classes) == 1 else {"oneOf": [reference(c) for c in classes]}
    )
    return {
        "required": not all(may_be_omitted(c) for c in classes),
        "content": {JSON: {"schema": schema}},
    }


_SUCCESS = {200: "OK", 201: "Created", 202: "Accepted", 204: "Done (no content)"}


def _operation_id(route: Route, method: str) -> str:
    """``post_appointments`` for ``Appointments.on_post``; the suffix of Falcon's responder
    (``on_get_file``) is added."""
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", route.resource.__name__).lower()
    return f"{method}_{name}" + (f"_{route.suffix}" if route.suffix else "")


def _operation(route: Route, method: str, operation: Operation) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": _SUCCESS[operation.ok]}
    if operation.ok == 204:
        pass  # no body
    elif operation.response is not None:
        success["content"] = {
            operation.response_type: {
                "schema": {"$ref": f"#/components/schemas/{operation.response}"}
            }
        }
    else:
        success["content"] = {operation.response_type: {}}
    if operation.headers:
        success["headers"] = {name: {"schema": {"type": "string"}} for name in operation.headers}
    if operation.links:
        success["links"] = {link.name: link.to_openapi() for link in operation.links}
    responses[str(operation.ok)] = success
    if operation.not_modified:
        responses["304"] = {"description": "Not modified: the If-None-Match ETag is current"}
    slugs = [*operation.problems, *COMMON_PROBLEMS]
    if any(param.where in ("query", "header") for param in operation.params):
        # QueryReader: a malformed parameter, or a rule the schema cannot state.
        slugs += ["validation-error", "invalid-value"]
    by_status: dict[int, list[str]] = {}
    for slug in dict.fromkeys(slugs):
        by_status.setdefault(PROBLEMS[slug].status, []).append(slug)
    for status, listed in sorted(by_status.items()):
        responses[str(status)] = {
            "description": "; ".join(f"{PROBLEMS[s].uri}: {PROBLEMS[s].title}" for s in listed),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    # Falcon itself answers these for any route (unknown method, unsupported Accept).
    for status in (405,):
        responses.setdefault(
            str(status),
            {
                "description": PROBLEMS["method-not-allowed"].uri,
                "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            },
        )
    built: dict[str, Any] = {
        "operationId": _operation_id(route, method),
        "summary": operation.summary,
        "description": f"Who may call it: {operation.who}.",
        "tags": [operation.tag],
        "responses": responses,
    }
    if operation.auth == "bearer":
        built["security"] = [{"bearer": []}]
    if operation.params:
        built["parameters"] = [
            {
                "name": param.name,
                "in": param.where,
                "required": param.required,
                "schema": param.schema,
                **({"description": param.description} if param.description else {}),
            }
            for param in operation.params
        ]
    if operation.body is not None:
        built["requestBody"] = _request_body(operation.body)
    return built
