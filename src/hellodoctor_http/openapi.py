"""The OpenAPI 3.1 document, built from the route table, the request bodies' attrs classes
(``json_schema``) and the problem catalogue."""

from __future__ import annotations

from typing import Any

from hellodoctor_http.json_schema import body_schemas, may_be_omitted, reference
from hellodoctor_http.problems import PROBLEM_JSON, PROBLEMS
from hellodoctor_http.routes import JSON, ROUTES, SCHEMAS, Body, Operation, Route

# Problems any operation may answer: a refused token, an oversized or unparseable request
# line, an unexpected failure, the database being away.
COMMON_PROBLEMS = (
    "unauthorized",
    "bad-request",
    "payload-too-large",
    "internal-error",
    "backend-unavailable",
)


def document(version: str = "0.1.0") -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in ROUTES:
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
            {"name": "operations", "description": "Health, readiness, metrics, docs."},
        ],
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _schemas() -> dict[str, Any]:
    bodies = [
        body
        for route in ROUTES
        for operation in route.operations.values()
        for body in _classes(operation.body)
    ]
    derived = body_schemas(bodies)
    clashes = set(derived) & set(SCHEMAS)
    if clashes:
        raise ValueError(f"request and response schemas share names: {sorted(clashes)}")
    return {**SCHEMAS, **derived}


def _classes(body: Body | None) -> tuple[type[Any], ...]:
    if body is None or isinstance(body, str):
        return ()
    return body if isinstance(body, tuple) else (body,)


def _request_body(body: Body) -> dict[str, Any]:
    if isinstance(body, str):  # a hand-written schema: a body read raw
        return {
            "required": True,
            "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    classes = _classes(body)
    schema = (
        reference(classes[0])
        if len(classes) == 1
        else {"oneOf": [reference(body) for body in classes]}
    )
    return {
        "required": not all(may_be_omitted(body) for body in classes),
        "content": {JSON: {"schema": schema}},
    }


_SUCCESS = {200: "OK", 201: "Created", 202: "Accepted", 204: "Done (no content)"}


def _operation_id(route: Route, method: str) -> str:
    return f"{method}_{route.resource}" + (f"_{route.suffix}" if route.suffix else "")


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
    responses[str(operation.ok)] = success
    slugs = [*operation.problems, *COMMON_PROBLEMS]
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
