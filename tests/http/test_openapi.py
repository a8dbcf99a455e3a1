"""The OpenAPI document is valid 3.1 and describes exactly the routes the app mounts."""

from __future__ import annotations

import re

import falcon.inspect
from openapi_spec_validator import validate

from hellodoctor_http.portal.paths import is_portal_path
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
        if not method.internal and not is_portal_path(route.path)  # the web pages: not API
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


def test_every_link_names_an_operation_and_its_parameters() -> None:
    """The links a stateful client follows (register -> login, find -> slots -> book -> pay
    -> cancel) point at operations that exist, with parameters those operations take."""
    operations = {
        operation["operationId"]: operation
        for item in OPENAPI["paths"].values()
        for operation in item.values()
    }
    followed = set()
    for operation in operations.values():
        for response in operation["responses"].values():
            for link in response.get("links", {}).values():
                target = operations[link["operationId"]]
                taken = {param["name"] for param in target.get("parameters", [])}
                assert set(link.get("parameters", {})) <= taken
                assert "requestBody" not in link or "requestBody" in target
                followed.add((operation["operationId"], link["operationId"]))
    for step in [
        ("post_register", "post_login"),
        ("get_doctors", "get_doctor_slots"),
        ("get_doctor_slots", "post_appointments"),
        ("post_appointments", "post_appointment_payments"),
        ("post_appointment_payments", "post_cancel"),
    ]:
        assert step in followed
