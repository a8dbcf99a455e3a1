"""The OpenAPI document is valid 3.1 and describes exactly the routes the app mounts."""

from __future__ import annotations

import re

import falcon.inspect
from openapi_spec_validator import validate

from hellodoctor_http.problems import PROBLEMS
from hellodoctor_http.testing import OPENAPI, ValidatingClient


def test_the_document_is_valid_openapi_3_1(client: ValidatingClient) -> None:
    served = client.simulate_get("/openapi.json").json
    assert served == OPENAPI
    assert served["openapi"] == "3.1.0"
    validate(served)


def test_every_mounted_route_is_documented_and_every_documented_one_mounted(
    client: ValidatingClient,
) -> None:
    mounted = {
        (re.sub(r"\{(\w+):id\}", r"{\1}", route.path), method.method.lower())
        for route in falcon.inspect.inspect_routes(client.app)
        for method in route.methods
        if not method.internal
    }
    documented = {
        (path, method) for path, operations in OPENAPI["paths"].items() for method in operations
    }
    assert mounted == documented
    assert ("/api/v1/appointments", "post") in mounted  # the walk found real routes


def test_every_problem_type_is_published(client: ValidatingClient) -> None:
    description = client.simulate_get("/openapi.json").json["info"]["description"]
    for problem in PROBLEMS.values():
        assert problem.uri in description
